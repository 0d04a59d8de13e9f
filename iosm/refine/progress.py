"""Lightning's tqdm bar for refine.py, with the run's tallies beside its count and ETA.

``predict 37/200 [02:10<09:35, ok=35, errors=2, skipped=120]``: images done on this rank out of
its shard, elapsed and remaining time, and how many were refined, failed, and skipped because an
earlier run had finished them (rank 0's bar; the other ranks' bars are off, as Lightning does).
"""

from __future__ import annotations

from typing import Any

from lightning.pytorch.callbacks import TQDMProgressBar


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
