"""The probe's pattern buffers and change counting against direct counts."""

import math

import pytest
import torch
from torch import nn

from actcool.sites import (
    DEFAULT_ACTIVATIONS,
    PatternProbe,
    _count_changes,
    _padded_length,
    _pattern_buffer,
    _write_pattern,
    find_sites,
    reads_input,
)


@pytest.mark.parametrize(
    "shape", [(1,), (3, 5), (2, 8), (4, 3, 7, 5), (2, 255 * 8 + 3), (3, 2, 255 * 8, 1)]
)
def test_counts_match_direct_counts_at_any_size(shape):
    g = torch.Generator().manual_seed(math.prod(shape))
    a, b = torch.randn(shape, generator=g), torch.randn(shape, generator=g)
    ref, now = _pattern_buffer(a.shape, a.device), _pattern_buffer(b.shape, b.device)
    _write_pattern(a, ref, nonnegative=False)
    _write_pattern(b, now, nonnegative=False)
    assert ref.numel() == _padded_length(a.numel()) and ref.numel() % (8 * 255) == 0
    assert not ref[a.numel() :].any()  # the padding compares equal
    words = torch.bitwise_xor(now.view(torch.int64), ref.view(torch.int64))
    counts = _count_changes(words, a.shape, ("samples", "positions", "bits")).tolist()
    diff = (a > 0) != (b > 0)
    samples = int(diff.flatten(1).any(1).sum()) if diff.dim() > 1 else int(diff.sum())
    positions = int(diff.any(1).sum()) if diff.dim() > 2 else samples
    assert counts == [samples, positions, int(diff.sum())]


def test_bit_count_has_no_carries_when_every_bit_flips():
    # the worst case for the byte-lane sums: every unit of a large output changed
    shape = (64, 255 * 8 * 3 + 5)
    ref, now = (
        _pattern_buffer(shape, torch.device("cpu")),
        _pattern_buffer(shape, torch.device("cpu")),
    )
    _write_pattern(torch.ones(shape), ref, nonnegative=True)
    _write_pattern(torch.zeros(shape), now, nonnegative=True)
    words = torch.bitwise_xor(now.view(torch.int64), ref.view(torch.int64))
    assert _count_changes(words, torch.Size(shape), ("bits",)).tolist() == [math.prod(shape)]


def test_relu_sites_read_the_pattern_as_a_cast_other_sites_compare():
    x = torch.tensor([[-1.0, 0.0, 2.0, float("nan")]])
    relu_buf, other_buf = _pattern_buffer(x.shape, x.device), _pattern_buffer(x.shape, x.device)
    _write_pattern(torch.relu(x), relu_buf, nonnegative=True)
    _write_pattern(x, other_buf, nonnegative=False)
    # identical except on NaN: a diverged unit reads as active at a ReLU, inactive elsewhere
    assert relu_buf[:4].tolist() == [False, False, True, True]
    assert other_buf[:4].tolist() == [False, False, True, False]


def test_probe_counts_a_relu_and_a_linear_site_like_the_definition():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 9), nn.ReLU(), nn.Linear(9, 4))
    sites = [("1", model[1]), ("2", model[2])]  # a ReLU, and a linear output read as "> 0"
    probe = PatternProbe(model, sites, counters=("samples", "bits"))
    x = torch.randn(6, 5)
    with torch.no_grad():  # idle: the hooks keep nothing
        before = [model[:2](x) > 0, model(x) > 0]
    probe.mode = "record"
    model(x)
    probe.mode = "idle"
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.3 * torch.randn_like(p))
        after = [model[:2](x) > 0, model(x) > 0]
        probe.mode = "compare"
        model(x)
    counts = probe.take_counts().tolist()
    expected = [
        [int((b != a).any(1).sum()), int((b != a).sum())]
        for b, a in zip(before, after, strict=True)
    ]
    assert counts == expected
    assert probe.totals().tolist() == [[6, 6 * 9], [6, 6 * 4]]
    # the units on in the recorded pattern (θ_t's), per site
    assert probe.take_active().tolist() == [int(b.sum()) for b in before]


@pytest.mark.parametrize("shape", [(3, 7), (2, 5, 4, 4), (300, 70)])  # short, conv, > 1 chunk
def test_the_units_on_are_counted_exactly_and_a_dark_site_reads_zero(shape):
    torch.manual_seed(1)
    model = nn.Sequential(nn.ReLU())
    probe = PatternProbe(model, find_sites(model), counters=("bits",))
    x = torch.randn(shape)
    x.view(-1)[::5] = 0.0  # exact zeros are off
    probe.mode = "record"
    model(x)
    assert probe.take_active().tolist() == [int((x > 0).sum())]
    model(-x.abs())  # every unit off for every sample
    assert probe.take_active().tolist() == [0]
    probe.remove()


# -- which modules are sites, and what their pattern is ------------------------------------
def _flipped_bits(activation: nn.Module, x: torch.Tensor, x2: torch.Tensor, **find) -> int:
    """The bits a probe on ``activation`` (as the whole model) counts as changed between a
    recorded forward on ``x`` and a compare forward on ``x2``."""
    model = nn.Sequential(activation)
    probe = PatternProbe(model, find_sites(model, **find), counters=("bits",))
    try:
        probe.mode = "record"
        model(x)
        probe.mode = "compare"
        model(x2)
        return int(probe.take_counts()[0, 0])
    finally:
        probe.remove()


def _inputs() -> tuple[torch.Tensor, torch.Tensor]:
    """Random inputs with exact zeros and very negative values (where GELU, SiLU and Mish
    underflow to -0.0), and a second draw of which a third keeps the first's values."""
    g = torch.Generator().manual_seed(3)
    x = torch.randn(16, 40, generator=g) * 3
    x[:, :4] = 0.0
    x[:, 4:6] = -200.0
    x2 = torch.where(torch.rand(16, 40, generator=g) < 0.33, x, torch.randn(16, 40, generator=g))
    x2[:8, :4] = 0.0
    return x, x2


@pytest.mark.parametrize("activation", [cls() for cls in DEFAULT_ACTIVATIONS], ids=repr)
def test_every_default_activation_is_a_site_whose_pattern_is_its_input_sign(activation):
    x, x2 = _inputs()
    expected = int(((x > 0) != (x2 > 0)).sum())
    assert 0 < expected < x.numel()
    assert _flipped_bits(activation, x, x2) == expected


@pytest.mark.parametrize(
    "activation",
    [nn.Softplus(), nn.Sigmoid(), nn.Tanh(), nn.LeakyReLU(-0.2)],
    ids=repr,
)
def test_activations_of_another_sign_are_read_from_their_input(activation):
    """Their output's sign is not the input's (a Sigmoid is always positive): a forward
    pre-hook reads ``in > 0`` when they are asked for."""
    x, x2 = _inputs()
    expected = int(((x > 0) != (x2 > 0)).sum())
    assert reads_input(activation)
    assert _flipped_bits(activation, x, x2, activations=(type(activation),)) == expected
    with pytest.raises(ValueError, match="has no activation module"):
        find_sites(nn.Sequential(activation))  # none of them is a site by default


def test_a_prelu_is_a_site_read_from_its_input_whatever_its_slope():
    """A PReLU is a gate like a LeakyReLU, but its learned slope may turn negative (then its
    output's sign is not its input's): measured by default, from its input."""
    x, x2 = _inputs()
    expected = int(((x > 0) != (x2 > 0)).sum())
    for prelu in (nn.PReLU(), nn.PReLU(init=-0.5), nn.PReLU(num_parameters=40, init=0.0)):
        assert reads_input(prelu)
        assert [n for n, _ in find_sites(nn.Sequential(nn.Linear(2, 2), prelu))] == ["1"]
        assert _flipped_bits(prelu, x, x2) == expected


@pytest.mark.parametrize("activation", ["relu", "gelu", nn.functional.silu])
def test_torch_transformer_layers_with_a_functional_activation_are_measured_at_linear1(
    activation,
):
    """``nn.TransformerEncoderLayer(..., activation="gelu")`` applies ``F.gelu`` with no
    module: its site is ``linear1``, whose output is the activation's input."""
    model = nn.Transformer(
        8,
        2,
        num_encoder_layers=2,
        num_decoder_layers=1,
        dim_feedforward=16,
        activation=activation,
        batch_first=True,
    )
    names = [n for n, _ in find_sites(model)]
    assert names == [
        "encoder.layers.0.linear1",
        "encoder.layers.1.linear1",
        "decoder.layers.0.linear1",
    ]
    x, x2 = _inputs()
    linear1 = model.encoder.layers[0].linear1
    pre, pre2 = linear1(x[:, :8]), linear1(x2[:, :8])
    expected = int(((pre > 0) != (pre2 > 0)).sum())
    assert 0 < expected
    probe = PatternProbe(linear1, [("linear1", linear1)], counters=("bits",))
    try:  # the pattern is the sign of the activation's input, exactly
        probe.mode = "record"
        linear1(x[:, :8])
        probe.mode = "compare"
        linear1(x2[:, :8])
        assert int(probe.take_counts()[0, 0]) == expected
    finally:
        probe.remove()
    if activation == "relu":
        assert [n for n, _ in find_sites(model, activations=(nn.ReLU,))] == names
    else:
        with pytest.raises(ValueError, match="has no module of the activations given"):
            find_sites(model, activations=(nn.ReLU,))


def test_a_transformer_layer_given_an_activation_module_is_measured_at_that_module():
    layer = nn.TransformerEncoderLayer(8, 2, dim_feedforward=16, activation=nn.GELU())
    assert [n for n, _ in find_sites(layer)] == ["activation"]


def test_activation_wrappers_of_other_libraries_are_sites_by_class_name():
    class GELUActivation(nn.Module):  # as transformers defines it
        def forward(self, x):
            return nn.functional.gelu(x)

    model = nn.Sequential(nn.Linear(3, 4), GELUActivation(), nn.Linear(4, 2), nn.SiLU())
    assert [name for name, _ in find_sites(model)] == ["1", "3"]


def test_activations_restricts_and_extends_the_types():
    model = nn.Sequential(nn.Linear(3, 4), nn.GELU(), nn.Linear(4, 4), nn.ReLU(), nn.Tanh())
    assert [n for n, _ in find_sites(model)] == ["1", "3"]
    assert [n for n, _ in find_sites(model, activations=(nn.GELU,))] == ["1"]
    extended = find_sites(model, activations=(*DEFAULT_ACTIVATIONS, nn.Tanh))
    assert [n for n, _ in extended] == ["1", "3", "4"]
    with pytest.raises(TypeError, match="activations must be torch.nn.Module classes"):
        find_sites(model, activations=("GELU",))


def test_a_model_without_sites_is_told_its_module_types_and_the_way_out():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Tanh(), nn.Flatten(), nn.Linear(2, 2))
    with pytest.raises(ValueError) as err:
        find_sites(model)
    message = str(err.value)
    for part in (
        "Conv2d, Flatten, Linear, Tanh",
        "Tanh is not a gate",
        "activations=(torch.nn.Tanh,)",
        "sites=",
    ):
        assert part in message, message
    gates = nn.Sequential(nn.Linear(2, 2), nn.PReLU(), nn.LeakyReLU(-0.2))
    with pytest.raises(ValueError) as err:
        find_sites(gates, activations=(nn.ReLU,))
    message = str(err.value)  # a PReLU is a gate; a negative-slope LeakyReLU is not
    assert "LeakyReLU is not a gate" in message and "PReLU is" not in message, message


def test_actcool_schedules_a_gelu_network_and_takes_activations():
    """ActCoolLR on a GELU MLP under AdamW measures its GELUs by default; ``activations=``
    narrows the sites."""
    from actcool import ActCoolLR

    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Linear(6, 16), nn.GELU(), nn.Linear(16, 16), nn.SiLU(), nn.Linear(16, 2)
    )
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    x, y = torch.randn(32, 6), torch.randint(0, 2, (32,))
    with ActCoolLR(opt, model, total_steps=8, measure_every=2) as scheduler:
        for _ in range(8):
            loss = nn.functional.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            scheduler.step(loss=loss)
        assert scheduler.last_measurement.sites == ("1", "3")
    narrow = ActCoolLR(opt, model, total_steps=8, measure_every=1, activations=(nn.SiLU,))
    with narrow:
        loss = nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        narrow.step(loss=loss)
        assert narrow.last_measurement.sites == ("3",)


def test_actcool_schedules_a_torch_transformer_built_with_a_string_activation():
    """The way most plain-PyTorch transformers are built: ActCoolLR measures the layers'
    ``linear1`` (it refused the model before) and the temperature is positive."""
    from actcool import ActCoolLR

    torch.manual_seed(0)
    layer = nn.TransformerEncoderLayer(16, 2, dim_feedforward=32, dropout=0.1, batch_first=True)
    model = nn.Sequential(nn.TransformerEncoder(layer, 2, enable_nested_tensor=False))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    x = torch.randn(8, 5, 16)
    with ActCoolLR(opt, model, total_steps=6, measure_every=2) as scheduler:
        for _ in range(6):
            loss = model(x).pow(2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            scheduler.step(loss=loss)
        m = scheduler.last_measurement
        assert m.sites == ("0.layers.0.linear1", "0.layers.1.linear1")
        assert m.mean_temperature > 0
