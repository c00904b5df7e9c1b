"""Decode an image folder once: an in-process cache, and an optional on-disk cache.

The on-disk cache lives only in a directory the caller chose (``cache_dir``) or in
``$ACTCOOL_HOME/cache``, never beside the data: data folders may be shared and read-only,
and on machines where everything runs as root the permission bits alone would not stop a
write. A directory whose permission bits deny writing is treated as read-only even for root.
Cache files are keyed by a fingerprint of the file list (relative paths, sizes, mtimes) and
the decoding options, and written atomically.
"""

from __future__ import annotations

import hashlib
import logging
import os
import stat
from collections import OrderedDict
from pathlib import Path

import torch

from .folder import FolderListing, decode_files

log = logging.getLogger(__name__)

CACHE_VERSION = 1
MEMORY_CACHE_BYTES = 2 * 2**30  # decoded images kept for later loads in this process
_MEMORY: OrderedDict[str, torch.Tensor] = OrderedDict()


def clear_memory_cache() -> None:
    """Forget the decoded images held in this process (the disk cache is kept)."""
    _MEMORY.clear()


def default_cache_dir() -> Path | None:
    """``$ACTCOOL_HOME/cache`` when ACTCOOL_HOME is set, else None (no disk cache)."""
    home = os.environ.get("ACTCOOL_HOME")
    return Path(home) / "cache" if home else None


def writable_dir(path: Path) -> bool:
    """Whether ``path`` (or its first existing ancestor) may be written, honouring mode bits."""
    path = path.absolute()
    while not path.exists():
        if path.parent == path:
            return False
        path = path.parent
    mode = path.stat().st_mode
    return path.is_dir() and bool(mode & stat.S_IWUSR) and os.access(path, os.W_OK)


def fingerprint(listing: FolderListing, size: int, gray: bool) -> str:
    h = hashlib.sha1(f"v{CACHE_VERSION}|{size}|{gray}|{listing.class_names}".encode())
    for path, label in zip(listing.files, listing.labels.tolist(), strict=True):
        st = os.stat(path)
        rel = os.path.relpath(path, listing.root)
        h.update(f"{rel}|{label}|{st.st_size}|{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def decode_cached(
    listing: FolderListing, size: int, gray: bool, cache_dir: Path | None
) -> torch.Tensor:
    """(N, C, size, size) uint8 images of ``listing``, decoded at most once per fingerprint."""
    key = fingerprint(listing, size, gray)
    if key in _MEMORY:
        _MEMORY.move_to_end(key)
        return _MEMORY[key]
    stem = f"{listing.root.parent.name}-{listing.root.name}-{size}-{key[:16]}"
    path = cache_dir / f"{stem}.pt" if cache_dir else None
    images = None
    if path is not None and path.is_file():
        try:
            images = torch.load(path, weights_only=True)
            log.info("loaded decoded images from %s", path)
        except (OSError, RuntimeError) as err:
            log.warning("ignoring unreadable cache file %s: %s", path, err)
    if images is None:
        images = decode_files(listing.files, size, gray)
        if path is not None:
            _write(path, images)
    _MEMORY[key] = images
    while sum(t.nbytes for t in _MEMORY.values()) > MEMORY_CACHE_BYTES:
        _MEMORY.popitem(last=False)  # oldest first; may drop the new entry if it is too big
    return images


def _write(path: Path, images: torch.Tensor) -> None:
    if not writable_dir(path.parent):
        log.info(
            "cache directory %s is not writable; keeping decoded images in memory only", path.parent
        )
        return
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(images, tmp)
        os.replace(tmp, path)
        log.info("cached decoded images in %s", path)
    except OSError as err:
        log.warning("could not write cache file %s: %s", path, err)
        tmp.unlink(missing_ok=True)
