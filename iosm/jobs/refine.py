"""refine.py's job: refine every image's rough mask (optionally matte it) as a Lightning predict run.

``run(cfg)`` builds the parts with Hydra (prompt, refiner with its painting and feature backends,
dataset, callbacks, trainer), loads every model before the loop starts so that a wrong model path
fails in seconds with the backend's message, runs ``Trainer.predict`` on one or more devices, and
ends with a summary line and ``OUT/results.json`` (the means a sweep summary tabulates). A run in
which no image succeeds then fails (non-zero exit) with the first errors; a bug in the code
(:func:`iosm.errors.is_code_bug`) stops it at once instead of being recorded as a bad image.

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
from omegaconf import DictConfig

from iosm.data.io import atomic_write_text
from iosm.jobs.common import build_callbacks, list_errors, start_job
from iosm.loggers import build_loggers, finalize_loggers, log_summary, log_table
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


class RefineError(RuntimeError):
    """Raised after the outputs are written when a run refined no image at all (a non-zero exit)."""


def run(cfg: DictConfig) -> float | None:
    """Refine the dataset's images into ``job_output_dir(cfg)``; returns the mean IoU after
    refinement (None without ground truth), the value a Hydra sweeper optimises."""
    started = time.perf_counter()
    output_dir = start_job(cfg)
    L.seed_everything(cfg.seed, workers=True)

    callbacks = build_callbacks(cfg, mask_writer={"output_dir": str(output_dir), "on_error": cfg.on_error,
                                                  "matte": cfg.matte.ckpt_path is not None})
    writer = callbacks["mask_writer"]
    trainer = instantiate(cfg.trainer, callbacks=list(callbacks.values()), logger=build_loggers(cfg) or False,
                          use_distributed_sampler=False)
    device = trainer.strategy.root_device  # this rank's device (cuda:LOCAL_RANK under multi-GPU DDP)
    if device.type == "cuda":
        # Backends configured with device "cuda" (or null) then load onto this rank's GPU, not GPU 0.
        torch.cuda.set_device(device)

    # Models load here, before any image: a missing model path fails now, with the backend's message.
    module = RefineModule(refiner=instantiate(cfg.refiner), prompt=instantiate(cfg.prompt),
                          matte=load_matte(cfg.matte, device), save_steps=cfg.save_steps, seed=cfg.seed)
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
    if this_run["ok"] == 0 and this_run["errors"]:
        failed = [(record.name, latest[record.name]["error"]) for record in records
                  if latest.get(record.name, {}).get("status") == "error"]
        raise RefineError(f"refine: no image succeeded ({this_run['errors']} failed; every one is in "
                          f"{output_dir / MANIFEST}): {list_errors(failed)}")
    return results["iou_after"]


def load_matte(matte_cfg: DictConfig, device: torch.device) -> Any:
    """The MTM predictor for ``matte.ckpt_path`` on ``device``, or None when the matte stage is off."""
    if matte_cfg.ckpt_path is None:
        return None
    from iosm.models.inference import MattingPredictor

    try:
        return MattingPredictor.from_checkpoint(matte_cfg.ckpt_path, device=device, max_side=matte_cfg.max_side)
    except (FileNotFoundError, ValueError) as error:  # the loader's message says what a checkpoint is
        raise type(error)(f"matte.ckpt_path={matte_cfg.ckpt_path}: {error}") from error


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
