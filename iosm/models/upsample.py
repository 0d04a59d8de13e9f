"""Edge-aware upsampling of a low-resolution alpha to a high-resolution image (fast guided filter).

Why: the MTM's memory grows with the pixel count (and its bottleneck attention with its square), so
big images are matted at a capped long side and the alpha brought back to full size. Bilinear
upsampling blurs the edges by the downscale factor; the fast guided filter (He & Sun 2015, "Fast
Guided Filter") fits a local linear model ``alpha ~ A . image + b`` at low resolution, upsamples the
coefficients (smooth) and applies them to the full-resolution image, so edges follow the image's.
"""

from __future__ import annotations

import cv2
import numpy as np


def _box(array: np.ndarray, radius: int) -> np.ndarray:
    return cv2.boxFilter(array, -1, (2 * radius + 1, 2 * radius + 1), borderType=cv2.BORDER_REFLECT)


def guided_coefficients(guide: np.ndarray, source: np.ndarray, radius: int, eps: float) -> tuple[np.ndarray, np.ndarray]:
    """Colour guided filter coefficients (He et al. 2010, eq. 14): ``q = sum_c A_c * guide_c + b``.

    guide: (h, w, 3) float32 in [0, 1]; source: (h, w) float32. Returns A (h, w, 3), b (h, w),
    already box-averaged (the filter's second pass).
    """
    mean_guide = _box(guide, radius)  # (h, w, 3)
    mean_source = _box(source, radius)
    covariance_gs = _box(guide * source[..., None], radius) - mean_guide * mean_source[..., None]
    outer = guide[..., :, None] * guide[..., None, :]  # (h, w, 3, 3)
    variance = _box(outer.reshape(*guide.shape[:2], 9), radius).reshape(*guide.shape[:2], 3, 3)
    variance -= mean_guide[..., :, None] * mean_guide[..., None, :]
    variance += eps * np.eye(3, dtype=np.float32)
    coefficient_a = np.linalg.solve(variance, covariance_gs[..., None])[..., 0]  # (h, w, 3)
    coefficient_b = mean_source - (coefficient_a * mean_guide).sum(axis=-1)
    return _box(coefficient_a, radius), _box(coefficient_b, radius)


def guided_upsample(alpha_low: np.ndarray, image: np.ndarray, radius: int = 2, eps: float = 1e-4) -> np.ndarray:
    """alpha_low: (h, w) in [0, 1], matted on ``image`` resized to (h, w); image: (H, W, 3) in [0, 1].

    Returns alpha (H, W) float32 in [0, 1]. radius is in low-resolution pixels.
    """
    height, width = image.shape[:2]
    image_low = cv2.resize(image, alpha_low.shape[::-1], interpolation=cv2.INTER_AREA)
    coefficient_a, coefficient_b = guided_coefficients(image_low, alpha_low.astype(np.float32), radius, eps)
    coefficient_a = cv2.resize(coefficient_a, (width, height), interpolation=cv2.INTER_LINEAR)
    coefficient_b = cv2.resize(coefficient_b, (width, height), interpolation=cv2.INTER_LINEAR)
    return np.clip((coefficient_a * image).sum(axis=-1) + coefficient_b, 0.0, 1.0).astype(np.float32)
