"""SAD, MSE, Gradient and Connectivity errors of an alpha matte, as the matting community reports them.

Definitions (Rhemann et al., CVPR 2009, "A perceptually motivated online benchmark for image
matting"), computed exactly as the Deep Image Matting MATLAB evaluation code does (Xu et al. 2017,
``compute_{sad,mse,gradient,connectivity}_loss.m``), on a predicted and a ground-truth alpha in
[0, 1] at the image's original resolution, over a *region*: the whole image, or the trimap's
unknown pixels (``trimap == 128``):

- **SAD** = sum over the region of ``|pred - gt|``, reported **/ 1000**.
- **MSE** = mean over the region of ``(pred - gt)^2``: the sum divided by the region's pixel count
  (no epsilon: an empty region gives NaN, as in MATLAB), reported **as is** (papers often print
  MSE x 10^3; this code never does).
- **Grad** = sum over the region of ``(|nabla pred| - |nabla gt|)^2`` where both mattes are first
  stretched to [0, 1] (``mat2gray``) and ``nabla`` is ``gaussgradient`` with sigma 1.4 (a 9x9
  first-derivative-of-Gaussian kernel, replicated border), reported **/ 1000**. See ``gradient.py``.
- **Conn** = sum over the region of ``|phi(pred) - phi(gt)|`` with thresholds exactly
  ``0, 0.1, ..., 1``, the largest 4-connected component of ``(pred >= t) & (gt >= t)``, and
  ``theta = 0.15``, reported **/ 1000**. See ``connectivity.py``.

Traps where popular Python ports drift from the MATLAB (each has a test): Grad without
``mat2gray`` or with ``scipy.ndimage.gaussian_filter`` (another kernel size, normalisation and
border); thresholds from an accumulated ``np.arange`` (0.6 becomes 0.6000000000000001 and
8-bit pixels of 153 fall below it); the background (label 0) taken as the largest component; MSE
over a region divided by the count plus an epsilon, or by the whole image.

The original IOSM evaluation deviates from all this; ``protocols.py`` reproduces it on request.

Inputs: (H, W) float arrays in [0, 1] (float32 or float64; bool is accepted as {0, 1}); anything
else (integers, NaN, values outside [0, 1], mismatched shapes) raises ``ValueError`` naming the
argument. ``region``: (H, W) bool or None (the whole image). Computation is in float64.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from iosm.metrics.connectivity import connectivity_error_map
from iosm.metrics.gradient import gradient_error_map

# The DIM code's thresholds 0:0.1:1, each the double nearest to k/10 (MATLAB's colon operator
# gives these for every value an 8- or 16-bit alpha can take; an accumulated arange does not).
CONNECTIVITY_THRESHOLDS = np.arange(11) / 10
CONNECTIVITY_THETA = 0.15
GRADIENT_SIGMA = 1.4
# SAD, Grad and Conn are reported in thousands (the DIM paper's convention).
REPORT_SCALE = 1000.0

METRIC_NAMES = ("sad", "mse", "grad", "conn")
UNKNOWN_METRIC_NAMES = tuple(f"{name}_unknown" for name in METRIC_NAMES)


def check_alpha(array: np.ndarray, name: str) -> np.ndarray:
    """``array`` as a (H, W) float array in [0, 1], or ``ValueError`` saying what is wrong with it."""
    array = np.asarray(array)
    if array.dtype == bool:
        array = array.astype(np.float32)
    if array.ndim == 3 and array.shape[0] == 1:
        array = array[0]
    if array.ndim != 2:
        raise ValueError(f"{name}: expected an (H, W) alpha matte, got shape {array.shape}")
    if array.size == 0:
        raise ValueError(f"{name}: empty array of shape {array.shape}")
    if array.dtype.kind != "f":
        raise ValueError(
            f"{name}: expected float values in [0, 1], got dtype {array.dtype}; "
            "divide 8-bit alphas by 255 (iosm.data.io.read_alpha does)"
        )
    if array.dtype not in (np.float32, np.float64):  # float16 and longdouble: the kernels take these two
        array = array.astype(np.float64)
    low, high = float(np.min(array)), float(np.max(array))
    if np.isnan(low) or np.isnan(high):
        raise ValueError(f"{name}: contains NaN")
    if low < 0.0 or high > 1.0:
        raise ValueError(f"{name}: values must lie in [0, 1], got min {low:g}, max {high:g}")
    return array


def check_pair(pred: np.ndarray, gt: np.ndarray, region: np.ndarray | None = None):
    """Validated ``(pred, gt, region)``; shapes must agree (region: bool or None)."""
    pred, gt = check_alpha(pred, "pred"), check_alpha(gt, "gt")
    if pred.shape != gt.shape:
        raise ValueError(f"pred and gt differ in size: pred {pred.shape}, gt {gt.shape}")
    if region is not None:
        region = np.asarray(region)
        if region.ndim == 3 and region.shape[0] == 1:
            region = region[0]
        if region.dtype != bool:
            raise ValueError(f"region: expected a bool mask, got dtype {region.dtype}")
        if region.shape != pred.shape:
            raise ValueError(f"region: shape {region.shape} differs from pred/gt {pred.shape}")
    return pred, gt, region


def trimap_unknown(trimap: np.ndarray) -> np.ndarray:
    """The unknown region of a trimap as (H, W) bool.

    ``trimap``: (H, W) float in [0, 1] (0 background, 0.5 unknown, 1 foreground, e.g. 128/255
    from ``read_alpha``) or uint8 0/128/255. Unknown is the middle band [0.25, 0.75): identical to
    MATLAB's ``trimap == 128`` on clean trimaps, and robust to JPEG-compressed ones.
    """
    trimap = np.asarray(trimap)
    if trimap.ndim == 3 and trimap.shape[0] == 1:
        trimap = trimap[0]
    if trimap.dtype == np.uint8:
        return (trimap >= 64) & (trimap < 192)
    if trimap.dtype.kind != "f":
        raise ValueError(f"trimap: expected float in [0, 1] or uint8, got dtype {trimap.dtype}")
    return (trimap >= 0.25) & (trimap < 0.75)


def _region_sum(error_map: np.ndarray, region: np.ndarray | None) -> float:
    return float(error_map.sum() if region is None else error_map[region].sum())


def sad(pred: np.ndarray, gt: np.ndarray, region: np.ndarray | None = None) -> float:
    """Sum of absolute differences over ``region``, / 1000."""
    pred, gt, region = check_pair(pred, gt, region)
    return _region_sum(np.abs(pred.astype(np.float64) - gt), region) / REPORT_SCALE


def mse(pred: np.ndarray, gt: np.ndarray, region: np.ndarray | None = None) -> float:
    """Mean squared error over ``region`` (sum / its pixel count, NaN if empty), not rescaled."""
    pred, gt, region = check_pair(pred, gt, region)
    squared = np.square(pred.astype(np.float64) - gt)
    count = squared.size if region is None else int(region.sum())
    return _region_sum(squared, region) / count if count else float("nan")


def gradient_error(pred: np.ndarray, gt: np.ndarray, region: np.ndarray | None = None) -> float:
    """DIM gradient error (mat2gray, gaussgradient sigma 1.4) over ``region``, / 1000."""
    pred, gt, region = check_pair(pred, gt, region)
    return _region_sum(gradient_error_map(pred, gt, GRADIENT_SIGMA), region) / REPORT_SCALE


def connectivity_error(pred: np.ndarray, gt: np.ndarray, region: np.ndarray | None = None) -> float:
    """DIM connectivity error (thresholds 0:0.1:1, theta 0.15, 4-connectivity) over ``region``, / 1000."""
    pred, gt, region = check_pair(pred, gt, region)
    error_map = connectivity_error_map(pred, gt, thresholds=CONNECTIVITY_THRESHOLDS, theta=CONNECTIVITY_THETA)
    return _region_sum(error_map, region) / REPORT_SCALE


def matting_metrics(pred: np.ndarray, gt: np.ndarray, trimap: np.ndarray | None = None) -> dict[str, float]:
    """All four metrics over the whole image, plus over the trimap's unknown region when given.

    Returns ``{"sad", "mse", "grad", "conn"}`` and, with a trimap, ``"sad_unknown"``,
    ``"mse_unknown"``, ``"grad_unknown"``, ``"conn_unknown"``. The gradient and connectivity maps
    are computed once and summed over both regions.
    """
    pred, gt, _ = check_pair(pred, gt)
    difference = pred.astype(np.float64) - gt
    maps = {
        "sad": np.abs(difference),
        "mse": np.square(difference),
        "grad": gradient_error_map(pred, gt, GRADIENT_SIGMA),
        "conn": connectivity_error_map(pred, gt, thresholds=CONNECTIVITY_THRESHOLDS, theta=CONNECTIVITY_THETA),
    }
    regions: dict[str, np.ndarray | None] = {"": None}
    if trimap is not None:
        unknown = trimap_unknown(trimap)
        if unknown.shape != pred.shape:
            raise ValueError(f"trimap: shape {unknown.shape} differs from pred/gt {pred.shape}")
        regions["_unknown"] = unknown
    scores: dict[str, float] = {}
    for suffix, region in regions.items():
        count = pred.size if region is None else int(region.sum())
        for name, error_map in maps.items():
            total = _region_sum(error_map, region)
            if name == "mse":
                scores[name + suffix] = total / count if count else float("nan")
            else:
                scores[name + suffix] = total / REPORT_SCALE
    return scores


def mean_scores(per_image: Sequence[dict[str, float]]) -> dict[str, float]:
    """Dataset numbers from per-image scores: ``{"n": images, key: mean}``.

    A NaN (MSE over an empty unknown region) is left out of its key's mean; a key no image has is
    absent. ``MattingMetrics`` computes the same from its summed state.
    """
    totals: dict[str, list[float]] = {}
    for scores in per_image:
        for key, value in scores.items():
            if not math.isnan(value):
                totals.setdefault(key, []).append(value)
    return {"n": len(per_image), **{key: math.fsum(values) / len(values) for key, values in totals.items()}}
