"""Strands beyond the band: thin lines of the object's colour that run out from its edge.

Why: hair and strands reach farther from the object than any band a solver can afford (a wide band
fills with smeared guesses, benchmarks/results/alpha_quality.md, section 5), so the classical matte
ends at the band and every strand beyond it is lost. A strand is only one or two pixels wide, though,
so a median filter a few pixels wide removes it and leaves the background behind it. Each pixel of
the definite background near the object is then unmixed between that local background ``B`` and the
colour ``F`` of the nearest definite object pixel, ``I = a F + (1 - a) B``: ``a`` is the projection of
``I - B`` on ``F - B``, trusted where ``F`` and ``B`` differ, ``a`` is not negligible and the
projection explains most of ``I - B``. Of those pixels only thin ones are kept (a morphological
opening removes blobs: background texture), in connected pieces that touch the band and run at least
``min_length`` px outwards (a strand, not the grain of a background next to the edge). The alpha
there becomes the larger of the matte's and the unmixed one. Thresholds chosen on tuning data only
(the TUNE photographs and the seed-0 composites, alpha_quality.md, section 10).
"""

from __future__ import annotations

import cv2
import numpy as np

from iosm.matting.band import boundary_distance

MIN_CONTRAST = 0.15  # |F - B| (RGB in [0, 1]) below which unmixing is noise
MIN_ALPHA = 0.1  # unmixed alphas below this are background texture, not strands
MAX_RESIDUAL = 0.7  # the part of I - B off the F - B line may be at most this share of a |F - B|
OBJECT_ALPHA = 0.95  # pixels whose colour stands for the object's


def strand_alpha(image: np.ndarray, mask: np.ndarray, alpha: np.ndarray, trimap: np.ndarray, *,
                 reach: float, window: int, min_length: float) -> np.ndarray:
    """``alpha`` (H, W) with the strands found in the definite background of ``trimap`` within
    ``reach`` px of ``mask``'s edge added. image: (H, W, 3) float in [0, 1]; window: the median
    filter's odd size in px (wider than a strand, narrower than the background's structures);
    min_length: px a strand must run outwards."""
    # The object's colour from 2 px inside its solid part: edge pixels are mixed with the background.
    solid = cv2.erode((alpha >= OBJECT_ALPHA).astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    if not solid.any():
        return alpha
    image = image.astype(np.float32, copy=False)
    image_u8 = np.clip(image * 255.0 + 0.5, 0, 255).astype(np.uint8)
    background = cv2.medianBlur(image_u8, window).astype(np.float32) / 255.0
    # Each pixel's nearest solid object pixel (labels count the solid pixels in row-major order from 1).
    _, nearest = cv2.distanceTransformWithLabels((~solid).astype(np.uint8), cv2.DIST_L2, 5,
                                                 labelType=cv2.DIST_LABEL_PIXEL)
    rows, cols = np.nonzero(solid)
    foreground = cv2.blur(image, (3, 3))[rows[nearest - 1], cols[nearest - 1]]

    difference = image - background
    line = foreground - background
    contrast = np.sqrt((line**2).sum(-1))
    unmixed = np.clip((difference * line).sum(-1) / np.maximum(contrast**2, 1e-6), 0.0, 1.0)
    residual = np.sqrt(((difference - unmixed[..., None] * line) ** 2).sum(-1))
    outside = boundary_distance(mask)  # candidates are definite background: their distance to the mask
    candidate = ((trimap == 0) & (outside <= reach) & (contrast >= MIN_CONTRAST) & (unmixed >= MIN_ALPHA)
                 & (residual <= MAX_RESIDUAL * unmixed * contrast))
    square = np.ones((3, 3), np.uint8)
    candidate &= cv2.morphologyEx(candidate.astype(np.uint8), cv2.MORPH_OPEN, square) == 0

    count, pieces = cv2.connectedComponents(candidate.astype(np.uint8), connectivity=8)
    if count <= 1:
        return alpha
    near_band = cv2.dilate((trimap > 0).astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    labels, distances = pieces[candidate], outside[candidate]
    nearest_px, farthest_px = np.full(count, np.inf), np.zeros(count)
    np.minimum.at(nearest_px, labels, distances)
    np.maximum.at(farthest_px, labels, distances)
    touches = np.zeros(count, bool)
    touches[pieces[candidate & near_band]] = True
    strand = touches & (farthest_px - nearest_px >= min_length)
    strand[0] = False
    found = strand[pieces] & candidate
    out = alpha.copy()
    out[found] = np.maximum(alpha[found], unmixed[found])
    return out
