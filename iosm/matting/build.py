"""``build_matte(cfg.matte, device)``: the matte stage the jobs run, from the ``matte=`` config group."""

from __future__ import annotations

import torch
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig

from iosm.matting.base import Matte


def build_matte(matte_cfg: DictConfig | None, device: torch.device | str = "cpu") -> Matte | None:
    """The :class:`~iosm.matting.base.Matte` of ``matte_cfg`` (``conf/matte/*.yaml``) on ``device``,
    or None for ``matte=none`` (a config without ``_target_``). Errors come out as the matte's own
    (a missing checkpoint, a wrong model kind), not wrapped in Hydra's."""
    if matte_cfg is None or matte_cfg.get("_target_") is None:
        return None
    extra = {"device": str(device)} if "device" in matte_cfg else {}
    try:
        return instantiate(matte_cfg, **extra)
    except InstantiationException as error:
        cause = error.__cause__
        if isinstance(cause, (FileNotFoundError, ValueError)):
            raise cause from None
        raise
