"""Any ImageFolder tree with ``train/`` and ``test/`` (or ``val/``) subfolders.

- Image size: the shorter side of the first training image, capped at 224; every image of
  another size is resized (shorter side) and center-cropped to that square.
- Channels: greyscale (1) if the first image is greyscale, else RGB (3) for all.
- Memory: decoded into uint8 tensors (cached like CIFAR-10) when both splits together take
  at most ``max_memory_bytes``; otherwise ``LazyImages`` decode the files of each batch.
- Small images (<= 64 px) are normalised with statistics of (up to 10,000 evenly spaced)
  training images and get CIFAR-style augmentation (zero padding of size/8 pixels, random
  crop, flip); large ones use the ImageNet mean/std and no augmentation.
"""

from __future__ import annotations

from pathlib import Path

import torch

from ..errors import ConfigError, MissingInputError
from .bundle import RawDataset, channel_stats
from .cache import decode_cached
from .folder import LazyImages, decode_files, list_image_folder, probe_image

MAX_IMAGE_SIZE = 224
SMALL_IMAGE_MAX = 64
MAX_MEMORY_BYTES = 8 * 2**30  # decoded uint8 bytes kept in memory; beyond, decode per batch
STATS_SAMPLES = 10_000
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def load_imagefolder_raw(
    root: Path, cache_dir: Path | None = None, max_memory_bytes: int = MAX_MEMORY_BYTES
) -> RawDataset:
    """Load ``root/train`` and ``root/test`` (or ``root/val``); see the module docstring.

    Raises:
        FileNotFoundError: ``root/train``, or both ``root/test`` and ``root/val``, are missing
            or hold no class folder.
        ValueError: train and test have different classes, or train has no image.
    """
    test_dir = root / "test" if (root / "test").is_dir() else root / "val"
    if not (root / "train").is_dir() or not test_dir.is_dir():
        raise MissingInputError(
            f"image folder {root.resolve()} needs train/ and test/ (or val/) subfolders"
        )
    train = list_image_folder(root / "train")
    test = list_image_folder(test_dir)
    if train.class_names != test.class_names:
        raise ConfigError(
            f"classes differ between {root / 'train'} {list(train.class_names)} "
            f"and {test_dir} {list(test.class_names)}"
        )
    if not train.files:
        raise ConfigError(f"no images under {root / 'train'}")
    channels, height, width = probe_image(train.files[0])
    gray = channels in (1, 2)  # 2 = greyscale with alpha
    size = min(height, width, MAX_IMAGE_SIZE)
    n_bytes = (len(train.files) + len(test.files)) * (1 if gray else 3) * size * size
    if n_bytes <= max_memory_bytes:
        train_images = decode_cached(train, size, gray, cache_dir)
        test_images = decode_cached(test, size, gray, cache_dir)
    else:
        train_images = LazyImages(train.files, size, gray)
        test_images = LazyImages(test.files, size, gray)
    small = size <= SMALL_IMAGE_MAX
    if small:
        mean, std = channel_stats(_stats_sample(train_images))
    elif gray:
        mean, std = (sum(IMAGENET_MEAN) / 3,), (sum(IMAGENET_STD) / 3,)
    else:
        mean, std = IMAGENET_MEAN, IMAGENET_STD
    return RawDataset(
        name=f"imagefolder:{root}",
        class_names=train.class_names,
        train_images=train_images,
        train_labels=train.labels,
        test_images=test_images,
        test_labels=test.labels,
        mean=mean,
        std=std,
        augment=small,
        source=str(root.resolve()),
        crop_padding=max(1, size // 8),
    )


def _stats_sample(images: torch.Tensor | LazyImages) -> torch.Tensor:
    n = len(images)
    idx = torch.linspace(0, n - 1, min(n, STATS_SAMPLES)).round().long().unique()
    if isinstance(images, LazyImages):
        return decode_files(tuple(images.files[i] for i in idx.tolist()), images.size, images.gray)
    return images[idx]
