"""A loaded dataset: in-memory splits, normalisation, and a fast seeded batch iterator."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace

import torch

from .batching import EpochPlan, count_batches, crop_flip, draw_plan
from .folder import LazyImages

SPLIT_NAMES = ("train", "val", "test")
STATS_CHUNK = 4096  # images per step when computing channel statistics


def channel_stats(images: torch.Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and (population) std of (N, C, H, W) images, uint8 scaled to [0, 1]."""
    if images.shape[0] == 0:
        raise ValueError("cannot compute channel statistics of an empty image set")
    total = torch.zeros(images.shape[1], dtype=torch.float64)
    total_sq = torch.zeros_like(total)
    for chunk in images.split(STATS_CHUNK):
        x = chunk.to("cpu", torch.float64)
        if chunk.dtype == torch.uint8:
            x = x / 255.0
        total += x.sum(dim=(0, 2, 3))
        total_sq += x.square().sum(dim=(0, 2, 3))
    count = images.shape[0] * images.shape[2] * images.shape[3]
    mean = total / count
    std = (total_sq / count - mean.square()).clamp_min(0).sqrt()
    return tuple(mean.tolist()), tuple(std.tolist())


@dataclass(frozen=True, eq=False)
class RawDataset:
    """What a source loader returns: the official train and test sets, before the val split."""

    name: str
    class_names: tuple[str, ...]
    train_images: torch.Tensor | LazyImages  # (N, C, H, W) uint8, or float in [0, 1]
    train_labels: torch.Tensor  # (N,) int64
    test_images: torch.Tensor | LazyImages
    test_labels: torch.Tensor
    mean: tuple[float, ...]
    std: tuple[float, ...]
    augment: bool
    source: str
    crop_padding: int = 4


@dataclass(frozen=True, eq=False)
class Split:
    """One split: images, labels, and where each sample sits in its source set.

    ``images`` is (N, C, H, W), uint8 in 0..255 or float in [0, 1], or a ``LazyImages``
    that decodes image files per batch when the set is too large to keep in memory.
    ``index`` is each sample's position in the dataset's official training set (train and
    val splits) or test set (test split), so splits can be checked for overlap.
    """

    images: torch.Tensor | LazyImages
    labels: torch.Tensor  # (N,) int64
    index: torch.Tensor  # (N,) int64

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def take(self, idx: torch.Tensor) -> torch.Tensor:
        """Images at positions ``idx``, (len(idx), C, H, W), on the images' device (CPU if lazy)."""
        if isinstance(self.images, LazyImages):
            return self.images.take(idx.cpu())
        return self.images[idx.to(self.images.device)]

    def subset(self, idx: torch.Tensor) -> Split:
        idx = idx.to(self.labels.device)
        images = (
            self.images.subset(idx.cpu())
            if isinstance(self.images, LazyImages)
            else self.images[idx]
        )
        return Split(images, self.labels[idx], self.index[idx])

    def to(self, device: torch.device | str) -> Split:
        images = self.images if isinstance(self.images, LazyImages) else self.images.to(device)
        return Split(images, self.labels.to(device), self.index.to(device))


@dataclass(frozen=True, eq=False)
class DatasetBundle:
    """A dataset ready for training: three splits, their shape, and how to normalise them.

    Build one with ``load_dataset``. Images are normalised per channel with ``mean`` and
    ``std`` (after scaling uint8 to [0, 1]) when batches are drawn. ``augment`` says whether
    CIFAR-style augmentation (random crop with ``crop_padding`` zero pixels on each side,
    random horizontal flip) applies to the training split by default.
    """

    name: str
    in_channels: int
    num_classes: int
    image_size: int
    class_names: tuple[str, ...]
    train: Split
    val: Split
    test: Split
    mean: tuple[float, ...]
    std: tuple[float, ...]
    augment: bool
    crop_padding: int = 4
    device: torch.device = torch.device("cpu")
    source: str = ""  # where the data came from, for logs

    def split(self, name: str) -> Split:
        if name not in SPLIT_NAMES:
            raise ValueError(f"unknown split {name!r}; choose one of: {', '.join(SPLIT_NAMES)}")
        return getattr(self, name)

    def to(self, device: torch.device | str) -> DatasetBundle:
        """The same bundle with its in-memory tensors on ``device``."""
        device = torch.device(device)
        return replace(
            self,
            train=self.train.to(device),
            val=self.val.to(device),
            test=self.test.to(device),
            device=device,
        )

    def num_batches(self, split: str, batch_size: int, drop_last: bool = False) -> int:
        """Number of batches ``batches(split, batch_size, drop_last=drop_last)`` yields from 0."""
        return count_batches(len(self.split(split)), batch_size, drop_last)

    def normalize(self, images: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) uint8 or [0, 1] float images -> float32, normalised per channel."""
        return _normalize(images, *self._stats(images.device))

    def _stats(self, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        mean = torch.tensor(self.mean, dtype=torch.float32, device=device).view(1, -1, 1, 1)
        std = torch.tensor(self.std, dtype=torch.float32, device=device).view(1, -1, 1, 1)
        return mean, std

    def batches(
        self,
        split: str,
        batch_size: int,
        shuffle: bool = False,
        generator: torch.Generator | None = None,
        augment: bool | None = None,
        drop_last: bool = False,
        start_batch: int = 0,
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Iterate one epoch of ``split`` as (x, y): x (B, C, H, W) float normalised, y (B,) int64.

        The whole epoch's randomness (permutation, then crop offsets and flips) is drawn
        from ``generator`` when this method is called, before the first batch; nothing
        else is consumed. Batches ``start_batch`` onward are therefore exactly those an
        uninterrupted epoch yields from the same generator state, which is how a run
        resumes mid-epoch: rebuild the generator with ``epoch_generator(seed, epoch)`` and
        pass the number of batches already done.

        Args:
            split: "train", "val" or "test".
            batch_size: samples per batch; the last batch may be smaller unless drop_last.
            shuffle: visit samples in a random order drawn from ``generator``.
            generator: CPU ``torch.Generator``; required when shuffling or augmenting.
            augment: apply random crop + flip; None means ``self.augment and split == "train"``.
            drop_last: skip a final incomplete batch.
            start_batch: first batch to yield, in 0..num_batches.
        """
        data = self.split(split)
        total = count_batches(len(data), batch_size, drop_last)
        if not 0 <= start_batch <= total:
            raise ValueError(f"start_batch must be in 0..{total} for this epoch, got {start_batch}")
        if augment is None:
            augment = self.augment and split == "train"
        plan = draw_plan(len(data), shuffle, augment, self.crop_padding, generator)
        return self._iterate(data, plan, batch_size, range(start_batch, total))

    def _iterate(
        self, data: Split, plan: EpochPlan, batch_size: int, batch_ids: range
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        # Everything an epoch needs goes to the device once, not once per batch.
        mean, std = self._stats(self.device)
        order = plan.order.to(data.labels.device)
        offsets = None if plan.offsets is None else plan.offsets.to(self.device)
        flips = None if plan.flips is None else plan.flips.to(self.device)
        for b in batch_ids:
            lo, hi = b * batch_size, min((b + 1) * batch_size, len(data))
            idx = order[lo:hi]
            x = data.take(idx)
            if self.device.type == "cuda" and isinstance(data.images, LazyImages):
                x = x.pin_memory()  # decoded on the host: pinned, it copies while the GPU works
            x = x.to(self.device, non_blocking=True)
            if offsets is not None and flips is not None:
                x = crop_flip(x, offsets[:, lo:hi], flips[lo:hi], self.crop_padding)
            yield _normalize(x, mean, std), data.labels[idx].to(self.device)


def _normalize(images: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    x = images.float()
    if images.dtype == torch.uint8:
        x = x / 255.0
    return (x - mean) / std
