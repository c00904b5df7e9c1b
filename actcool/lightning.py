"""Record a PyTorch Lightning ``Trainer.fit`` into the ActCool store, as ``actcool.track`` does.

Needs the ``lightning`` extra (``pip install -e .[lightning]``)::

    from actcool.lightning import ActCoolCallback

    trainer = L.Trainer(max_epochs=10, callbacks=[ActCoolCallback(name="my-net")])
    trainer.fit(module, train_loader, val_loader)

Each optimizer step records its learning rate (per param group where they differ) and training
loss; each validation records every metric the module ``self.log``-ged; temperatures are those
of the ``ActCoolLR`` that ``configure_optimizers`` returned, else of a monitor of the
callback's own on the module that ``training_step`` calls. Temperatures also go to the
Trainer's own loggers (``temperature/mean``, ``temperature/<site>``), as
``LearningRateMonitor`` logs rates.

Lightning steps a scheduler after ``on_train_batch_end``, so a step is recorded when the next
one starts (or the epoch, validation or fit ends): by then its scheduler has measured it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import lightning as L
import torch
from torch import Tensor, nn

from .measurement import Measurement
from .sites import NoSitesError, find_sites
from .tracking import TrackedRun

__all__ = ["ActCoolCallback"]


class ActCoolCallback(L.Callback):
    """A ``lightning.Callback`` that records the fit into the ActCool store (see the module
    docstring).

    Args:
        name: the run's label (default: the script's name and the module's class).
        config: anything to keep with the run; the fit's settings are stored beside it.
        home: the store folder (default ``$ACTCOOL_HOME`` or ``./actcool-data``).
        measure_every: steps between the own monitor's measurements (default 10).
        scan_every: steps between its LR range scans (default None: none).

    :attr:`run` is the :class:`~actcool.tracking.TrackedRun` of the latest fit (its ``id``).
    """

    def __init__(
        self,
        name: str | None = None,
        config: Mapping[str, Any] | None = None,
        home: str | os.PathLike | None = None,
        measure_every: int = 10,
        scan_every: int | None = None,
    ) -> None:
        super().__init__()
        self.name, self.config, self.home = name, dict(config or {}), home
        self.measure_every, self.scan_every = measure_every, scan_every
        self.run: TrackedRun | None = None
        self._pending: Tensor | float | None = None  # the loss of a step not yet recorded
        self._global_step = 0
        self._called: list[nn.Module] = []  # modules a training forward ran (the first step)
        self._probes: list[Any] = []

    # -- the fit's start and end ---------------------------------------------------------
    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not trainer.optimizers:
            raise ValueError("ActCoolCallback needs an optimizer: configure_optimizers gave none")
        configs = trainer.lr_scheduler_configs
        scheduler = configs[0].scheduler if configs else None
        total = trainer.estimated_stepping_batches
        fit = {
            "max_epochs": trainer.max_epochs,
            "accumulate_grad_batches": trainer.accumulate_grad_batches,
        }
        if isinstance(total, int) and total > 0:
            fit["total_steps"] = total
        self.run = TrackedRun(
            pl_module,
            trainer.optimizers[0],
            scheduler,
            name=self.name,
            config={**fit, **self.config},
            home=self.home,
            measure_every=self.measure_every,
            scan_every=self.scan_every,
            source="lightning",
            measure=False,
        )
        self._pending = None
        self._global_step = trainer.global_step
        if self.run.actcool is None:
            self._watch_first_step(pl_module)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._record(trainer)
        self._unwatch()
        if self.run is not None:
            self.run.finish()

    def on_exception(
        self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException
    ) -> None:
        self._unwatch()
        if self.run is not None:
            self.run.finish(exception)

    # -- steps -----------------------------------------------------------------------------
    def on_train_batch_start(
        self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        self._record(trainer)

    def on_train_batch_end(
        self,
        trainer: L.Trainer,
        pl_module: L.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
    ) -> None:
        if self.run is None or trainer.global_step == self._global_step:
            return  # accumulating gradients: no optimizer step yet
        self._global_step = trainer.global_step
        if self._probes:  # the first step told which module training_step calls
            self.run.measure_with(self._measured_module(pl_module))
            self._unwatch()
        loss = outputs.get("loss") if isinstance(outputs, Mapping) else outputs
        self._pending = loss.detach() if isinstance(loss, Tensor) else loss
        batches = trainer.num_training_batches
        if isinstance(batches, int) and batches > 0:
            self.run.epoch = trainer.current_epoch + (batch_idx + 1) / batches
        if self.run.stop_requested:
            trainer.should_stop = True

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._record(trainer)

    def on_validation_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._record(trainer)

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.run is None or trainer.sanity_checking or not self.run.step_count:
            return
        metrics = {
            key: value
            for key, value in trainer.callback_metrics.items()
            if isinstance(value, (int, float)) or (isinstance(value, Tensor) and value.numel() == 1)
        }
        if metrics:
            self.run.evaluate(**metrics)

    def _record(self, trainer: L.Trainer) -> None:
        """Record the step waiting since its ``on_train_batch_end`` (its scheduler has
        stepped since), and log a new measurement to the Trainer's loggers."""
        if self.run is None or self._pending is None:
            return
        loss, self._pending = self._pending, None
        before = self.run.last_measurement
        self.run.step(loss=loss)
        if self.run.stop_requested:
            trainer.should_stop = True
        m = self.run.last_measurement
        if m is not None and m is not before:
            self._log(trainer, m, self.run.step_count - 1)

    @staticmethod
    def _log(trainer: L.Trainer, m: Measurement, step: int) -> None:
        """The measurement of ``step`` to every logger of the Trainer, at that step."""
        metrics = {"temperature/mean": float(m.mean_temperature)}
        metrics.update(
            {
                f"temperature/{site}": float(t)
                for site, t in zip(m.sites, m.temperatures, strict=True)
            }
        )
        for logger in trainer.loggers:
            logger.log_metrics(metrics, step=step)

    # -- which module to measure -------------------------------------------------------------
    def _watch_first_step(self, pl_module: nn.Module) -> None:
        """Note every module a training forward runs during the first step."""
        self._called = []

        def called(module: nn.Module, args: Any) -> None:
            if torch.is_grad_enabled() and module not in self._called:
                self._called.append(module)

        self._probes = [m.register_forward_pre_hook(called) for m in pl_module.modules()]

    def _unwatch(self) -> None:
        for handle in self._probes:
            handle.remove()
        self._probes = []

    def _measured_module(self, pl_module: nn.Module) -> nn.Module:
        """The outermost module the training step called that holds every activation site
        of the LightningModule (``self.net`` when ``training_step`` runs ``self.net(x)``)."""
        try:
            relus = {id(m) for _, m in find_sites(pl_module)}
        except NoSitesError:
            return pl_module  # the monitor says so
        called = {id(m) for m in self._called}
        # Under DDP (and other wrapping strategies) Lightning runs training_step through
        # pl_module(...) with its forward redirected; a module without a forward of its own
        # cannot be replayed, so the module its training_step calls is measured instead.
        own_forward = type(pl_module).forward is not L.LightningModule.forward
        for module in pl_module.modules():  # outermost first
            if module is pl_module and not own_forward:
                continue
            if id(module) in called and relus <= {id(m) for m in module.modules()}:
                return module
        return pl_module  # sites spread over calls: the monitor says what it can
