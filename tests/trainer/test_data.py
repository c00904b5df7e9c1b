"""Tests for trainer.data: loaders, splits, and the seeded, resumable batch iterator."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torchvision.io import write_jpeg, write_png

from trainer.data import DATASET_NAMES, epoch_generator, load_dataset
from trainer.data.batching import crop_flip, draw_plan
from trainer.data.bundle import RawDataset, channel_stats
from trainer.data.cache import clear_memory_cache
from trainer.data.cifar10 import load_cifar10_raw
from trainer.data.folder import LazyImages
from trainer.data.imagefolder import load_imagefolder_raw
from trainer.data.registry import assemble
from trainer.data.splits import stratified_split

# torchvision 0.29 warns on every torchvision.io decode/encode call (see trainer.data.folder).
pytestmark = pytest.mark.filterwarnings("ignore:The image decoding and encoding:DeprecationWarning")

SHARED_DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")  # fmt: skip


@pytest.fixture(autouse=True)
def isolated(monkeypatch, one_thread):
    # No disk cache unless a test asks for one; one intra-op thread (tiny batches, busy CI).
    monkeypatch.delenv("ACTCOOL_HOME", raising=False)
    clear_memory_cache()


def id_bundle(n: int, num_classes: int = 3, val_fraction: float = 0.0):
    """A bundle whose normalised pixels equal each sample's id / n (mean 0, std 1)."""
    images = (torch.arange(n, dtype=torch.float32) / n).view(n, 1, 1, 1).expand(n, 1, 2, 2)
    labels = torch.arange(n) % num_classes
    raw = RawDataset(
        "ids", tuple("abc"[:num_classes]), images.contiguous(), labels, images[:2].contiguous(), labels[:2],
        mean=(0.0,), std=(1.0,), augment=False, source="test",
    )  # fmt: skip
    return assemble(raw, val_fraction, seed=0)


def ids_of(x: torch.Tensor, n: int) -> torch.Tensor:
    return (x[:, 0, 0, 0] * n).round().long()


# --- names and errors ---------------------------------------------------------------


def test_unknown_dataset_lists_the_names(tmp_path):
    assert DATASET_NAMES == ("digits", "fashion-mnist", "cifar10", "synthetic")
    with pytest.raises(ValueError, match=r"unknown dataset 'mnist'; choose one of: digits, fashion-mnist, cifar10, synthetic, synthetic:CxHxW, imagefolder:<path>"):  # fmt: skip
        load_dataset("mnist", tmp_path)


@pytest.mark.parametrize("fraction", [-0.1, 1.0])
def test_bad_val_fraction(tmp_path, fraction):
    with pytest.raises(ValueError, match=r"val_fraction must be in \[0, 1\)"):
        load_dataset("digits", tmp_path, val_fraction=fraction)


def test_missing_fashion_mnist_names_the_path(tmp_path):
    expected = re.escape(str((tmp_path / "FashionMNIST" / "raw").resolve()))
    message = f"Fashion-MNIST not found under {expected}; point data_dir at"
    with pytest.raises(FileNotFoundError, match=message):
        load_dataset("fashion-mnist", tmp_path)
    assert list(tmp_path.iterdir()) == []  # nothing created


def test_missing_cifar10_names_both_layouts(tmp_path):
    with pytest.raises(
        FileNotFoundError, match=re.escape(str((tmp_path / "cifar10-jpeg").resolve()))
    ):
        load_dataset("cifar10", tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_missing_imagefolder(tmp_path):
    (tmp_path / "train").mkdir()
    with pytest.raises(FileNotFoundError, match="needs train/ and test/"):
        load_dataset(f"imagefolder:{tmp_path}", tmp_path)


# --- splits ---------------------------------------------------------------------------


def test_stratified_split_is_exact_and_largest_remainder():
    labels = torch.tensor([0] * 5 + [1] * 3 + [2] * 2)
    kept, held = stratified_split(labels, 0.5, seed=3)
    # quotas 2.5, 1.5, 1.0 -> floors 2, 1, 1 and the one extra sample to class 0 (tie: lower label)
    assert torch.bincount(labels[held], minlength=3).tolist() == [3, 1, 1]
    assert sorted(kept.tolist() + held.tolist()) == list(range(10))
    assert torch.equal(held, stratified_split(labels, 0.5, seed=3)[1])
    assert stratified_split(labels, 0.0, seed=3)[1].numel() == 0


def test_digits_shapes_splits_and_determinism(tmp_path):
    b = load_dataset("digits", tmp_path, val_fraction=0.1, seed=0)
    assert (b.in_channels, b.num_classes, b.image_size) == (1, 10, 8)
    assert b.class_names == tuple("0123456789")
    # 1,797 = 359 test (fixed 20%) + 1,438 train pool -> 144 val (10%) + 1,294 train
    assert (len(b.train), len(b.val), len(b.test)) == (1294, 144, 359)
    assert b.train.images.shape == (1294, 1, 8, 8) and b.train.images.dtype == torch.float32
    assert b.train.labels.dtype == torch.int64
    for split in (b.train, b.val, b.test):
        assert split.images.min() >= 0 and split.images.max() <= 1
        assert set(split.labels.tolist()) == set(range(10))
    assert set(b.train.index.tolist()).isdisjoint(b.val.index.tolist())
    assert sorted(b.train.index.tolist() + b.val.index.tolist()) == list(range(1438))
    assert torch.equal(b.test.index, torch.arange(359))
    assert torch.bincount(b.val.labels).tolist() == pytest.approx([14.4] * 10, abs=1)  # stratified
    assert not b.augment

    again = load_dataset("digits", tmp_path, val_fraction=0.1, seed=0)
    assert torch.equal(again.train.images, b.train.images) and torch.equal(
        again.val.index, b.val.index
    )
    other = load_dataset("digits", tmp_path, val_fraction=0.1, seed=1)
    assert not torch.equal(other.val.index, b.val.index)
    assert torch.equal(other.test.images, b.test.images)  # the test set never moves

    # Normalisation statistics are those of the 1,438-image training pool.
    pool = torch.cat([b.train.images, b.val.images])
    x = b.normalize(pool)
    assert x.mean().item() == pytest.approx(0.0, abs=1e-5)
    assert x.std(unbiased=False).item() == pytest.approx(1.0, abs=1e-5)


def test_zero_val_fraction_gives_empty_val(tmp_path):
    b = load_dataset("digits", tmp_path, val_fraction=0.0)
    assert (len(b.train), len(b.val)) == (1438, 0)
    assert b.val.images.shape == (0, 1, 8, 8)
    assert b.num_batches("val", 32) == 0 and list(b.batches("val", 32)) == []


# --- batches --------------------------------------------------------------------------


@pytest.mark.parametrize("drop_last", [False, True])
def test_epoch_covers_every_sample_once(drop_last):
    n, bs = 103, 10
    b = id_bundle(n)
    batches = list(
        b.batches("train", bs, shuffle=True, generator=epoch_generator(0, 0), drop_last=drop_last)
    )
    assert len(batches) == b.num_batches("train", bs, drop_last) == (10 if drop_last else 11)
    assert [len(y) for _, y in batches] == [10] * 10 + ([] if drop_last else [3])
    ids = torch.cat([ids_of(x, n) for x, _ in batches])
    assert len(set(ids.tolist())) == len(ids)
    if not drop_last:
        assert sorted(ids.tolist()) == list(range(n))
    assert ids.tolist() != sorted(ids.tolist())  # shuffled
    for x, y in batches:
        assert torch.equal(y, ids_of(x, n) % 3)  # labels travel with their images


def test_unshuffled_epoch_keeps_order_and_needs_no_generator():
    b = id_bundle(25)
    ids = torch.cat([ids_of(x, 25) for x, _ in b.batches("train", 7)])
    assert ids.tolist() == list(range(25))


def test_epoch_generator_depends_on_seed_and_epoch():
    def order(seed, epoch):
        b = id_bundle(50)
        return torch.cat(
            [ids_of(x, 50) for x, _ in b.batches("train", 50, True, epoch_generator(seed, epoch))]
        )

    assert torch.equal(order(0, 0), order(0, 0))
    assert not torch.equal(order(0, 0), order(0, 1))
    assert not torch.equal(order(0, 0), order(1, 0))


@pytest.mark.parametrize("augment", [False, True])
def test_resume_mid_epoch_reproduces_the_remaining_batches(augment):
    b = load_dataset("synthetic:3x12x12", "unused")
    kwargs = {"shuffle": True, "augment": augment, "drop_last": False}
    full = list(b.batches("train", 64, generator=epoch_generator(7, 3), **kwargs))
    total = b.num_batches("train", 64)
    assert len(full) == total == 15  # 900 train samples
    for k in (0, 1, 9, total - 1, total):
        resumed = list(
            b.batches("train", 64, generator=epoch_generator(7, 3), start_batch=k, **kwargs)
        )
        assert len(resumed) == total - k
        for (x0, y0), (x1, y1) in zip(full[k:], resumed, strict=True):
            assert torch.equal(x0, x1) and torch.equal(y0, y1)


def test_batches_argument_errors():
    b = id_bundle(20)
    with pytest.raises(ValueError, match="needs a torch.Generator"):
        b.batches("train", 5, shuffle=True)
    with pytest.raises(ValueError, match=r"start_batch must be in 0\.\.4"):
        b.batches("train", 5, start_batch=5)
    with pytest.raises(ValueError, match="unknown split 'dev'"):
        b.batches("dev", 5)


def test_crop_flip_matches_per_sample_reference():
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (16, 3, 9, 7), generator=g, dtype=torch.uint8)
    plan = draw_plan(16, shuffle=False, augment=True, padding=2, generator=g)
    out = crop_flip(images, plan.offsets, plan.flips, padding=2)
    for i in range(16):
        dy, dx = plan.offsets[:, i].tolist()
        ref = F.pad(images[i], (2, 2, 2, 2))[:, dy : dy + 9, dx : dx + 7]
        if plan.flips[i]:
            ref = ref.flip(-1)
        assert torch.equal(out[i], ref)
    assert plan.flips.any() and not plan.flips.all()
    assert set(plan.offsets.flatten().tolist()) <= set(range(5))
    # The centre crop without a flip is the identity.
    centre = crop_flip(images, torch.full((2, 16), 2), torch.zeros(16, dtype=torch.bool), 2)
    assert torch.equal(centre, images)


def test_augmented_batches_are_deterministic_and_differ_from_plain():
    b = load_dataset("synthetic", "unused")
    assert not b.augment and b.crop_padding == 4
    aug = [x for x, _ in b.batches("train", 100, False, epoch_generator(0, 0), augment=True)]
    again = [x for x, _ in b.batches("train", 100, False, epoch_generator(0, 0), augment=True)]
    plain = [x for x, _ in b.batches("train", 100)]
    assert aug[0].shape == plain[0].shape == (100, 3, 32, 32)
    assert all(torch.equal(p, q) for p, q in zip(aug, again, strict=True))
    assert not torch.equal(aug[0], plain[0])
    # Zero-padded pixels are black before normalisation: (0 - mean) / std.
    black = (0 - torch.tensor(b.mean)) / torch.tensor(b.std)
    assert torch.isclose(aug[0], black.view(1, 3, 1, 1)).any()


def test_normalize_scales_uint8():
    b = load_dataset("synthetic:1x8x8", "unused")
    x = b.normalize(torch.full((1, 1, 2, 2), 255, dtype=torch.uint8))
    assert x[0, 0, 0, 0].item() == pytest.approx((1 - b.mean[0]) / b.std[0])


# --- synthetic ------------------------------------------------------------------------


def test_synthetic_is_deterministic_and_learnable():
    b = load_dataset("synthetic:1x8x8", "unused", val_fraction=0.0)
    assert (b.in_channels, b.image_size, b.num_classes, len(b.train), len(b.test)) == (
        1,
        8,
        10,
        1000,
        200,
    )
    again = load_dataset("synthetic:1x8x8", "unused", val_fraction=0.0)
    assert torch.equal(b.train.images, again.train.images) and torch.equal(
        b.test.labels, again.test.labels
    )
    # A nearest-class-mean rule fitted on train classifies the test set.
    x_train = b.train.images.flatten(1).float()
    means = torch.stack([x_train[b.train.labels == k].mean(0) for k in range(10)])
    pred = torch.cdist(b.test.images.flatten(1).float(), means).argmin(1)
    assert (pred == b.test.labels).float().mean().item() > 0.9


@pytest.mark.parametrize("name", ["synthetic:3x8x9", "synthetic:0x8x8", "synthetic:big"])
def test_bad_synthetic_names(name):
    with pytest.raises(ValueError, match="synthetic"):
        load_dataset(name, "unused")


# --- image folders and the decode cache ----------------------------------------------


def make_tree(root: Path, classes, per_class: int, size: int, channels: int = 3, fmt: str = "png"):
    g = torch.Generator().manual_seed(0)
    for split in ("train", "test"):
        for k, cls in enumerate(classes):
            (root / split / cls).mkdir(parents=True)
            for i in range(per_class):
                img = (
                    torch.randint(0, 64, (channels, size, size), generator=g, dtype=torch.uint8)
                    + 40 * k
                )
                path = root / split / cls / f"{i:04d}.{fmt}"
                (write_png if fmt == "png" else write_jpeg)(img, str(path))


def test_imagefolder_small_rgb(tmp_path):
    make_tree(tmp_path / "tree", ["cat", "dog"], per_class=10, size=12)
    # One odd image of another size is resized (shorter side) and center-cropped.
    write_png(
        torch.full((3, 24, 30), 200, dtype=torch.uint8), str(tmp_path / "tree/train/dog/odd.png")
    )
    b = load_dataset("imagefolder:tree", tmp_path, val_fraction=0.2)  # relative to data_dir
    assert (b.in_channels, b.image_size, b.num_classes, b.class_names) == (3, 12, 2, ("cat", "dog"))
    assert (len(b.train), len(b.val), len(b.test)) == (17, 4, 20)
    assert b.augment and b.crop_padding == 1
    pool = torch.cat([b.train.images, b.val.images])
    assert (pool == 200).all(dim=(1, 2, 3)).sum() == 1  # the resized constant image
    mean, std = channel_stats(pool)
    assert b.mean == pytest.approx(mean) and b.std == pytest.approx(std)


def test_imagefolder_gray_val_folder_and_lazy(tmp_path):
    make_tree(tmp_path, ["a", "b", "c"], per_class=4, size=10, channels=1)
    (tmp_path / "test").rename(tmp_path / "val")
    eager = assemble(load_imagefolder_raw(tmp_path), 0.25, seed=0)
    lazy = assemble(load_imagefolder_raw(tmp_path, max_memory_bytes=0), 0.25, seed=0)
    assert eager.in_channels == 1 and eager.image_size == 10
    assert isinstance(lazy.train.images, LazyImages) and not isinstance(
        eager.train.images, LazyImages
    )
    assert eager.mean == pytest.approx(lazy.mean)
    kwargs = {"shuffle": True, "augment": True}
    for (x0, y0), (x1, y1) in zip(
        eager.batches("train", 4, generator=epoch_generator(0, 0), **kwargs),
        lazy.batches("train", 4, generator=epoch_generator(0, 0), **kwargs),
        strict=True,
    ):
        assert torch.equal(x0, x1) and torch.equal(y0, y1)


def test_imagefolder_reads_bmp_through_pil(tmp_path):
    from PIL import Image

    g = torch.Generator().manual_seed(0)
    arrays = {}
    for split in ("train", "test"):
        for cls in ("x", "y"):
            (tmp_path / split / cls).mkdir(parents=True)
            img = torch.randint(0, 256, (6, 6, 3), generator=g, dtype=torch.uint8)
            Image.fromarray(img.numpy()).save(tmp_path / split / cls / "0.bmp")
            arrays[split, cls] = img.permute(2, 0, 1)
    b = load_dataset(f"imagefolder:{tmp_path}", tmp_path, val_fraction=0.0)
    assert (b.in_channels, b.image_size) == (3, 6)
    assert torch.equal(b.train.images, torch.stack([arrays["train", "x"], arrays["train", "y"]]))


def test_cifar10_jpeg_tree_is_cached_outside_the_data_dir(tmp_path, monkeypatch):
    data = tmp_path / "data"
    make_tree(data / "cifar10-jpeg", CIFAR10_CLASSES, per_class=2, size=32, fmt="jpg")
    before = sorted((p, p.stat().st_mtime_ns) for p in data.rglob("*"))
    cache = tmp_path / "home" / "cache"
    monkeypatch.setenv("ACTCOOL_HOME", str(tmp_path / "home"))

    first = load_dataset("cifar10", data, val_fraction=0.0)
    assert (first.image_size, first.in_channels, first.class_names) == (32, 3, CIFAR10_CLASSES)
    assert (len(first.train), len(first.test), first.augment) == (20, 20, True)
    assert len(list(cache.glob("cifar10-jpeg-train-32-*.pt"))) == 1
    assert len(list(cache.glob("cifar10-jpeg-test-32-*.pt"))) == 1
    assert sorted((p, p.stat().st_mtime_ns) for p in data.rglob("*")) == before

    clear_memory_cache()
    monkeypatch.setattr(
        "trainer.data.cache.decode_files", lambda *a, **k: pytest.fail("decoded again")
    )
    second = load_dataset("cifar10", data, val_fraction=0.0)
    assert torch.equal(second.train.images, first.train.images)


def test_read_only_cache_dir_is_left_alone(tmp_path):
    make_tree(tmp_path / "data" / "cifar10-jpeg", CIFAR10_CLASSES, per_class=1, size=32, fmt="jpg")
    cache = tmp_path / "ro"
    cache.mkdir()
    cache.chmod(0o555)
    try:
        b = load_dataset("cifar10", tmp_path / "data", val_fraction=0.0, cache_dir=cache)
        assert len(b.train) == 10 and os.listdir(cache) == []
    finally:
        cache.chmod(0o755)


# --- the real datasets in ../shared/data ----------------------------------------------


def shared_data(folder: str) -> Path:
    if not (SHARED_DATA / folder).is_dir():
        pytest.skip(f"../shared/data/{folder} not found")
    return SHARED_DATA


@pytest.mark.data
def test_fashion_mnist_from_shared_data():
    b = load_dataset("fashion-mnist", shared_data("FashionMNIST"), val_fraction=0.1, seed=0)
    assert (b.in_channels, b.image_size, b.num_classes, b.augment) == (1, 28, 10, False)
    assert (len(b.train), len(b.val), len(b.test)) == (54_000, 6_000, 10_000)
    assert b.train.images.dtype == torch.uint8
    pool = torch.cat([b.train.images, b.val.images])
    assert pool.float().mean().item() / 255 == pytest.approx(0.2860, abs=5e-4)
    assert pool.float().std().item() / 255 == pytest.approx(0.3530, abs=5e-4)
    assert b.test.images.float().mean().item() / 255 == pytest.approx(0.2868, abs=5e-4)
    assert torch.bincount(torch.cat([b.train.labels, b.val.labels])).tolist() == [6000] * 10
    assert torch.bincount(b.val.labels).tolist() == [600] * 10
    assert (b.mean, b.std) == ((0.2860,), (0.3530,))


@pytest.mark.data
def test_cifar10_subset_from_shared_data():
    raw = load_cifar10_raw(shared_data("cifar10-jpeg"), max_per_class=50)
    assert raw.class_names == CIFAR10_CLASSES
    assert raw.train_images.shape == (500, 3, 32, 32) and raw.train_images.dtype == torch.uint8
    assert torch.bincount(raw.test_labels).tolist() == [50] * 10
    mean, _ = channel_stats(raw.train_images)
    assert mean == pytest.approx((0.4913, 0.4821, 0.4465), abs=0.04)


@pytest.mark.data  # about 10 s: decodes all 60,000 JPEGs
def test_cifar10_full_from_shared_data():
    b = load_dataset("cifar10", shared_data("cifar10-jpeg"), val_fraction=0.1)
    assert (len(b.train), len(b.val), len(b.test)) == (45_000, 5_000, 10_000)
    assert b.class_names == CIFAR10_CLASSES and b.augment
    mean, std = channel_stats(torch.cat([b.train.images, b.val.images]))
    assert mean == pytest.approx((0.4913, 0.4821, 0.4465), abs=2e-3)  # README
    assert std == pytest.approx((0.245, 0.243, 0.261), abs=5e-3)
