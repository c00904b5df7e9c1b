"""ActCoolLR's peak rate, found: from λ0 of the step-0 scan, from the loss probe of Adam's
warm-up (docs/algorithm.md §4.8; the probe's arithmetic is ``actcool/probe.py``), or from a
branch search in the middle of the warm-up (§4.9, ``actcool/branches.py``).

Functions of the scheduler, as ``scheduler_state.py``'s are: they set its peak and ceiling,
start the probe, at the probe's end go back to the snapshot at the peak, and run the branch
search.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from typing import TYPE_CHECKING

from . import rewind
from .branches import average_searches, branch_search
from .calibration import warmup_lr
from .distributed import mean_over_ranks
from .isolation import RngState
from .measurement import Measurement
from .monitor import first_group_lr
from .probe import RateProbe
from .scale import AGREEMENT, PEAK_FACTOR, is_adam_family, peak_rate, rate_scale, reaches

if TYPE_CHECKING:
    from .scheduler import ActCoolLR

__all__ = [
    "branch_search_due",
    "find_peak",
    "probe_window",
    "run_branch_search",
    "set_peak",
    "warm_up_to_lowest_candidate",
]

logger = logging.getLogger(__name__)

#: λ0 has stopped falling once a scan's is at least this share of the scan's before
#: (:func:`_still_falling`): on timm's MlpMixer under SGD it fell 4-7× a measurement while the
#: zeroed head grew, then by 0-20% (docs/algorithm.md §4.8).
SETTLED = 0.8

#: The rate SGD's warm-up heads for while the finder waits for λ0 (momentum 0.9; rescaled with
#: the λ0 factors for another momentum), whatever the rate typed. The steps of the wait set the
#: scale the finder then reads: on a ResNet-20 with zero-γ blocks λ0 after 10 steps was 0.020
#: where they ran at 4% of a typed 0.01 and 0.089 at 4% of a typed 1.0, and the runs ended 4.6
#: points behind and 1.0 ahead of the best 1-cycle. A higher wait reads a higher λ0: 1.0 cost a
#: ReLU MLP with a zeroed head 0.9 points, 0.1 cost that ResNet 1.2 (docs/algorithm.md §4.8).
#: The multiple of the least λ0 so far bounds it meanwhile.
SGD_WAIT_RATE = 0.3

#: The rate Adam's family holds after a step 0 the gradient did not reach, until its scan a
#: measurement later (4% of 1e-4, the warm-up's first rate at the lowest rate typed in the
#: sweeps), whatever the rate typed. Adam moves every weight by about its rate, so any rate lets
#: the zeroed layer pass the gradient on; the held steps' training biases the λ0 read: on
#: ResNet-20 with zero-γ blocks, held at 4% of a typed 1e-2 the peak found was 0.055 and the run
#: ended 5 points behind 1-cycle's best, held at 4% of 1e-4 it was 0.018, level
#: (docs/algorithm.md §4.8).
ADAM_HOLD_RATE = 4e-6


def find_peak(s: ActCoolLR, t: int, m: Measurement, loss_given: bool = False) -> None:
    """Set the peak rate (and the ceiling) from the scan at the first measurement, or from
    the scans after it where step 0's gradient did not reach the network (:func:`_scan_reaches`);
    for Adam's family, start the loss probe that will set it instead (``loss_given``: the loop
    passes its loss to :meth:`step`)."""
    assert m.scan is not None
    c = s.controller
    if not _scan_reaches(s, t, m):
        return
    scale = rate_scale(m.scan)
    if s.settle_scales is not None:  # SGD after a step 0 the gradient did not reach
        if _still_falling(s, t, scale):
            return
        scale = min(s.settle_scales, default=None)  # None: no scan had a fit
    if scale is None:
        # No fit: the finder does not scan again for one (a peak found later would move the
        # warm-up's end further into training). A grid that starts too high for the
        # optimizer's first step, e.g. at 1e-4 under Adam, flips too much everywhere to fit.
        _keep_typed_rate(
            s,
            t,
            "no rate scale from the LR range scan (no Weibull fit of the mean temperature)",
            ", or scan_lrs= a grid around your rate",
        )
        return
    factors = s.rate_factors
    assert factors is not None
    s.rate_scale = scale
    hint = s._typed_lr
    peak = _scan_peak(s, hint)
    if t > 0:  # after scans the gradient did not reach: rise from here to the peak
        _rejoin_warm_up(s, t, peak[0])
    if probe_applies(s, t, loss_given):
        # a decade below the warm-up's first rate: the losses of the first steps fall
        # whatever the rate, and Adam's first steps are its largest
        start_probe(s, t, c.opening_floor * factors.peak * scale / 10)
        return
    set_peak(s, t, *peak)
    warm_up_to_lowest_candidate(s, t)


def _rejoin_warm_up(s: ActCoolLR, t: int, peak: float) -> None:
    """From step ``t`` the warm-up rises linearly to ``peak`` at its end, from the present
    rate or, where that lies above it, from the rate a warm-up to ``peak`` from step 0 has at
    ``t``: rates trained at before the peak was known (towards the optimizer's rate, or SGD's
    wait rate) are not kept where they overshoot the warm-up the peak asks for. A network whose
    step 0 the gradient did not reach is at its most fragile then (a LeakyReLU CNN with a
    zeroed head diverged under 1-cycle at 1.0, whose first 30 steps run at 0.04)."""
    c = s.controller
    line = warmup_lr(t, c.opening_steps, peak, c.opening_floor)
    c.continue_opening(t, min(c.lr_at(t), line))


def _keep_typed_rate(s: ActCoolLR, t: int, why: str, advice: str = "") -> None:
    """No peak from the scans: the optimizer's rate stays the peak (the warm-up rising to it
    from the present rate where a rescan had held it), and a warning says ``why``."""
    c = s.controller
    if s._lr_max_given is None:  # the ceiling SGD's wait had raised (a guard's cut stays)
        c.lr_max = min(c.lr_max, s._typed_lr)
    if t > 0:
        _rejoin_warm_up(s, t, s._typed_lr)
    c.lr_initial = s._typed_lr
    logger.warning(
        "step %d: %s; the optimizer's rate %.4g stays the peak (pass find_lr=False to say so%s)",
        t,
        why,
        s._typed_lr,
        advice,
    )
    s.find_lr = False
    warm_up_to_lowest_candidate(s, t)


def _scan_reaches(s: ActCoolLR, t: int, m: Measurement) -> bool:
    """Whether the scanned step's gradient reached the network (``actcool.scale.reaches``).
    Where a zero-initialised layer stopped it (a classifier head, the last BatchNorm of each
    residual block), the update moves a few layers only and the scan says nothing of the rate
    scale. Adam's family scans again a measurement later, holding the warm-up at
    :data:`ADAM_HOLD_RATE` meanwhile: its next steps reach the rest of the network at full
    size. Under any other optimizer the next steps stay small while the blocked layer grows, and
    λ0 falls with them: the warm-up goes on towards :data:`SGD_WAIT_RATE`, not the optimizer's
    rate, and the scans go on, every measurement, until λ0 stops falling
    (:func:`_still_falling`). Where the opening leaves no room for that, the optimizer's rate
    stays the peak."""
    if m.scan is None or reaches(m.scan):
        return True
    reach = m.scan.gradient_reach
    assert reach is not None
    c = s.controller
    later = t + c.measure_every
    why = (
        f"the step's gradient reached {100 * reach:.2g}% of the parameters' elements (a "
        "zero-initialised layer stops it), so the LR range scan does not give the rate scale"
    )
    adam = is_adam_family(s.optimizer)
    if adam and later < c.opening_steps // 2:
        if t == 0:  # hold the warm-up at a rate of its own until the scale is known
            hold = min(ADAM_HOLD_RATE, c.lr_max)
            c.continue_opening(0, hold)
            c.lr_initial = hold
        s.monitor.request_scan(later)
        logger.warning("step %d: %s; scanning again at step %d", t, why, later)
    elif not adam and later < c.opening_steps:
        if s.settle_scales is None:
            s.settle_scales = []
            _head_for_the_wait_rate(s)
        s.monitor.request_scan(later)
        logger.warning(
            "step %d: %s; scanning again every %d steps until λ0 stops falling",
            t,
            why,
            c.measure_every,
        )
    else:
        _keep_typed_rate(s, t, why)
    return False


def _head_for_the_wait_rate(s: ActCoolLR) -> None:
    """From the step after step 0, SGD's warm-up is the one to :data:`SGD_WAIT_RATE` (capped by
    a given ``lr_max``) while λ0 settles: the typed rate is a hint, and the rates the wait trains
    at set the scale the finder will read, so they must not follow the hint."""
    factors = s.rate_factors
    assert factors is not None
    wait = SGD_WAIT_RATE * factors.peak / PEAK_FACTOR
    c = s.controller
    if s._lr_max_given is not None:
        wait = min(wait, s._lr_max_given)
    else:  # the optimizer's rate was the ceiling until a peak is found
        c.lr_max = max(wait, c.lr_min)
    c.lr_initial = wait


def _still_falling(s: ActCoolLR, t: int, scale: float | None) -> bool:
    """Whether λ0 is still falling after a step 0 the gradient did not reach (SGD); if so a
    scan is requested a measurement later.

    SGD's first updates of the rest of the network are as small as the zero-initialised layer
    that carries its gradient, so the rate that flips the gates (λ0) starts high and falls as
    that layer grows: 4-7× a measurement on timm's MlpMixer, whose head is zeroed. Once a
    scan's λ0 is at least :data:`SETTLED` of the one before, it has settled; later it rises with
    the rate being trained at (a scan reads the rate scale of its own step), so the caller takes
    the least λ0 seen. A scan without a fit, or the end of the opening, also ends the wait."""
    scales = s.settle_scales
    assert scales is not None
    c = s.controller
    later = t + c.measure_every
    if scale is not None:
        scales.append(scale)
        falling = len(scales) < 2 or scales[-1] < SETTLED * scales[-2]
        if falling and later < c.opening_steps:
            # λ0 falls from above, so its multiple bounds the peak to come: the warm-up heads
            # for the lower of it and the wait rate (a rate trained at above the peak to come
            # would raise the λ0 read next)
            factors = s.rate_factors
            assert factors is not None
            bound = factors.peak * min(scales)
            if bound < c.lr_initial:
                _rejoin_warm_up(s, t, bound)
                c.lr_initial = bound
            s.monitor.request_scan(later)
            logger.info(
                "step %d: λ0 %.4g, still falling; scanning again at step %d", t, scale, later
            )
            return True
    if scales:
        logger.info("step %d: λ0 settled at %.4g after %d scans", t, min(scales), len(scales))
    return False


def warm_up_to_lowest_candidate(s: ActCoolLR, t: int) -> None:
    """With a branch search to come (``BranchFinder(warmup_to_lowest=True)``), keep the peak
    known now as the candidates' centre and let the warm-up rise towards the lowest candidate
    until the search: the run then has not passed a rate the search may choose (§4.9)."""
    finder = s.branches
    if finder is None or not finder.warmup_to_lowest or s.branch_result is not None:
        return
    c = s.controller
    s.branch_centre = c.lr_peak
    c.lr_initial = s.branch_centre * finder.multiples[0]
    logger.info(
        "step %d: until the branch search the warm-up rises to %.4g, the lowest of its "
        "candidates around %.4g",
        t,
        c.lr_initial,
        s.branch_centre,
    )


def _abandon_branch_search(s: ActCoolLR, t: int, why: str) -> None:
    """No branch search after all: the warm-up goes on to the centre it was held below."""
    c = s.controller
    if s.branch_centre is not None and c.lr_initial < s.branch_centre:
        c.continue_opening(t, c.lr_at(t))
        c.lr_initial = s.branch_centre
    logger.warning("step %d: no branch search (%s); the peak stays %.4g", t, why, c.lr_peak)
    s.branches = None


def _scan_peak(s: ActCoolLR, hint: float) -> tuple[float, float, str]:
    """The step-0 scan's peak: (peak, hint, how it was found) for :func:`set_peak`."""
    factors = s.rate_factors
    assert factors is not None and s.rate_scale is not None
    peak = peak_rate(hint, s.rate_scale, factors.peak)
    return peak, hint, f"{factors.peak:.3g} × λ0 = {s.rate_scale:.4g} for {factors.basis}"


def set_peak(s: ActCoolLR, t: int, peak: float, hint: float, how: str) -> None:
    """Make ``peak`` (capped by a given ``lr_max``) the warm-up's end and the ceiling; ``how``
    it was found, in words, for the log."""
    c = s.controller
    if s._lr_max_given is not None:
        peak = min(peak, s._lr_max_given)
    s.found_lr = peak
    c.lr_initial = peak
    # a given lr_max stays the ceiling (a target may need rates above the warm-up's peak)
    c.lr_max = s._lr_max_given if s._lr_max_given is not None else max(peak, c.lr_min)
    logger.info(
        "step %d: peak rate %.4g (%s; the optimizer's %.4g %s)",
        t,
        peak,
        how,
        hint,
        "kept" if peak == hint else "was a hint",
    )


def probe_applies(s: ActCoolLR, t: int, loss_given: bool) -> bool:
    """With ``find_lr="probe"``, the probe runs under the ramp calibration, when the loop gives
    its loss and the warm-up leaves room for it (two measurements at least); where it cannot,
    a warning says why and the peak is the scan's."""
    if not s.peak_probe:
        return False
    c = s.controller
    why = None
    if s.target is not None or s.calibration is None or s.calibration.kind != "ramp":
        why = "it needs the ramp calibration's warm-up"
    elif not loss_given:
        why = "pass step(loss=loss): it reads the loss"
    elif c.opening_steps - t <= 2 * c.measure_every:
        why = f"the warm-up ({c.opening_steps} steps) is too short for it"
    if why is not None:
        logger.warning(
            "step %d: no loss probe (%s); the peak is %.3g × λ0 of the step-0 scan",
            t,
            why,
            s.rate_factors.peak if s.rate_factors is not None else math.nan,
        )
        return False
    return True


def start_probe(s: ActCoolLR, t: int, start_lr: float) -> None:
    c = s.controller
    last = t + ((c.opening_steps - 1 - t) // c.measure_every) * c.measure_every
    cap = math.inf if s._lr_max_given is None else s._lr_max_given
    s.probe = RateProbe(t + 1, start_lr, last, margin=AGREEMENT, cap=cap)
    s._snapshots = [rewind.take(s.monitor.model, s.optimizer)]
    s.probe.keep(t, 0.0, len(s._ramp_samples) + 1)  # with step t's, appended next
    logger.info(
        "step %d: probing the peak rate from the loss, from %.3g up %d steps a decade",
        t,
        start_lr,
        s.probe.steps_per_decade,
    )


def probe_window(s: ActCoolLR, t: int) -> None:
    """The probe's part of measurement step ``t``: keep a snapshot while it goes on, at its
    end set the peak and go back to the snapshot at it."""
    probe = s.probe
    assert probe is not None
    if probe.check(t):
        s._snapshots.append(rewind.take(s.monitor.model, s.optimizer))
        dropped = probe.keep(t, probe.lr_at(t), len(s._ramp_samples))
        del s._snapshots[: len(dropped)]  # the oldest ones
        return
    hint = s.controller.lr_initial
    if probe.best_lr is None:  # no finite loss at all: the scan's peak
        set_peak(s, t, *_scan_peak(s, hint))
    else:
        peak = peak_rate(hint, probe.best_lr, probe.factor)
        how = f"{probe.factor:g} × {probe.best_lr:.4g}, the rate of the lowest loss"
        set_peak(s, t, peak, hint, how)
    index = probe.restore_index(s.found_lr)
    step, _, samples = probe.snapshots[index]
    probe.restored_step = step
    rewind.restore(s._snapshots[index], s.monitor.model, s.optimizer)
    s._snapshots = []
    del s._ramp_samples[samples:]  # measured on the overshoot
    logger.info(
        "step %d: the probe ended (%s); back to the weights after step %d", t, probe.reason, step
    )


def branch_search_due(s: ActCoolLR, t: int) -> bool:
    """Whether measurement step ``t`` runs the branch search: the first one past its share of
    the warm-up (where the warm-up ends too soon for it, a warning says so, once)."""
    finder = s.branches
    if finder is None or s.branch_result is not None:
        return False
    c = s.controller
    if t < finder.at * c.opening_steps:
        return False
    why = None
    if c.diverged:
        why = "the run has diverged"
    elif t + 1 >= c.opening_steps:
        why = f"the warm-up ({c.opening_steps} steps) ended before a measurement past its middle"
    if why is not None:
        _abandon_branch_search(s, t, why)
        return False
    return True


def run_branch_search(s: ActCoolLR, t: int) -> None:
    """Train the branches from the state after step ``t``, make the best one's peak the
    warm-up's end and the ceiling, and go on rising to it from the present rate."""
    finder = s.branches
    assert finder is not None
    c = s.controller
    centre = c.lr_peak if s.branch_centre is None else s.branch_centre
    lrs = [centre * m for m in finder.multiples]
    if s._lr_max_given is not None:
        lrs = [v for v in lrs if v <= s._lr_max_given]
    if len(lrs) < 3:
        why = (
            f"lr_max={s._lr_max_given:.4g} leaves fewer than 3 of the candidates "
            f"{finder.multiples} × {centre:.4g}"
        )
        _abandon_branch_search(s, t, why)
        return
    lr_now = first_group_lr(s.optimizer)
    rng = RngState.capture()  # drawing from a shuffling DataLoader draws random numbers
    try:
        with s.monitor.paused():
            searches = [
                branch_search(
                    s.monitor.model,
                    s.optimizer,
                    batches,
                    held,
                    finder.loss_fn,
                    lrs,
                    steps=finder.steps,
                    lr_from=lr_now,
                    average=mean_over_ranks,
                )
                for batches, held in finder.draw()
            ]
        result = average_searches(searches)
    finally:
        rng.restore()
    s.branch_result = result = dataclasses.replace(result, step=t)
    if result.best_lr is None:
        logger.warning(
            "step %d: every branch of the search diverged; the peak stays %.4g", t, c.lr_peak
        )
        return
    set_peak(
        s,
        t,
        peak_rate(s._typed_lr, result.best_lr, 1.0),
        s._typed_lr,
        f"the lowest held-out loss of {len(lrs)} branches of {finder.steps} steps, "
        f"{lrs[0]:.3g} to {lrs[-1]:.3g}",
    )
    c.continue_opening(t, lr_now)
    if s.branch_centre is not None and s.guard is not None:
        # From below the lowest candidate the rate climbs up to ~100x within what is left of
        # the warm-up, and T̄/λ falls tenfold with it (not the law's exponent: k ≈ 1 there):
        # the guard's history of T̄/λ at the low rates read that climb as units dying (§4.9).
        s.guard.restart()
