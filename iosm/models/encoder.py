"""The MTM's encoder: a transformers ResNet, pretrained from a local folder or randomly initialised.

The U-Net needs five feature maps (strides 2, 4, 8, 16, 32), like the torchvision ResNet U-Net the
original uses (skips at ``relu``, ``layer1..3``, bottleneck ``layer4``). ``ResNetBackbone``'s own
``stem`` output is taken after the max-pool (stride 4), so :func:`resnet_features` walks the
backbone's sub-modules to keep the stride-2 activation before the pool as well.
"""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import ResNetBackbone, ResNetConfig

STAGES = ["stem", "stage1", "stage2", "stage3", "stage4"]


def build_resnet_encoder(
    *,
    pretrained: str | None = None,
    depths: list[int] | tuple[int, ...] = (2, 2, 2, 2),
    hidden_sizes: list[int] | tuple[int, ...] = (64, 128, 256, 512),
    embedding_size: int = 64,
    layer_type: str = "basic",
) -> ResNetBackbone:
    """A ``ResNetBackbone``: ``from_pretrained(pretrained)`` when given, else random init.

    pretrained: a local folder written by ``save_pretrained`` (e.g. a downloaded
    ``microsoft/resnet-18``) or a hub id already in the local cache. The architecture arguments are
    ignored when weights are loaded (the folder's config is the architecture). Nothing is
    downloaded when the hub is offline; a missing folder or an unreachable id fails with a message
    saying what to provide.
    """
    if pretrained is None:
        config = ResNetConfig(
            depths=list(depths),
            hidden_sizes=list(hidden_sizes),
            embedding_size=embedding_size,
            layer_type=layer_type,
            out_features=STAGES,
        )
        return ResNetBackbone(config)
    return _load_pretrained(str(pretrained))


def _load_pretrained(pretrained: str) -> ResNetBackbone:
    looks_local = pretrained.startswith((".", "/", "~")) or Path(pretrained).expanduser().exists()
    if looks_local and not (Path(pretrained).expanduser() / "config.json").is_file():
        raise FileNotFoundError(
            f"model.encoder.pretrained={pretrained}: no transformers model folder there (expected "
            "config.json and weights written by save_pretrained); point it at a local ResNet folder, "
            "or set it to null for a randomly initialised encoder."
        )
    path = str(Path(pretrained).expanduser()) if looks_local else pretrained
    try:
        return ResNetBackbone.from_pretrained(
            path, out_features=STAGES, local_files_only=True  # a hub id only from the local cache
        )
    except OSError as error:
        raise FileNotFoundError(
            f"model.encoder.pretrained={pretrained}: could not load a transformers ResNet ({error}). "
            "Nothing is downloaded at run time: download it once (e.g. `hf download "
            "microsoft/resnet-18 --local-dir weights/resnet-18`) and give the local folder."
        ) from error


def is_pretrained(encoder: ResNetBackbone) -> bool:
    """True when the encoder's weights came from ``from_pretrained`` (not a random init)."""
    return bool(encoder.name_or_path)


def resnet_features(encoder: ResNetBackbone, pixel_values: torch.Tensor) -> list[torch.Tensor]:
    """Feature maps at strides 2, 4, 8, 16, 32 (channels: embedding, hidden_sizes[0..3]).

    pixel_values: (B, 3, H, W), normalised as the weights expect, H and W multiples of 32.
    Mirrors ``ResNetBackbone.forward`` (embedder, then the stages in order) but also returns the
    stem convolution's output before the max-pool, the U-Net's stride-2 skip.
    """
    stem = encoder.embedder.embedder(pixel_values)  # (B, E, H/2, W/2)
    hidden = encoder.embedder.pooler(stem)  # (B, E, H/4, W/4)
    features = [stem]
    for stage in encoder.encoder.stages:
        hidden = stage(hidden)
        features.append(hidden)
    return features


def encoder_channels(encoder: ResNetBackbone) -> list[int]:
    """Channels of :func:`resnet_features`' five maps."""
    return [encoder.config.embedding_size, *encoder.config.hidden_sizes]
