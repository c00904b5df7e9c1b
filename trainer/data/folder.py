"""Image folders (torchvision's ImageFolder layout) decoded to uint8 tensors.

``root/<class>/<file>`` with classes sorted by name, files as torchvision's ``make_dataset``
lists them. Decoding uses torchvision.io (batched JPEG decoding, a few threads) and falls
back to PIL for formats torchvision.io cannot read. Images whose size differs from the
target are resized (shorter side, antialiased) and center-cropped to a square.
"""

from __future__ import annotations

import os
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from ..errors import MissingInputError

if TYPE_CHECKING:  # torchvision is imported where it is used: it takes seconds
    from torchvision.io import ImageReadMode

# torchvision 0.29 deprecates torchvision.io decoding in favour of TorchCodec and warns on
# every call; pyproject pins torchvision < 0.30, where it still works. Silence that one message.
warnings.filterwarnings(
    "ignore",
    message="The image decoding and encoding capabilities of TorchVision",
    category=DeprecationWarning,
)

CHUNK = 512  # files per decoding task
JPEG_SUFFIXES = (".jpg", ".jpeg")


@dataclass(frozen=True, eq=False)
class FolderListing:
    """The files of an ImageFolder tree and their labels (index into ``class_names``)."""

    root: Path
    files: tuple[str, ...]
    labels: torch.Tensor  # (N,) int64
    class_names: tuple[str, ...]


def list_image_folder(root: str | Path, max_per_class: int | None = None) -> FolderListing:
    """List ``root/<class>/<image>``; ``max_per_class`` keeps only each class's first files."""
    root = Path(root)
    if not root.is_dir():
        raise MissingInputError(f"image folder {root} does not exist")
    from torchvision.datasets.folder import IMG_EXTENSIONS, find_classes, make_dataset

    classes, class_to_idx = find_classes(str(root))  # FileNotFoundError if no class folder
    samples = make_dataset(str(root), class_to_idx, extensions=IMG_EXTENSIONS)
    if max_per_class is not None:
        seen = [0] * len(classes)
        kept = []
        for path, label in samples:
            if seen[label] < max_per_class:
                kept.append((path, label))
                seen[label] += 1
        samples = kept
    files = tuple(path for path, _ in samples)
    labels = torch.tensor([label for _, label in samples], dtype=torch.int64)
    return FolderListing(root, files, labels, tuple(classes))


def probe_image(path: str) -> tuple[int, int, int]:
    """(channels, height, width) of one image file, as stored."""
    from torchvision.io import ImageReadMode

    img = _decode_one(path, ImageReadMode.UNCHANGED)
    return int(img.shape[0]), int(img.shape[1]), int(img.shape[2])


def _read(path: str) -> torch.Tensor:
    # Plain Python reads are faster than torchvision.io.read_file for many small files.
    with open(path, "rb") as f:
        return torch.frombuffer(bytearray(f.read()), dtype=torch.uint8)


def _decode_one(path: str, mode: ImageReadMode) -> torch.Tensor:
    from torchvision.io import ImageReadMode, decode_image

    try:
        return decode_image(_read(path), mode=mode)
    except RuntimeError:  # a format torchvision.io does not read (bmp, tiff, ppm, ...)
        from PIL import Image

        with Image.open(path) as im:
            if mode == ImageReadMode.UNCHANGED:  # keep grey as grey, everything else as RGB
                target = "L" if im.mode in ("1", "L", "LA", "I", "I;16", "F") else "RGB"
            else:
                target = "L" if mode == ImageReadMode.GRAY else "RGB"
            arr = np.asarray(im.convert(target))
        arr = arr[:, :, None] if arr.ndim == 2 else arr
        return torch.from_numpy(arr.copy()).permute(2, 0, 1)


def _fit(img: torch.Tensor, size: int) -> torch.Tensor:
    if img.shape[-2:] != (size, size):
        from torchvision.transforms.v2 import functional as TF

        img = TF.center_crop(TF.resize(img, [size], antialias=True), [size, size])
    return img


def _decode_chunk(files: tuple[str, ...], size: int, mode: ImageReadMode) -> torch.Tensor:
    if all(f.lower().endswith(JPEG_SUFFIXES) for f in files):
        from torchvision.io import decode_jpeg

        images = decode_jpeg([_read(f) for f in files], mode=mode)
    else:
        images = [_decode_one(f, mode) for f in files]
    return torch.stack([_fit(img, size) for img in images])


def decode_files(
    files: tuple[str, ...], size: int, gray: bool, workers: int | None = None
) -> torch.Tensor:
    """Decode image files to a (N, C, size, size) uint8 tensor; C = 1 if ``gray`` else 3."""
    from torchvision.io import ImageReadMode

    mode = ImageReadMode.GRAY if gray else ImageReadMode.RGB
    if not files:
        return torch.zeros(0, 1 if gray else 3, size, size, dtype=torch.uint8)
    chunks = [files[i : i + CHUNK] for i in range(0, len(files), CHUNK)]
    workers = workers or min(8, os.cpu_count() or 1)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        parts = list(pool.map(lambda c: _decode_chunk(c, size, mode), chunks))
    return torch.cat(parts)


class LazyImages:
    """Image files decoded per batch, for sets too large to hold in memory.

    Behaves like a (N, C, size, size) uint8 tensor for ``take`` (indexing by an index
    tensor) and ``subset``; every ``take`` reads and decodes the files again.
    """

    def __init__(self, files: tuple[str, ...], size: int, gray: bool):
        self.files = files
        self.size = size
        self.gray = gray

    def __len__(self) -> int:
        return len(self.files)

    @property
    def shape(self) -> tuple[int, int, int, int]:
        return (len(self.files), 1 if self.gray else 3, self.size, self.size)

    def take(self, idx: torch.Tensor) -> torch.Tensor:
        files = tuple(self.files[i] for i in idx.tolist())
        return decode_files(files, self.size, self.gray)

    def subset(self, idx: torch.Tensor) -> LazyImages:
        return LazyImages(tuple(self.files[i] for i in idx.tolist()), self.size, self.gray)
