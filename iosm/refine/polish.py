"""A last step at the image's own resolution: GrabCut in a narrow band around the refined mask.

Why: the loop works on a ``refiner.size`` canvas, so its mask comes back bilinearly upsampled and
its boundary is only as fine as the canvas (a 512 px canvas is 1.6 px per canvas pixel on an 800 px
photo). GrabCut (Rother et al., 2004) with definite labels farther than ``band`` x the long side from
that boundary only re-decides the pixels next to it, with colour models and a contrast-sensitive
smoothness term at full resolution. The refiner applies it only to images larger than its canvas
(measured on the CPU default: benchmarks/results/refine_quality.md).
"""

from __future__ import annotations

import numpy as np

from iosm.baselines import band_radius, grabcut_mask


class GrabCutPolish:
    """band: half-width of the re-decided band, a fraction of the image's long side; iterations:
    GrabCut's EM rounds."""

    def __init__(self, *, band: float = 0.02, iterations: int = 5) -> None:
        if not 0 < band < 0.5:
            raise ValueError(f"refiner.polish.band: expected a fraction of the image in (0, 0.5), got {band}")
        if iterations < 1:
            raise ValueError(f"refiner.polish.iterations: expected >= 1, got {iterations}")
        self.band = band
        self.iterations = iterations

    def __call__(self, image: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """image (H, W, 3) float [0, 1], mask (H, W) bool -> the polished (H, W) bool mask."""
        radius = band_radius(mask, fraction=self.band, minimum=1)
        polished = grabcut_mask(image, mask, radius=radius, iterations=self.iterations)
        return polished if polished.any() else mask  # never hand back an empty mask for a non-empty one
