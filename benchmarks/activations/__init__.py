"""ActCool on GELU and SiLU networks under AdamW: does the measure carry over, and does the
default schedule hold its own against tuned AdamW schedules? (issue "networks people train today")

Trains, in the plain PyTorch loops of ``benchmarks/rates.py`` (no trainer), with AdamW at
torch's defaults, batch 128, one epoch, one thread per run:

- ``vit-tiny`` (the trainer's vision transformer, GELU MLPs) on CIFAR-10;
- ``cnn-silu`` (a SiLU CNN with BatchNorm, not one of the trainer's models) on Fashion-MNIST;
- held out, added after every factor of the finder and guard was chosen: ``mlp-gelu`` (a GELU
  MLP with LayerNorm) and ``cnn-lrelu`` (a LeakyReLU CNN with dropout) on Fashion-MNIST.

Schedules: 1-cycle, a 5% warm-up with a cosine, and schedule-free AdamW, each on the peak-rate
grid :data:`GRID` with seed 0 (one rate further, up to three in all, while its best sits on an edge),
then with seed 1 at its best rate; ActCoolLR's default with only
the optimizer's rate typed (:data:`TYPED`, as a user would), seeds 0 and 1. The 1-cycle and
ActCoolLR runs record their temperatures (``benchmarks/measure_log.py``). The measure's figures
come from the best 1-cycle runs: the share of sample-granularity readings at their cap, late/peak
of T̄ (90% of training against the peak), Spearman ρ of the sites' temperature against depth, and
both response models' fit error, per activation type. Then the overhead of measuring on the
transformer (``benchmarks/overhead.py``, K = 10, CPU thread time).

    python -m benchmarks.activations --jobs 2          # train what is missing, write the report
    python -m benchmarks.activations --report          # the report from the runs file only
"""
