"""The weight-free matte (``matte=classical``): a pymatting solver in an evidence-shaped band.

Why: minutes of CPU training cannot teach a network hair, but closed-form matting recovers strands
from the image itself once it is told where to look. The band (:func:`iosm.matting.band.band_trimap`)
is a strip along every edge, wide where the refiner was unsure; after a first solve it is widened
(:func:`iosm.matting.band.reopen_band`) where the alpha at its wall shows the edge's transition going
on beyond it, and the matte is solved again in the wider band. Strands that run out past the band
are then unmixed from the background behind them (:mod:`iosm.matting.strands`). Memory: the solver
runs on the band's bounding box only, and an image whose long side exceeds ``max_side`` is solved
downscaled and brought back with the fast guided filter (edges follow the full-resolution image); the
definite regions keep their exact 0/1. The error the cap costs is measured in
benchmarks/results/alpha_quality.md.
"""

from __future__ import annotations

import logging

import cv2
import numpy as np

from iosm.matting.band import band_trimap, reopen_band
from iosm.matting.base import Matte
from iosm.matting.solvers import check_colour_space, check_solver, solve_alpha
from iosm.matting.strands import strand_alpha
from iosm.models.upsample import guided_upsample

# The solvers' local windows are 3x3: a box this much larger than the band sees every window
# that touches an unknown pixel.
BOX_MARGIN = 4

log = logging.getLogger(__name__)


def _closed_form_weight(key: str, weight: float, solver: str, role: str, zero_means: str) -> float:
    """``matte.<key>``, the weight of a term only closed-form has: checked (>= 0), and 0 with a warning
    for another solver."""
    if weight < 0:
        raise ValueError(f"matte.{key}={weight}: expected a weight >= 0 (0: {zero_means})")
    if weight and solver != "cf":
        log.warning("matte.%s=%s %s: matte.solver=%s does not use it", key, weight, role, solver)
        return 0.0
    return weight


class ClassicalMatte(Matte):
    """solver: pymatting's ``estimate_alpha_<solver>`` (``cf``, ``knn``, ``lbdm``, ``lkm``, ``rw``);
    nonlocal_weight: with ``cf``, the weight of KNN matting's non-local links added to closed-form's
    local ones (:func:`iosm.matting.solvers.nonlocal_laplacian`; 0: plain closed-form); colour_space:
    with ``cf``, where its windows and links compare colours (``lab`` or ``rgb``); mask_prior: with ``cf``,
    the weight of a data term pulling each band pixel's alpha towards the refined mask's label, times the
    refiner's certainty there (1 - evidence; without evidence there is no prior): a colour the definite
    regions do not explain (paper behind twigs, dark hair on a dark curtain) follows the mask instead of
    drifting to a half-object guess.
    band_radius, evidence_radius: fractions of the image's long side (the strip everywhere, and its
    widest where the evidence is at least ``evidence_threshold``); reopen_radius: fraction of the
    long side the band reaches, after the first solve, around wall pixels whose alpha is off their
    definite neighbour by more than ``reopen_tolerance`` (None: one solve); max_band_fraction: cap on
    the band's share of the image; max_side: the long side above which the solve is downscaled
    (None: never); strand_reach: fraction of the long side beyond the mask's edge searched for strands
    (None: no search), strand_window: the odd width (px) of the median that removes them to show the
    background, strand_min_length: px a strand must run outwards (:func:`iosm.matting.strands.strand_alpha`),
    strand_min_side: images whose long side is shorter skip the search (a background downscaled that far
    is full of strand-thin structure)."""

    def __init__(self, *, solver: str = "cf", nonlocal_weight: float = 0.05, colour_space: str = "lab",
                 mask_prior: float = 0.001, band_radius: float = 0.01, evidence_radius: float = 0.06,
                 evidence_threshold: float = 0.5, reopen_radius: float | None = 0.03, reopen_tolerance: float = 0.05,
                 max_band_fraction: float = 0.5, max_side: int | None = 1024, strand_reach: float | None = 0.15,
                 strand_window: int = 9, strand_min_length: float = 10.0, strand_min_side: int = 256) -> None:
        self.solver = check_solver(solver)
        nonlocal_weight = _closed_form_weight("nonlocal_weight", nonlocal_weight, solver,
                                              "adds to closed-form's Laplacian", "plain closed-form")
        mask_prior = _closed_form_weight("mask_prior", mask_prior, solver, "is a data term of closed-form's",
                                         "no pull towards the mask")
        if check_colour_space(colour_space) != "rgb" and solver != "cf":
            log.warning("matte.colour_space=%s is closed-form's: matte.solver=%s compares colours in RGB",
                        colour_space, solver)
            colour_space = "rgb"
        self.nonlocal_weight, self.colour_space, self.mask_prior = nonlocal_weight, colour_space, mask_prior
        radii = (("band_radius", band_radius), ("evidence_radius", evidence_radius), ("reopen_radius", reopen_radius),
                 ("strand_reach", strand_reach))
        for key, value in radii:
            if value is not None and not 0.0 < value < 0.5:
                raise ValueError(f"matte.{key}={value}: expected a fraction of the long side in (0, 0.5)")
        if not 0.0 < reopen_tolerance < 0.5:
            raise ValueError(f"matte.reopen_tolerance={reopen_tolerance}: expected an alpha difference in (0, 0.5)")
        if not 0.0 < max_band_fraction <= 1.0:
            raise ValueError(f"matte.max_band_fraction={max_band_fraction}: expected a fraction in (0, 1]")
        if max_side is not None and max_side < 32:
            raise ValueError(f"matte.max_side={max_side}: expected null or at least 32 px")
        if strand_window < 3 or strand_window % 2 == 0:
            raise ValueError(f"matte.strand_window={strand_window}: expected an odd width of at least 3 px")
        if strand_min_length < 0:
            raise ValueError(f"matte.strand_min_length={strand_min_length}: expected px >= 0")
        if strand_min_side < 0:
            raise ValueError(f"matte.strand_min_side={strand_min_side}: expected px >= 0")
        self.band_radius, self.evidence_radius = band_radius, evidence_radius
        self.reopen_radius, self.reopen_tolerance = reopen_radius, reopen_tolerance
        self.evidence_threshold, self.max_band_fraction, self.max_side = evidence_threshold, max_band_fraction, max_side
        self.strand_reach, self.strand_window, self.strand_min_length = strand_reach, strand_window, strand_min_length
        self.strand_min_side = strand_min_side

    def trimap(self, mask: np.ndarray, evidence: np.ndarray | None = None) -> tuple[np.ndarray, list[str]]:
        """The trimap (H, W) {0, 0.5, 1} of the first solve, and its notes."""
        long_side = max(mask.shape)
        return band_trimap(mask, max(1.0, self.band_radius * long_side), evidence,
                           evidence_radius=self.evidence_radius * long_side,
                           evidence_threshold=self.evidence_threshold, max_fraction=self.max_band_fraction)

    def solve(self, image: np.ndarray, mask: np.ndarray,
              evidence: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, list[str]]:
        """Alpha (H, W), the trimap it was solved in (the reopened band when reopened) and notes, for a
        mask that is neither empty nor full (:meth:`matte` checks that); the trimap is what
        ``benchmarks/alpha_quality.py --decompose`` swaps parts of for the ground truth's."""
        trimap, notes = self.trimap(mask, evidence)
        prior = self.prior(mask, evidence)
        alpha, solve_notes = self._solve_band(image, trimap, prior)
        if self.reopen_radius is not None:
            wider, wider_notes = reopen_band(trimap, mask, alpha, self.reopen_radius * max(mask.shape),
                                             self.reopen_tolerance, max_fraction=self.max_band_fraction)
            if wider is not trimap:
                notes, trimap = notes + wider_notes, wider
                alpha, solve_notes = self._solve_band(image, trimap, prior)
        if self.strand_reach is not None and max(mask.shape) >= self.strand_min_side:
            alpha = strand_alpha(image, mask, alpha, trimap, reach=self.strand_reach * max(mask.shape),
                                 window=self.strand_window, min_length=self.strand_min_length)
        return alpha, trimap, notes + solve_notes

    def prior(self, mask: np.ndarray, evidence: np.ndarray | None) -> tuple[np.ndarray, np.ndarray] | None:
        """The data term's labels and weights, (H, W) float32 each, for :func:`iosm.matting.solvers.solve_alpha`:
        the mask, weighted ``mask_prior`` times the refiner's certainty (1 - evidence); None when off or
        without evidence (a mask from elsewhere says nothing about where it is sure)."""
        if not self.mask_prior or evidence is None:
            return None
        certainty = 1.0 - np.clip(np.asarray(evidence, np.float32), 0.0, 1.0)
        return mask.astype(np.float32), (self.mask_prior * certainty).astype(np.float32)

    def _alpha(self, image: np.ndarray, mask: np.ndarray, evidence: np.ndarray | None) -> tuple[np.ndarray, list[str]]:
        alpha, _, notes = self.solve(image, mask, evidence)
        return alpha, notes

    def _solve_band(self, image: np.ndarray, trimap: np.ndarray,
                    prior: tuple[np.ndarray, np.ndarray] | None) -> tuple[np.ndarray, list[str]]:
        """Alpha (H, W) from solving the unknown band's bounding box (with :meth:`prior`'s data term when
        given); the definite pixels keep their label."""
        rows, cols = np.nonzero(trimap == 0.5)
        if not rows.size:  # a speckled mask: every pixel went back to a definite label
            return trimap.copy(), ["matte: no pixel was left to solve; the alpha is the mask"]
        y0, y1 = max(0, rows.min() - BOX_MARGIN), min(trimap.shape[0], rows.max() + BOX_MARGIN + 1)
        x0, x1 = max(0, cols.min() - BOX_MARGIN), min(trimap.shape[1], cols.max() + BOX_MARGIN + 1)
        box = (slice(y0, y1), slice(x0, x1))
        box_prior = None if prior is None else (prior[0][box], prior[1][box])
        box_alpha, box_notes = self._solve(image[box], trimap[box], box_prior)
        alpha = trimap.copy()
        alpha[box] = np.where(trimap[box] == 0.5, box_alpha, trimap[box])
        return alpha, box_notes

    def _solve(self, image: np.ndarray, trimap: np.ndarray,
               prior: tuple[np.ndarray, np.ndarray] | None) -> tuple[np.ndarray, list[str]]:
        """Solve one box, downscaled when its long side exceeds ``max_side``."""
        height, width = trimap.shape
        labels, weights = prior if prior is not None else (None, None)
        if self.max_side is None or max(height, width) <= self.max_side:
            return solve_alpha(image, trimap, self.solver, self.nonlocal_weight, self.colour_space, labels, weights), []
        scale = self.max_side / max(height, width)
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        image_low = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        trimap_low = cv2.resize(trimap, size, interpolation=cv2.INTER_NEAREST)
        if prior is not None:
            labels = cv2.resize(labels, size, interpolation=cv2.INTER_NEAREST)
            weights = cv2.resize(weights, size, interpolation=cv2.INTER_AREA)
        alpha_low = solve_alpha(image_low, trimap_low, self.solver, self.nonlocal_weight, self.colour_space, labels, weights)
        note = (f"matte: solved the {width}x{height} band box at {size[0]}x{size[1]} (matte.max_side={self.max_side}) "
                "and upsampled with the guided filter")
        return guided_upsample(alpha_low, image), [note]
