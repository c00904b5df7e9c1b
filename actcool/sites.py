"""Activation sites and the hooks that record and compare their activation patterns.

The measurement is docs/algorithm.md §1. A site is a module whose pattern is the sign of its
input: a ReLU, and every gated activation that is positive exactly where its input is (GELU,
SiLU, Mish, Hardswish, LeakyReLU, ELU, ...), where the pattern ``out > 0`` read from the output
is ``in > 0`` by definition. Activations whose output sign is not the input's (``PReLU``,
``Softplus``, ``Sigmoid``, ``Tanh`` passed by hand) are read from their input with a forward
pre-hook.

:class:`PatternProbe` owns every hook it installs. It has four modes:

- ``idle``: hooks return at once and keep nothing (between measurements, docs/algorithm.md §1);
- ``record``: every forward pass run with gradients enabled stores each site's pattern
  (``out > 0``, or ``in > 0`` where read from the input) as a bool tensor, replacing the previous one, so the patterns are those of the
  *last* grad-enabled forward (docs/algorithm.md §1); ``no_grad``/``inference_mode`` passes
  are ignored.
  The root module's arguments of that forward are kept too (a reference, not a copy), so the
  measurement pass can replay the call without being handed the batch;
- ``reference``: the next forward pass (with or without gradients) replaces the recorded
  patterns and keeps the recorded call (the monitor re-records θ_t in float32 before a scan
  under autocast);
- ``compare``: each forward pass counts, per site, what differs from the recorded pattern, for
  each requested counter (``samples``, ``positions``, ``bits``; see ``granularity.py``). Counts
  stay on the device until :meth:`PatternProbe.take_counts`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional as F
from torch.utils.hooks import RemovableHandle

from .granularity import COUNTERS

__all__ = [
    "DEFAULT_ACTIVATIONS",
    "GATE_FUNCTIONS",
    "INPUT_SIGN_ACTIVATIONS",
    "NoSitesError",
    "PatternProbe",
    "count_totals",
    "find_relu_sites",
    "find_sites",
]

IDLE, RECORD, REFERENCE, COMPARE = "idle", "record", "reference", "compare"


#: The module types measured by default: each is a gate whose pattern is the sign of its input.
#: All but PReLU are positive exactly where their input is (for their default parameters), so
#: the output's sign is that pattern; a PReLU's learned slope may turn negative, so it is read
#: from its input (:func:`reads_input`).
DEFAULT_ACTIVATIONS: tuple[type[nn.Module], ...] = (
    nn.ReLU,
    nn.ReLU6,
    nn.LeakyReLU,
    nn.RReLU,
    nn.ELU,
    nn.CELU,
    nn.SELU,
    nn.GELU,
    nn.SiLU,
    nn.Mish,
    nn.Hardswish,
    nn.PReLU,
)
#: Activation modules of other libraries (timm, Hugging Face transformers, ...) that wrap a
#: functional activation of the same kind, matched by class name: their sign is their input's.
WRAPPER_NAMES = frozenset(
    {
        "GELU",
        "GELUTanh",
        "QuickGELU",
        "GELUActivation",
        "NewGELUActivation",
        "FastGELUActivation",
        "QuickGELUActivation",
        "PytorchGELUTanh",
        "SiLU",
        "Swish",
        "SiLUActivation",
        "Mish",
        "MishActivation",
        "HardSwish",
        "HardSwishMe",
        "SwishMe",
        "MishMe",
    }
)
#: Activations whose output sign is not their input's: measured from the input (PReLU by
#: default, the others when asked for with ``activations=``).
INPUT_SIGN_ACTIVATIONS: tuple[type[nn.Module], ...] = (
    nn.PReLU,
    nn.Softplus,
    nn.Sigmoid,
    nn.Tanh,
    nn.Hardtanh,
    nn.Hardsigmoid,
    nn.LogSigmoid,
    nn.Softsign,
)
#: The functional activations torch's transformer layers accept (``activation="gelu"`` or a
#: function), with the module type each one is: a layer that applies one of them is measured at
#: the output of its ``linear1``, the input of the activation (:func:`find_sites`).
GATE_FUNCTIONS: dict[Callable[..., Any], type[nn.Module]] = {
    F.relu: nn.ReLU,
    torch.relu: nn.ReLU,
    F.gelu: nn.GELU,
    F.silu: nn.SiLU,
    F.mish: nn.Mish,
    F.hardswish: nn.Hardswish,
    F.elu: nn.ELU,
    F.leaky_relu: nn.LeakyReLU,
}
#: Outputs never negative: the pattern is a cast to bool (see _write_pattern).
_NONNEGATIVE = (nn.ReLU, nn.ReLU6)


class NoSitesError(ValueError):
    """The model has no module to measure (the message lists its module types)."""


def _is_site(module: nn.Module, activations: tuple[type[nn.Module], ...] | None) -> bool:
    if activations is not None:
        return isinstance(module, activations)
    if isinstance(module, nn.LeakyReLU) and module.negative_slope < 0:
        return False  # positive for negative inputs: not a gate (pass it in activations=)
    return isinstance(module, DEFAULT_ACTIVATIONS) or (
        type(module).__name__ in WRAPPER_NAMES and not list(module.children())
    )


def _functional_gate_inputs(
    model: nn.Module, activations: tuple[type[nn.Module], ...] | None
) -> set[int]:
    """The ``linear1`` of every ``nn.TransformerEncoderLayer``/``DecoderLayer`` whose activation
    is a function of :data:`GATE_FUNCTIONS` (``activation="gelu"``, torch's default ``"relu"``):
    no module applies it, so the site is the module whose output it gates (by ``id``)."""
    layers = (nn.TransformerEncoderLayer, nn.TransformerDecoderLayer)
    found = set()
    for layer in model.modules():
        function = getattr(layer, "activation", None)
        if not isinstance(layer, layers) or isinstance(function, nn.Module):
            continue  # an activation module is a site of its own
        kind = GATE_FUNCTIONS.get(function)  # type: ignore[arg-type]
        if kind is not None and (activations is None or issubclass(kind, activations)):
            found.add(id(layer.linear1))
    return found


def reads_input(module: nn.Module) -> bool:
    """Whether a site's pattern is read from its input (``in > 0``) rather than its output:
    activations whose output sign is not the input's (a negative-slope LeakyReLU included)."""
    if isinstance(module, nn.ReLU6):  # a Hardtanh by class, but positive where its input is
        return False
    if isinstance(module, nn.LeakyReLU):
        return module.negative_slope < 0
    if isinstance(module, (nn.ELU, nn.CELU)):
        return module.alpha < 0
    return isinstance(module, INPUT_SIGN_ACTIVATIONS)


def find_sites(
    model: nn.Module,
    sites: Iterable[nn.Module | str] | None = None,
    activations: Iterable[type[nn.Module]] | None = None,
) -> list[tuple[str, nn.Module]]:
    """The modules to hook, with their paths in ``model``.

    By default every module of a :data:`DEFAULT_ACTIVATIONS` type (ReLU, GELU, SiLU, PReLU, ...),
    the wrappers of :data:`WRAPPER_NAMES`, and the ``linear1`` of torch's transformer layers
    built with a functional activation (``nn.TransformerEncoderLayer(..., activation="gelu")``:
    its output is the activation's input); ``activations`` replaces those types (add to them
    with ``actcool.DEFAULT_ACTIVATIONS + (MyAct,)``). ``sites`` names modules explicitly
    (module objects or dotted paths) instead; a module that is no activation is measured by
    its output ``out > 0``, the pattern a ReLU applied to it would produce, which is how models
    that call ``F.relu`` or ``F.gelu`` are measured.

    Raises:
        NoSitesError: no site in the model (a ValueError; the message lists its module types).
        ValueError: an unknown path, or a module not in ``model``.
    """
    by_module = {id(m): name for name, m in model.named_modules()}
    named = dict(model.named_modules())
    if sites is None:
        types = None if activations is None else _check_activations(activations)
        gated = _functional_gate_inputs(model, types)
        found = [(n, m) for n, m in model.named_modules() if _is_site(m, types) or id(m) in gated]
        if not found:
            raise NoSitesError(_no_site_message(model, types))
        return [(n or "<root>", m) for n, m in found]
    out: list[tuple[str, nn.Module]] = []
    for s in sites:
        if isinstance(s, str):
            if s not in named:
                raise ValueError(f"no module at path {s!r} in {type(model).__name__}")
            out.append((s, named[s]))
        elif isinstance(s, nn.Module):
            if id(s) not in by_module:
                raise ValueError(
                    f"site {type(s).__name__} is not a submodule of {type(model).__name__}"
                )
            out.append((by_module[id(s)] or "<root>", s))
        else:
            raise TypeError(f"sites must be modules or module paths, got {type(s).__name__}")
    if not out:
        raise ValueError("sites is empty: pass at least one module to measure")
    if len({id(m) for _, m in out}) != len(out):
        raise ValueError("sites lists the same module twice; a module called twice is two sites")
    return out


def find_relu_sites(
    model: nn.Module, sites: Iterable[nn.Module | str] | None = None
) -> list[tuple[str, nn.Module]]:
    """:func:`find_sites` with its default activations (the name of earlier releases)."""
    return find_sites(model, sites)


def _check_activations(activations: Iterable[type[nn.Module]]) -> tuple[type[nn.Module], ...]:
    if isinstance(activations, type):
        activations = (activations,)
    types = tuple(activations)
    bad = [a for a in types if not (isinstance(a, type) and issubclass(a, nn.Module))]
    if bad or not types:
        raise TypeError(
            "activations must be torch.nn.Module classes, e.g. "
            f"activations=(torch.nn.GELU, torch.nn.SiLU); got {bad or 'nothing'!r}"
        )
    return types


def _no_site_message(model: nn.Module, types: tuple[type[nn.Module], ...] | None) -> str:
    leaves = sorted(
        {type(m).__name__ for m in model.modules() if not list(m.children())} - {"Identity"}
    )
    looked = (
        "module of the activations given (" + ", ".join(t.__name__ for t in types) + ")"
        if types is not None
        else "activation module whose sign is its input's (ReLU, GELU, SiLU, Mish, Hardswish, "
        "LeakyReLU, ELU, ...)"
    )
    other = sorted(  # no gate: the output's sign is not the input's (a PReLU is a gate)
        {type(m).__name__ for m in model.modules() if reads_input(m) and type(m) is not nn.PReLU}
    )
    kinds = ", ".join(f"torch.nn.{name}" for name in other)
    read_input = (
        f" {', '.join(other)} {'is not a gate' if len(other) == 1 else 'are not gates'} (the "
        "output's sign is not the input's); to measure the sign of the input, "
        f"activations=({kinds}{',' if len(other) == 1 else ''})."
        if other
        else ""
    )
    return (
        f"{type(model).__name__} has no {looked} to measure; its modules are: "
        f"{', '.join(leaves) or 'none'}.{read_input} If it applies its activation functionally "
        "(F.relu, F.gelu), pass the modules whose outputs feed it: sites=[model.conv1, ...]; for "
        "an activation module of another type, activations=actcool.DEFAULT_ACTIVATIONS + "
        "(MyActivation,)"
    )


def count_totals(shape: tuple[int, ...], counters: tuple[str, ...]) -> tuple[int, ...]:
    """How many patterns (or bits) each counter compares at a site whose output has ``shape``."""
    batch = shape[0]
    spatial = math.prod(shape[2:]) if len(shape) > 2 else 1
    sizes = {"samples": batch, "positions": batch * spatial, "bits": math.prod(shape)}
    return tuple(sizes[c] for c in counters)


# Bool patterns live in flat buffers padded with zeros to whole chunks of int64 words, so a
# compare pass is one XOR over words and changed bits are counted without a pass over bools:
# every byte of a difference word is 0 or 1, so summing at most 255 words per chunk keeps each
# byte lane <= 255 (no carries), and the bytes of those sums add up to the changed bits.
_WORD = 8  # bools per int64 word
_CHUNK = 255  # words per chunk


def _padded_length(numel: int) -> int:
    words = -(-numel // _WORD)
    return -(-words // _CHUNK) * _CHUNK * _WORD


def _pattern_buffer(shape: torch.Size, device: torch.device) -> Tensor:
    """A flat bool buffer for a pattern of ``shape``, its padding zeroed."""
    numel = math.prod(shape)
    buf = torch.empty(_padded_length(numel), dtype=torch.bool, device=device)
    buf[numel:].zero_()
    return buf


def _write_pattern(out: Tensor, buf: Tensor, nonnegative: bool) -> None:
    """``out > 0`` into the front of ``buf`` (laid out as a contiguous ``out``).

    A ReLU's output is never negative, so there ``out > 0`` is ``out != 0``: a cast to bool,
    about 3x cheaper than the comparison on CPU. The two differ only on NaN, which the cast
    reads as active (``NaN > 0`` is False): a NaN activation already means a diverged step.
    """
    pattern = buf[: out.numel()].view(out.shape)
    if nonnegative:
        pattern.copy_(out)
    else:
        torch.gt(out, 0, out=pattern)


def _popcount(words: Tensor) -> Tensor:
    """The set bools in a padded pattern buffer viewed as int64 words; an int64 scalar on the
    device (each byte lane of a chunk's sum stays <= 255, see above)."""
    return words.view(-1, _CHUNK).sum(dim=1).view(torch.uint8).sum(dtype=torch.int64)


def _count_changes(diff_words: Tensor, shape: torch.Size, counters: tuple[str, ...]) -> Tensor:
    """Per counter, how many patterns changed; int64 ``(K,)``, reduced on the device.

    ``diff_words`` is the XOR of two padded pattern buffers viewed as int64 words; ``shape``
    the site output's. ``samples``: samples with any changed unit; ``positions``: (sample, row,
    column) positions with any changed channel (dim 1); ``bits``: changed units.
    """
    diff = diff_words.view(torch.bool)[: math.prod(shape)].view(shape)
    counts = []
    for c in counters:
        if c == "bits":
            counts.append(_popcount(diff_words))
        elif c == "positions" and diff.dim() > 2:
            counts.append(torch.count_nonzero(diff.any(dim=1)))
        else:  # samples, or positions of a (B, F) output
            flat = diff.reshape(shape[0], -1)  # a (B,) output: one unit per sample
            if flat.shape[1] % 8 == 0:
                flat = flat.view(torch.int64)  # 8 bools per word: 8x fewer elements to reduce
            counts.append(torch.count_nonzero(flat.any(dim=1)))
    return torch.stack(counts)


class PatternProbe:
    """Hooks on the sites of ``model``; see the module docstring for the modes.

    Args:
        model: the root module; its forward pre-hook marks the start of each forward pass.
        sites: ``(path, module)`` pairs from :func:`find_sites`.
        counters: what each compare pass counts per site, a subset of
            ``("samples", "positions", "bits")`` in that order.
        on_record: called at the start of every grad-enabled forward in ``record`` mode
            (the monitor saves RNG state there).

    Attributes:
        last_call: ``(args, kwargs)`` of the root module's last grad-enabled forward in
            ``record`` mode, or ``None``. The tensors themselves, not copies: held only while
            recording, dropped by :meth:`clear`.
    """

    def __init__(
        self,
        model: nn.Module,
        sites: list[tuple[str, nn.Module]],
        counters: tuple[str, ...] = ("samples",),
        on_record: Callable[[], None] | None = None,
    ) -> None:
        unknown = [c for c in counters if c not in COUNTERS]
        if unknown or not counters:
            raise ValueError(f"counters must be a non-empty subset of {COUNTERS}, got {counters!r}")
        self.counters = tuple(c for c in COUNTERS if c in counters)
        self.mode = IDLE
        self._on_record = on_record
        self._calls: dict[str, int] = {}
        self._index: dict[str, int] = {}  # site name -> index, in order of first call
        self.names: list[str] = []
        self._patterns: dict[int, Tensor] = {}  # site index -> padded flat bool buffer
        self._shapes: dict[int, torch.Size] = {}  # site index -> the output's shape
        self._changed: dict[int, Tensor] = {}  # site index -> int64 (K,), one per counter
        self._scratch: dict[int, tuple[Tensor, Tensor]] = {}  # site -> reused compare buffers
        self.recorded = False
        self.last_call: tuple[tuple[Any, ...], dict[str, Any]] | None = None
        self._handles: list[RemovableHandle] = [
            model.register_forward_pre_hook(self._pre_hook, with_kwargs=True)
        ]
        for name, module in sites:
            # a ReLU's output is never negative (see _write_pattern)
            from_input = reads_input(module)
            nonnegative = type(module) in _NONNEGATIVE and not from_input
            observe = self._make_observer(name, nonnegative)
            if from_input:
                handle = module.register_forward_pre_hook(
                    lambda m, args, observe=observe: observe(args[0] if args else None)
                )
            else:
                handle = module.register_forward_hook(
                    lambda m, args, output, observe=observe: observe(output)
                )
            self._handles.append(handle)

    # -- hooks ---------------------------------------------------------------------------
    def _active(self) -> bool:
        if self.mode == RECORD:
            return torch.is_grad_enabled()
        return self.mode in (COMPARE, REFERENCE)

    def _pre_hook(self, module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        if not self._active():
            return
        self._calls.clear()
        if self.mode == REFERENCE:
            self._patterns.clear()
            self._shapes.clear()
        elif self.mode == RECORD:
            self._patterns.clear()
            self._shapes.clear()
            self.recorded = False
            self.last_call = (args, dict(kwargs))  # the tensors themselves, not copies
            if self._on_record is not None:
                self._on_record()

    def _make_observer(self, path: str, nonnegative: bool) -> Callable[[Any], None]:
        """What the hooks of site ``path`` call with the tensor whose sign is the pattern (the
        output, or the input of an activation read from its input)."""

        def hook(output: Any) -> None:
            if not self._active():
                return
            if not isinstance(output, Tensor):
                raise TypeError(f"site {path!r} gave {type(output).__name__}, not a tensor")
            if output.dim() < 1 or output.shape[0] == 0:
                raise ValueError(f"site {path!r} returned an output with no batch dimension")
            k = self._calls.get(path, 0)
            self._calls[path] = k + 1
            name = path if k == 0 else f"{path}#{k}"
            out = output.detach()
            if self.mode in (RECORD, REFERENCE):
                idx = self._index.get(name)
                if idx is None:
                    idx = self._index[name] = len(self.names)
                    self.names.append(name)
                buf = _pattern_buffer(out.shape, out.device)
                _write_pattern(out, buf, nonnegative)
                self._patterns[idx] = buf
                self._shapes[idx] = out.shape
                self.recorded = True
                return
            idx = self._index.get(name)
            ref = self._patterns.get(idx) if idx is not None else None
            if ref is None:
                raise RuntimeError(
                    f"site {name!r} was not seen in the recorded training forward; the "
                    "measurement pass must call the same sites on the same batch"
                )
            shape = self._shapes[idx]
            if shape != out.shape:
                raise RuntimeError(
                    f"site {name!r} had shape {tuple(out.shape)}, not the recorded "
                    f"{tuple(shape)}; the measurement pass must call the same sites "
                    "on the same batch"
                )
            scratch = self._scratch.get(idx)
            if (
                scratch is None
                or scratch[0].device != out.device
                or scratch[0].numel() != ref.numel()
            ):
                # Reused by every compare pass of this measurement: the pattern's bools and
                # the difference words, so a 25-rate scan allocates nothing per rate.
                self._scratch[idx] = (
                    _pattern_buffer(shape, out.device),
                    torch.empty(ref.numel() // _WORD, dtype=torch.int64, device=ref.device),
                )
            bits, diff_words = self._scratch[idx]
            _write_pattern(out, bits, nonnegative)
            torch.bitwise_xor(bits.view(torch.int64), ref.view(torch.int64), out=diff_words)
            self._changed[idx] = _count_changes(diff_words, shape, self.counters)

        return hook

    # -- measurement ---------------------------------------------------------------------
    @property
    def batch_size(self) -> int:
        first = self._shapes.get(0)
        if first is None:
            raise RuntimeError("no patterns recorded")
        return int(first[0])

    def totals(self) -> Tensor:
        """Per site and counter, how many patterns (or bits) a compare pass compares; ``(S, K)``."""
        rows = [count_totals(tuple(self._shapes[i]), self.counters) for i in range(len(self.names))]
        return torch.tensor(rows, dtype=torch.int64, device=self._patterns[0].device)

    def take_counts(self) -> Tensor:
        """Changed counts of the last compare pass, int64 ``(S, K)`` on the device.

        A site the compare pass did not reach counts every pattern as changed.
        """
        device = self._patterns[0].device
        counts = [
            self._changed[i]
            if i in self._changed
            else torch.tensor(
                count_totals(tuple(self._shapes[i]), self.counters),
                dtype=torch.int64,
                device=device,
            )
            for i in range(len(self.names))
        ]
        self._changed.clear()
        return torch.stack(counts).to(torch.int64)

    def take_active(self) -> Tensor:
        """Per site, the units on (``> 0``) in the recorded pattern, summed over the batch;
        int64 ``(S,)`` on the device. A site at 0 is dark: every unit is off for every sample
        (the divergence guard's sign that a layer died, docs/algorithm.md §4.7)."""
        return torch.stack(
            [_popcount(self._patterns[i].view(torch.int64)) for i in range(len(self.names))]
        )

    def clear(self) -> None:
        """Drop the recorded patterns (between measurements nothing is kept)."""
        self._patterns.clear()
        self._shapes.clear()
        self._changed.clear()
        self._scratch.clear()
        self.recorded = False
        self.last_call = None

    def remove(self) -> None:
        for h in self._handles:
            h.remove()
        self._handles.clear()
        self.clear()
        self.mode = IDLE
