"""The set-up and wrap-up every job shares: its output folder, its callbacks, its error summary.

Each job's ``run(cfg)`` starts with :func:`start_job` and builds its callbacks with
:func:`build_callbacks`; a job that fails after writing its outputs lists the failures with
:func:`list_errors`, so the four jobs read and behave alike.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from hydra.utils import instantiate
from lightning.pytorch.callbacks import ProgressBar
from omegaconf import DictConfig, open_dict

from iosm.config import job_output_dir

# How many failures a job's final error message lists (the rest are in its output files).
LISTED_ERRORS = 10


def start_job(cfg: DictConfig) -> Path:
    """The job's output folder (created), with ``cfg.output_dir`` set to it.

    Every ``${output_dir}`` in the config (loggers, checkpoints, the trainer's root, panels) then
    follows this job's folder: in sweeps (its numbered sub-folder), and in DDP ranks re-launched by
    Lightning, where a default ``${now:...}`` would name another folder.
    """
    output_dir = job_output_dir(cfg)
    with open_dict(cfg):
        cfg.output_dir = str(output_dir)
    return output_dir


def build_callbacks(cfg: DictConfig, **arguments: dict[str, Any]) -> dict[str, Any]:
    """Every entry of ``cfg.callbacks`` that has a ``_target_``, by key (null entries switch one off).

    ``arguments`` maps an entry's key to extra constructor arguments (what only the job knows, e.g.
    its output folder). A progress bar is left out when ``trainer.enable_progress_bar`` is false:
    Lightning refuses a progress-bar callback when the bar is switched off.
    """
    callbacks = {key: instantiate(node, **arguments.get(key, {}))
                 for key, node in (cfg.get("callbacks") or {}).items() if node is not None and "_target_" in node}
    if not cfg.trainer.get("enable_progress_bar", True):
        callbacks = {key: callback for key, callback in callbacks.items() if not isinstance(callback, ProgressBar)}
    return callbacks


def list_errors(errors: Iterable[tuple[str, str]], limit: int = LISTED_ERRORS) -> str:
    """``"NAME: message; NAME: message ..."``: the first ``limit`` of (name, message) pairs."""
    errors = list(errors)
    listed = "; ".join(f"{name}: {message}" for name, message in errors[:limit])
    return listed + (f"; ... ({len(errors) - limit} more)" if len(errors) > limit else "")
