"""CIFAR-10 (Krizhevsky 2009): 50,000 + 10,000 RGB 32x32 images, from either of two layouts.

1. torchvision's official files, ``data_dir/cifar-10-batches-py`` (downloaded on request);
2. a JPEG ImageFolder tree ``data_dir/cifar10-jpeg/{train,test}/<class>/*.jpg`` (what the
   shared data folder holds), decoded once into a uint8 tensor and cached (see ``cache``).
"""

from __future__ import annotations

from pathlib import Path

import torch

from ..errors import MissingInputError
from .bundle import RawDataset
from .cache import decode_cached
from .folder import list_image_folder

MEAN = (0.4914, 0.4822, 0.4465)
STD = (0.2470, 0.2435, 0.2616)
JPEG_TREE = "cifar10-jpeg"


def load_cifar10_raw(
    data_dir: Path,
    download: bool = False,
    cache_dir: Path | None = None,
    max_per_class: int | None = None,
) -> RawDataset:
    """CIFAR-10 from the official files, else from the JPEG tree, else downloaded if allowed.

    Args:
        data_dir: folder holding ``cifar-10-batches-py`` or ``cifar10-jpeg``.
        download: let torchvision download the official files when neither layout exists.
        cache_dir: where the decoded JPEG tree may be cached on disk (None: memory only).
        max_per_class: JPEG tree only, keep each class's first files (quick checks).

    Raises:
        FileNotFoundError: neither layout exists and downloading was not allowed or failed.
    """
    official = data_dir / "cifar-10-batches-py"
    jpeg = data_dir / JPEG_TREE
    if not official.is_dir() and (jpeg / "train").is_dir() and (jpeg / "test").is_dir():
        return _from_jpeg_tree(jpeg, cache_dir, max_per_class)
    hint = (
        f"CIFAR-10 not found: looked for {official.resolve()} and {jpeg.resolve()}/{{train,test}}; "
        "point data_dir at a folder that holds either, or set download=True (needs internet)"
    )
    try:
        from torchvision.datasets import CIFAR10

        train = CIFAR10(data_dir, train=True, download=download and not official.is_dir())
        test = CIFAR10(data_dir, train=False)
    except (OSError, RuntimeError) as err:
        raise MissingInputError(f"{hint} ({err})") from err
    return RawDataset(
        name="cifar10",
        class_names=tuple(train.classes),
        train_images=torch.from_numpy(train.data).permute(0, 3, 1, 2).contiguous(),
        train_labels=torch.tensor(train.targets, dtype=torch.int64),
        test_images=torch.from_numpy(test.data).permute(0, 3, 1, 2).contiguous(),
        test_labels=torch.tensor(test.targets, dtype=torch.int64),
        mean=MEAN,
        std=STD,
        augment=True,
        source=str(official.resolve()),
    )


def _from_jpeg_tree(root: Path, cache_dir: Path | None, max_per_class: int | None) -> RawDataset:
    train = list_image_folder(root / "train", max_per_class)
    test = list_image_folder(root / "test", max_per_class)
    return RawDataset(
        name="cifar10",
        class_names=train.class_names,
        train_images=decode_cached(train, 32, gray=False, cache_dir=cache_dir),
        train_labels=train.labels,
        test_images=decode_cached(test, 32, gray=False, cache_dir=cache_dir),
        test_labels=test.labels,
        mean=MEAN,
        std=STD,
        augment=True,
        source=str(root.resolve()),
    )
