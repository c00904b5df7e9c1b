"""The probe's pattern buffers and change counting against direct counts."""

import math

import pytest
import torch
from torch import nn

from actcool.sites import (
    PatternProbe,
    _count_changes,
    _padded_length,
    _pattern_buffer,
    _write_pattern,
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
