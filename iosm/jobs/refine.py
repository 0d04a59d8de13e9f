"""refine.py's job: refine every image's rough mask (optionally matte it) as a Lightning predict run.

``run(cfg)`` builds the parts with Hydra (prompt, refiner with its painting and feature backends,
dataset, callbacks, trainer), loads every model before the loop starts so that a wrong model path
fails in seconds with the backend's message, runs ``Trainer.predict`` on one or more devices, and
ends with a summary line and ``OUT/results.json`` (the means a sweep summary tabulates).

Under DDP Lightning re-runs this entry point once per extra rank with ``hydra.run.dir`` set to rank
0's folder; :func:`iosm.config.job_output_dir` then gives every rank the same folder.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import lightning as L
import numpy as np
import torch
from hydra.utils import instantiate
from lightning.pytorch.callbacks import ProgressBar
from omegaconf import DictConfig, open_dict

from iosm.config import job_output_dir
from iosm.data.io import atomic_write_text
from iosm.loggers import build_loggers, finalize_loggers, log_summary, log_table
from iosm.matting import build_matte
from iosm.refine.module import RefineModule
from iosm.refine.predict_data import RefinePredictData
from iosm.refine.writer import MANIFEST, read_manifest

log = logging.getLogger(__name__)

RESULTS = "results.json"
# Manifest fields averaged over the run's refined images in results.json.
MEAN_KEYS = ("iou_before", "iou_after", "boundary_f_before", "boundary_f_after", "inpaint_calls",
             "feature_calls", "seconds")
# Manifest fields of the per-image table sent to the loggers (wandb Table, CSV, TensorBoard text).
TABLE_COLUMNS = ("name", "status", "error", "seconds", "inpaint_calls", "feature_calls", "iou_before", "iou_after",
                 "boundary_f_before", "boundary_f_after")


def run(cfg: DictConfig) -> float | None:
    """Refine the dataset's images into ``job_output_dir(cfg)``; returns the mean IoU after
    refinement (None without ground truth), the value a Hydra sweeper optimises."""
    started = time.perf_counter()
    output_dir = job_output_dir(cfg)
    with open_dict(cfg):
        # Every ${output_dir} (loggers, the trainer's root) follows this job's folder: in sweeps, and in
        # DDP ranks re-launched by Lightning, where a default ${now:...} would name another folder.
        cfg.output_dir = str(output_dir)
    L.seed_everything(cfg.seed, workers=True)

    writer = instantiate(cfg.callbacks.mask_writer, output_dir=str(output_dir),
                         matte=cfg.matte.get("_target_") is not None, on_error=cfg.on_error)
    callbacks = [writer] + [instantiate(node) for key, node in cfg.callbacks.items() if key != "mask_writer"]
    if not cfg.trainer.get("enable_progress_bar", True):
        # Lightning refuses a progress-bar callback when the bar is switched off (tests, debug presets).
        callbacks = [callback for callback in callbacks if not isinstance(callback, ProgressBar)]
    trainer = instantiate(cfg.trainer, callbacks=callbacks, logger=build_loggers(cfg) or False,
                          use_distributed_sampler=False)
    device = trainer.strategy.root_device  # this rank's device (cuda:LOCAL_RANK under multi-GPU DDP)
    if device.type == "cuda":
        # Backends configured with device "cuda" (or null) then load onto this rank's GPU, not GPU 0.
        torch.cuda.set_device(device)

    # Models load here, before any image: a missing model path fails now, with the backend's message.
    module = RefineModule(refiner=instantiate(cfg.refiner), prompt=instantiate(cfg.prompt),
                          matte=build_matte(cfg.matte, device), save_steps=cfg.save_steps, seed=cfg.seed)
    datamodule = instantiate(cfg.data)
    records = datamodule.records("predict")  # data.predict_split; synthetic data is generated here, once
    data = RefinePredictData(records, finished=writer.finished_names, num_workers=datamodule.num_workers)

    trainer.predict(module, datamodule=data, return_predictions=False)

    # A collective: it also waits until every rank has written its last manifest line.
    counts = trainer.strategy.reduce(torch.tensor([writer.counts["ok"], writer.counts["error"]], device=device),
                                     reduce_op="sum")
    this_run = {"ok": int(counts[0]), "errors": int(counts[1]), "skipped": len(data.skipped),
                "wall_seconds": round(time.perf_counter() - started, 2)}
    latest = read_manifest(output_dir / MANIFEST)
    results = summarise([latest.get(record.name) for record in records])
    results["this_run"] = this_run
    if trainer.is_global_zero:
        atomic_write_text(output_dir / RESULTS, json.dumps(results, indent=2) + "\n")
        log_summary(trainer.loggers, {**results, **{f"this_run_{key}": value for key, value in this_run.items()}},
                    prefix="refine")
        log_table(trainer.loggers, "refine/per_image",
                  [{column: latest[record.name].get(column) for column in TABLE_COLUMNS}
                   for record in records if record.name in latest])
        log.info("refine: %d ok, %d errors, %d skipped (already done) in %.1f s; mean IoU %s -> %s; outputs in %s",
                 this_run["ok"], this_run["errors"], this_run["skipped"], this_run["wall_seconds"],
                 _fmt(results["iou_before"]), _fmt(results["iou_after"]), output_dir)
    finalize_loggers(trainer.loggers)  # finishes a wandb run, so the next job of a sweep starts its own
    return results["iou_after"]


def summarise(entries: list[dict[str, Any] | None]) -> dict[str, Any]:
    """The output folder's state over the dataset's images: counts, and means over refined ones.

    ``entries`` holds each image's latest manifest entry, None for an image never processed.
    """
    processed = [entry for entry in entries if entry is not None]
    refined = [entry for entry in processed if entry["status"] == "ok"]
    results: dict[str, Any] = {"images": len(entries), "ok": len(refined),
                               "errors": len(processed) - len(refined), "pending": len(entries) - len(processed)}
    for key in MEAN_KEYS:
        values = [entry[key] for entry in refined if entry.get(key) is not None]
        results[key] = float(np.mean(values)) if values else None
    return results


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"
