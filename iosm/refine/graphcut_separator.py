"""A weight-free separator: the stage's painting difference initialises a GrabCut on each crop.

Why: colour differences after a classical fill are heavy-tailed, not bimodal, so 2-means keeps only
their extreme tail and destroys the mask (measured, benchmarks/results/refine_quality_*.md). Here the
difference only *proposes* labels (log-difference above its Otsu threshold over the painted region:
"painting changed it"), and GrabCut (Rother et al., 2004) settles them with colour models of the crop
and a contrast-sensitive smoothness term:

- inpaint stage: near the current boundary (``margin``), painted object pixels the painting did not
  change are proposed as background; deeper in, the object is probable foreground, and definite
  where painting it away changed it, or deeper than ``core_margin`` unless the painting reproduced
  it (so a leak that looks like its surroundings can still go, but a large object part merely
  coloured like the background, a dark hat before dark stripes, is not handed to GrabCut whole);
- outpaint stage: band pixels near the boundary that the painting reproduced are proposed as object;
- pixels beyond ``margin`` outside the object and not painted are definite background.

The loop's constraints (even stages only shrink, odd ones only add band pixels) still apply after it.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch
from skimage.filters import threshold_otsu

from iosm.data.masks import morph_disc
from iosm.refine.separators import INPAINT


class GraphCutSeparator:
    """iterations: GrabCut's EM rounds per crop (0: no GrabCut, the difference's proposal alone, for a
    loop whose mask is decided later by :class:`iosm.refine.energy.EnergyCut`); margin: the band around the current boundary that may
    change, as a fraction of the crop's long side (pixels further inside or outside stay definite);
    core_margin: object pixels deeper than this fraction are definite foreground on inpaint stages
    unless painting reproduced them (difference below ``reproduced`` x the painted region's median:
    the core of a wide leak); None: definite only where painting changed them."""

    def __init__(self, *, iterations: int = 3, margin: float = 0.025, core_margin: float | None = 0.03, reproduced: float = 0.5,
                 seed: int = 0) -> None:
        if not 0 < margin < 0.5:
            raise ValueError(f"separator.margin: expected a fraction of the crop in (0, 0.5), got {margin}")
        if core_margin is not None and not 0 < core_margin < 0.5:
            raise ValueError(f"separator.core_margin: expected a fraction of the crop in (0, 0.5) or null, got {core_margin}")
        if iterations < 0:
            raise ValueError(f"separator.iterations: expected >= 0 GrabCut rounds (0: the difference's proposal alone), got {iterations}")
        if reproduced < 0:
            raise ValueError(f"separator.reproduced: expected a non-negative multiple of the median difference, got {reproduced}")
        self.iterations = iterations
        self.margin = margin
        self.core_margin = core_margin
        self.reproduced = reproduced
        self.seed = seed

    def __call__(self, differences, painted, stage, images, foregrounds, *, clusters: int | None = None) -> list[torch.Tensor]:
        labels = []
        for difference, region, image, foreground in zip(differences, painted, images, foregrounds):
            keep = self._crop(difference.cpu().numpy(), region.cpu().numpy(), image.cpu().numpy(), foreground.cpu().numpy(), stage)
            labels.append(torch.as_tensor(keep, dtype=torch.float32, device=difference.device))
        return labels

    def _definite_object(self, difference, region, foreground, changed_core) -> np.ndarray:
        """An inpaint stage's definite object pixels: the ``changed_core``, plus the pixels deeper than
        ``core_margin`` that painting did not reproduce (difference above ``reproduced`` x the median)."""
        if self.core_margin is None:
            return changed_core
        deep = morph_disc(foreground, -max(2, round(self.core_margin * max(foreground.shape))))
        return changed_core | (deep & (difference > self.reproduced * np.median(difference[region])))

    def _crop(self, difference, region, image, foreground, stage) -> np.ndarray:
        """Keep-labels of one crop: object pixels on even stages, band pixels that join it on odd ones."""
        if not region.any() or region.all():
            return foreground if stage == INPAINT else ~region
        # Point prompts subtract bumps on outpaint stages, so a difference may go negative: "reproduced".
        difference = np.maximum(difference, 0.0)
        evidence = np.log1p(difference / max(np.median(difference[region]), 1e-12))
        changed = evidence > threshold_otsu(evidence[region])
        radius = max(2, round(self.margin * max(foreground.shape)))
        core = morph_disc(foreground, -radius)
        outside = ~morph_disc(foreground, radius)
        uncertain = region & ~core & ~outside  # the current boundary's neighbourhood
        if stage == INPAINT:
            # Near the boundary, painted pixels follow the difference; deeper in, the object stays
            # probable, and definite where painting it away changed it or, deeper than core_margin,
            # unless painting reproduced it (the core of a wide leak is reproduced).
            proposal = np.where(uncertain, changed & foreground, foreground)
            definite = self._definite_object(difference, region, foreground, core & changed)
        else:  # band pixels the painting reproduced may join, near the current boundary only
            proposal = foreground | (uncertain & ~changed)
            definite = core
        labels = np.where(proposal, cv2.GC_PR_FGD, cv2.GC_PR_BGD).astype(np.uint8)
        labels[definite] = cv2.GC_FGD
        labels[outside & ~region] = cv2.GC_BGD
        one_sided = not ((labels == cv2.GC_FGD) | (labels == cv2.GC_PR_FGD)).any() or not ((labels == cv2.GC_BGD) | (labels == cv2.GC_PR_BGD)).any()
        if self.iterations == 0 or one_sided:
            return proposal if stage == INPAINT else ~region | proposal
        bgr = np.ascontiguousarray((image[..., ::-1] * 255).round().astype(np.uint8))
        cv2.setRNGSeed(self.seed)
        cv2.grabCut(bgr, labels, None, np.zeros((1, 65)), np.zeros((1, 65)), self.iterations, cv2.GC_INIT_WITH_MASK)
        obj = (labels == cv2.GC_FGD) | (labels == cv2.GC_PR_FGD)
        # An odd stage keeps "reproduced" pixels: the object, plus everything it was not asked about.
        return obj if stage == INPAINT else obj | ~region
