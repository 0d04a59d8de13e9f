"""The unknown band a classical matte solves in, from the refined mask and the refiner's evidence.

A fixed erosion/dilation treats every boundary pixel alike: too narrow where hair sticks out, and
needlessly wide (slow, and room for the solver to smear) along a clean edge. Here the band is a
narrow strip of ``radius`` px around the mask's boundary everywhere, widened up to
``evidence_radius`` px where the refiner's evidence (:mod:`iosm.matting.evidence`: where its mask
changed, where painting was ambiguous) is at least ``evidence_threshold``. The band is capped at
``max_fraction`` of the image (the pixels nearest the boundary are kept), and both definite regions
are guaranteed non-empty (the solvers need them), so any mask that is neither empty nor full
gives a solvable trimap.
"""

from __future__ import annotations

import cv2
import numpy as np


def boundary_distance(mask: np.ndarray) -> np.ndarray:
    """(H, W) float32: each pixel's Euclidean distance (px) to the nearest pixel of the other label."""
    mask_u8 = mask.astype(np.uint8)
    inside = cv2.distanceTransform(mask_u8, cv2.DIST_L2, 5)
    outside = cv2.distanceTransform(1 - mask_u8, cv2.DIST_L2, 5)
    return np.where(mask, inside, outside).astype(np.float32)


def band_trimap(mask: np.ndarray, radius: float, evidence: np.ndarray | None = None, *,
                evidence_radius: float = 0.0, evidence_threshold: float = 0.5,
                max_fraction: float = 0.5) -> tuple[np.ndarray, list[str]]:
    """Trimap (H, W) float32 in {0, 0.5, 1} around ``mask`` (H, W) bool, and notes for the manifest.

    radius, evidence_radius: px; evidence: (H, W) float in [0, 1] or None (then the band is the
    plain ``radius`` strip). Raises ValueError for an empty or full mask (nothing to matte).
    """
    if not mask.any() or mask.all():
        raise ValueError("band_trimap: the mask is empty or full; there is no boundary to put a band on")
    notes: list[str] = []
    distance = boundary_distance(mask)
    unknown = distance <= radius
    if evidence is not None and evidence_radius > radius:
        unknown |= (np.asarray(evidence) >= evidence_threshold) & (distance <= evidence_radius)
    if unknown.mean() > max_fraction:
        # Keep the band pixels nearest the boundary: those are where the answer is least certain.
        limit = np.quantile(distance[unknown], max_fraction / unknown.mean())
        fraction = unknown.mean()
        unknown &= distance <= limit
        notes.append(f"matte: the unknown band covered {fraction:.0%} of the image; capped to {unknown.mean():.0%} "
                     f"(matte.max_band_fraction={max_fraction}), keeping the pixels within {limit:.1f} px of the mask's edge")
    trimap = np.where(unknown, 0.5, mask.astype(np.float32)).astype(np.float32)
    for label, region in ((1.0, mask), (0.0, ~mask)):
        if not (trimap == label).any():  # a thin object (or background) entirely inside the band
            deepest = region & (distance >= distance[region].max())
            trimap[deepest] = label
            notes.append(f"matte: the band swallowed the whole {'object' if label else 'background'}; "
                         "its deepest pixels were kept as definite")
    return trimap, notes
