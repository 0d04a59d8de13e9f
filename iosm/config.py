"""Hydra glue shared by the three jobs: where configs live, the experiments search path, output folders."""

from __future__ import annotations

import os
from pathlib import Path

from hydra.core.config_search_path import ConfigSearchPath
from hydra.plugins.search_path_plugin import SearchPathPlugin
from omegaconf import DictConfig, OmegaConf

REPO_ROOT = Path(__file__).resolve().parent.parent
CONF_DIR = REPO_ROOT / "conf"
EXPERIMENTS_DIR = REPO_ROOT / "experiments"


class ExperimentsSearchPath(SearchPathPlugin):
    """Puts the repository root on Hydra's search path so that ``experiments/NAME.yaml`` is the
    config group ``experiments``: ``python train.py experiments=demo``."""

    def manipulate_search_path(self, search_path: ConfigSearchPath) -> None:
        if EXPERIMENTS_DIR.is_dir():
            search_path.append(provider="iosm-experiments", path=f"file://{REPO_ROOT}")


def register_resolvers() -> None:
    """Register the ``${repo_root:}`` resolver (idempotent)."""
    if not OmegaConf.has_resolver("repo_root"):
        OmegaConf.register_new_resolver("repo_root", lambda: str(REPO_ROOT))


def job_output_dir(cfg: DictConfig) -> Path:
    """The folder this job writes into, absolute and created.

    Under Hydra it is Hydra's runtime output folder (``output_dir`` for a single run, its numbered
    sub-folder in a sweep; for DDP child processes Lightning passes rank 0's folder, so every rank
    writes into the same one); called directly with a composed config (tests, notebooks) it is
    ``cfg.output_dir``.
    """
    from hydra.core.hydra_config import HydraConfig

    if HydraConfig.initialized():
        folder = Path(HydraConfig.get().runtime.output_dir)
    else:
        folder = Path(cfg.output_dir)
    folder = folder.expanduser().resolve()
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def is_global_zero() -> bool:
    """True in the process that should write shared files (rank 0, or no distributed run).

    Same order as Lightning's cluster environments: torchrun/DDP set RANK, Lightning's own launcher
    LOCAL_RANK, SLURM only SLURM_PROCID.
    """
    for variable in ("RANK", "LOCAL_RANK", "SLURM_PROCID"):
        if variable in os.environ:
            return os.environ[variable] == "0"
    return True
