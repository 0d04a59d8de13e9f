"""The feature interface: dense per-pixel (or per-patch) descriptors of a batch of crops.

The refiner compares the descriptors of a painted crop with those of the original crop; the
squared distance, resized to the crop, is its difference map. ``forward_passes`` counts images
through the backbone (reported as ``feature_calls``).
"""

from __future__ import annotations

import torch


class FeatureExtractor:
    """Base class: validates inputs and counts passes; subclasses implement :meth:`_extract`.

    separator: the rule that suits these features' differences (see :mod:`iosm.refine.separators`),
    used by the refiner unless ``refiner.separator`` is set; None = the original's 2-means, right for
    DINO, whose differences are bimodal, wrong for colour, whose differences are heavy-tailed.
    """

    def __init__(self, *, separator=None) -> None:
        self.forward_passes = 0
        self.separator = separator

    def extract(self, images: torch.Tensor) -> torch.Tensor:
        """images: (N, H, W, 3) float in [0, 1] -> features (N, C, h, w) float (h, w may be coarser)."""
        if images.dim() != 4 or images.shape[-1] != 3:
            raise ValueError(f"images: expected (N, H, W, 3), got shape {tuple(images.shape)}")
        features = self._extract(images.float().clamp(0, 1))
        self.forward_passes += images.shape[0]
        return features

    def _extract(self, images: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError
