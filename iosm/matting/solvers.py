"""pymatting's trimap-based alpha solvers behind one function, with the degenerate case made loud.

``solve_alpha(image, trimap, "cf")`` is Levin et al.'s closed-form matting, ``"knn"`` KNN matting
(Chen et al.), ``"lbdm"`` learning-based matting (Zheng & Kambhamettu), ``"lkm"`` large-kernel
matting, ``"rw"`` random-walk matting: pymatting's ``estimate_alpha_<name>``.
"""

from __future__ import annotations

import warnings

import numpy as np

SOLVERS = ("cf", "knn", "lbdm", "lkm", "rw")


class TrimapFallbackWarning(UserWarning):
    """A trimap had no definite foreground or background, so the 'matte' is the thresholded trimap:
    benchmarks count these (a row that says closed-form but is the rough mask must say so)."""


def check_solver(solver: str) -> str:
    if solver not in SOLVERS:
        raise ValueError(f"matte.solver={solver!r}: expected one of {SOLVERS} (pymatting's estimate_alpha_<solver>)")
    return solver


def solve_alpha(image: np.ndarray, trimap: np.ndarray, solver: str = "cf") -> np.ndarray:
    """Alpha (H, W) float32 in [0, 1] for ``image`` (H, W, 3) float in [0, 1] and ``trimap`` (H, W)
    in {0, 0.5, 1}. A trimap without both definite regions cannot be solved: the answer is then
    ``trimap >= 0.5`` and a :class:`TrimapFallbackWarning` says so."""
    import pymatting

    estimate = getattr(pymatting, f"estimate_alpha_{check_solver(solver)}")
    if not ((trimap == 1.0).any() and (trimap == 0.0).any()):
        warnings.warn(f"{solver}: the trimap has no definite {'foreground' if not (trimap == 1.0).any() else 'background'}; "
                      "the alpha is the thresholded trimap, not a matte", TrimapFallbackWarning, stacklevel=2)
        return (trimap >= 0.5).astype(np.float32)
    alpha = estimate(image.astype(np.float64), trimap.astype(np.float64))
    return np.clip(alpha, 0.0, 1.0).astype(np.float32)
