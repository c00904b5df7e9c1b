"""The two CPU-scale set-ups the benchmarks train on, so that their runs are comparable, and
their miniature on digits.

convnet4 on Fashion-MNIST and ResNet-20 on CIFAR-10 (the JPEG copy), both read from
``../shared/data`` (never downloaded), 2 epochs at batch 128, with the trainer's defaults
otherwise (SGD momentum 0.9, weight decay 5e-4, temperatures at ``unit:64``), measuring every
10 steps and counting the ``sample`` and ``position`` granularities as well. Fashion-MNIST scans
every 100 steps, CIFAR-10 once per epoch (a ResNet-20 scan costs 25 forward passes).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from trainer.config import RunConfig

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
CIFAR_FOLDER = "cifar10-jpeg"
#: The benchmarks' models trained on CIFAR-10; the others train on Fashion-MNIST.
CIFAR_MODELS = ("resnet20", "vit-tiny", "vgg-bn", "resnet20-zi")


def data_name(model: str) -> str:
    """The dataset a benchmark model trains on, by name (``"CIFAR-10"`` or ``"Fashion-MNIST"``)."""
    return "CIFAR-10" if model in CIFAR_MODELS else "Fashion-MNIST"


# The reproduction measured ActCoolLR with the optimizer's rate as its peak (the finder of
# docs/algorithm.md §4.8 came later; its evidence is benchmarks/results/RATES.md): its runs keep
# that, so the stored ones stay what the report describes.
_COMMON: dict[str, Any] = dict(
    find_lr=False,
    download=False,
    epochs=2,
    batch_size=128,
    compare_granularities=("sample", "position"),
    measure_every=10,
)


def digits(**overrides: Any) -> RunConfig:
    """convnet4 on scikit-learn's digits (ships with the package, no data folder): the
    miniature the benchmarks' smoke and ``--quick`` modes train, with ``overrides`` applied."""
    miniature: dict[str, Any] = dict(
        model="convnet4",
        dataset="digits",
        epochs=2,
        batch_size=64,
        scan_every=10,
        scan_unit="step",
        measure_every=2,
        compare_granularities=("sample", "position"),
        find_lr=False,
    )
    return RunConfig(**{**miniature, **overrides})


def cifar10_dataset(data_dir: Path = SHARED_DATA) -> str:
    """The trainer's dataset name of the CIFAR-10 JPEG folders under ``data_dir``."""
    return "imagefolder:" + str(Path(data_dir) / CIFAR_FOLDER)


def fashion_mnist(data_dir: Path = SHARED_DATA, **overrides: Any) -> RunConfig:
    """convnet4 / Fashion-MNIST, with ``overrides`` applied."""
    return RunConfig(
        model="convnet4",
        dataset="fashion-mnist",
        data_dir=str(data_dir),
        scan_every=100,
        scan_unit="step",
        **{**_COMMON, **overrides},
    )


def cifar10(data_dir: Path = SHARED_DATA, **overrides: Any) -> RunConfig:
    """resnet20 / CIFAR-10, with ``overrides`` applied."""
    return RunConfig(
        model="resnet20",
        dataset=cifar10_dataset(data_dir),
        data_dir=str(data_dir),
        scan_every=1,
        scan_unit="epoch",
        **{**_COMMON, **overrides},
    )
