"""Binary morphology on tensors, as max-pooling, so masks stay on the refiner's device.

The original refiner round-trips every mask through ``cv2.dilate``/``cv2.erode``; a square or cross
structuring element is separable into max-pools, which run on the GPU for free and avoid the
``(H * W * k * k)`` unfold that generic tensor morphology needs for the 15x15 band kernel.
All functions take and return float masks in {0, 1} of shape ``(H, W)`` or ``(B, H, W)``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _as_batch(mask: torch.Tensor) -> tuple[torch.Tensor, bool]:
    if mask.dim() == 2:
        return mask[None, None].float(), True
    if mask.dim() == 3:
        return mask[:, None].float(), False
    raise ValueError(f"mask: expected (H, W) or (B, H, W), got shape {tuple(mask.shape)}")


def _restore(batch: torch.Tensor, squeeze: bool) -> torch.Tensor:
    return batch[0, 0] if squeeze else batch[:, 0]


def _max_filter(batch: torch.Tensor, kernel_h: int, kernel_w: int) -> torch.Tensor:
    """Max over a ``kernel_h x kernel_w`` window centred on each pixel (odd sizes), borders ignored."""
    return F.max_pool2d(batch, (kernel_h, kernel_w), stride=1, padding=(kernel_h // 2, kernel_w // 2))


def dilate(mask: torch.Tensor, size: int, shape: str = "square", iterations: int = 1) -> torch.Tensor:
    """Dilate by a ``size x size`` square or cross (OpenCV's ``MORPH_RECT`` / ``MORPH_CROSS``)."""
    if size % 2 == 0 or size < 1:
        raise ValueError(f"size: expected an odd positive kernel size, got {size}")
    if shape not in ("square", "cross"):
        raise ValueError(f"shape: expected 'square' or 'cross', got {shape!r}")
    batch, squeeze = _as_batch(mask)
    for _ in range(iterations):
        if shape == "square":
            batch = _max_filter(batch, size, size)
        else:  # a cross is the union of a horizontal and a vertical line
            batch = torch.maximum(_max_filter(batch, 1, size), _max_filter(batch, size, 1))
    return _restore(batch, squeeze)


def erode(mask: torch.Tensor, size: int, shape: str = "square", iterations: int = 1) -> torch.Tensor:
    """Erode by a square or cross: the dual of :func:`dilate` (the outside of the canvas counts as set)."""
    return 1.0 - dilate(1.0 - mask.float(), size, shape, iterations)


def open_mask(mask: torch.Tensor, size: int, shape: str = "square") -> torch.Tensor:
    """Erode then dilate (square or cross): removes specks narrower than ``size``."""
    return dilate(erode(mask, size, shape), size, shape)


def close_mask(mask: torch.Tensor, size: int, shape: str = "square") -> torch.Tensor:
    """Dilate then erode (square or cross): fills holes and gaps narrower than ``size``."""
    return erode(dilate(mask, size, shape), size, shape)
