"""Evaluation protocols: how one (prediction, ground truth) pair becomes the reported numbers.

``standard`` (the default) is the community protocol of ``functional.py``: the DIM MATLAB metrics at
the image's original resolution, over the whole image and, with a trimap, its unknown region.

``iosm_original`` reproduces the numbers of the original IOSM code (``MTM/tools/metrics2.py`` and
its test loop), for comparison with the paper only; they are not comparable with other papers:

- everything is evaluated at 512x512: the ground truth and the mask resized with nearest-neighbour
  interpolation (albumentations' mask resize), the prediction with area interpolation (the
  original's network predicts at 512x512 directly);
- the *refined mask* is passed where the metric code expects a trimap (after the original's trimap
  quantisation: < 64 -> 0, < 192 -> 128, else 255, mapped to 0 / 0.5 / 1). No pixel equals 128 or
  255 there, so SAD and MSE force the prediction to 0 where the mask is 0, sum over the whole image,
  and MSE divides by the mask's non-zero pixel count (SAD / 1000);
- Grad is ``scipy.ndimage.gaussian_filter(order=1, sigma=1.4)`` (13 taps, reflected border, no
  ``mat2gray``) on float32, whole image, divided by **10**;
- Conn is whole-image / 1000 with ``np.arange(0, 1.1, 0.1)`` thresholds (0.6 is
  0.6000000000000001) and scikit-image's row-major numbering for ties; the original's float32
  arithmetic is done in float64 here (differences at the 1e-7 level).
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np
import scipy.ndimage

from iosm.metrics.connectivity import connectivity_error_map
from iosm.metrics.functional import CONNECTIVITY_THETA, REPORT_SCALE, check_alpha, check_pair, matting_metrics

Protocol = Callable[..., dict[str, float]]

ORIGINAL_SIZE = 512
ORIGINAL_GRAD_SCALE = 10.0
ORIGINAL_CONNECTIVITY_THRESHOLDS = np.arange(0, 1.1, 0.1)  # accumulated on purpose (see above)


def standard(
    pred: np.ndarray, gt: np.ndarray, trimap: np.ndarray | None = None, mask: np.ndarray | None = None
) -> dict[str, float]:
    """The community protocol: ``functional.matting_metrics`` (``mask`` is not used)."""
    return matting_metrics(pred, gt, trimap)


def _quantise_like_original(region_map: np.ndarray) -> np.ndarray:
    """The original's ``process_trimap`` then its 0/128/255 -> 0/0.5/1 mapping; input in [0, 1]."""
    levels = np.rint(region_map.astype(np.float64) * 255)
    return np.where(levels < 64, 0.0, np.where(levels < 192, 0.5, 1.0))


def _resize(array: np.ndarray, interpolation: int) -> np.ndarray:
    if array.shape == (ORIGINAL_SIZE, ORIGINAL_SIZE):
        return array
    return cv2.resize(array, (ORIGINAL_SIZE, ORIGINAL_SIZE), interpolation=interpolation)


def iosm_original(
    pred: np.ndarray, gt: np.ndarray, trimap: np.ndarray | None = None, mask: np.ndarray | None = None
) -> dict[str, float]:
    """The original IOSM evaluation (see the module docstring): ``{"sad", "mse", "grad", "conn"}``.

    ``mask``: the refined mask (H, W) in [0, 1] or bool that the original passes as its trimap;
    without one the trimap is used in its place (what the original does with a real trimap).
    """
    pred, gt, _ = check_pair(pred, gt)
    region_source = mask if mask is not None else trimap
    if region_source is None:
        raise ValueError(
            "protocol iosm_original needs the refined mask (mask_dir=..., or a mask per sample): the "
            "original code passes it where a trimap belongs"
        )
    region_source = check_alpha(np.asarray(region_source, dtype=np.float32), "mask")
    if region_source.shape != pred.shape:
        raise ValueError(f"mask: shape {region_source.shape} differs from pred/gt {pred.shape}")
    pred = np.clip(_resize(pred.astype(np.float32), cv2.INTER_AREA), 0, 1)
    gt = _resize(gt.astype(np.float32), cv2.INTER_NEAREST)
    region_map = _resize(_quantise_like_original(region_source), cv2.INTER_NEAREST)

    forced = np.where(region_map == 0, 0.0, pred.astype(np.float64))
    difference = forced - gt
    nonzero = int(np.count_nonzero(region_map))
    scores = {
        "sad": float(np.abs(difference).sum()) / REPORT_SCALE,
        "mse": float(np.square(difference).sum()) / nonzero if nonzero else float("nan"),
    }
    magnitudes = []
    for matte in (pred, gt):
        grad_x = scipy.ndimage.gaussian_filter(matte, sigma=1.4, order=[1, 0], output=np.float32)
        grad_y = scipy.ndimage.gaussian_filter(matte, sigma=1.4, order=[0, 1], output=np.float32)
        magnitudes.append(np.sqrt(grad_x**2 + grad_y**2))
    scores["grad"] = float(np.sum(np.square(magnitudes[0] - magnitudes[1]))) / ORIGINAL_GRAD_SCALE
    conn_map = connectivity_error_map(
        pred, gt, thresholds=ORIGINAL_CONNECTIVITY_THRESHOLDS, theta=CONNECTIVITY_THETA, row_major_ties=True
    )
    scores["conn"] = float(conn_map.sum()) / REPORT_SCALE
    return scores


PROTOCOLS: dict[str, Protocol] = {"standard": standard, "iosm_original": iosm_original}


def get_protocol(name: str) -> Protocol:
    """The protocol function called ``name``; ``ValueError`` listing the choices otherwise."""
    if name not in PROTOCOLS:
        raise ValueError(f"protocol={name!r}: unknown; choose one of {', '.join(PROTOCOLS)}")
    return PROTOCOLS[name]
