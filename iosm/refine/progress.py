"""refine.py's progress: Lightning's tqdm bar with the run's tallies, or log lines when the bar is off.

``predict 37/200 [02:10<09:35, ok=35, errors=2, skipped=120]``: images done on this rank out of
its shard, elapsed and remaining time, and how many were refined, failed, and skipped because an
earlier run had finished them (rank 0's bar; the other ranks' bars are off, as Lightning does).
With ``trainer.enable_progress_bar=false`` (the demo, batch jobs' log files) :class:`RefineProgressLog`
says the same in a line every few seconds.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from lightning.pytorch import Callback
from lightning.pytorch.callbacks import TQDMProgressBar

from iosm.loggers import format_duration

log = logging.getLogger(__name__)


class RefineProgressBar(TQDMProgressBar):
    def __init__(self, refresh_rate: int = 1) -> None:
        super().__init__(refresh_rate=refresh_rate)
        self.tallies = {"ok": 0, "errors": 0, "skipped": 0}

    def on_predict_start(self, trainer: Any, pl_module: Any) -> None:
        super().on_predict_start(trainer, pl_module)
        self.tallies = {"ok": 0, "errors": 0, "skipped": len(getattr(trainer.datamodule, "skipped", ()))}
        self.predict_progress_bar.set_postfix(self.tallies, refresh=False)

    def on_predict_batch_end(self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int,
                             dataloader_idx: int = 0) -> None:
        self.tallies["ok" if outputs.ok else "errors"] += 1
        self.predict_progress_bar.set_postfix(self.tallies, refresh=False)
        super().on_predict_batch_end(trainer, pl_module, outputs, batch, batch_idx, dataloader_idx)


class RefineProgressLog(Callback):
    """``refine: 5/12 images (ok=5, errors=0, skipped=0), 0:03 elapsed, about 0:05 left``, logged on
    rank 0 at most every ``min_interval`` seconds and after the last image, while no bar is shown."""

    def __init__(self, min_interval: float = 5.0) -> None:
        self.min_interval = min_interval
        self.tallies = {"ok": 0, "errors": 0, "skipped": 0}
        self._started = self._last_line = 0.0

    def on_predict_start(self, trainer: Any, pl_module: Any) -> None:
        self.tallies = {"ok": 0, "errors": 0, "skipped": len(getattr(trainer.datamodule, "skipped", ()))}
        self._started = self._last_line = time.perf_counter()

    def on_predict_batch_end(self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int,
                             dataloader_idx: int = 0) -> None:
        self.tallies["ok" if outputs.ok else "errors"] += 1
        if trainer.progress_bar_callback is not None or not trainer.is_global_zero:
            return
        now, done, total = time.perf_counter(), batch_idx + 1, int(trainer.num_predict_batches[dataloader_idx])
        if done < total and now - self._last_line < self.min_interval:
            return
        self._last_line = now
        elapsed = now - self._started
        tallies = ", ".join(f"{key}={value}" for key, value in self.tallies.items())
        left = elapsed / done * (total - done)
        log.info("refine: %d/%d images (%s), %s elapsed, about %s left", done, total, tallies,
                 format_duration(elapsed), format_duration(left))
