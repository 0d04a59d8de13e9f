"""Classical peers that a user would pick instead of IOSM, run from the same rough mask.

They are the yardsticks of the demo and the benchmarks: GrabCut (OpenCV) initialised from the
rough mask, and closed-form / KNN matting (pymatting, :func:`iosm.matting.solvers.solve_alpha`) from
a trimap made by eroding and dilating a mask. All take ``image`` (H, W, 3) float in [0, 1] and a bool
``mask`` (H, W); alphas are float (H, W) in [0, 1], masks bool. A trimap with no definite region
cannot be solved: the answer is then the thresholded trimap, with a
:class:`iosm.matting.solvers.TrimapFallbackWarning` that the benchmarks count per row.
"""

from __future__ import annotations

import cv2
import numpy as np

from iosm.data.masks import morph_disc, trimap_between
from iosm.matting.solvers import solve_alpha


def band_radius(mask: np.ndarray, fraction: float = 0.02, minimum: int = 3) -> int:
    """Half-width of an uncertainty band, proportional to the image size (2% of the long side)."""
    return max(minimum, int(round(fraction * max(mask.shape))))


def trimap_from_mask(mask: np.ndarray, radius: int | None = None) -> np.ndarray:
    """Trimap {0, 0.5, 1} whose unknown band is ``mask`` dilated minus ``mask`` eroded by ``radius`` px."""
    return trimap_between(mask, mask, band_radius(mask) if radius is None else radius)


def closed_form_alpha(image: np.ndarray, trimap: np.ndarray, solver: str = "cf") -> np.ndarray:
    """Levin et al. closed-form matting (pymatting ``estimate_alpha_cf``) from a trimap; ``solver="knn"``
    (or another of :data:`iosm.matting.solvers.SOLVERS`) for another pymatting solver."""
    return solve_alpha(image, trimap, solver)


def grabcut_mask(image: np.ndarray, mask: np.ndarray, radius: int | None = None, iterations: int = 5, seed: int = 0) -> np.ndarray:
    """GrabCut initialised from a rough mask: probable foreground inside, probable background
    outside, definite labels farther than ``radius`` px from the mask's boundary. Seeded (its colour
    models start from k-means on OpenCV's global RNG)."""
    radius = band_radius(mask, fraction=0.05) if radius is None else radius
    if not mask.any() or mask.all():
        return mask.copy()
    labels = np.where(mask, cv2.GC_PR_FGD, cv2.GC_PR_BGD).astype(np.uint8)
    labels[morph_disc(mask, -radius)] = cv2.GC_FGD
    labels[~morph_disc(mask, radius)] = cv2.GC_BGD
    image_u8 = np.clip(np.rint(image * 255.0), 0, 255).astype(np.uint8)
    bgd_model = np.zeros((1, 65), np.float64)
    fgd_model = np.zeros((1, 65), np.float64)
    cv2.setRNGSeed(seed)
    cv2.grabCut(image_u8[..., ::-1].copy(), labels, None, bgd_model, fgd_model, iterations, cv2.GC_INIT_WITH_MASK)
    return (labels == cv2.GC_FGD) | (labels == cv2.GC_PR_FGD)


def grabcut_closed_form_alpha(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The classical pipeline a careful user builds: GrabCut from the rough mask, then closed-form
    matting in a band around GrabCut's boundary."""
    return closed_form_alpha(image, trimap_from_mask(grabcut_mask(image, mask)))
