"""The trained matte (``matte=mtm matte.ckpt_path=CKPT``): an MTM checkpoint written by train.py.

A plain MTM (``model=mtm*``) takes the binary mask; a guided one (``model=mtm_guided``) takes the
classical matte's alpha and predicts a correction to it, so it runs ``prior`` first. Which one a
checkpoint holds is read from the file (its network spec), and ``kind`` can demand one, so that a
checkpoint of the wrong model kind fails when the job starts, naming the file.

A guided network trained for minutes also leaves faint corrections (a few hundredths) over the large
areas where its prior is certain (alpha exactly 0 or 1, outside the band): summed over those areas
they cost far more SAD than they save MSE. ``min_correction`` drops corrections smaller than it there
(benchmarks/results/alpha_quality.md, section 9). Inside the band, ``correction_scale`` applies that share
of the correction: trained minutes with an L1-like loss, the network's corrections point the right way
on average (they cut SAD) but scatter around it, so the squared error is least at a shorter step;
half a step kept most of the SAD gain and had the least squared error on both tuning sets (section 13).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from iosm.matting.base import Matte
from iosm.models.inference import MattingPredictor, load_mtm_checkpoint

KINDS = ("mtm", "mtm_guided")


def checkpoint_kind(net) -> str:
    """``mtm_guided`` for a network trained on a classical alpha as its mask input, else ``mtm``."""
    return "mtm_guided" if net.spec.get("mask_input") == "classical_alpha" else "mtm"


class MTMMatte(Matte):
    """ckpt_path: a train.py checkpoint; kind: the model kind it must hold (``mtm``, ``mtm_guided``,
    or None for either); prior: the weight-free matte a guided network corrects (needed then);
    device, max_side: as :class:`iosm.models.inference.MattingPredictor`; min_correction: a guided
    network's correction smaller than this is dropped where the prior is certain (0 = keep all);
    correction_scale: the share of a guided network's correction applied (1 = its output as it is)."""

    def __init__(self, *, ckpt_path: str, kind: str | None = None, prior: Matte | None = None,
                 device: str | torch.device | None = None, max_side: int | None = 1024,
                 min_correction: float = 0.03, correction_scale: float = 0.5) -> None:
        if kind is not None and kind not in KINDS:
            raise ValueError(f"matte.kind={kind!r}: expected one of {KINDS} or null (either)")
        if not 0.0 <= min_correction < 1.0:
            raise ValueError(f"matte.min_correction={min_correction}: expected a value in [0, 1)")
        if not 0.0 < correction_scale <= 1.0:
            raise ValueError(f"matte.correction_scale={correction_scale}: expected a share in (0, 1]")
        try:
            net = load_mtm_checkpoint(ckpt_path)
        except (FileNotFoundError, ValueError) as error:  # the loader's message says what a checkpoint is
            raise type(error)(f"matte.ckpt_path={ckpt_path}: {error}") from error
        self.kind = checkpoint_kind(net)
        if kind is not None and self.kind != kind:
            raise ValueError(f"matte.ckpt_path={ckpt_path}: holds a model={self.kind} network, but matte.kind={kind} "
                             f"was asked for; train it with model={kind} or set matte.kind=null")
        if self.kind == "mtm_guided" and prior is None:
            raise ValueError(f"matte.ckpt_path={ckpt_path}: a model=mtm_guided network corrects a classical alpha; "
                             "give matte.prior (conf/matte/mtm.yaml sets it to the classical matte)")
        self.ckpt_path = Path(ckpt_path)
        self.prior = prior if self.kind == "mtm_guided" else None
        self.predictor = MattingPredictor(net, device=device or "cpu", max_side=max_side)
        self.min_correction, self.correction_scale = min_correction, correction_scale

    def _alpha(self, image: np.ndarray, mask: np.ndarray, evidence: np.ndarray | None) -> tuple[np.ndarray, list[str]]:
        if self.prior is None:
            return self.predictor.predict(image, mask), []
        prior = self.prior.matte(image, mask, evidence)
        alpha = self.predictor.predict(image, prior.alpha, soft=True)
        alpha = prior.alpha + self.correction_scale * (alpha - prior.alpha)
        return keep_certain_prior(prior.alpha, alpha, self.min_correction), prior.warnings


def keep_certain_prior(prior: np.ndarray, alpha: np.ndarray, min_correction: float) -> np.ndarray:
    """``alpha`` with the prior's value wherever the prior is certain (0 or 1) and ``alpha`` differs
    from it by less than ``min_correction``; larger corrections there (a mask error) are kept."""
    certain = (prior == 0.0) | (prior == 1.0)
    return np.where(certain & (np.abs(alpha - prior) < min_correction), prior, alpha).astype(alpha.dtype, copy=False)
