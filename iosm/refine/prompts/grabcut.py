"""``prompt=grabcut``: an initial mask from the raw image alone, so the pipeline needs no mask at all.

OpenCV's GrabCut (Rother et al., 2004) initialised with a centred box covering ``box_fraction`` of each
side (the object is assumed roughly centred, as in product and portrait photos).
"""

from __future__ import annotations

import cv2
import numpy as np

from iosm.refine.prompts.base import Prompt, non_empty


class GrabCutPrompt(Prompt):
    kind = "grabcut"

    def __init__(self, *, box_fraction: float = 0.8, iterations: int = 5) -> None:
        if not 0 < box_fraction < 1:
            raise ValueError(f"prompt.box_fraction: expected a fraction in (0, 1), got {box_fraction}")
        self.box_fraction = box_fraction
        self.iterations = iterations

    def initial_mask(self, image: np.ndarray, name: str) -> np.ndarray:
        height, width = image.shape[:2]
        box_w, box_h = max(1, int(width * self.box_fraction)), max(1, int(height * self.box_fraction))
        rect = ((width - box_w) // 2, (height - box_h) // 2, box_w, box_h)
        labels = np.zeros((height, width), np.uint8)
        bgd, fgd = np.zeros((1, 65)), np.zeros((1, 65))
        bgr = np.ascontiguousarray((image[..., ::-1] * 255).round().astype(np.uint8))
        cv2.setRNGSeed(0)  # GrabCut's GMM initialisation is k-means with OpenCV's global RNG
        cv2.grabCut(bgr, labels, rect, bgd, fgd, self.iterations, cv2.GC_INIT_WITH_RECT)
        return non_empty((labels == cv2.GC_FGD) | (labels == cv2.GC_PR_FGD), name, "GrabCut foreground")
