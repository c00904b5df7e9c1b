"""Launch: choose a run's settings and queue it, or one run per schedule to compare them.

Runs are queued in the store (``trainer.worker.submit``) and trained by a background
worker process (``trainer.worker.ensure_worker`` starts one when none is alive); this
page never trains. Every choice comes from the trainer's registries and every number is
validated by ``RunConfig``, whose message is shown under the field and blocks Launch (number
fields have no bounds of their own, which would silently keep the last valid value). A
dataset missing from the data folder, and an ActCoolLR target above what the granularity can
measure, are reported here before anything is queued; the confirmation lists each run's
settings.
"""

from __future__ import annotations

import time

import pandas as pd
import streamlit as st

from actcool.branches import BRANCH_MULTIPLES, BRANCH_STEPS
from actcool.curves import PAPER_T_START
from app import configs, data, summary, ui
from trainer import worker
from trainer.config import OPTIMIZERS, SCHEDULES, RunConfig
from trainer.data.locate import missing_dataset
from trainer.gpus import run_location
from trainer.models.names import OPTIMIZER_DEFAULTS, default_optimizer
from trainer.schedules import parse_target

state = st.session_state
ORDER = configs.schedule_order(SCHEDULES)
FLASH = "launch_flash"  # session key: (time, what was queued), shown for FLASH_SECONDS
FLASH_SECONDS = 120.0
DEFAULTS = RunConfig()
TARGET_SOURCES = {
    "default": "Calibrated default (linear cool-down)",
    "designed": "the curve on the Design page",
    "saved": "a saved curve",
    "power": "power cool-down",
}
RESPONSES = {
    "weibull": "Weibull: λ* = λ·(C/T)^(1/k) (default)",
    "gaussian": "Gaussian CDF: λ* = exp(μ + σ·Φ⁻¹(P(C)))",
}
PRECISION_HELP = (
    "fp32: full precision. bf16: forward passes under bfloat16 autocast, the temperature's "
    "measurement passes included; faster on GPUs with bfloat16 (A100, H100 and later), and "
    "runs on CPUs with bfloat16. fp16: float16 mixed precision with a gradient scaler (AMP), "
    "on CUDA only: for GPUs without bfloat16."
)
BRANCH_SEARCH_HELP = (
    f"Half-way through the ramp warm-up, train {len(BRANCH_MULTIPLES)} short branches "
    f"({BRANCH_STEPS} steps each) from a copy of the run, to peaks of "
    f"{min(BRANCH_MULTIPLES):g} to {max(BRANCH_MULTIPLES):g} × the step-0 scan's, and warm up "
    "to the peak whose branch ends with the lowest held-out loss (docs/algorithm.md §4.9). "
    f"Costs about {configs.BRANCH_SEARCH_STEPS} extra steps, once. "
    "Recommended with AdamW, where the step-0 scan's peak misses on some networks; off by "
    "default, as it did worse where that peak was already good."
)
BRANCH_WARMUP_HELP = (
    f"Until the search, warm up towards the lowest candidate ({min(BRANCH_MULTIPLES):g} × the "
    "step-0 scan's peak) instead of the scan's peak, so the run has not passed a rate the search "
    "may choose. Measured better where the scan's peak is too high (the vision transformer: "
    "56.9% against 61.7%), worse where it is too low (the small Fashion-MNIST CNNs and MLP: "
    "0.4-0.6 points); docs/algorithm.md §4.9."
)


BRANCH_DRAWS_HELP = (
    "Each draw trains every branch again on its own batches; the peak is chosen from each "
    "candidate's mean held-out loss, so one draw's luck weighs less. Each costs one search. "
    "Two draws: 0.08 points better than one on average over six Fashion-MNIST set-ups, "
    "and more even across typed rates; docs/algorithm.md §4.9."
)


def schedule_label(schedule: str) -> str:
    """The schedule's display name (its own name when the page does not know it)."""
    return configs.SCHEDULE_LABELS.get(schedule, schedule)


def checked(column, name: str, value):
    """``value`` of the RunConfig field ``name``; RunConfig's message about it, if any, is
    shown under the field and recorded in ``field_problems`` (which block Launch)."""
    problem = configs.field_problem(name, value)
    if problem and problem.startswith(f"{name} "):  # not a cross-field rule of the defaults
        column.error(problem)
        field_problems.append(problem)
    return value


def follow_family_defaults(model: str) -> None:
    """Before the optimizer's widgets: a page's first optimizer, and a changed model's, is its
    family's (``trainer.models.names.default_optimizer``)."""
    if state.get("launch_family_of") != model:
        if "launch_family_of" in state or "launch_optimizer" not in state:
            state["launch_optimizer"] = default_optimizer(model)
        state["launch_family_of"] = model


def follow_optimizer_defaults(optimizer: str) -> None:
    """Before the rate's and decay's widgets: a newly chosen optimizer brings its usual rate and
    weight decay (``OPTIMIZER_DEFAULTS``); a number typed since is kept until it changes again."""
    if state.get("launch_defaults_of") != optimizer:
        defaults = OPTIMIZER_DEFAULTS[optimizer]
        state["launch_lr"], state["launch_wd"] = defaults["lr"], defaults["weight_decay"]
        state["launch_defaults_of"] = optimizer


def queue(run_configs: list[RunConfig]) -> None:
    """Queue the runs, make sure a worker serves the store, and report on the next run."""
    run_ids = []
    try:
        with data.guard():
            store = data.store()
            for config in run_configs:
                run_ids.append(worker.submit(config, store))
    except (ValueError, TypeError) as exc:
        st.error(f"Not queued: {exc}")
        return
    except KeyError as exc:  # an unknown saved curve: the message lists the saved ones
        st.error(f"Not queued: {exc.args[0] if exc.args else exc}")
        return
    except FileNotFoundError as exc:  # the dataset is not in the data folder
        st.error(f"Not queued: {exc}")
        return
    finally:
        if run_ids:
            worker.ensure_worker(store)
            data.clear()
    state[ui.SELECTED_RUN] = run_ids[0]
    state[FLASH] = (
        time.time(),
        f"Queued {len(run_ids)} run{'s' if len(run_ids) > 1 else ''}:\n"
        + "\n".join(
            f"- **{config.display_name}** ({run_id}): {configs.settings_line(config)}"
            for config, run_id in zip(run_configs, run_ids, strict=True)
        ),
    )
    st.rerun()


st.title("Launch runs")
field_problems: list[str] = []  # messages of fields RunConfig rejects; they block Launch
flash_time, flash = state.get(FLASH, (0.0, ""))
if flash and time.time() - flash_time < FLASH_SECONDS:  # outlives the reruns of live panels
    st.success(flash)
    st.page_link("views/runs.py", label="Watch it on the Runs page", icon=":material/monitoring:")

with data.guard():
    runs = data.runs()

if len(runs) == 0:
    with st.container(border=True):
        st.subheader("New here? Run the demo")
        st.write(configs.demo_description(configs.demo_configs()))
        if st.button("Run the demo", type="primary", icon=":material/play_arrow:", key="do_demo"):
            queue(configs.demo_configs())

# ---------------------------------------------------------------- what to train
st.subheader("Model and data")
c1, c2, c3, c4 = st.columns(4)
with c1:
    model = ui.model_input("launch_model", DEFAULTS.model)
with c2:
    dataset = ui.dataset_input(
        "launch_dataset",
        DEFAULTS.dataset,
        help="digits ships with scikit-learn; fashion-mnist, cifar10 and image folders are read "
        "from the data folder (see Measurement and advanced settings).",
    )
# Number fields have no bounds: a bounded field silently keeps its last valid value when a
# value out of range is typed, and the run would be queued with a number the user did not
# see. RunConfig checks every value instead, and its message blocks Launch.
epochs = checked(
    c3, "epochs", c3.number_input("Epochs", value=DEFAULTS.epochs, step=1, key="launch_epochs")
)
batch_size = checked(
    c4,
    "batch_size",
    c4.number_input("Batch size", value=DEFAULTS.batch_size, step=1, key="launch_batch"),
)

st.subheader("Optimizer")
follow_family_defaults(model)
c1, c2, c3, c4 = st.columns(4)
optimizer = c1.selectbox(
    "Optimizer",
    OPTIMIZERS,
    key="launch_optimizer",
    help="A new model's family picks it (AdamW for vit-tiny and timm transformers or ConvNeXt, "
    "else SGD); choosing one sets its usual rate and weight decay.",
)
follow_optimizer_defaults(optimizer)
lr = checked(
    c2,
    "lr",
    c2.number_input(
        "Learning rate",
        format="%.4g",
        key="launch_lr",
        help="ActCoolLR: the initial rate. constant: the rate. 1-cycle and cosine: the peak. "
        "step: the rate before the first drop.",
    ),
)
momentum = checked(
    c3,
    "momentum",
    c3.number_input(
        "Momentum",
        value=DEFAULTS.momentum,
        step=0.05,
        key="launch_momentum",
        disabled=optimizer != "sgd",
    ),
)
weight_decay = checked(
    c4,
    "weight_decay",
    c4.number_input("Weight decay", format="%.2e", key="launch_wd"),
)

# ---------------------------------------------------------------- schedules
st.subheader("Schedule parameters")
tabs = st.tabs([schedule_label(s) for s in ORDER])
schedule_settings: dict[str, object] = {}
target_problem = None
with tabs[ORDER.index("actcool")]:
    with data.guard():
        saved = data.curves()
    sources = [s for s in TARGET_SOURCES if s != "designed" or state.get("design_curve")]
    sources = [s for s in sources if s != "saved" or len(saved)]
    c1, c2 = st.columns([1, 1])
    ui.drop_stale("launch_target_source", sources)
    source = c1.radio(
        "Target temperature curve",
        sources,
        format_func=TARGET_SOURCES.get,
        key="launch_target_source",
    )
    t_start, gamma, saved_name = PAPER_T_START, 1.0, None
    calibration = DEFAULTS.calibration
    with c2:
        if source == "default":
            kind = st.selectbox(
                "Calibration",
                list(configs.CALIBRATION_LABELS),
                format_func=configs.CALIBRATION_LABELS.get,
                key="launch_calibration",
            )
            start_bits, fraction = 2.0, 0.25
            if kind == "fixed":
                start_bits = st.number_input(
                    "Start temperature (bits of unit:64)",
                    value=2.0,
                    step=0.1,
                    key="launch_start_bits",
                    help="Scaled by L/64 for unit:L (the temperature is about proportional to "
                    "L). The fixed start needs the unit granularity.",
                )
            elif kind == "ramp":
                fraction = st.number_input(
                    "Warm-up share of training",
                    value=0.25,
                    step=0.05,
                    key="launch_ramp_fraction",
                    help="The rate warms up linearly to the learning rate over this share; "
                    "T_start = λ_peak × median(T̄/λ) of the warm-up's second half.",
                )
            cool_gamma = st.number_input(
                "Cool-down γ",
                value=1.0,
                step=0.5,
                key="launch_calibration_gamma",
                help="1 cools linearly; > 1 stays hotter for longer, < 1 cools early "
                "(C = T_start·(1 − x^γ), x the share of the cool-down done).",
            )
            try:
                calibration = configs.calibration_spec(kind, start_bits, fraction, cool_gamma)
            except ValueError as exc:
                target_problem = str(exc)
            st.caption(
                "Cools from T_start to 0. **fixed** starts at the given bits of unit:64 "
                "(× L/64); **ramp** warms the rate up first and reads T_start off the measured "
                "temperature; **auto** (the default) is ramp."
            )
        elif source == "power":
            t_start = st.number_input(
                "T_start (bits)", value=PAPER_T_START, step=0.1, key="launch_t_start"
            )
            gamma = st.number_input("γ", value=1.0, step=0.1, key="launch_gamma")
        elif source == "saved":
            ui.drop_stale("launch_saved", saved["name"].tolist())
            saved_name = st.selectbox("Saved curve", saved["name"].tolist(), key="launch_saved")
        else:
            st.caption(
                f"Designed curve: {state['design_curve'].get('kind')} "
                "(change it on the Design page)."
            )
    try:
        target = configs.target_spec(source, state.get("design_curve"), saved_name, t_start, gamma)
    except ValueError as exc:
        target, target_problem = DEFAULTS.target, str(exc)
    # RunConfig takes the branch search only in the ramp warm-up of the default target: offered
    # there, else unticked and disabled with the reason, so that no refused config is queued.
    refusal = configs.branch_search_refusal(target, calibration)
    if refusal and state.get("launch_branch_search"):
        state["launch_branch_search"] = False
    branch_search = c1.checkbox(
        "Find the peak by a branch search",
        DEFAULTS.branch_search,
        key="launch_branch_search",
        disabled=refusal is not None,
        help=BRANCH_SEARCH_HELP,
    )
    if refusal:
        c1.caption(refusal)
    searching = branch_search and refusal is None
    if not searching and state.get("launch_branch_warmup"):
        state["launch_branch_warmup"] = False
    if not searching and state.get("launch_branch_draws", 1) != 1:
        state["launch_branch_draws"] = 1
    warm_low = c1.checkbox(
        "Warm up to its lowest candidate until the search",
        False,
        key="launch_branch_warmup",
        disabled=not searching,
        help=BRANCH_WARMUP_HELP,
    )
    draws = c1.number_input(
        "Draws of batches the branches are compared over",
        min_value=1,
        max_value=8,
        value=DEFAULTS.branch_draws,
        step=1,
        key="launch_branch_draws",
        disabled=not searching,
        help=BRANCH_DRAWS_HELP,
    )
    c1, c2, c3 = st.columns(3)
    response = c1.radio(
        "Control law", list(RESPONSES), format_func=RESPONSES.get, key="launch_response"
    )
    smoothing = c1.slider(
        "Smoothing (weight of the past)",
        0.0,
        0.95,
        DEFAULTS.smoothing,
        0.05,
        key="launch_smoothing",
        help="Weight of the past in the law's running parameter (λ0 "
        "or μ) between measurements; 0: each measurement alone.",
    )
    sigma = k = None
    if response == "weibull":
        fit_k = c2.checkbox("Fit k by an LR range scan at step 0", True, key="launch_fit_k")
        k_value = c2.number_input(
            "k",
            value=1.0,
            step=0.05,
            disabled=fit_k,
            key="launch_k",
            help="T ∝ λ^k; measured scans give k ≈ 0.9-1.1.",
        )
        k = None if fit_k else checked(c2, "k", float(k_value))
    else:
        fit_sigma = c2.checkbox("Fit σ by an LR range scan at step 0", True, key="launch_fit_sigma")
        sigma_value = c2.number_input(
            "σ", value=1.0, step=0.1, disabled=fit_sigma, key="launch_sigma"
        )
        sigma = None if fit_sigma else checked(c2, "sigma", float(sigma_value))
    lr_min = checked(
        c3,
        "lr_min",
        c3.number_input("Lowest rate", value=DEFAULTS.lr_min, format="%.1e", key="launch_lr_min"),
    )
    lr_max = checked(
        c3,
        "lr_max",
        c3.number_input(
            "Highest rate (0: the learning rate)", value=0.0, format="%.1e", key="launch_lr_max"
        )
        or None,
    )
    schedule_settings.update(
        target=target,
        calibration=calibration,
        branch_search=searching,
        branch_warmup="lowest" if searching and warm_low else "centre",
        branch_draws=int(draws) if searching else 1,
        response=response,
        smoothing=float(smoothing),
        sigma=sigma,
        k=k,
        lr_min=lr_min,
        lr_max=lr_max or None,
    )
with tabs[ORDER.index("onecycle")]:
    pct = st.slider(
        "Warm-up share (pct_start)", 0.05, 0.95, DEFAULTS.onecycle_pct_start, 0.05, key="launch_pct"
    )
    schedule_settings["onecycle_pct_start"] = pct
with tabs[ORDER.index("cosine")]:
    warmup = st.slider(
        "Linear warm-up share", 0.0, 0.9, DEFAULTS.warmup_fraction, 0.05, key="launch_warmup"
    )
    schedule_settings["warmup_fraction"] = warmup
with tabs[ORDER.index("step")]:
    c1, c2 = st.columns(2)
    milestones_text = c1.text_input(
        "Drops at (fractions of training)",
        ", ".join(f"{m:g}" for m in DEFAULTS.step_milestones),
        key="launch_milestones",
    )
    factor = checked(
        c2,
        "step_factor",
        c2.number_input(
            "Factor per drop", value=DEFAULTS.step_factor, format="%.3g", key="launch_factor"
        ),
    )
    schedule_settings["step_factor"] = factor
with tabs[ORDER.index("constant")]:
    st.caption("Trains at the learning rate above throughout.")
if "schedulefree" in ORDER:
    with tabs[ORDER.index("schedulefree")]:
        st.caption(
            "Schedule-free SGD or AdamW (the schedulefree package) at the learning rate above, "
            "warming up over the share set on the cosine tab; evaluated at its averaged weights."
        )

with st.expander("Measurement and advanced settings"):
    c1, c2, c3, c4 = st.columns(4)
    measure_every = checked(
        c1,
        "measure_every",
        c1.number_input(
            "Measure every (steps)",
            value=DEFAULTS.measure_every,
            step=1,
            key="launch_measure_every",
        ),
    )
    scan_every = checked(
        c2,
        "scan_every",
        c2.number_input(
            "LR range scan every (epochs, 0: none)",
            value=DEFAULTS.scan_every,
            step=1,
            key="launch_scan_every",
        ),
    )
    max_steps = checked(
        c3,
        "max_steps",
        c3.number_input("Stop after steps (0: all)", value=0, step=1, key="launch_max_steps")
        or None,
    )
    val_fraction = checked(
        c4,
        "val_fraction",
        c4.number_input(
            "Validation share", value=DEFAULTS.val_fraction, step=0.05, key="launch_val"
        ),
    )
    c1, c2, c3, c4 = st.columns(4)
    device = c1.selectbox("Device", ("auto", "cpu", "cuda"), key="launch_device")
    workers = checked(
        c2,
        "num_workers",
        c2.number_input("Prefetch threads", value=0, step=1, key="launch_workers"),
    )
    precision = c3.selectbox(
        "Precision",
        list(configs.PRECISION_LABELS),
        format_func=configs.PRECISION_LABELS.get,
        key="launch_precision",
        help=PRECISION_HELP,
    )
    if precision == "fp16" and device == "cpu":
        c3.caption("fp16 mixed precision is for CUDA: on the CPU the run trains in fp32.")
    channels_last = c4.checkbox(
        "Channels-last",
        DEFAULTS.channels_last,
        key="launch_channels_last",
        help="The model and its image batches in channels-last (NHWC) memory format: faster "
        "convolutions on GPUs with tensor cores, mostly with bf16 or fp16; little or no gain "
        "on the CPU or for networks without convolutions.",
    )
    compile_model = c4.checkbox(
        "torch.compile",
        DEFAULTS.compile,
        key="launch_compile",
        help="Compile the model (torch.compile) for the steps that do not measure; measurement "
        "steps run it eagerly so that the temperature's hooks see every layer. Pays off on "
        "GPUs over long runs; the first steps wait for the compilation.",
    )
    c1, c2 = st.columns(2)
    data_dir = c1.text_input(
        "Data folder",
        DEFAULTS.data_dir,
        key="launch_data_dir",
        help="Where fashion-mnist, cifar10 and relative image folders are "
        "read from; defaults to $ACTCOOL_DATA_DIR, else ./data.",
    )
    download = c1.checkbox(
        "Download a missing dataset into it (needs internet)", False, key="launch_download"
    )
    tags_text = c2.text_input("Tags (comma-separated)", "", key="launch_tags")
    c1, c2, c3 = st.columns([1, 1, 2])
    granularity_kind = c1.selectbox(
        "Pattern granularity",
        list(configs.GRANULARITY_LABELS),
        format_func=configs.GRANULARITY_LABELS.get,
        key="launch_granularity",
        help="What counts as one activation pattern when the temperature is measured. "
        "Temperatures of different granularities are not comparable.",
    )
    pattern_length = c2.number_input(
        "Units per pattern (L)",
        value=configs.DEFAULT_PATTERN_LENGTH,
        step=1,
        key="launch_pattern_length",
        disabled=granularity_kind != "unit",
        help="unit granularity only: T = −L·log2(1 − q), q the fraction of flipped units.",
    )
    c3.caption(
        "**unit:L** counts flipped units, as if every pattern were L independent units: no "
        "cap, independent of a layer's width. **position** counts changed channel vectors of "
        "conv outputs (per sample for dense layers). **sample** counts changed samples; it "
        "saturates at log2(2·batch) bits (8 bits at batch 128)."
    )

# ---------------------------------------------------------------- launch
st.subheader("Launch")
c1, c2, c3 = st.columns([1, 2, 2])
seeds_text = c1.text_input("Seeds", "0", key="launch_seeds", help="e.g. 0, 1, 2 or 0-4")
name = c1.text_input("Name (optional)", "", key="launch_name")
problems: list[str] = []
try:
    seeds = configs.parse_seeds(seeds_text)
except ValueError as exc:
    seeds, problems = [0], [str(exc)]
try:
    milestones = configs.parse_floats(milestones_text, "step drops")
except ValueError as exc:
    milestones, problems = DEFAULTS.step_milestones, [*problems, str(exc)]
tags = tuple(t.strip() for t in tags_text.split(",") if t.strip())
try:
    granularity = configs.granularity_spec(granularity_kind, int(pattern_length))
except ValueError as exc:
    granularity, problems = configs.granularity_spec("unit"), [*problems, str(exc)]
problems += field_problems
if data_problem := missing_dataset(dataset, data_dir, download):
    st.error(f"{data_problem}.", icon=":material/folder_off:")
    problems.append(data_problem)
reach_errors: list[str] = []
if target != "default" and not target_problem:
    try:
        with data.guard():
            curve = parse_target(target, data.store().load_curve)
    except (ValueError, KeyError) as exc:
        target_problem = str(exc.args[0] if isinstance(exc, KeyError) and exc.args else exc)
    else:
        reach_errors, reach_warnings = configs.reach_problems(curve, granularity, int(batch_size))
        for message in [*reach_errors, *reach_warnings]:
            st.warning(f"ActCoolLR target: {message}.", icon=":material/thermostat:")
settings = {
    "model": model,
    "dataset": dataset,
    "epochs": int(epochs),
    "batch_size": int(batch_size),
    "optimizer": optimizer,
    "lr": float(lr),
    "momentum": float(momentum) if optimizer == "sgd" else 0.0,
    "weight_decay": float(weight_decay),
    "measure_every": int(measure_every),
    "scan_every": int(scan_every),
    "max_steps": None if max_steps is None else int(max_steps),
    "val_fraction": float(val_fraction),
    "device": device,
    "num_workers": int(workers),
    **configs.precision_settings(precision),
    "channels_last": channels_last,
    "compile": compile_model,
    "data_dir": data_dir,
    "download": download,
    "tags": tags,
    "step_milestones": milestones,
    "granularity": granularity,
    **schedule_settings,
}

with c2.container(border=True):
    schedule = st.selectbox(
        "Schedule",
        ORDER,
        index=ORDER.index(DEFAULTS.schedule),
        format_func=schedule_label,
        key="launch_schedule",
    )
    st.caption(
        f"Queues {len(seeds)} run{'s' if len(seeds) > 1 else ''} (one per seed), "
        f"temperature at granularity {granularity}."
    )
    launch = st.button("Launch", type="primary", icon=":material/rocket_launch:", key="do_launch")
with c3.container(border=True):
    compared = st.multiselect(
        "Schedules to compare",
        ORDER,
        default=["actcool", "onecycle"],
        format_func=schedule_label,
        key="launch_compared",
    )
    st.caption(
        f"Queues {len(compared) * len(seeds)} runs with otherwise identical settings, "
        f"temperature at granularity {granularity}."
    )
    compare = st.button("Compare schedules", icon=":material/compare_arrows:", key="do_compare")

if launch or compare:
    chosen = [schedule] if launch else compared
    if "actcool" in chosen and target_problem:
        problems.append(target_problem)
    if "actcool" in chosen:
        problems.extend(reach_errors)
    if (
        "actcool" in chosen
        and target == "default"
        and calibration.startswith("fixed")
        and (not granularity.startswith("unit"))
    ):
        problems.append(
            f"calibration {calibration}: a fixed start temperature is defined for the unit "
            f"granularity, not {granularity}; choose auto or ramp (or a unit granularity)"
        )
    if problems:
        for problem in problems:
            st.error(problem)
    else:
        if compare:  # a shared tag finds the group on the Compare page
            settings["tags"] = (*tags, time.strftime("compare-%Y%m%d-%H%M%S"))
        try:
            run_configs = configs.build_configs(settings, chosen, seeds, name.strip())
        except (ValueError, TypeError) as exc:
            st.error(f"Invalid settings: {exc}")
        else:
            queue(run_configs)


# ---------------------------------------------------------------- the queue
@st.fragment(run_every=3)
def queue_panel() -> None:
    """Queued and running runs, with the worker's state; refreshes every 3 s."""
    with data.guard():
        store = data.store()
        live = data.runs()
    live = live[live["status"].isin(summary.LIVE)] if len(live) else live
    pid = worker.worker_pid(store)
    if pid is None and len(live) and (live["status"] == "queued").any():
        pid = worker.ensure_worker(store)
        st.caption(f"Started a background worker (pid {pid}) for the queued runs.")
    st.subheader("Queue")
    st.caption(
        f"Background worker: running (pid {pid})."
        if pid
        else "Background worker: not running; it starts when you queue a run."
    )
    if len(live) == 0:
        st.caption("Nothing queued or running.")
        return
    for run in live.sort_values("created_at").to_dict("records"):
        c1, c2, c3 = st.columns([4, 2, 1], vertical_alignment="center")
        c1.write(summary.run_label(run))
        where = (
            run_location(run.get("device"), run.get("host")) if run["status"] == "running" else ""
        )
        c2.caption(
            f"queued at {pd.Timestamp(run['created_at']).strftime('%H:%M:%S')} UTC"
            + (f" · {where}" if where else "")
        )
        if run["status"] == "queued" and c3.button("Remove", key=f"do_remove_{run['id']}"):
            try:
                with data.guard():
                    store.remove_queued(run["id"])
            except ValueError as exc:  # claimed by the worker meanwhile
                st.warning(str(exc))
            data.clear()
            st.rerun()


st.divider()
queue_panel()
