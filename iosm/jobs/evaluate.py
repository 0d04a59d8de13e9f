"""The evaluate job: score alpha mattes against ground truth and write the report.

``python evaluate.py pred_dir=P gt_dir=G [trimap_dir=T] [image_dir=I] output_dir=EVAL`` writes:

    metrics.json     {"n", "sad", "mse", "grad", "conn"} (+ "*_unknown" with trimaps), "protocol",
                     "missing" / "errors" (names and messages), counts
    results.json     the same numbers as a flat dict (what sweep summaries read)
    per_image.csv    one row per ground truth: name, status (ok | missing | error), metrics, error
    report.md        summary table, SAD histogram (sad_histogram.png), worst cases (worst_cases.png)

and logs the summary, the per-image table and the worst-case panel to the configured loggers.
Every image is scored even when some fail; afterwards the job raises (non-zero exit) if an image
failed, or if predictions are missing and ``allow_missing`` is false.
``ckpt_path=CKPT`` runs a checkpoint over a DataModule instead (``evaluate_checkpoint.py``).
"""

from __future__ import annotations

import csv
import io
import json
import logging
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig, open_dict

from iosm.config import job_output_dir
from iosm.data.io import atomic_write_text, read_image, write_image
from iosm.loggers import build_loggers, finalize_loggers, log_images, log_summary, log_table
from iosm.metrics.functional import METRIC_NAMES, UNKNOWN_METRIC_NAMES, mean_scores
from iosm.metrics.pairs import EvalPair, pairs_from_folders, read_pair, score_pair
from iosm.viz.panels import error_map, histogram, make_panel, stack_rows
from iosm.viz.report import render_report

log = logging.getLogger(__name__)

HISTOGRAM_FILE = "sad_histogram.png"
PANEL_FILE = "worst_cases.png"


class EvaluationError(RuntimeError):
    """Raised after the outputs are written when images failed or predictions are missing."""


def _worst_panel(worst: Sequence[dict[str, Any]], pairs: dict[str, EvalPair], resize_pred: bool) -> np.ndarray | None:
    """Rows of image (when known), prediction, ground truth and |error| for the worst images."""
    rows = []
    for row in worst:
        pair = pairs[row["name"]]
        pred, gt = read_pair(pair, resize_pred)
        columns = []
        if pair.image_path is not None:
            try:
                columns.append((pair.name, read_image(pair.image_path)))
            except ValueError as error:  # an unreadable photograph only costs the panel its image
                log.warning("worst-case panel without the image: %s", error)
        columns += [
            (f"prediction (SAD {row['sad']:.3g})", pred),
            ("ground truth", gt),
            ("|error|", error_map(pred, gt)),
        ]
        rows.append(make_panel(columns, tile_height=192))
    return stack_rows(rows) if rows else None


def _is_nan(value: Any) -> bool:
    return isinstance(value, float) and math.isnan(value)


def _per_image_csv(rows: Sequence[dict[str, Any]], keys: Sequence[str]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=["name", "status", *keys, "error"], extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({key: "" if _is_nan(value) else value for key, value in row.items()})
    return buffer.getvalue()


def evaluate_pairs(
    pairs: Sequence[EvalPair],
    output_dir: str | Path,
    *,
    protocol: str = "standard",
    resize_pred: bool = False,
    missing: Sequence[str] = (),
    errors: dict[str, str] | None = None,
    loggers: Any = None,
    worst_k: int = 6,
) -> dict[str, Any]:
    """Score ``pairs``, write metrics.json, results.json, per_image.csv and report.md into
    ``output_dir``, log to ``loggers``; return the metrics.json content.

    ``missing``: names of ground truths without a prediction; ``errors``: failures found before
    scoring (name -> message). Per-image failures while scoring are added to ``errors``; the caller
    decides whether they make the run fail.
    """
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    errors = dict(errors or {})
    per_image: list[dict[str, Any]] = []
    for pair in pairs:
        try:
            scores = score_pair(pair, protocol, resize_pred)
        except (ValueError, OSError) as error:  # ImageReadError is a ValueError
            errors[pair.name] = str(error)
            log.error("%s: %s", pair.name, error)
            continue
        per_image.append({"name": pair.name, "status": "ok", **scores})
    scores_only = [{key: value for key, value in row.items() if key not in ("name", "status")} for row in per_image]
    totals = mean_scores(scores_only)
    # Every key a protocol produced is reported; null if no image had a value (e.g. all regions empty).
    keys = [key for key in (*METRIC_NAMES, *UNKNOWN_METRIC_NAMES) if any(key in scores for scores in scores_only)]
    metrics: dict[str, Any] = {"n": int(totals["n"]), **{key: totals.get(key) for key in keys}}
    metrics.update(
        {
            "protocol": protocol,
            "n_missing": len(missing),
            "missing": list(missing),
            "n_errors": len(errors),
            "errors": [{"name": name, "error": message} for name, message in errors.items()],
        }
    )

    worst = sorted(per_image, key=lambda row: row["sad"], reverse=True)[: max(0, worst_k)]
    by_name = {pair.name: pair for pair in pairs}
    histogram_file = panel_file = None
    panel = None
    if per_image:
        sad_values = [row["sad"] for row in per_image]
        write_image(output_dir / HISTOGRAM_FILE, histogram(sad_values, title="SAD per image", xlabel="SAD / 1000"))
        histogram_file = HISTOGRAM_FILE
        panel = _worst_panel(worst, by_name, resize_pred)
        if panel is not None:
            write_image(output_dir / PANEL_FILE, panel)
            panel_file = PANEL_FILE

    all_rows = per_image + [{"name": name, "status": "missing"} for name in missing]
    all_rows += [{"name": name, "status": "error", "error": message} for name, message in errors.items()]
    all_rows.sort(key=lambda row: row["name"])
    atomic_write_text(output_dir / "per_image.csv", _per_image_csv(all_rows, keys))
    atomic_write_text(output_dir / "metrics.json", json.dumps(metrics, indent=2) + "\n")
    flat = {key: value for key, value in metrics.items() if isinstance(value, (int, float))}
    atomic_write_text(output_dir / "results.json", json.dumps(flat, indent=2) + "\n")
    report = render_report(
        metrics=metrics,
        metric_keys=keys,
        per_image=per_image,
        worst=worst,
        protocol=protocol,
        missing=missing,
        errors=errors,
        histogram_file=histogram_file,
        panel_file=panel_file,
    )
    atomic_write_text(output_dir / "report.md", report)

    log_summary(loggers, flat, prefix="eval")
    table_rows = [{key: row.get(key, "") for key in ["name", "status", *keys]} for row in all_rows]
    log_table(loggers, "eval/per_image", table_rows)
    if panel is not None:
        log_images(loggers, "eval/worst_cases", [panel], captions=[f"worst {len(worst)} by SAD"])
    log.info("evaluated %d images (%d missing, %d failed): %s", metrics["n"], len(missing), len(errors),
             ", ".join(f"{key} {value:.5g}" for key, value in flat.items() if key in keys))
    return metrics


def _check_folder_config(cfg: DictConfig) -> None:
    for key in ("pred_dir", "gt_dir"):
        if not cfg.get(key):
            raise ValueError(
                f"{key}: required in folder mode (python evaluate.py pred_dir=P gt_dir=G output_dir=EVAL), "
                "or give ckpt_path=CKPT (or matte=classical, matte=mtm matte.ckpt_path=CKPT) to evaluate a matte "
                "over a dataset"
            )
    if cfg.protocol == "iosm_original" and not (cfg.get("mask_dir") or cfg.get("trimap_dir")):
        raise ValueError("protocol=iosm_original: set mask_dir=... (the refined masks the original code "
                         "passes where a trimap belongs)")


def run(cfg: DictConfig) -> float | None:
    """Evaluate (folder mode, or checkpoint mode with ``ckpt_path`` or ``matte=``); return the mean SAD
    for sweepers."""
    if cfg.get("ckpt_path") or (cfg.get("matte") or {}).get("_target_"):
        from iosm.jobs.evaluate_checkpoint import run_checkpoint

        return run_checkpoint(cfg)
    _check_folder_config(cfg)
    output_dir = job_output_dir(cfg)
    with open_dict(cfg):
        cfg.output_dir = str(output_dir)  # loggers' ${output_dir} follows this job's folder (sweeps too)
    match = pairs_from_folders(
        cfg.pred_dir, cfg.gt_dir, cfg.get("trimap_dir"), cfg.get("image_dir"), cfg.get("mask_dir")
    )
    if match.unmatched:
        log.warning("%d predictions have no ground truth and are ignored: %s", len(match.unmatched),
                    ", ".join(match.unmatched[:20]))
    loggers = build_loggers(cfg)
    try:
        metrics = evaluate_pairs(
            match.pairs,
            output_dir,
            protocol=cfg.protocol,
            resize_pred=bool(cfg.resize_pred),
            missing=match.missing,
            errors=match.errors,
            loggers=loggers,
            worst_k=int(cfg.worst_k),
        )
    finally:
        finalize_loggers(loggers)
    problems = []
    if metrics["errors"]:
        listed = "; ".join(f"{item['name']}: {item['error']}" for item in metrics["errors"][:10])
        problems.append(f"{metrics['n_errors']} image(s) could not be scored ({listed})")
    if metrics["missing"] and not cfg.allow_missing:
        names = ", ".join(metrics["missing"][:20]) + (" ..." if metrics["n_missing"] > 20 else "")
        problems.append(f"{metrics['n_missing']} ground truth(s) in gt_dir={cfg.gt_dir} have no prediction in "
                        f"pred_dir={cfg.pred_dir}: {names} (set allow_missing=true to score the rest)")
    if problems:
        raise EvaluationError(f"evaluation written to {output_dir}, but " + "; and ".join(problems))
    return metrics.get("sad")
