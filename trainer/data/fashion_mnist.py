"""Fashion-MNIST (Xiao et al. 2017) through torchvision: 60,000 + 10,000 greyscale 28x28 images."""

from __future__ import annotations

from pathlib import Path

import torch

from ..errors import MissingInputError
from .bundle import RawDataset

MEAN = (0.2860,)
STD = (0.3530,)


def load_fashion_mnist_raw(data_dir: Path, download: bool = False) -> RawDataset:
    """Fashion-MNIST from ``data_dir/FashionMNIST/raw`` (torchvision's layout).

    The files are read offline when present. Only when they are missing and ``download``
    is True does torchvision fetch them (into ``data_dir``).

    Raises:
        FileNotFoundError: the files are missing and downloading was not allowed or failed.
    """
    from torchvision.datasets import FashionMNIST  # imported here: it takes seconds

    raw = data_dir / "FashionMNIST" / "raw"
    try:
        train, test = FashionMNIST(data_dir, train=True), FashionMNIST(data_dir, train=False)
    except RuntimeError as missing:
        hint = (
            f"Fashion-MNIST not found under {raw.resolve()}; point data_dir at a folder that "
            "holds FashionMNIST/raw or set download=True (needs internet)"
        )
        if not download:
            raise MissingInputError(hint) from missing
        try:
            train = FashionMNIST(data_dir, train=True, download=True)
            test = FashionMNIST(data_dir, train=False, download=True)
        except (OSError, RuntimeError) as err:
            raise MissingInputError(f"{hint}; the download failed: {err}") from err
    return RawDataset(
        name="fashion-mnist",
        class_names=tuple(train.classes),
        train_images=train.data.unsqueeze(1).contiguous(),  # (60000, 1, 28, 28) uint8
        train_labels=train.targets.to(torch.int64),
        test_images=test.data.unsqueeze(1).contiguous(),
        test_labels=test.targets.to(torch.int64),
        mean=MEAN,
        std=STD,
        augment=False,
        source=str(raw.resolve()),
    )
