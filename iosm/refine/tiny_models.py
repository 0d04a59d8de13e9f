"""Tiny randomly initialised models, written with ``save_pretrained``, for tests and cost benchmarks.

They exercise the real loading and inference code paths (diffusers' inpainting pipeline, transformers'
ViT and DINOv2) in seconds on a CPU without downloading anything; their paintings and features are
noise, so only shapes, counts and plumbing are meaningful.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

# A byte-level BPE vocabulary just big enough for the empty and one-word prompts of the tests.
_LETTERS = [chr(c) for c in range(ord("a"), ord("z") + 1)]


def _write_clip_tokenizer(folder: Path):
    from transformers import CLIPTokenizer

    folder.mkdir(parents=True, exist_ok=True)
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1, "!": 2}
    for letter in _LETTERS:
        vocab[letter] = len(vocab)
        vocab[letter + "</w>"] = len(vocab)
    (folder / "vocab.json").write_text(json.dumps(vocab))
    (folder / "merges.txt").write_text("#version: 0.2\n")
    return CLIPTokenizer(str(folder / "vocab.json"), str(folder / "merges.txt"), pad_token="!", model_max_length=16)


def save_tiny_inpainting_pipeline(folder: str | Path, seed: int = 0) -> Path:
    """A Stable-Diffusion-style inpainting pipeline (9-channel UNet, 2-level VAE, 2-layer CLIP) in ``folder``."""
    from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionInpaintPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    folder = Path(folder)
    torch.manual_seed(seed)
    unet = UNet2DConditionModel(
        block_out_channels=(8, 16),
        layers_per_block=1,
        sample_size=16,
        in_channels=9,  # 4 noisy latents + 1 mask + 4 masked-image latents
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=16,
        attention_head_dim=4,
        norm_num_groups=4,
    )
    vae = AutoencoderKL(
        block_out_channels=(8, 16),
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
        up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"),
        latent_channels=4,
        norm_num_groups=4,
    )
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            vocab_size=64, hidden_size=16, intermediate_size=32, num_attention_heads=2, num_hidden_layers=2,
            max_position_embeddings=16, bos_token_id=0, eos_token_id=1, pad_token_id=2,
        )
    )
    tokenizer = _write_clip_tokenizer(folder / "_tokenizer_source")
    pipeline = StableDiffusionInpaintPipeline(
        unet=unet, vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, scheduler=DDIMScheduler(steps_offset=1),
        safety_checker=None, feature_extractor=None, requires_safety_checker=False,
    )
    pipeline.save_pretrained(folder)
    return folder


def save_tiny_vit(folder: str | Path, kind: str = "dino", seed: int = 0) -> Path:
    """A 2-layer ``ViTModel`` (``kind="dino"``, patch 8) or ``Dinov2Model`` (``kind="dinov2"``, patch 14)."""
    from transformers import Dinov2Config, Dinov2Model, ViTConfig, ViTModel

    torch.manual_seed(seed)
    common = dict(hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32, image_size=56)
    if kind == "dino":
        model = ViTModel(ViTConfig(patch_size=8, **common))
    elif kind == "dinov2":
        model = Dinov2Model(Dinov2Config(patch_size=14, **common))
    else:
        raise ValueError(f"kind: expected 'dino' or 'dinov2', got {kind!r}")
    model.save_pretrained(folder)
    return Path(folder)
