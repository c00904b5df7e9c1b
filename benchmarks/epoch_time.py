"""One training epoch with its batches drawn two ways: on the device, or through a DataLoader.

- On the device (the trainer's way, ``trainer/data``): the training images sit on the GPU as
  uint8; :meth:`~trainer.data.DatasetBundle.batches` draws the epoch's order, crops, flips
  and normalises each batch there.
- Through a ``torch.utils.data.DataLoader`` (the usual way): the images stay on the CPU;
  worker processes crop, flip and normalise each sample with torchvision's transforms, and
  each batch is copied to the GPU from pinned memory.

Both feed the same :class:`~benchmarks.gpu_step.TrainingStep`, so the difference is where
the data comes from.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Dataset

from trainer.data import DatasetBundle, epoch_generator, load_dataset
from trainer.data.bundle import Split
from trainer.data.locate import missing_dataset

__all__ = [
    "cifar10_or_synthetic",
    "dataloader_batches",
    "device_batches",
    "find_cifar10",
    "synthetic_cifar",
    "time_epoch",
]

#: CIFAR-10's shape and the per-channel statistics a synthetic stand-in is normalised with.
CIFAR_SHAPE = (3, 32, 32)
SYNTHETIC_MEAN, SYNTHETIC_STD = (0.5, 0.5, 0.5), (0.29, 0.29, 0.29)
CROP_PADDING = 4  # CIFAR's random crop: 4 zero pixels on each side, as the trainer pads


def find_cifar10(candidates: Iterable[Path | None]) -> Path | None:
    """The first of ``candidates`` that holds CIFAR-10 as the trainer reads it
    (``cifar10-jpeg/{train,test}`` or ``cifar-10-batches-py``), or None."""
    for folder in candidates:
        if folder is not None and missing_dataset("cifar10", folder) is None:
            return Path(folder)
    return None


def synthetic_cifar(n: int) -> DatasetBundle:
    """A CIFAR-shaped stand-in on the CPU: ``n`` random uint8 training images of 10 classes,
    augmented like CIFAR-10 (no val or test images: only an epoch's speed is measured)."""
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (n, *CIFAR_SHAPE), dtype=torch.uint8, generator=g)
    labels = torch.arange(n) % 10
    empty = Split(images[:0], labels[:0], labels[:0])
    return DatasetBundle(
        name="synthetic-cifar",
        in_channels=CIFAR_SHAPE[0],
        num_classes=10,
        image_size=CIFAR_SHAPE[1],
        class_names=tuple(f"class{k}" for k in range(10)),
        train=Split(images, labels, torch.arange(n)),
        val=empty,
        test=empty,
        mean=SYNTHETIC_MEAN,
        std=SYNTHETIC_STD,
        augment=True,
        crop_padding=CROP_PADDING,
        source=f"synthetic, {n} random CIFAR-shaped images",
    )


def cifar10_or_synthetic(data_dir: Path | None, synthetic_images: int) -> DatasetBundle:
    """CIFAR-10's 50,000 training images (no val split) from ``data_dir`` on the CPU; without
    one, :func:`synthetic_cifar` of ``synthetic_images``."""
    if data_dir is None:
        return synthetic_cifar(synthetic_images)
    return load_dataset("cifar10", data_dir, val_fraction=0.0)


class _Augmented(Dataset):
    """CPU uint8 images (N, C, H, W) cropped, flipped and normalised one sample at a time, as
    a torchvision training pipeline does."""

    def __init__(self, split: Split, mean: tuple[float, ...], std: tuple[float, ...]) -> None:
        from torchvision.transforms import v2

        self.images, self.labels = split.images, split.labels
        size = int(split.images.shape[-1])
        self.transform = v2.Compose(
            [
                v2.RandomCrop(size, padding=CROP_PADDING),
                v2.RandomHorizontalFlip(),
                v2.ToDtype(torch.float32, scale=True),
                v2.Normalize(list(mean), list(std)),
            ]
        )

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.transform(self.images[i]), self.labels[i]


def dataloader_batches(
    bundle: DatasetBundle, batch_size: int, workers: int, device: torch.device
) -> Iterable[tuple[torch.Tensor, torch.Tensor]]:
    """One shuffled epoch of ``bundle``'s (CPU) training split through a ``DataLoader`` with
    ``workers`` worker processes (started by the epoch, as by default), each batch copied to
    ``device``."""
    loader = DataLoader(
        _Augmented(bundle.train, bundle.mean, bundle.std),
        batch_size=batch_size,
        shuffle=True,
        num_workers=workers,
        pin_memory=device.type == "cuda",
        drop_last=True,
        generator=torch.Generator().manual_seed(0),
    )
    for x, y in loader:
        yield x.to(device, non_blocking=True), y.to(device, non_blocking=True)


def device_batches(
    bundle: DatasetBundle, batch_size: int, epoch: int = 0
) -> Iterable[tuple[torch.Tensor, torch.Tensor]]:
    """One shuffled, augmented epoch of ``bundle``'s training split where the bundle is (move
    it to the GPU first): the trainer's batches."""
    return bundle.batches(
        "train",
        batch_size,
        shuffle=True,
        generator=epoch_generator(0, epoch),
        augment=True,
        drop_last=True,
    )


def time_epoch(
    step: Callable[[torch.Tensor, torch.Tensor], None],
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
    device: torch.device,
) -> tuple[float, int]:
    """Seconds to train ``step`` on every batch (from the first batch asked for until the
    device has finished the last step), and the number of steps."""
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    sync()
    start = time.perf_counter()
    steps = 0
    for x, y in batches:
        step(x, y)
        steps += 1
    sync()
    return time.perf_counter() - start, steps
