"""A store for trainers on other machines: their rows travel to the one process that writes.

A run file has exactly one writer, and the store lives on one machine (the worker's and the
dashboard's). A trainer elsewhere (a Ray task on another node) gets a :class:`RemoteStore`
instead of a :class:`~storage.Store`: it offers the calls a trainer makes (status, heartbeat
and stop flag, truncation on resume, saved curves) and a :class:`RemoteWriter`, which buffers
and builds Arrow batches exactly as :class:`~storage.writer.RunWriter` does but sends each
flush, instead of opening a DuckDB file. On the store's machine a :class:`StoreService`
answers those calls with a real store, one call at a time, and commits each flush in one
transaction, so readers see whole flushes in logging order as for a local run.

The transport is a function ``send(method, *args, **kwargs)`` that calls the service's
``method`` and returns its result or raises its error; this module knows nothing of it.
With Ray (:mod:`trainer.ray_backend`) the service is an actor and ``send`` is
``ray.get(getattr(actor, method).remote(*args, **kwargs))``; in tests it is a plain call.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any

import pyarrow as pa

from .schema import RUN_TABLES
from .status import DEFAULT_LOST_AFTER
from .store import Store
from .writer import RunWriter, write_batches

__all__ = ["RemoteStore", "RemoteWriter", "StoreService"]


class StoreService:
    """The store's side of :class:`RemoteStore`: a real store behind the calls trainers make.

    Args:
        home: the store folder on this machine.
        lost_after: as for :class:`~storage.Store`.
    """

    def __init__(self, home: str | os.PathLike, lost_after: float = DEFAULT_LOST_AFTER):
        self.store = Store(home, lost_after=lost_after)
        self.rows = 0  # written since start, for throughput measurements

    def write(self, run_id: str, tables: Mapping[str, pa.Table]) -> int:
        """Commit one flush of ``run_id`` (Arrow batches by table name); return its rows."""
        unknown = sorted(set(tables) - set(RUN_TABLES))
        if unknown:
            raise ValueError(
                f"unknown run table(s) {unknown}; choose from: {', '.join(RUN_TABLES)}"
            )
        for name, data in tables.items():
            if not isinstance(data, pa.Table):
                raise TypeError(
                    f"rows of {name} must be a pyarrow Table, got {type(data).__name__}"
                )
        self.store._known(run_id)
        written = write_batches(self.store, run_id, tables)
        self.rows += written
        return written

    def written(self) -> int:
        """Rows written since this service started."""
        return self.rows

    def get_run(self, run_id: str) -> dict:
        return self.store.get_run(run_id)

    def update_run(self, run_id: str, **fields: Any) -> None:
        self.store.update_run(run_id, **fields)

    def ping(self, run_id: str) -> bool:
        return self.store.ping(run_id)

    def truncate_run(self, run_id: str, after_step: int) -> int:
        return self.store.truncate_run(run_id, after_step)

    def last_step(self, run_id: str) -> int | None:
        return self.store.last_step(run_id)

    def load_curve(self, name: str) -> dict:
        return self.store.load_curve(name)


class RemoteStore:
    """What a trainer needs of a :class:`~storage.Store`, served by a :class:`StoreService`
    through ``send`` (see the module docstring).

    Args:
        send: ``send(method, *args, **kwargs)`` calls the service and returns its answer.
        home: the store folder on the service's machine (where ``<home>/checkpoints`` would
            be; a trainer elsewhere should be given a checkpoint root it can reach).
    """

    def __init__(self, send: Callable[..., Any], home: str | os.PathLike):
        self.send = send
        self.home = home

    def __repr__(self) -> str:
        return f"RemoteStore(home={str(self.home)!r})"

    def get_run(self, run_id: str) -> dict:
        return self.send("get_run", run_id)

    def update_run(self, run_id: str, **fields: Any) -> None:
        """As :meth:`storage.Store.update_run`, with the fields by keyword."""
        self.send("update_run", run_id, **fields)

    def ping(self, run_id: str) -> bool:
        return self.send("ping", run_id)

    def heartbeat(self, run_id: str) -> None:
        self.send("ping", run_id)

    def truncate_run(self, run_id: str, after_step: int) -> int:
        return self.send("truncate_run", run_id, int(after_step))

    def last_step(self, run_id: str) -> int | None:
        return self.send("last_step", run_id)

    def load_curve(self, name: str) -> dict:
        return self.send("load_curve", name)

    def write_batches(self, run_id: str, tables: Mapping[str, pa.Table]) -> int:
        """Send one flush (Arrow batches by table) to be committed in one transaction."""
        return self.send("write", run_id, dict(tables))

    def writer(
        self,
        run_id: str,
        flush_interval: float = 1.0,
        max_buffer_rows: int = 200_000,
        heartbeat_interval: float = 2.0,
    ) -> RemoteWriter:
        """A :class:`RemoteWriter` for ``run_id``; use it as a context manager."""
        return RemoteWriter(
            self,
            run_id,
            flush_interval=flush_interval,
            max_buffer_rows=max_buffer_rows,
            heartbeat_interval=heartbeat_interval,
        )


class RemoteWriter(RunWriter):
    """A :class:`~storage.writer.RunWriter` whose flushes go to a :class:`StoreService`.

    Everything else is the same: buffering, back-pressure, heartbeats and the stop flag
    (through :meth:`RemoteStore.ping`), retries of a failed flush, the flush on close.
    """

    def _save(self, tables: dict[str, pa.Table]) -> None:
        self.store.write_batches(self.run_id, tables)
