"""Load a dataset by name: ``load_dataset("cifar10", "../shared/data")``."""

from __future__ import annotations

import logging
from pathlib import Path

import torch

from .bundle import DatasetBundle, RawDataset, Split
from .cache import default_cache_dir
from .cifar10 import load_cifar10_raw
from .digits import load_digits_raw
from .fashion_mnist import load_fashion_mnist_raw
from .imagefolder import load_imagefolder_raw
from .names import DATASET_NAMES, NAME_PATTERNS
from .splits import stratified_split
from .synthetic import load_synthetic_raw

log = logging.getLogger(__name__)


def load_dataset(
    name: str,
    data_dir: str | Path,
    val_fraction: float = 0.1,
    seed: int = 0,
    device: torch.device | str = "cpu",
    *,
    download: bool = False,
    cache_dir: str | Path | None = None,
) -> DatasetBundle:
    """Load a dataset into memory, split off a validation set, and wrap it in a bundle.

    Args:
        name: one of ``DATASET_NAMES``, ``synthetic:CxHxW`` (e.g. ``synthetic:1x8x8``) or
            ``imagefolder:<path>`` (a tree with train/ and test/ or val/; a relative path is
            looked up in the working directory, then in ``data_dir``).
        data_dir: folder holding the datasets (torchvision layouts, or ``cifar10-jpeg``);
            unused by digits and synthetic.
        val_fraction: share of the training set held out as the val split, in [0, 1):
            exactly ``floor(val_fraction * N + 0.5)`` samples, stratified by class and drawn
            with ``seed`` (see ``stratified_split``). The test split is the dataset's test set.
        seed: seed of the val split.
        device: where the in-memory splits live (batches come out on it).
        download: let torchvision download Fashion-MNIST / CIFAR-10 when missing.
        cache_dir: where decoded image folders may be cached; defaults to
            ``$ACTCOOL_HOME/cache``, or none. Nothing is ever written into ``data_dir``.

    Raises:
        ValueError: unknown name or bad ``val_fraction``.
        FileNotFoundError: the dataset's files are missing (the message says where it looked).
    """
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
    data_dir = Path(data_dir)
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    if name == "digits":
        raw = load_digits_raw()
    elif name == "fashion-mnist":
        raw = load_fashion_mnist_raw(data_dir, download)
    elif name == "cifar10":
        raw = load_cifar10_raw(data_dir, download, cache)
    elif name == "synthetic" or name.startswith("synthetic:"):
        raw = load_synthetic_raw(name)
    elif name.startswith("imagefolder:") and len(name) > len("imagefolder:"):
        path = Path(name.removeprefix("imagefolder:")).expanduser()
        if not path.is_absolute() and not path.exists() and (data_dir / path).exists():
            path = data_dir / path
        raw = load_imagefolder_raw(path, cache)
    else:
        choices = ", ".join(DATASET_NAMES + NAME_PATTERNS)
        raise ValueError(f"unknown dataset {name!r}; choose one of: {choices}")
    bundle = assemble(raw, val_fraction, seed).to(device)
    log.info(
        "loaded %s from %s: %d train, %d val, %d test", name, raw.source,
        len(bundle.train), len(bundle.val), len(bundle.test),
    )  # fmt: skip
    return bundle


def assemble(raw: RawDataset, val_fraction: float, seed: int) -> DatasetBundle:
    """Hold out the val split from ``raw``'s training set and build the (CPU) bundle."""
    n_train = len(raw.train_labels)
    full_train = Split(raw.train_images, raw.train_labels, torch.arange(n_train))
    keep, held = stratified_split(raw.train_labels, val_fraction, seed)
    n_test = len(raw.test_labels)
    _, channels, height, _ = raw.train_images.shape
    return DatasetBundle(
        name=raw.name,
        in_channels=int(channels),
        num_classes=len(raw.class_names),
        image_size=int(height),
        class_names=raw.class_names,
        train=full_train.subset(keep),
        val=full_train.subset(held),
        test=Split(raw.test_images, raw.test_labels, torch.arange(n_test)),
        mean=raw.mean,
        std=raw.std,
        augment=raw.augment,
        crop_padding=raw.crop_padding,
        source=raw.source,
    )
