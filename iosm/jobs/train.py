"""The train job: fit the MTM, test its best checkpoint, write results.json.

``python train.py data=synthetic model=mtm logger=csv trainer.max_time=00:00:06:00 output_dir=RUN``
writes into RUN (a sweep job: its numbered sub-folder):

    config.yaml                the resolved config of this run
    checkpoints/last.ckpt      plus the best by the monitored metric (callbacks.model_checkpoint.monitor,
                               val/sad unless a recipe says otherwise; ``ckpt_path=last`` resumes from last.ckpt)
    results.json               flat: test/* metrics of the best checkpoint, best_<monitor>, train seconds
    csv/ (or the chosen logger's files), panels/
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

import lightning as L
from hydra.utils import instantiate
from lightning.pytorch.callbacks import WeightAveraging
from omegaconf import DictConfig, OmegaConf

from iosm.config import is_global_zero
from iosm.data.io import atomic_write_text
from iosm.jobs.common import build_callbacks, start_job
from iosm.loggers import build_loggers, finalize_loggers

DEFAULT_MONITOR = "val/sad"


def resolve_ckpt_path(ckpt_path: str | None, output_dir: Path) -> str | None:
    """``last`` -> OUTPUT/checkpoints/last.ckpt; a path must exist; None stays None."""
    if ckpt_path is None:
        return None
    path = output_dir / "checkpoints" / "last.ckpt" if ckpt_path == "last" else Path(ckpt_path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(
            f"ckpt_path={ckpt_path}: no checkpoint at {path}; resume needs the same output_dir as the "
            "interrupted run (ckpt_path=last), or give the path of a .ckpt file."
        )
    return str(path)


def run(cfg: DictConfig) -> float | None:
    """Fit, test the best checkpoint, and return the best monitored value (``val/sad`` unless
    ``callbacks.model_checkpoint.monitor`` says otherwise; for sweepers; None if never validated)."""
    output_dir = start_job(cfg)
    L.seed_everything(cfg.seed, workers=True)
    if is_global_zero():
        atomic_write_text(output_dir / "config.yaml", OmegaConf.to_yaml(cfg, resolve=True))

    datamodule = instantiate(cfg.data)
    model = instantiate(cfg.model.module)
    trainer: L.Trainer = instantiate(cfg.trainer, callbacks=list(build_callbacks(cfg).values()),
                                     logger=build_loggers(cfg) or False)

    started = time.perf_counter()
    trainer.fit(model, datamodule=datamodule, ckpt_path=resolve_ckpt_path(cfg.ckpt_path, output_dir))
    train_seconds = time.perf_counter() - started

    results: dict[str, Any] = {"train_seconds": round(train_seconds, 2), "global_step": trainer.global_step,
                               "epochs": trainer.current_epoch}
    checkpoint = trainer.checkpoint_callback
    monitor = (checkpoint.monitor if checkpoint is not None else None) or DEFAULT_MONITOR
    best_score = None
    if checkpoint is not None and checkpoint.best_model_score is not None:
        best_score = float(checkpoint.best_model_score)
        results.update({f"best_{monitor}": best_score, "best_checkpoint": checkpoint.best_model_path})
    if best_score is None and monitor in trainer.callback_metrics:  # e.g. fast_dev_run: the last validation
        best_score = float(trainer.callback_metrics[monitor])
    if cfg.test_after_fit:
        # fast_dev_run writes no checkpoint: then the weights in memory are tested.
        test_ckpt = "best" if checkpoint is not None and checkpoint.best_model_path else None
        # A weight-averaging callback (callbacks.ema) would load the checkpoint's raw weights for the test;
        # its state_dict holds the averaged ones, which validation chose and inference loads: test those.
        trainer.callbacks = [callback for callback in trainer.callbacks if not isinstance(callback, WeightAveraging)]
        for name, value in trainer.test(model, datamodule=datamodule, ckpt_path=test_ckpt)[0].items():
            results[name] = float(value)
    finalize_loggers(trainer.loggers)  # finishes a wandb run, so the next job of a sweep starts its own
    if is_global_zero():
        atomic_write_text(output_dir / "results.json", json.dumps(results, indent=2, sort_keys=True) + "\n")
    return None if best_score is None or math.isnan(best_score) else best_score
