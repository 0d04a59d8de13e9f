"""The mask-to-matte (MTM) network: image + binary mask -> alpha matte, a ResNet U-Net.

Follows the original IOSM ``model730_refine.Unet`` (see ../shared/ALGORITHM.md, Stage 2): a ResNet
encoder with skips at strides 2/4/8/16, a mask-driven spatial attention on the stride-32 bottleneck,
five transposed-conv up-blocks (256/128/64/32/16 filters), a 1x1 conv to a coarse alpha, a small
conv head on [coarse alpha, image], and ``(tanh(x) + 1) / 2`` as the output. Four switches improve
on it (all off in ``conf/model/mtm_faithful.yaml``, measured in benchmarks/results/mtm_quality.md):

- ``attention="mask_features"``: query and key see the bottleneck features as well as the pooled
  mask (the original's are 1x1 convs of a 1-channel mask, so every position with the same mask
  value gets the same query and the attention can only split "inside" from "outside");
- ``mask_guidance``: the mask, resized, is concatenated to every decoder block and to the head, so
  the decoder knows where the mask's boundary is at full resolution (in the original the mask only
  enters at stride 32);
- ``head_residual``: the head predicts a correction to the coarse alpha's logit instead of a new
  alpha, so it starts from the coarse answer;
- ``mask_residual``: the output is ``clip(mask + tanh(x), 0, 1)`` instead of ``(tanh(x) + 1) / 2``,
  with the output layers initialised at zero: the untrained network answers exactly the mask, and
  training learns corrections (soft boundaries, leaks, holes) with full gradients from the first
  step (a logit offset towards the mask would saturate the tanh and stall them).
"""

from __future__ import annotations

import warnings
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from transformers import ResNetBackbone, ResNetConfig

from iosm.models.encoder import encoder_channels, is_pretrained, resnet_features

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# The encoder downsamples five times; inputs are padded to a multiple of this and cropped back.
STRIDE = 32
ATTENTION_KINDS = ("mask", "mask_features", "none")
NORM_KINDS = ("batch", "group")
GROUP_NORM_GROUPS = 8
# What the network's mask channel holds: a binary mask, or the classical matte's alpha (model=mtm_guided,
# which then corrects that alpha: with mask_residual the output is clip(alpha + tanh(x), 0, 1)). Stored in
# the checkpoint so that inference feeds it the same (iosm.matting.mtm.MTMMatte).
MASK_INPUTS = ("mask", "classical_alpha")


class MaskSpatialAttention(nn.Module):
    """Self-attention over bottleneck positions whose affinities come from the mask.

    features: (B, C, h, w); mask: (B, 1, h, w) the mask average-pooled to the bottleneck.
    Returns ``features + gamma * attended`` with ``gamma`` learned from 0 (the block starts as the
    identity, as in SAGAN). ``use_features=True`` feeds [features, mask] to query and key.
    """

    def __init__(self, channels: int, *, key_channels: int = 8, use_features: bool = False) -> None:
        super().__init__()
        qk_in = channels + 1 if use_features else 1
        self.use_features = use_features
        self.query = nn.Conv2d(qk_in, key_channels, kernel_size=1)
        self.key = nn.Conv2d(qk_in, key_channels, kernel_size=1)
        self.value = nn.Conv2d(channels, channels, kernel_size=1)
        self.gamma = nn.Parameter(torch.zeros(1))

    def forward(self, features: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        batch, channels, height, width = features.shape
        qk_input = torch.cat([features, mask], dim=1) if self.use_features else mask
        query = self.query(qk_input).flatten(2).transpose(1, 2)  # (B, N, k)
        key = self.key(qk_input).flatten(2)  # (B, k, N)
        affinity = torch.softmax(torch.bmm(query, key), dim=-1)  # (B, N, N)
        value = self.value(features).flatten(2)  # (B, C, N)
        attended = torch.bmm(value, affinity.transpose(1, 2))  # (B, C, N)
        return features + self.gamma * attended.view(batch, channels, height, width)


def conv_bn_relu(in_channels: int, out_channels: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


def replace_batch_norms(module: nn.Module) -> None:
    """Swap every BatchNorm2d under ``module`` for a GroupNorm of the same width, in place.

    Why: with batches of a few crops, batch norm's running statistics drift between epochs and an
    evaluation on whole images can swing far from training (measured: a guided MTM's validation SAD
    jumping from 0.93 to 7.9 while its training loss kept falling); group norm has no running
    statistics, so training and evaluation see the same network.
    """
    for name, child in module.named_children():
        if isinstance(child, nn.BatchNorm2d):
            groups = next(g for g in (GROUP_NORM_GROUPS, 4, 2, 1) if child.num_features % g == 0)
            setattr(module, name, nn.GroupNorm(groups, child.num_features))
        else:
            replace_batch_norms(child)


class UpBlock(nn.Module):
    """x2 upsampling by a 4x4 stride-2 transposed conv, then concat the skip and a 3x3 conv."""

    def __init__(self, in_channels: int, skip_channels: int, out_channels: int) -> None:
        super().__init__()
        self.up = nn.Sequential(
            nn.ConvTranspose2d(in_channels, out_channels, kernel_size=4, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
        )
        self.fuse = conv_bn_relu(out_channels + skip_channels, out_channels)

    def forward(self, hidden: torch.Tensor, skip: torch.Tensor | None) -> torch.Tensor:
        hidden = self.up(hidden)
        return self.fuse(hidden if skip is None else torch.cat([hidden, skip], dim=1))


class MTMNet(nn.Module):
    """Image and mask in, alpha out.

    image: (B, 3, H, W) float in [0, 1] (ImageNet-normalised inside when ``normalize_input``);
    mask: (B, 1, H, W) float in {0, 1}. Any H, W: padded (edge-replicated) to a multiple of 32 and
    cropped back. Returns alpha (B, 1, H, W) in [0, 1].

    encoder: a transformers ``ResNetBackbone`` (see iosm.models.encoder). ``freeze_encoder`` stops
    its gradients and keeps its batch-norm statistics fixed; freezing a randomly initialised encoder
    would leave random features, so then it warns and trains the encoder instead.
    """

    def __init__(
        self,
        *,
        encoder: ResNetBackbone,
        freeze_encoder: bool = False,
        decoder_channels: tuple[int, ...] | list[int] = (256, 128, 64, 32, 16),
        head_channels: int = 32,
        attention: str = "mask",
        attention_key_channels: int = 8,
        mask_guidance: bool = False,
        head_residual: bool = False,
        mask_residual: bool = False,
        normalize_input: bool = True,
        mask_input: str = "mask",
        norm: str = "batch",
    ) -> None:
        super().__init__()
        if norm not in NORM_KINDS:
            raise ValueError(f"model.net.norm={norm!r}: expected one of {NORM_KINDS}")
        if norm == "group" and is_pretrained(encoder):
            raise ValueError("model.net.norm=group replaces the encoder's batch norms, which would discard the "
                             f"pretrained statistics of {encoder.name_or_path}; use model.net.norm=batch with it")
        if mask_input not in MASK_INPUTS:
            raise ValueError(f"model.net.mask_input={mask_input!r}: expected one of {MASK_INPUTS}")
        if attention not in ATTENTION_KINDS:
            raise ValueError(f"model.net.attention={attention!r}: expected one of {ATTENTION_KINDS}")
        if len(decoder_channels) != 5:
            raise ValueError(
                f"model.net.decoder_channels={list(decoder_channels)}: expected 5 values, one per "
                "up-block (strides 32 -> 1)"
            )
        # Plain values, stored in checkpoints so that inference rebuilds the same network.
        self.spec: dict[str, Any] = {
            "encoder_config": _plain_config(encoder.config),
            "decoder_channels": list(decoder_channels),
            "head_channels": head_channels,
            "attention": attention,
            "attention_key_channels": attention_key_channels,
            "mask_guidance": mask_guidance,
            "head_residual": head_residual,
            "mask_residual": mask_residual,
            "normalize_input": normalize_input,
            "mask_input": mask_input,
            "norm": norm,
        }
        if freeze_encoder and not is_pretrained(encoder):
            warnings.warn(
                "model.freeze_encoder=true but the encoder has no pretrained weights "
                "(model.encoder.pretrained is null): training the encoder instead of freezing "
                "random features.",
                stacklevel=2,
            )
            freeze_encoder = False
        self.encoder = encoder
        self.freeze_encoder = freeze_encoder
        self.encoder.requires_grad_(not freeze_encoder)

        skips = encoder_channels(encoder)  # strides 2, 4, 8, 16, 32
        bottleneck = skips[-1]
        self.attention = (
            None
            if attention == "none"
            else MaskSpatialAttention(
                bottleneck, key_channels=attention_key_channels, use_features=attention == "mask_features"
            )
        )
        guide = 1 if mask_guidance else 0
        self.mask_guidance = mask_guidance
        self.head_residual = head_residual
        self.mask_residual = mask_residual
        # Skips for the up-blocks that land on strides 16, 8, 4, 2, 1 (none at full resolution).
        skip_for_block = [skips[3], skips[2], skips[1], skips[0], 0]
        blocks, in_channels = [], bottleneck
        for out_channels, skip_channels in zip(decoder_channels, skip_for_block):
            blocks.append(UpBlock(in_channels + guide, skip_channels, out_channels))
            in_channels = out_channels
        self.decoder = nn.ModuleList(blocks)
        self.to_coarse = nn.Conv2d(in_channels, 1, kernel_size=1)
        self.head = nn.Sequential(
            conv_bn_relu(1 + 3 + guide, head_channels),
            conv_bn_relu(head_channels, head_channels),
            nn.Conv2d(head_channels, 1, kernel_size=3, padding=1),
        )
        if mask_residual:
            # Zero-initialised output layers: the untrained network answers exactly the mask, and
            # the first steps learn corrections instead of undoing random noise (cf. ControlNet).
            for layer in (self.to_coarse, self.head[-1]):
                nn.init.zeros_(layer.weight)
                nn.init.zeros_(layer.bias)
        if norm == "group":
            replace_batch_norms(self)
        self.normalize_input = normalize_input
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> MTMNet:
        """The network described by ``spec`` (``MTMNet.spec``), randomly initialised: load weights next."""
        kwargs = dict(spec)
        encoder = ResNetBackbone(ResNetConfig.from_dict(kwargs.pop("encoder_config")))
        return cls(encoder=encoder, **kwargs)

    def train(self, mode: bool = True) -> MTMNet:
        super().train(mode)
        if self.freeze_encoder:
            self.encoder.eval()  # frozen weights keep their batch-norm statistics too
        return self

    def forward(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        height, width = image.shape[-2:]
        pad = (0, -width % STRIDE, 0, -height % STRIDE)
        if any(pad):
            image = F.pad(image, pad, mode="replicate")
            mask = F.pad(mask, pad, mode="replicate")
        if self.normalize_input:
            image = (image - self.mean) / self.std
        features = resnet_features(self.encoder, image)
        hidden = features[-1]
        if self.attention is not None:
            pooled_mask = F.adaptive_avg_pool2d(mask, hidden.shape[-2:])
            hidden = self.attention(hidden, pooled_mask)
        for block, skip in zip(self.decoder, [features[3], features[2], features[1], features[0], None]):
            if self.mask_guidance:
                hidden = torch.cat([hidden, F.adaptive_avg_pool2d(mask, hidden.shape[-2:])], dim=1)
            hidden = block(hidden, skip)
        coarse_logit = self.to_coarse(hidden)
        coarse_alpha = self._to_alpha(coarse_logit, mask)
        head_input = [coarse_alpha, image, mask] if self.mask_guidance else [coarse_alpha, image]
        logit = self.head(torch.cat(head_input, dim=1))
        if self.head_residual:
            logit = logit + coarse_logit
        return self._to_alpha(logit, mask)[..., :height, :width]

    def _to_alpha(self, logit: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        if self.mask_residual:
            return (mask + torch.tanh(logit)).clamp(0, 1)
        return (torch.tanh(logit) + 1) / 2


def _plain_config(config: ResNetConfig) -> dict[str, Any]:
    """The encoder's config as plain Python values (checkpoints are loaded with weights_only=True)."""
    keys = ("num_channels", "embedding_size", "hidden_sizes", "depths", "layer_type", "hidden_act",
            "downsample_in_first_stage", "downsample_in_bottleneck", "out_features")
    return {key: getattr(config, key) for key in keys}
