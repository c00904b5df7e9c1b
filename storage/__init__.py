"""ActCool run storage: the only package that talks to DuckDB.

Trainers create a run and log metrics through a buffered background :class:`RunWriter`;
the dashboard reads runs, metrics and curves through the same :class:`Store`, live, from
another process. One DuckDB file per run plus a catalog file; every access is a short-lived
connection that waits out other processes' locks (:class:`LockTimeout` only after a long
wait). Quick start::

    from storage import Store

    store = Store()                          # $ACTCOOL_HOME or ./actcool-data
    run_id = store.create_run({"model": "resnet20", "total_steps": 1000}, name="demo")
    with store.writer(run_id) as w:
        w.log_step(0, epoch=0, lr=0.1, loss=2.3)
    store.update_run(run_id, status="finished")
    store.steps(run_id)
"""

from .catalog import Catalog, StoreNotFound, UnreadableStore
from .connection import LockTimeout
from .reader import METRICS
from .shutdown import install_signal_flush
from .status import LOST, RESUMABLE, STATUSES
from .store import Store
from .writer import RunWriter

__all__ = [
    "LOST",
    "METRICS",
    "RESUMABLE",
    "STATUSES",
    "Catalog",
    "LockTimeout",
    "RunWriter",
    "Store",
    "StoreNotFound",
    "UnreadableStore",
    "install_signal_flush",
]
