"""Segmenter-like errors on a ground-truth alpha: the MTM's training input and the synthetic init masks.

An unsupervised segmenter (TokenCut, a normalised cut on DINO patches) is wrong in typical ways: its
boundary is coarse (patch-sized steps) and shifted, it loses fine structure (hair, strands), it leaks
into a similar-looking background and it misses parts of the object. :func:`perturb_mask` reproduces
these on ``alpha`` so that a network trained on (image, perturbed mask) sees the errors it will meet.
Every magnitude is relative to the object's size, so the same ``severity`` means the same thing at
64 px and at 4000 px.
"""

from __future__ import annotations

import cv2
import numpy as np

# Error magnitudes at severity 1, as fractions of the object size (tuned for IoU ~0.87, see perturb_mask).
COARSEST_STEP = 1 / 24   # down/up-sampling factor: patch-sized boundary steps
MORPH_RADIUS = 0.04      # dilation or erosion radius
SHIFT = 0.02             # boundary shift per axis
LEAK_SIZE = 0.15         # attached blob's axes
HOLE_SIZE = 0.06         # hole's radius
THRESHOLD_RANGE = (0.1, 0.5)  # alpha threshold: low enough to keep translucent parts, loses thin strands


def _ellipse(
    shape: tuple[int, int], centre: tuple[float, float], axes: tuple[float, float], angle: float
) -> np.ndarray:
    """A filled ellipse as a ``(H, W)`` bool mask (centre and axes in pixels, (x, y) order)."""
    canvas = np.zeros(shape, np.uint8)
    cv2.ellipse(
        canvas,
        (int(round(centre[0])), int(round(centre[1]))),
        (max(1, int(round(axes[0]))), max(1, int(round(axes[1])))),
        angle, 0, 360, 1, thickness=-1,
    )
    return canvas.astype(bool)


def morph_disc(mask: np.ndarray, radius: int) -> np.ndarray:
    """A bool mask dilated (radius > 0) or eroded (radius < 0) by a disc of ``|radius|`` px."""
    if radius == 0:
        return mask
    size = 2 * abs(radius) + 1
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size))
    operation = cv2.dilate if radius > 0 else cv2.erode
    return operation(mask.astype(np.uint8), disc).astype(bool)


def trimap_between(inside: np.ndarray, anywhere: np.ndarray, radius: int) -> np.ndarray:
    """Trimap (H, W) float32 in {0, 0.5, 1}: definite foreground where ``inside`` eroded by a disc of
    ``radius`` px, definite background outside ``anywhere`` dilated by it, unknown between. From a
    mask: ``inside = anywhere = mask``; from an alpha: ``alpha == 1`` and ``alpha > 0``."""
    sure_foreground = morph_disc(inside, -radius)
    maybe_foreground = morph_disc(anywhere, radius)
    return np.where(sure_foreground, 1.0, np.where(maybe_foreground, 0.5, 0.0)).astype(np.float32)


def _coarsen(mask: np.ndarray, factor: int) -> np.ndarray:
    """Down-sample by ``factor`` (area) and back up (bilinear), re-thresholded: patch-sized boundary steps."""
    if factor <= 1:
        return mask
    height, width = mask.shape
    small = cv2.resize(
        mask.astype(np.float32), (max(1, width // factor), max(1, height // factor)), interpolation=cv2.INTER_AREA
    )
    return cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR) > 0.5


def _boundary_point(mask: np.ndarray, rng: np.random.Generator) -> tuple[float, float] | None:
    """A random (x, y) point on the mask's boundary, or None for an empty/full mask."""
    edge = mask & ~morph_disc(mask, -1)
    ys, xs = np.nonzero(edge)
    if len(xs) == 0:
        return None
    pick = rng.integers(len(xs))
    return float(xs[pick]), float(ys[pick])


def add_leak(mask: np.ndarray, rng: np.random.Generator, scale: float) -> np.ndarray:
    """An elliptic blob attached to the boundary, reaching into the background (``scale`` x object size)."""
    point = _boundary_point(mask, rng)
    if point is None:
        return mask
    extent = np.sqrt(mask.sum())
    axes = (extent * scale * rng.uniform(0.6, 1.4), extent * scale * rng.uniform(0.3, 0.8))
    return mask | _ellipse(mask.shape, point, axes, rng.uniform(0, 180))


def add_hole(mask: np.ndarray, rng: np.random.Generator, scale: float) -> np.ndarray:
    """An elliptic hole well inside the object (``scale`` x object size), if the object is thick enough."""
    extent = np.sqrt(mask.sum())
    radius = max(1, int(extent * scale))
    interior = morph_disc(mask, -radius)
    ys, xs = np.nonzero(interior)
    if len(xs) == 0:
        return mask
    pick = rng.integers(len(xs))
    axes = (radius * rng.uniform(0.6, 1.0), radius * rng.uniform(0.3, 0.8))
    return mask & ~_ellipse(mask.shape, (xs[pick], ys[pick]), axes, rng.uniform(0, 180))


def perturb_mask(
    alpha: np.ndarray,
    rng: np.random.Generator,
    severity: float = 1.0,
    leak_probability: float = 0.5,
    hole_probability: float = 0.5,
) -> np.ndarray:
    """A segmenter-like rough mask from a ground-truth alpha.

    Args:
        alpha: ``(H, W)`` float in [0, 1] (a bool mask works too).
        rng: the source of randomness (seed it for reproducible masks).
        severity: scales every error; 0 gives ``alpha > threshold`` with a random threshold in
            [0.1, 0.5]. Mean IoU against ``alpha > 0.5`` on the synthetic alphas: 0.91 at 0.5, 0.87 at
            1, 0.78 at 2 (0.86 at 1 with a leak and a hole always, as in the synthetic init/ masks).
        leak_probability, hole_probability: chance of one attached blob / one hole.

    Returns:
        ``(H, W)`` bool. Steps: threshold in [0.1, 0.5] (fine strands are lost); coarse boundary
        (down/up-sampling by up to 1/24 of the object size); a random dilation or erosion (up to 4% of
        the object size) and a shift (up to 2%); a leak (an ellipse up to 0.2x the object size); a hole.
        The object size is the side of a square of the mask's area. An empty alpha gives an empty mask.
    """
    alpha = np.asarray(alpha, dtype=np.float32)
    mask = alpha > rng.uniform(*THRESHOLD_RANGE)
    if not mask.any() or severity <= 0:
        return mask
    extent = float(np.sqrt(mask.sum()))  # object size in pixels (side of a square of equal area)
    mask = _coarsen(mask, int(round(1 + rng.uniform(0.0, 1.0) * severity * COARSEST_STEP * extent)))
    mask = morph_disc(mask, int(round(rng.uniform(-1.0, 1.0) * severity * MORPH_RADIUS * extent)))
    shift = rng.uniform(-1.0, 1.0, size=2) * severity * SHIFT * extent
    mask = cv2.warpAffine(
        mask.astype(np.uint8), np.float32([[1, 0, shift[0]], [0, 1, shift[1]]]), mask.shape[::-1],
        flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT, borderValue=0,
    ).astype(bool)
    if mask.any() and rng.random() < leak_probability:
        mask = add_leak(mask, rng, LEAK_SIZE * severity)
    if mask.any() and rng.random() < hole_probability:
        mask = add_hole(mask, rng, HOLE_SIZE * severity)
    return mask
