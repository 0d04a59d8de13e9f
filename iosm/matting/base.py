"""The matte stage's interface: ``Matte.matte(image, mask, evidence) -> MatteResult``.

A matte turns a binary mask (the refiner's output) into an alpha matte and the foreground colours a
cut-out needs. Implementations (``iosm.matting.classical.ClassicalMatte``,
``iosm.matting.mtm.MTMMatte``) only solve the real case; this base class checks the inputs and
answers the degenerate ones itself, so that an empty or full mask gives an all-0 / all-1 alpha with
a warning instead of a solver error.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class MatteResult:
    """``alpha`` (H, W) float32 in [0, 1]; ``foreground`` (H, W, 3) float32 in [0, 1], the estimated
    colours of the object (what a cut-out shows, free of the old background at soft edges);
    ``warnings`` what went unusually for this image (for its manifest line)."""

    alpha: np.ndarray
    foreground: np.ndarray
    warnings: list[str] = field(default_factory=list)


def estimate_foreground(image: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Foreground colours (H, W, 3) float32 in [0, 1] from ``image`` and ``alpha`` (pymatting's
    multi-level ``estimate_foreground_ml``: linear memory, a few seconds at 4K)."""
    from pymatting import estimate_foreground_ml

    foreground = estimate_foreground_ml(image.astype(np.float64), alpha.astype(np.float64))
    return np.clip(foreground, 0.0, 1.0).astype(np.float32)


class Matte:
    """Base class: ``matte(image, mask, evidence=None)`` checks, handles empty/full masks, then calls
    :meth:`_alpha` of the implementation, which returns ``(alpha, warnings)``."""

    def matte(self, image: np.ndarray, mask: np.ndarray, evidence: np.ndarray | None = None) -> MatteResult:
        """image: (H, W, 3) float in [0, 1]; mask: (H, W) bool, the object; evidence: optional (H, W)
        float in [0, 1], how uncertain the refiner was about each pixel (1 = very), e.g.
        :func:`iosm.matting.evidence.refine_evidence`; mattes that do not use it ignore it."""
        image = np.asarray(image)
        mask = np.asarray(mask)
        if image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f"image: expected an (H, W, 3) RGB array, got shape {image.shape}")
        if mask.shape != image.shape[:2]:
            raise ValueError(f"mask: expected shape {image.shape[:2]} (the image's), got {mask.shape}")
        if evidence is not None and np.shape(evidence) != mask.shape:
            raise ValueError(f"evidence: expected shape {mask.shape} (the image's), got {np.shape(evidence)}")
        image = np.clip(image.astype(np.float32), 0.0, 1.0)  # composites overshoot 1 by rounding; pymatting warns
        mask = mask.astype(bool)
        if not mask.any() or mask.all():
            value = float(mask.all())
            what = "covers the whole image" if value else "is empty"
            return MatteResult(np.full(mask.shape, value, np.float32), image.copy(),
                               [f"matte: the mask {what}; alpha is all {int(value)} (nothing to matte)"])
        alpha, notes = self._alpha(image, mask, evidence)
        alpha = np.clip(np.asarray(alpha, np.float32), 0.0, 1.0)
        return MatteResult(alpha, estimate_foreground(image, alpha), list(notes))

    def _alpha(self, image: np.ndarray, mask: np.ndarray, evidence: np.ndarray | None) -> tuple[np.ndarray, list[str]]:
        raise NotImplementedError
