"""Training losses for the MTM: the original fusion loss, plus a Laplacian-pyramid term.

The original IOSM ``fusion_loss`` is Charbonnier(alpha) + Charbonnier(alpha * image vs gt * image)
+ SmoothL1(alpha), equally weighted. The middle term is the original's stand-in for the
composition loss of Deep Image Matting (Xu et al. 2017): without foreground and background layers
it compares the alpha-weighted image instead. Each term has a weight; 0 switches it off.
The Laplacian-pyramid loss (an L1 per band-pass level, weights 2^level, as in Hou & Liu 2019 and
GCA/FBA matting; the low-pass residual is left out) penalises blur at the boundary more than the
per-pixel terms do.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def charbonnier(pred: torch.Tensor, target: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """mean(sqrt((pred - target)^2 + eps^2)): an L1 that is smooth at 0 (eps as in the original)."""
    return torch.sqrt((pred - target) ** 2 + eps**2).mean()


def _gauss_kernel(channels: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    taps = torch.tensor([1.0, 4.0, 6.0, 4.0, 1.0], device=device, dtype=dtype)
    kernel = torch.outer(taps, taps) / 256.0  # 5x5 binomial, sums to 1
    return kernel.expand(channels, 1, 5, 5).contiguous()


def laplacian_pyramid(image: torch.Tensor, levels: int) -> list[torch.Tensor]:
    """``levels`` band-pass maps, finest first (image minus its blurred, down- and upsampled self).

    image: (B, C, H, W); level i is (B, C, H / 2^i, W / 2^i).
    """
    kernel = _gauss_kernel(image.shape[1], image.device, image.dtype)
    pyramid, current = [], image
    for _ in range(levels):
        blurred = F.conv2d(F.pad(current, (2, 2, 2, 2), mode="replicate"), kernel, groups=current.shape[1])
        down = blurred[..., ::2, ::2]
        up = F.interpolate(down, size=current.shape[-2:], mode="bilinear", align_corners=False)
        pyramid.append(current - up)
        current = down
    return pyramid


def laplacian_loss(pred: torch.Tensor, target: torch.Tensor, levels: int = 5) -> torch.Tensor:
    """sum over levels i of 2^i * L1 between the pyramids' level i; levels clipped to the input size."""
    levels = max(1, min(levels, int(math.log2(min(pred.shape[-2:]))) - 1))
    return sum(
        (2**level) * F.l1_loss(p, t)
        for level, (p, t) in enumerate(zip(laplacian_pyramid(pred, levels), laplacian_pyramid(target, levels)))
    )


class MattingLoss(nn.Module):
    """Weighted sum of the loss terms; returns the total and each term (for logging).

    alpha_pred, alpha_gt: (B, 1, H, W) in [0, 1]; image: (B, 3, H, W) in [0, 1].
    The defaults are the original fusion loss.
    """

    def __init__(
        self,
        *,
        alpha_weight: float = 1.0,
        composition_weight: float = 1.0,
        smooth_l1_weight: float = 1.0,
        laplacian_weight: float = 0.0,
        laplacian_levels: int = 5,
    ) -> None:
        super().__init__()
        self.weights = {
            "alpha": alpha_weight,
            "composition": composition_weight,
            "smooth_l1": smooth_l1_weight,
            "laplacian": laplacian_weight,
        }
        if not any(self.weights.values()):
            raise ValueError("model.loss: every term's weight is 0; give at least one a positive weight")
        self.laplacian_levels = laplacian_levels

    def forward(
        self, alpha_pred: torch.Tensor, alpha_gt: torch.Tensor, image: torch.Tensor
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        terms = {}
        if self.weights["alpha"]:
            terms["alpha"] = charbonnier(alpha_pred, alpha_gt)
        if self.weights["composition"]:
            terms["composition"] = charbonnier(alpha_pred * image, alpha_gt * image)
        if self.weights["smooth_l1"]:
            terms["smooth_l1"] = F.smooth_l1_loss(alpha_pred, alpha_gt)
        if self.weights["laplacian"]:
            terms["laplacian"] = laplacian_loss(alpha_pred, alpha_gt, self.laplacian_levels)
        total = sum(self.weights[name] * value for name, value in terms.items())
        return total, terms
