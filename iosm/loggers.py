"""Lightning loggers from ``cfg.logger``, and helpers that log the same things to any of them.

``build_loggers(cfg)`` instantiates every entry of the ``logger`` config group (csv, tensorboard,
wandb; none gives an empty list). Weights & Biases runs offline unless the user has configured it
(``WANDB_MODE``, ``WANDB_API_KEY`` or a ``wandb login`` entry in ~/.netrc); asking for online
without being logged in is an error that says how to fix it. For wandb runs, the summaries of the
error metrics (SAD, MSE, Grad, Conn keys) keep their minimum.

``log_summary``, ``log_table`` and ``log_images`` write to whichever loggers are given: wandb gets a
run summary, a ``wandb.Table`` and images; TensorBoard scalars, a Markdown text table and images;
CSV the scalars and a ``KEY.csv`` table beside its metrics file (CSV has no images: skipped).
"""

from __future__ import annotations

import csv
import io
import logging
import netrc
import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from hydra.utils import instantiate
from lightning.pytorch.loggers import CSVLogger, Logger, TensorBoardLogger, WandbLogger
from omegaconf import DictConfig, OmegaConf, open_dict

log = logging.getLogger(__name__)

WANDB_HOST = "api.wandb.ai"
# Summaries keep the minimum for these error metrics (lower is better), under every stage prefix.
MINIMISED_METRICS = ("sad", "mse", "grad", "conn", "sad_unknown", "mse_unknown", "grad_unknown", "conn_unknown")
STAGE_PREFIXES = ("train", "val", "test", "eval")
OFFLINE_MODES = ("offline", "dryrun", "disabled")


def format_duration(seconds: float) -> str:
    """``"1:05:09"`` / ``"3:07"``: hours only when there are some (progress lines' elapsed and left)."""
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def wandb_logged_in() -> bool:
    """True when an API key is available (``WANDB_API_KEY`` or a netrc entry for api.wandb.ai)."""
    if os.environ.get("WANDB_API_KEY"):
        return True
    netrc_path = Path(os.environ.get("NETRC", Path.home() / ".netrc"))
    try:
        return netrc.netrc(netrc_path).authenticators(WANDB_HOST) is not None
    except (FileNotFoundError, netrc.NetrcParseError, OSError):
        return False


def wandb_offline(requested: bool | None) -> bool:
    """Decide offline mode. ``requested``: the config's ``offline`` (None: automatic).

    Raises ``ValueError`` when online was asked for (``offline=false`` or ``WANDB_MODE=online``)
    and no API key is available.
    """
    mode = os.environ.get("WANDB_MODE", "").strip().lower()
    if requested is True or (requested is None and mode in OFFLINE_MODES):
        return True
    wants_online = requested is False or mode in ("online", "run")
    if wants_online and not wandb_logged_in():
        raise ValueError(
            "logger=wandb: online logging was requested (logger.wandb.offline=false or WANDB_MODE=online) "
            "but wandb is not logged in: run `wandb login` or set WANDB_API_KEY, or drop the request "
            "to log offline (then `wandb sync` the run folder later)."
        )
    return not (wants_online or wandb_logged_in())


def build_loggers(cfg: DictConfig) -> list[Logger]:
    """Instantiate every ``cfg.logger`` entry with a ``_target_``; an empty list for ``logger=none``."""
    loggers: list[Logger] = []
    for name, node in (cfg.get("logger") or {}).items():
        if node is None or "_target_" not in node:
            continue
        if node._target_.endswith("WandbLogger"):
            node = node.copy()
            with open_dict(node):
                node.offline = wandb_offline(node.get("offline"))
            if node.offline:
                log.info("logger.%s: wandb logs offline under %s (`wandb sync` to upload)", name, node.save_dir)
        logger = instantiate(node)
        if isinstance(logger, WandbLogger):
            define_minimised_summaries(logger)
        # The resolved job config beside the run: wandb's config panel, TensorBoard's hparams, csv's hparams.yaml.
        logger.log_hyperparams(OmegaConf.to_container(cfg, resolve=True))
        loggers.append(logger)
    return loggers


def define_minimised_summaries(logger: WandbLogger) -> None:
    """Make wandb's run summary keep the minimum of every error metric (lower is better)."""
    experiment = logger.experiment
    if not hasattr(experiment, "define_metric"):  # a non-zero DDP rank's dummy experiment
        return
    for prefix in STAGE_PREFIXES:
        for name in MINIMISED_METRICS:
            experiment.define_metric(f"{prefix}/{name}", summary="min")


def _as_list(loggers: Logger | Iterable[Logger] | None) -> list[Logger]:
    if loggers is None:
        return []
    return [loggers] if isinstance(loggers, Logger) else list(loggers)


def _scalars(metrics: dict[str, Any], prefix: str) -> dict[str, float]:
    """Numeric entries of ``metrics`` as floats, keys prefixed ``prefix/`` (other values dropped)."""
    head = f"{prefix}/" if prefix else ""
    return {
        head + key: float(value)
        for key, value in metrics.items()
        if isinstance(value, (int, float, np.number)) and not isinstance(value, bool)
    }


def log_summary(loggers: Logger | Iterable[Logger] | None, metrics: dict[str, Any], prefix: str = "eval") -> None:
    """Log final numbers: scalars for every logger, plus the wandb run summary."""
    scalars = _scalars(metrics, prefix)
    for logger in _as_list(loggers):
        logger.log_metrics(scalars)
        if isinstance(logger, WandbLogger) and hasattr(logger.experiment, "summary"):
            logger.experiment.summary.update(scalars)
        logger.save()


def _safe_name(key: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", key).strip("_") or "table"


def log_table(loggers: Logger | Iterable[Logger] | None, key: str, rows: Sequence[dict[str, Any]]) -> None:
    """Log a table (rows: dicts with the same keys) as a wandb Table, a TensorBoard text, a CSV file."""
    if not rows:
        return
    columns = list(rows[0])
    data = [[row.get(column) for column in columns] for row in rows]
    for logger in _as_list(loggers):
        if isinstance(logger, WandbLogger):
            logger.log_table(key=key, columns=columns, data=data)
        elif isinstance(logger, TensorBoardLogger):
            lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
            lines += ["| " + " | ".join(str(value) for value in values) + " |" for values in data]
            logger.experiment.add_text(key, "\n".join(lines))
        elif isinstance(logger, CSVLogger):
            buffer = io.StringIO()
            writer = csv.writer(buffer)
            writer.writerow(columns)
            writer.writerows(data)
            path = Path(logger.log_dir) / f"{_safe_name(key)}.csv"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(buffer.getvalue())


def log_images(
    loggers: Logger | Iterable[Logger] | None,
    key: str,
    images: Sequence[np.ndarray],
    captions: Sequence[str] | None = None,
) -> None:
    """Log RGB images ((H, W, 3) uint8): wandb and TensorBoard; CSV has no images and is skipped."""
    if not images:
        return
    captions = list(captions) if captions is not None else [f"{key} {index}" for index in range(len(images))]
    for logger in _as_list(loggers):
        if isinstance(logger, WandbLogger):
            logger.log_image(key=key, images=list(images), caption=captions)
        elif isinstance(logger, TensorBoardLogger):
            for index, image in enumerate(images):
                logger.experiment.add_image(f"{key}/{index}", image, dataformats="HWC")


def finalize_loggers(loggers: Logger | Iterable[Logger] | None, status: str = "success") -> None:
    """Flush and close loggers used outside a Trainer (the evaluate job); wandb runs are finished."""
    for logger in _as_list(loggers):
        logger.finalize(status)
        if isinstance(logger, WandbLogger) and hasattr(logger.experiment, "finish"):
            logger.experiment.finish()
