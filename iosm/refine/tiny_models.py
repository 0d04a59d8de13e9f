"""Tiny randomly initialised models, written with ``save_pretrained`` (or, for the original's latent
diffusion inpainter, in the CompVis format), for tests and cost benchmarks.

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


COMPVIS_MC, COMPVIS_MULT, COMPVIS_BLOCKS, COMPVIS_HEADS = 32, (1, 2), 1, 2  # UNet: channels, channel_mult, res blocks, heads
_VQ_CH, _VQ_MULT, _Z, _EMBED, _CODES = 32, (1, 2), 3, 3, 16


def _unet_shapes() -> dict:
    """openaimodel.UNetModel(in 7, out 3, attention at ds 2, resblock_updown) parameter names -> shapes."""
    shapes = {"time_embed.0.weight": (4 * COMPVIS_MC, COMPVIS_MC), "time_embed.0.bias": (4 * COMPVIS_MC,),
              "time_embed.2.weight": (4 * COMPVIS_MC, 4 * COMPVIS_MC), "time_embed.2.bias": (4 * COMPVIS_MC,),
              "input_blocks.0.0.weight": (COMPVIS_MC, 7, 3, 3), "input_blocks.0.0.bias": (COMPVIS_MC,),
              "out.0.weight": (COMPVIS_MC,), "out.0.bias": (COMPVIS_MC,), "out.2.weight": (3, COMPVIS_MC, 3, 3), "out.2.bias": (3,)}

    def res(prefix, cin, cout):
        shapes.update({f"{prefix}.in_layers.0.weight": (cin,), f"{prefix}.in_layers.0.bias": (cin,),
                       f"{prefix}.in_layers.2.weight": (cout, cin, 3, 3), f"{prefix}.in_layers.2.bias": (cout,),
                       f"{prefix}.emb_layers.1.weight": (cout, 4 * COMPVIS_MC), f"{prefix}.emb_layers.1.bias": (cout,),
                       f"{prefix}.out_layers.0.weight": (cout,), f"{prefix}.out_layers.0.bias": (cout,),
                       f"{prefix}.out_layers.3.weight": (cout, cout, 3, 3), f"{prefix}.out_layers.3.bias": (cout,)})
        if cin != cout:
            shapes.update({f"{prefix}.skip_connection.weight": (cout, cin, 1, 1), f"{prefix}.skip_connection.bias": (cout,)})

    def attn(prefix, c):
        shapes.update({f"{prefix}.norm.weight": (c,), f"{prefix}.norm.bias": (c,), f"{prefix}.qkv.weight": (3 * c, c, 1),
                       f"{prefix}.qkv.bias": (3 * c,), f"{prefix}.proj_out.weight": (c, c, 1), f"{prefix}.proj_out.bias": (c,)})

    channels, index, skips = COMPVIS_MC, 1, [COMPVIS_MC]
    for level, mult in enumerate(COMPVIS_MULT):
        for _ in range(COMPVIS_BLOCKS):
            res(f"input_blocks.{index}.0", channels, COMPVIS_MC * mult)
            channels = COMPVIS_MC * mult
            if level == 1:
                attn(f"input_blocks.{index}.1", channels)
            skips.append(channels)
            index += 1
        if level != len(COMPVIS_MULT) - 1:
            res(f"input_blocks.{index}.0", channels, channels)
            skips.append(channels)
            index += 1
    res("middle_block.0", channels, channels)
    attn("middle_block.1", channels)
    res("middle_block.2", channels, channels)
    index = 0
    for level, mult in reversed(list(enumerate(COMPVIS_MULT))):
        for block in range(COMPVIS_BLOCKS + 1):
            res(f"output_blocks.{index}.0", channels + skips.pop(), COMPVIS_MC * mult)
            channels = COMPVIS_MC * mult
            slot = 1
            if level == 1:
                attn(f"output_blocks.{index}.1", channels)
                slot = 2
            if level and block == COMPVIS_BLOCKS:
                res(f"output_blocks.{index}.{slot}", channels, channels)
            index += 1
    return shapes


def _vq_shapes() -> dict:
    """taming-transformers Encoder/Decoder (attn_type none) + VectorQuantizer names -> shapes."""
    shapes = {"quant_conv.weight": (_EMBED, _Z, 1, 1), "quant_conv.bias": (_EMBED,), "post_quant_conv.weight": (_Z, _EMBED, 1, 1),
              "post_quant_conv.bias": (_Z,), "quantize.embedding.weight": (_CODES, _EMBED)}

    def res(prefix, cin, cout):
        shapes.update({f"{prefix}.norm1.weight": (cin,), f"{prefix}.norm1.bias": (cin,), f"{prefix}.conv1.weight": (cout, cin, 3, 3),
                       f"{prefix}.conv1.bias": (cout,), f"{prefix}.norm2.weight": (cout,), f"{prefix}.norm2.bias": (cout,),
                       f"{prefix}.conv2.weight": (cout, cout, 3, 3), f"{prefix}.conv2.bias": (cout,)})
        if cin != cout:
            shapes.update({f"{prefix}.nin_shortcut.weight": (cout, cin, 1, 1), f"{prefix}.nin_shortcut.bias": (cout,)})

    def conv(name, cout, cin, k=3):
        shapes.update({f"{name}.weight": (cout, cin, k, k), f"{name}.bias": (cout,)})

    conv("encoder.conv_in", _VQ_CH, 3)
    block_in = _VQ_CH
    for level, mult in enumerate(_VQ_MULT):
        for block in range(2):
            res(f"encoder.down.{level}.block.{block}", block_in, _VQ_CH * mult)
            block_in = _VQ_CH * mult
        if level != len(_VQ_MULT) - 1:
            conv(f"encoder.down.{level}.downsample.conv", block_in, block_in)
    for coder in ("encoder", "decoder"):
        res(f"{coder}.mid.block_1", block_in, block_in)
        res(f"{coder}.mid.block_2", block_in, block_in)
    shapes.update({"encoder.norm_out.weight": (block_in,), "encoder.norm_out.bias": (block_in,)})
    conv("encoder.conv_out", _Z, block_in)
    conv("decoder.conv_in", block_in, _Z)
    for level, mult in reversed(list(enumerate(_VQ_MULT))):
        for block in range(3):
            res(f"decoder.up.{level}.block.{block}", block_in, _VQ_CH * mult)
            block_in = _VQ_CH * mult
        if level != 0:
            conv(f"decoder.up.{level}.upsample.conv", block_in, block_in)
    shapes.update({"decoder.norm_out.weight": (block_in,), "decoder.norm_out.bias": (block_in,)})
    conv("decoder.conv_out", 3, block_in)
    return shapes


def save_tiny_compvis_inpainting(folder: str | Path, *, ema: bool = True) -> tuple[Path, dict]:
    """A CompVis latent-diffusion inpainting folder: ``config.yaml`` (inpainting_big's structure, tiny)
    and ``last.ckpt`` ``{"state_dict": ...}`` with random weights (and an EMA copy). Returns (folder, state).
    The weight names and shapes are listed from openaimodel / taming-transformers, not from the converter."""
    import yaml

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    config = {"model": {"target": "ldm.models.diffusion.ddpm.LatentDiffusion", "params": {
        "linear_start": 0.0015, "linear_end": 0.0205, "timesteps": 1000, "concat_mode": True, "cond_stage_config": "__is_first_stage__",
        "unet_config": {"target": "ldm.modules.diffusionmodules.openaimodel.UNetModel", "params": {
            "image_size": 16, "in_channels": 7, "out_channels": 3, "model_channels": COMPVIS_MC, "attention_resolutions": [2],
            "num_res_blocks": COMPVIS_BLOCKS, "channel_mult": list(COMPVIS_MULT), "num_heads": COMPVIS_HEADS, "resblock_updown": True}},
        "first_stage_config": {"target": "ldm.models.autoencoder.VQModelInterface", "params": {
            "embed_dim": _EMBED, "n_embed": _CODES, "ddconfig": {
                "attn_type": "none", "double_z": False, "z_channels": _Z, "resolution": 64, "in_channels": 3, "out_ch": 3, "ch": _VQ_CH,
                "ch_mult": list(_VQ_MULT), "num_res_blocks": 2, "attn_resolutions": [], "dropout": 0.0}}}}}}
    (folder / "config.yaml").write_text(yaml.safe_dump(config))
    generator = torch.Generator().manual_seed(0)

    def random(shape):
        return 0.1 * torch.randn(shape, generator=generator)

    state = {f"model.diffusion_model.{k}": random(s) for k, s in _unet_shapes().items()}
    state.update({f"first_stage_model.{k}": random(s) for k, s in _vq_shapes().items()})
    state.update({"cond_stage_model." + k[len("first_stage_model."):]: v for k, v in state.items() if k.startswith("first_stage_model.")})  # __is_first_stage__
    if ema:
        state.update({"model_ema." + k[len("model."):].replace(".", ""): v + 0.01 for k, v in state.items() if k.startswith("model.diffusion_model.")})
        state.update({"model_ema.decay": torch.tensor(0.9999), "model_ema.num_updates": torch.tensor(10)})
    state["betas"] = torch.zeros(1000)  # the schedule's buffers sit beside the networks
    torch.save({"state_dict": state}, folder / "last.ckpt")
    return folder, state
