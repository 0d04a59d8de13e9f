"""The Hydra callback that gives every multirun its summary (registered in conf/hydra/default.yaml).

Why per job and not only at the end: Hydra 1.3's launchers run every job of a batch even when one
raises (``hydra.core.utils.run_job`` catches the exception into the ``JobReturn``), but the sweeper
then re-raises the first failure, so ``on_multirun_end`` never runs for a sweep with a failed job.
So each job records how it ended in its own folder (``job_status.json``) and rewrites the sweep's
summary from all the folders; ``on_multirun_end`` writes it once more after the last job. The same
holds for submitit launchers: ``on_job_end`` runs on the cluster node (the sweep folder is on the
shared file system), ``on_multirun_end`` on the submitting machine.
"""

from __future__ import annotations

import json
import logging
import traceback
from pathlib import Path
from typing import Any

from hydra.core.utils import JobReturn, JobStatus
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from iosm.config import is_global_zero
from iosm.data.io import atomic_write_text
from iosm.sweeps.summary import write_summary
from iosm.sweeps.table import JOB_STATUS_FILE, SUMMARY_NAME, as_number

log = logging.getLogger(__name__)


def job_status(job_return: JobReturn, num: int) -> dict[str, Any]:
    """What ``job_status.json`` holds: job number, ``ok``/``failed``, the error (type: message) and
    traceback of a failed job, its overrides, and its return value when numeric (the value an
    Optuna sweep optimises)."""
    status: dict[str, Any] = {"num": num, "status": "ok", "error": None, "traceback": None,
                              "overrides": list(job_return.overrides or []), "return_value": None}
    if job_return.status == JobStatus.COMPLETED:
        status["return_value"] = as_number(job_return.return_value)
    else:
        # The exception itself: the public property would re-raise it, prefixing its own frames.
        error = job_return._return_value
        status.update(status="failed", error=f"{type(error).__name__}: {error}",
                      traceback="".join(traceback.format_exception(error)))
    return status


class SweepSummary(Callback):
    """Keeps ``sweep_summary.csv``, ``.md`` and ``.png`` in a multirun's ``hydra.sweep.dir`` up to date
    (see :func:`iosm.sweeps.summary.write_summary`); does nothing for single runs.

    ``plot``: also draw the metrics against the swept values (matplotlib, about a second per rewrite).
    """

    def __init__(self, plot: bool = True) -> None:
        self.plot = plot

    def on_job_end(self, config: DictConfig, job_return: JobReturn, **kwargs: Any) -> None:
        # DDP ranks and SLURM tasks each run the job; one of them records it.
        if config.hydra.mode != RunMode.MULTIRUN or not is_global_zero():
            return
        job_dir = Path(config.hydra.runtime.output_dir)
        status = job_status(job_return, int(config.hydra.job.num))
        atomic_write_text(job_dir / JOB_STATUS_FILE, json.dumps(status, indent=2) + "\n")
        if status["status"] == "failed":
            log.error("Sweep job %s failed (%s); the sweep goes on, see %s", job_dir.name, status["error"],
                      job_dir / JOB_STATUS_FILE)
        write_summary(config.hydra.sweep.dir, plot=self.plot)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        if not is_global_zero():  # a DDP rank Lightning re-launched from the `-m` command line
            return
        sweep_dir = Path(OmegaConf.select(config, "hydra.sweep.dir"))
        jobs = write_summary(sweep_dir, plot=self.plot)
        if jobs:
            log.info("Sweep summary of %d jobs: %s", len(jobs), sweep_dir / f"{SUMMARY_NAME}.md")
