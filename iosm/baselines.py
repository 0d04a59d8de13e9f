"""Classical peers that a user would pick instead of IOSM, run from the same rough mask.

They are the yardsticks of the demo and the benchmarks: GrabCut (OpenCV) initialised from the
rough mask, and closed-form / KNN matting (pymatting) from a trimap made by eroding and dilating a
mask. All take ``image`` (H, W, 3) float in [0, 1] and a bool ``mask`` (H, W); alphas are float
(H, W) in [0, 1], masks bool.
"""

from __future__ import annotations

import cv2
import numpy as np

from iosm.data.masks import morph_disc


def band_radius(mask: np.ndarray, fraction: float = 0.02, minimum: int = 3) -> int:
    """Half-width of an uncertainty band, proportional to the image size (2% of the long side)."""
    return max(minimum, int(round(fraction * max(mask.shape))))


def trimap_from_mask(mask: np.ndarray, radius: int | None = None) -> np.ndarray:
    """Trimap {0, 0.5, 1} whose unknown band is ``mask`` dilated minus ``mask`` eroded by ``radius`` px."""
    radius = band_radius(mask) if radius is None else radius
    sure_fg = morph_disc(mask, -radius)
    maybe_fg = morph_disc(mask, radius)
    trimap = np.where(maybe_fg, 0.5, 0.0)
    trimap[sure_fg] = 1.0
    return trimap


def _check_trimap(trimap: np.ndarray) -> bool:
    """pymatting needs both definite regions; without them the matte is the mask itself."""
    return bool((trimap == 1.0).any() and (trimap == 0.0).any())


def closed_form_alpha(image: np.ndarray, trimap: np.ndarray) -> np.ndarray:
    """Levin et al. closed-form matting (pymatting ``estimate_alpha_cf``) from a trimap."""
    from pymatting import estimate_alpha_cf

    if not _check_trimap(trimap):
        return (trimap >= 0.5).astype(np.float32)
    alpha = estimate_alpha_cf(image.astype(np.float64), trimap.astype(np.float64))
    return np.clip(alpha, 0.0, 1.0).astype(np.float32)


def knn_alpha(image: np.ndarray, trimap: np.ndarray) -> np.ndarray:
    """KNN matting (pymatting ``estimate_alpha_knn``) from a trimap."""
    from pymatting import estimate_alpha_knn

    if not _check_trimap(trimap):
        return (trimap >= 0.5).astype(np.float32)
    alpha = estimate_alpha_knn(image.astype(np.float64), trimap.astype(np.float64))
    return np.clip(alpha, 0.0, 1.0).astype(np.float32)


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
