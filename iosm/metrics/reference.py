"""The straightforward line-by-line port of the DIM MATLAB metrics: the oracle for tests and benchmarks.

This is what common Python ports do (a 2-D ``scipy.ndimage.convolve`` with the 9x9 kernel for the
gradient, one ``skimage.measure.label`` per threshold for the connectivity), with the traps fixed
so that it matches the MATLAB code: exact thresholds, the background never taken as the largest
component, MATLAB's column-major numbering for ties (labelling the transposed image). It is slow
on purpose: ``functional.py`` must agree with it, and ``benchmarks/metrics_speed.py`` times both.
Inputs are assumed valid (see ``functional.check_pair``).
"""

from __future__ import annotations

import math

import numpy as np
import scipy.ndimage
from skimage.measure import label


def _gauss(offset: np.ndarray, sigma: float) -> np.ndarray:
    return np.exp(-(offset**2) / (2 * sigma**2)) / (sigma * math.sqrt(2 * math.pi))


def _dgauss(offset: np.ndarray, sigma: float) -> np.ndarray:
    return -offset * _gauss(offset, sigma) / sigma**2


def gaussgradient(image: np.ndarray, sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """``gaussgradient.m``: the full 2-D kernel, normalised, ``imfilter(..., 'replicate', 'conv')``."""
    halfsize = math.ceil(sigma * math.sqrt(-2 * math.log(math.sqrt(2 * math.pi) * sigma * 1e-2)))
    rows, cols = np.mgrid[-halfsize : halfsize + 1, -halfsize : halfsize + 1].astype(np.float64)
    kernel_x = _gauss(rows, sigma) * _dgauss(cols, sigma)
    kernel_x /= np.sqrt(np.sum(np.abs(kernel_x) ** 2))
    # scipy.ndimage.convolve flips the kernel (true convolution); mode="nearest" replicates the edge.
    grad_x = scipy.ndimage.convolve(image, kernel_x, mode="nearest")
    grad_y = scipy.ndimage.convolve(image, kernel_x.T, mode="nearest")
    return grad_x, grad_y


def mat2gray(array: np.ndarray) -> np.ndarray:
    low, high = array.min(), array.max()
    if high == low:
        return np.clip(array.astype(np.float64), 0, 1)
    return np.clip((array - low) / (high - low), 0, 1)


def gradient_error(pred: np.ndarray, gt: np.ndarray, region: np.ndarray | None = None) -> float:
    pred_x, pred_y = gaussgradient(mat2gray(pred.astype(np.float64)), 1.4)
    gt_x, gt_y = gaussgradient(mat2gray(gt.astype(np.float64)), 1.4)
    error_map = (np.sqrt(pred_x**2 + pred_y**2) - np.sqrt(gt_x**2 + gt_y**2)) ** 2
    return float(np.sum(error_map if region is None else error_map[region])) / 1000


def connectivity_error(
    pred: np.ndarray,
    gt: np.ndarray,
    region: np.ndarray | None = None,
    *,
    thresholds: np.ndarray | None = None,
    row_major_ties: bool = False,
) -> float:
    pred = pred.astype(np.float64)
    gt = gt.astype(np.float64)
    thresholds = np.arange(11) / 10 if thresholds is None else thresholds
    level_map = np.full(pred.shape, -1.0)
    for index in range(1, len(thresholds)):
        both = (pred >= thresholds[index]) & (gt >= thresholds[index])
        # Labelling the transpose numbers components in column-major order, as MATLAB's bwconncomp.
        labels = label(both, connectivity=1) if row_major_ties else label(both.T, connectivity=1).T
        sizes = np.bincount(labels.ravel())
        sizes[0] = 0  # the background is never a component
        if sizes.max() == 0:
            continue  # nothing above this threshold: MATLAB assigns no level here
        omega = labels == np.argmax(sizes)
        level_map[(level_map == -1) & ~omega] = thresholds[index - 1]
    level_map[level_map == -1] = 1
    pred_d = pred - level_map
    gt_d = gt - level_map
    pred_phi = 1 - pred_d * (pred_d >= 0.15)
    gt_phi = 1 - gt_d * (gt_d >= 0.15)
    error_map = np.abs(pred_phi - gt_phi)
    return float(np.sum(error_map if region is None else error_map[region])) / 1000
