"""The evaluate job: score alpha mattes against ground truth and write the report.

``python evaluate.py pred_dir=P gt_dir=G [trimap_dir=T] [image_dir=I] output_dir=EVAL`` matches the
folders by file stem and hands the pairs to :func:`iosm.evaluation.evaluate_pairs`, which writes:

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

import logging

from omegaconf import DictConfig

from iosm.evaluation import EvaluationError, evaluate_pairs
from iosm.jobs.common import list_errors, start_job
from iosm.loggers import build_loggers, finalize_loggers
from iosm.metrics.pairs import pairs_from_folders

log = logging.getLogger(__name__)


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
    output_dir = start_job(cfg)
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
        listed = list_errors((item["name"], item["error"]) for item in metrics["errors"])
        problems.append(f"{metrics['n_errors']} image(s) could not be scored ({listed})")
    if metrics["missing"] and not cfg.allow_missing:
        names = ", ".join(metrics["missing"][:20]) + (" ..." if metrics["n_missing"] > 20 else "")
        problems.append(f"{metrics['n_missing']} ground truth(s) in gt_dir={cfg.gt_dir} have no prediction in "
                        f"pred_dir={cfg.pred_dir}: {names} (set allow_missing=true to score the rest)")
    if problems:
        raise EvaluationError(f"evaluation written to {output_dir}, but " + "; and ".join(problems))
    return metrics.get("sad")
