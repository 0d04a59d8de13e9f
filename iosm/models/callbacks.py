"""Training-side effects of the MTM job, as Lightning callbacks (chosen in conf/callbacks/train.yaml).

- :class:`NonFiniteLossGuard` stops training when the loss becomes NaN or infinite, naming the step,
  before the bad gradients reach the weights.
- :class:`EpochProgressLog` logs one line per epoch (step, losses, time left) when no progress bar
  is shown (the demo, batch jobs' log files), so a long run shows that it is alive and how long it has to go.
- :class:`MattePanelLogger` writes a panel (image, mask, prediction, ground truth, error) of the
  first validation batch every N validation epochs: a PNG under ``panels/`` in the run folder and,
  when the logger takes images (wandb, TensorBoard), to the logger as well.
"""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import Timer

from iosm.data.io import write_image
from iosm.loggers import format_duration, log_images
from iosm.viz.panels import error_map, make_panel, stack_rows

log = logging.getLogger(__name__)


class NonFiniteLossGuard(L.Callback):
    """Raise ``FloatingPointError`` naming the global step, epoch and batch of a NaN/inf loss."""

    def on_before_backward(self, trainer: L.Trainer, pl_module: L.LightningModule, loss: torch.Tensor) -> None:
        if not torch.isfinite(loss).all():
            raise FloatingPointError(
                f"training loss became {loss.item()} at global step {trainer.global_step} "
                f"(epoch {trainer.current_epoch}, batch {trainer.fit_loop.epoch_loop.batch_idx}); "
                "stopping before it corrupts the weights. Try a lower model.optimizer.lr, "
                "trainer.gradient_clip_val=1.0, or precision=32-true."
            )


class EpochProgressLog(L.Callback):
    """After each training epoch, one log line: ``epoch 3/40 (step 48): train/loss 0.1234, val/sad
    1.234; 0:45 elapsed, about 3:15 left``.

    The time left is the sooner of two estimates: the remaining epochs (``trainer.max_epochs``) at
    the mean epoch time so far, and what ``trainer.max_time`` leaves. Silent while a progress bar is
    shown (the bar says the same) and on ranks other than 0.

    Args:
        metrics: ``trainer.callback_metrics`` keys to print when present.
    """

    def __init__(self, metrics: tuple[str, ...] = ("train/loss_epoch", "val/loss", "val/sad")) -> None:
        self.metrics = tuple(metrics)
        self._started: float | None = None
        self._first_epoch = 0  # the epoch this run started at (> 0 when resumed)

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._started = time.perf_counter()
        self._first_epoch = trainer.current_epoch

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.progress_bar_callback is not None or not trainer.is_global_zero or self._started is None:
            return
        log.info(self.line(trainer))

    def line(self, trainer: L.Trainer) -> str:
        """The progress line for the epoch that just ended (``trainer.current_epoch``)."""
        elapsed = time.perf_counter() - self._started
        epochs_done = trainer.current_epoch + 1 - self._first_epoch
        max_epochs = trainer.max_epochs if trainer.max_epochs is not None and trainer.max_epochs >= 0 else None
        estimates = []
        if max_epochs is not None:
            estimates.append(elapsed / epochs_done * max(0, max_epochs - trainer.current_epoch - 1))
        timer = next((callback for callback in trainer.callbacks if isinstance(callback, Timer)), None)
        if timer is not None and timer.time_remaining() is not None:
            estimates.append(max(0.0, timer.time_remaining()))
        values = [f"{key} {float(trainer.callback_metrics[key]):.4g}" for key in self.metrics
                  if key in trainer.callback_metrics and math.isfinite(float(trainer.callback_metrics[key]))]
        epoch = f"epoch {trainer.current_epoch + 1}" + (f"/{max_epochs}" if max_epochs is not None else "")
        left = f", about {format_duration(min(estimates))} left" if estimates else ""
        return (f"{epoch} (step {trainer.global_step}): {', '.join(values) or 'no metrics yet'}; "
                f"{format_duration(elapsed)} elapsed{left}")


def matte_panel(batch: dict[str, Any], alpha_pred: torch.Tensor, max_rows: int) -> np.ndarray:
    """Rows of [image | mask | prediction | ground truth | error] at original size, (H, W, 3) uint8."""
    rows = []
    for index in range(min(max_rows, alpha_pred.shape[0])):
        height, width = batch["orig_size"][index].tolist()

        def plane(tensor: torch.Tensor) -> np.ndarray:  # (C, H, W) -> (H, W[, C]) cropped, on the CPU
            array = tensor[:, :height, :width].detach().float().cpu().clamp(0, 1).numpy()
            return array[0] if array.shape[0] == 1 else array.transpose(1, 2, 0)

        pred, gt = plane(alpha_pred[index]), plane(batch["alpha"][index])
        rows.append(make_panel([
            (batch["name"][index], plane(batch["image"][index])), ("mask", plane(batch["mask"][index])),
            ("prediction", pred), ("ground truth", gt), ("|error|", error_map(pred, gt)),
        ]))
    return stack_rows(rows)


class MattePanelLogger(L.Callback):
    """Every ``every_n_val_epochs`` validation epochs, a panel of the first validation batch.

    folder: where the PNGs go (``${output_dir}/panels``); max_rows: images per panel.
    """

    def __init__(self, *, folder: str, every_n_val_epochs: int = 1, max_rows: int = 4) -> None:
        if every_n_val_epochs < 1:
            raise ValueError(f"every_n_val_epochs={every_n_val_epochs}: expected an integer >= 1")
        self.folder = Path(folder)
        self.every_n_val_epochs = every_n_val_epochs
        self.max_rows = max_rows
        self.val_epochs_seen = 0

    def on_validation_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not trainer.sanity_checking:
            self.val_epochs_seen += 1

    def on_validation_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any,
        batch_idx: int, dataloader_idx: int = 0,
    ) -> None:
        due = (self.val_epochs_seen - 1) % self.every_n_val_epochs == 0
        if batch_idx != 0 or trainer.sanity_checking or not due or not trainer.is_global_zero:
            return
        panel = matte_panel(batch, outputs["alpha_pred"], self.max_rows)
        path = write_image(self.folder / f"val_epoch{trainer.current_epoch:04d}.png", panel)
        log_images(trainer.loggers, "val/panel", [panel], captions=[f"epoch {trainer.current_epoch}"])
        pl_module.print(f"wrote {path}")
