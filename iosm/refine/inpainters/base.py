"""The painting interface shared by the weight-free OpenCV fills and diffusion inpainting pipelines.

The refiner asks a painter to fill ``regions`` of ``images`` with plausible content, ``num_samples``
times each; it composites the result itself (``R * painted + (1 - R) * image``), so a backend only has
to paint. ``forward_passes`` counts the painting model's forward passes (per sample and step, so it
does not depend on how samples are batched) and is what the refiner reports as ``inpaint_calls``.
"""

from __future__ import annotations

import torch


class Inpainter:
    """Base class: validates inputs, counts passes; subclasses implement :meth:`_paint`."""

    def __init__(self) -> None:
        self.forward_passes = 0

    def paint(self, images: torch.Tensor, regions: torch.Tensor, *, num_samples: int = 1, seed: int = 0) -> torch.Tensor:
        """Fill the regions.

        images: (N, H, W, 3) float in [0, 1]; regions: (N, H, W) bool, True = to be painted.
        Returns (N, num_samples, H, W, 3) float in [0, 1]; sample ``s`` of image ``n`` is
        deterministic given ``seed``.
        """
        if images.dim() != 4 or images.shape[-1] != 3:
            raise ValueError(f"images: expected (N, H, W, 3), got shape {tuple(images.shape)}")
        if regions.shape != images.shape[:3]:
            raise ValueError(f"regions: expected shape {tuple(images.shape[:3])} to match images, got {tuple(regions.shape)}")
        if num_samples < 1:
            raise ValueError(f"num_samples: expected >= 1, got {num_samples}")
        painted = self._paint(images.float().clamp(0, 1), regions.bool(), num_samples, seed)
        return painted.clamp(0, 1)

    def _paint(self, images: torch.Tensor, regions: torch.Tensor, num_samples: int, seed: int) -> torch.Tensor:
        raise NotImplementedError
