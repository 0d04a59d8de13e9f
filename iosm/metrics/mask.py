"""Binary-mask quality for the refinement stage: IoU and boundary F-measure against the GT object.

- ``mask_iou``: |mask ∩ gt| / |mask ∪ gt|; two empty masks agree perfectly (1.0).
- ``boundary_f``: the boundary F-measure of DAVIS (Perazzi et al. 2016): boundary pixels (mask
  pixels with a 4-neighbour outside the mask; the image edge is not a boundary) are matched within
  ``tolerance`` pixels (default ``ceil(0.008 * image diagonal)``, DAVIS's ``bound_th``); precision
  is the share of predicted boundary pixels near a GT boundary pixel, recall the converse, and
  F = 2PR / (P + R). Without boundaries (empty or full masks): 1.0 if the masks are equal, else 0.0;
  one boundary empty: 0.0.

``MaskMetrics`` averages both over images as a torchmetrics ``Metric`` (sums and counts: DDP-exact).
"""

from __future__ import annotations

import math

import cv2
import numpy as np
import torch
from torchmetrics import Metric

BOUNDARY_TOLERANCE_FRACTION = 0.008  # of the image diagonal, as DAVIS


def _check_masks(mask: np.ndarray, gt_mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mask, gt_mask = np.asarray(mask), np.asarray(gt_mask)
    for name, array in (("mask", mask), ("gt_mask", gt_mask)):
        if array.dtype != bool:
            raise ValueError(f"{name}: expected a bool array, got dtype {array.dtype} (threshold it first)")
        if array.ndim != 2:
            raise ValueError(f"{name}: expected (H, W), got shape {array.shape}")
    if mask.shape != gt_mask.shape:
        raise ValueError(f"mask and gt_mask differ in size: {mask.shape} vs {gt_mask.shape}")
    return mask, gt_mask


def mask_iou(mask: np.ndarray, gt_mask: np.ndarray) -> float:
    """Intersection over union of two (H, W) bool masks, in [0, 1]."""
    mask, gt_mask = _check_masks(mask, gt_mask)
    union = np.count_nonzero(mask | gt_mask)
    return 1.0 if union == 0 else np.count_nonzero(mask & gt_mask) / union


def mask_boundary(mask: np.ndarray) -> np.ndarray:
    """(H, W) bool: mask pixels with a 4-neighbour outside the mask (edge pixels replicate outward)."""
    cross = cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3))
    eroded = cv2.erode(mask.astype(np.uint8), cross, borderType=cv2.BORDER_REPLICATE)
    return mask & (eroded == 0)


def _distance_to(boundary: np.ndarray) -> np.ndarray:
    """Euclidean distance of every pixel to the nearest ``boundary`` pixel."""
    return cv2.distanceTransform((~boundary).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)


def boundary_f(mask: np.ndarray, gt_mask: np.ndarray, tolerance: float | None = None) -> float:
    """Boundary F-measure of two (H, W) bool masks, in [0, 1]; ``tolerance`` in pixels."""
    mask, gt_mask = _check_masks(mask, gt_mask)
    if tolerance is None:
        tolerance = math.ceil(BOUNDARY_TOLERANCE_FRACTION * math.hypot(*mask.shape))
    boundary, gt_boundary = mask_boundary(mask), mask_boundary(gt_mask)
    n_boundary, n_gt_boundary = np.count_nonzero(boundary), np.count_nonzero(gt_boundary)
    if n_boundary == 0 and n_gt_boundary == 0:  # each mask is empty or full
        return 1.0 if np.array_equal(mask, gt_mask) else 0.0
    if n_boundary == 0 or n_gt_boundary == 0:
        return 0.0
    precision = np.count_nonzero(_distance_to(gt_boundary)[boundary] <= tolerance) / n_boundary
    recall = np.count_nonzero(_distance_to(boundary)[gt_boundary] <= tolerance) / n_gt_boundary
    return 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)


class MaskMetrics(Metric):
    """Mean IoU and boundary F over images: ``update(mask, gt_mask)`` with (B, 1, H, W) or (B, H, W)
    tensors (bool, or float thresholded at 0.5); ``compute()`` -> ``{"iou", "boundary_f", "n"}``."""

    full_state_update = False
    higher_is_better = True
    is_differentiable = False

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.add_state("sum_iou", default=torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("sum_boundary_f", default=torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("n", default=torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")

    @staticmethod
    def _as_bool(batch: torch.Tensor, name: str) -> np.ndarray:
        if batch.ndim == 4 and batch.shape[1] == 1:
            batch = batch[:, 0]
        if batch.ndim != 3:
            raise ValueError(f"{name}: expected (B, 1, H, W) or (B, H, W), got shape {tuple(batch.shape)}")
        batch = batch.detach().to("cpu")
        return batch.numpy() if batch.dtype == torch.bool else (batch.float() > 0.5).numpy()

    def update(self, mask: torch.Tensor, gt_mask: torch.Tensor) -> None:
        masks, gt_masks = self._as_bool(mask, "mask"), self._as_bool(gt_mask, "gt_mask")
        if len(masks) != len(gt_masks):
            raise ValueError(f"mask and gt_mask batch sizes differ: {len(masks)} vs {len(gt_masks)}")
        for one_mask, one_gt in zip(masks, gt_masks):
            self.sum_iou += mask_iou(one_mask, one_gt)
            self.sum_boundary_f += boundary_f(one_mask, one_gt)
            self.n += 1

    def compute(self) -> dict[str, torch.Tensor]:
        n = self.n.clamp(min=1)
        return {"iou": self.sum_iou / n, "boundary_f": self.sum_boundary_f / n, "n": self.n.clone()}
