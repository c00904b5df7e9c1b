"""scikit-learn's handwritten digits: 1,797 greyscale 8x8 images, 10 classes, offline."""

from __future__ import annotations

import torch

from .bundle import RawDataset, channel_stats
from .splits import stratified_split

TEST_FRACTION = 0.2  # 359 of 1,797 images
TEST_SEED = 0  # fixed: the test set never depends on the run's seed


def load_digits_raw() -> RawDataset:
    """Digits scaled from 16 grey levels to float [0, 1], with a fixed stratified test split.

    The official set has no test split; the same 20% (359 images) is always held out as test,
    the remaining 1,438 form the training set that the val split is then taken from.
    Normalisation statistics come from those 1,438 training images.
    """
    from sklearn.datasets import load_digits  # imported here: it takes seconds

    bunch = load_digits()
    images = torch.from_numpy(bunch.images).float().div(16.0).unsqueeze(1)  # (1797, 1, 8, 8)
    labels = torch.from_numpy(bunch.target).long()
    train_idx, test_idx = stratified_split(labels, TEST_FRACTION, TEST_SEED)
    mean, std = channel_stats(images[train_idx])
    return RawDataset(
        name="digits",
        class_names=tuple(str(c) for c in bunch.target_names.tolist()),
        train_images=images[train_idx],
        train_labels=labels[train_idx],
        test_images=images[test_idx],
        test_labels=labels[test_idx],
        mean=mean,
        std=std,
        augment=False,
        source="sklearn.datasets.load_digits",
    )
