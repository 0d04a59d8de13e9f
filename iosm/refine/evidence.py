"""What the inpaint-outpaint loop saw, as one object score per pixel of the image, and a stage clock.

Each stage's difference map (the mean over its crops, on the canvas) becomes a score on the painted
region: ``e = log(1 + d / median)`` (differences after a classical fill are heavy-tailed) minus its
Otsu threshold over the region, so ``e > 0`` reads "painting changed it". An inpaint stage scores
``+e`` (painting the object away changed the pixel: object), an outpaint stage ``-e`` (painting the
band from its context reproduced the pixel: it continues the object). Scores of the stages add up;
pixels no stage painted score 0 (no evidence). :class:`iosm.refine.energy.EnergyCut` uses the score as
its unary term.
"""

from __future__ import annotations

import time
from contextlib import contextmanager

import numpy as np
import torch
from skimage.filters import threshold_otsu

from iosm.refine.canvas import Letterbox
from iosm.refine.separators import INPAINT


class PaintingEvidence:
    """Accumulates stage scores on the ``letterbox`` canvas; :meth:`score` maps them to the image."""

    def __init__(self, letterbox: Letterbox, device) -> None:
        self.letterbox = letterbox
        self.canvas = torch.zeros(letterbox.size, letterbox.size, device=device)

    def add(self, stage: str, difference: torch.Tensor, region: torch.Tensor) -> None:
        """difference (size, size) float >= 0 (mean over crops, 0 where no crop), region (size, size) painted."""
        painted = (region > 0) & (difference > 0)
        if painted.sum() < 2:
            return
        values = difference[painted]
        evidence = torch.log1p(difference.clamp_min(0) / values.median().clamp_min(1e-12))
        centred = evidence - threshold_otsu(evidence[painted].cpu().numpy())
        self.canvas += torch.where(painted, centred if stage == INPAINT else -centred, torch.zeros_like(centred))

    def score(self) -> np.ndarray:
        """(H, W) float32 object score at the image's size (bilinear from the canvas, padding removed)."""
        return self.letterbox.plane_to_image(self.canvas).cpu().numpy()


class StageClock:
    """Wall seconds per named stage of one refinement (painting, features, separation, crf, polish)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def __call__(self, stage: str):
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[stage] = self.seconds.get(stage, 0.0) + time.perf_counter() - start
