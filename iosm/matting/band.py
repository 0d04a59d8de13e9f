"""The unknown band a classical matte solves in, from the refined mask and the refiner's evidence.

A fixed erosion/dilation treats every boundary pixel alike: too narrow where hair sticks out, and
needlessly wide (slow, and room for the solver to smear) along a clean edge. Here the band is a
narrow strip of ``radius`` px around the mask's boundary everywhere, widened up to
``evidence_radius`` px where the refiner's evidence (:mod:`iosm.matting.evidence`: where its mask
changed, where painting was ambiguous) is at least ``evidence_threshold``. The band is capped at
``max_fraction`` of the image (the pixels nearest the boundary are kept), and both definite regions
are guaranteed non-empty (the solvers need them), so any mask that is neither empty nor full
gives a solvable trimap.

The refiner's evidence does not see every soft edge (a defocused contour, fur it was sure about).
:func:`reopen_band` lets the solved alpha say where the band was too narrow: where the alpha at the
band's wall is still far from the definite label next to it, the transition goes on beyond the wall,
so the band is widened there and the matte solved again.
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
    distance = boundary_distance(mask)
    unknown = distance <= radius
    if evidence is not None and evidence_radius > radius:
        unknown |= (np.asarray(evidence) >= evidence_threshold) & (distance <= evidence_radius)
    return _trimap(unknown, mask, distance, max_fraction)


def reopen_band(trimap: np.ndarray, mask: np.ndarray, alpha: np.ndarray, radius: float, tolerance: float, *,
                max_fraction: float = 0.5) -> tuple[np.ndarray, list[str]]:
    """``trimap`` (from :func:`band_trimap` for ``mask``) widened to ``radius`` px from the mask's
    boundary around each wall pixel (an unknown pixel next to a definite one) whose ``alpha`` (H, W),
    solved in ``trimap``, is off that definite label by more than ``tolerance``; same cap and
    guarantees as :func:`band_trimap`. Returns ``trimap`` itself when no wall pixel is off."""
    unknown = trimap == 0.5
    wall = unknown & (cv2.dilate((~unknown).astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3))) > 0)
    # The band contains the mask's boundary, so a wall pixel inside the mask borders definite
    # foreground and one outside borders definite background.
    off = wall & np.where(mask, alpha < 1.0 - tolerance, alpha > tolerance)
    if not off.any():
        return trimap, []
    size = 2 * round(radius) + 1
    near_off = cv2.dilate(off.astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size))) > 0
    distance = boundary_distance(mask)
    return _trimap(unknown | (near_off & (distance <= radius)), mask, distance, max_fraction)


def _trimap(unknown: np.ndarray, mask: np.ndarray, distance: np.ndarray,
            max_fraction: float) -> tuple[np.ndarray, list[str]]:
    """The trimap of band ``unknown`` around ``mask``: capped to ``max_fraction`` of the image, with
    both definite regions non-empty."""
    notes: list[str] = []
    if unknown.mean() > max_fraction:
        # Keep the band pixels nearest the boundary: those are where the answer is least certain.
        limit = np.quantile(distance[unknown], max_fraction / unknown.mean())
        fraction = unknown.mean()
        unknown &= distance <= limit
        notes.append(f"matte: the unknown band covered {fraction:.0%} of the image; capped to {unknown.mean():.0%} "
                     f"(matte.max_band_fraction={max_fraction}), keeping the pixels within {limit:.1f} px of the mask's edge"
                     + ("" if unknown.mean() <= max_fraction else
                        "; no narrower band exists: that many pixels touch the mask's edge (a speckled mask)"))
    trimap = np.where(unknown, 0.5, mask.astype(np.float32)).astype(np.float32)
    for label, region in ((1.0, mask), (0.0, ~mask)):
        if not (trimap == label).any():  # a thin object (or background) entirely inside the band
            deepest = region & (distance >= distance[region].max())
            trimap[deepest] = label
            notes.append(f"matte: the band swallowed the whole {'object' if label else 'background'}; "
                         "its deepest pixels were kept as definite")
    return trimap, notes
