"""The refiner's evidence for the matte: where was it unsure about the mask?

Two kinds of pixel are uncertain after the inpaint-outpaint loop: those whose label changed along
the way (the rough mask was wrong there, so the boundary is where the loop said, not where it is
sure), and those whose painting difference sat near the stage's decision threshold (painting the
object away changed them only partly: hair over background, translucent parts). Both are computed
from what :meth:`iosm.refine.refiner.Refiner.refine` records with ``record_steps=True`` (the
per-stage difference maps and masks on its canvas), mapped back to the image.
"""

from __future__ import annotations

import numpy as np
import torch
from skimage.filters import threshold_otsu

# log-difference within this many (log-)units of the stage's Otsu threshold counts as ambiguous:
# half a natural-log unit is a factor 1.65 either side of the threshold.
AMBIGUITY_WIDTH = 0.5


def stage_ambiguity(difference: np.ndarray) -> np.ndarray:
    """(S, S) float in [0, 1]: 1 where a stage's normalised difference is at its Otsu threshold (in
    log space, as the separator decides), falling off as a Gaussian; 0 where nothing was painted."""
    painted = difference > 0
    if painted.sum() < 2:
        return np.zeros_like(difference, dtype=np.float32)
    log_difference = np.log(np.maximum(difference, 1e-6))
    values = log_difference[painted]
    if values.min() == values.max():
        return np.zeros_like(difference, dtype=np.float32)
    threshold = threshold_otsu(values)
    ambiguity = np.exp(-0.5 * ((log_difference - threshold) / AMBIGUITY_WIDTH) ** 2)
    return (ambiguity * painted).astype(np.float32)


def refine_evidence(result, initial_mask: np.ndarray) -> np.ndarray:
    """(H, W) float32 in [0, 1] for a :class:`iosm.refine.refiner.RefineResult` refined with
    ``record_steps=True`` from ``initial_mask`` (H, W) bool: 1 where the mask changed (initial vs
    any step vs final), else the steps' largest ambiguity. Without recorded steps: the changes only."""
    final = np.asarray(result.mask, bool)
    changed = initial_mask != final
    for step_mask in result.step_masks():
        changed |= step_mask != final
    evidence = changed.astype(np.float32)
    if result.steps:
        ambiguity = np.max([stage_ambiguity(step.difference) for step in result.steps], axis=0)
        evidence = np.maximum(evidence, result.letterbox.plane_to_image(torch.from_numpy(ambiguity)).numpy())
    return evidence

