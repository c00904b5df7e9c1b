"""Where a dataset's files are, checked before a run is queued: folders only, no decoding.

The loaders (``registry.load_dataset``) are the authority on what they read; this module looks
for the same folders so that a missing dataset is reported when a run is queued, not seconds
later when its process fails.
"""

from __future__ import annotations

from pathlib import Path

from .cifar10 import JPEG_TREE

__all__ = ["missing_dataset"]


def missing_dataset(name: str, data_dir: str | Path, download: bool = False) -> str | None:
    """Why ``name`` cannot be loaded from ``data_dir``, or None when its files are there (or
    it needs none: digits, synthetic).

    A missing Fashion-MNIST or CIFAR-10 is no problem when ``download`` is allowed and the
    folder exists (the loader fetches it there); an ``imagefolder:<path>`` is looked up as
    the loader does (the path itself, else relative to ``data_dir``).
    """
    data_dir = Path(data_dir).expanduser()
    if name == "digits" or name == "synthetic" or name.startswith("synthetic:"):
        return None
    if name.startswith("imagefolder:"):
        if not name.removeprefix("imagefolder:").strip():
            return "imagefolder: give the path of a folder with train/ and test/ subfolders"
        path = Path(name.removeprefix("imagefolder:")).expanduser()
        if not path.is_absolute() and not path.exists() and (data_dir / path).exists():
            path = data_dir / path
        if not path.is_dir():
            return f"image folder {path} does not exist"
        if not (path / "train").is_dir() or not (
            (path / "test").is_dir() or (path / "val").is_dir()
        ):
            return f"image folder {path} needs train/ and test/ (or val/) subfolders"
        return None
    if not data_dir.is_dir():
        return f"data folder {data_dir} does not exist; choose the folder that holds {name}"
    if name == "fashion-mnist":
        found = (data_dir / "FashionMNIST" / "raw").is_dir()
        where = f"{data_dir / 'FashionMNIST' / 'raw'}"
    elif name == "cifar10":
        jpeg = data_dir / JPEG_TREE
        found = (data_dir / "cifar-10-batches-py").is_dir() or (
            (jpeg / "train").is_dir() and (jpeg / "test").is_dir()
        )
        where = f"{data_dir / 'cifar-10-batches-py'} or {jpeg}/{{train,test}}"
    else:
        return None  # an unknown name: RunConfig reports it
    if found or download:
        return None
    return f"{name} is not in the data folder {data_dir}: looked for {where}"
