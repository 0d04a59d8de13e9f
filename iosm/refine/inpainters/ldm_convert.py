"""Load a CompVis latent-diffusion inpainting checkpoint as diffusers components.

The original paints its inpaint stages with CompVis ``models/ldm/inpainting_big`` (a folder holding
``config.yaml`` and ``last.ckpt``): a VQ-f4 autoencoder (``ldm.models.autoencoder.VQModelInterface``,
the taming-transformers encoder/decoder) and an ``openaimodel.UNetModel`` whose input is the noisy
latent concatenated with the encoded masked image and the resized mask. This module rebuilds both as
diffusers' :class:`~diffusers.VQModel` and :class:`~diffusers.UNet2DModel` and renames every weight
(the legacy attention's interleaved ``qkv`` is split per head into ``to_q/to_k/to_v``). Every weight
of the two networks must be used and every diffusers parameter filled, or loading fails naming the
keys. The sampling weights are the EMA copy when the checkpoint has one (the original samples inside
``model.ema_scope()``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

UNET_PREFIX, EMA_PREFIX, VQ_PREFIX = "model.diffusion_model.", "model_ema.diffusion_model", "first_stage_model."


@dataclass
class CompVisInpainting:
    """``vqvae``: diffusers VQModel; ``unet``: diffusers UNet2DModel; ``alphas_cumprod`` (T,) float64."""

    vqvae: torch.nn.Module
    unet: torch.nn.Module
    alphas_cumprod: torch.Tensor


def _params(section, key: str, folder: Path):
    if key not in section:
        raise ValueError(f"{folder / 'config.yaml'}: no {key!r} in {list(section)}; expected a CompVis latent-diffusion inpainting config")
    return section[key]


def _resnet(mapping: dict, target: str, source: str, unet: bool) -> None:
    names = (
        {"norm1": "in_layers.0", "conv1": "in_layers.2", "time_emb_proj": "emb_layers.1", "norm2": "out_layers.0",
         "conv2": "out_layers.3", "conv_shortcut": "skip_connection"}
        if unet
        else {"norm1": "norm1", "conv1": "conv1", "norm2": "norm2", "conv2": "conv2", "conv_shortcut": "nin_shortcut"}
    )
    for new, old in names.items():
        for kind in ("weight", "bias"):
            mapping[f"{target}.{new}.{kind}"] = f"{source}.{old}.{kind}"


def _attention(mapping: dict, target: str, source: str, unet: bool) -> None:
    """Attention weights; ``("qkv", source, part)`` marks the UNet's fused legacy projection."""
    for kind in ("weight", "bias"):
        mapping[f"{target}.group_norm.{kind}"] = f"{source}.norm.{kind}"
        mapping[f"{target}.to_out.0.{kind}"] = f"{source}.proj_out.{kind}"
        for part, name in enumerate(("to_q", "to_k", "to_v")):
            mapping[f"{target}.{name}.{kind}"] = ("qkv", f"{source}.qkv.{kind}", part) if unet else f"{source}.{'qkv'[part]}.{kind}"


def _unet_mapping(params: dict, levels: int, attention_levels: set[int], updown: bool) -> dict:
    mapping = {f"{new}.{kind}": f"{old}.{kind}" for new, old in [
        ("conv_in", "input_blocks.0.0"), ("time_embedding.linear_1", "time_embed.0"), ("time_embedding.linear_2", "time_embed.2"),
        ("conv_norm_out", "out.0"), ("conv_out", "out.2")] for kind in ("weight", "bias")}
    blocks = int(params["num_res_blocks"])
    index = 1
    for level in range(levels):
        for block in range(blocks):
            _resnet(mapping, f"down_blocks.{level}.resnets.{block}", f"input_blocks.{index}.0", True)
            if level in attention_levels:
                _attention(mapping, f"down_blocks.{level}.attentions.{block}", f"input_blocks.{index}.1", True)
            index += 1
        if level != levels - 1:
            if updown:
                _resnet(mapping, f"down_blocks.{level}.downsamplers.0", f"input_blocks.{index}.0", True)
            else:
                mapping.update({f"down_blocks.{level}.downsamplers.0.conv.{k}": f"input_blocks.{index}.0.op.{k}" for k in ("weight", "bias")})
            index += 1
    _resnet(mapping, "mid_block.resnets.0", "middle_block.0", True)
    _attention(mapping, "mid_block.attentions.0", "middle_block.1", True)
    _resnet(mapping, "mid_block.resnets.1", "middle_block.2", True)
    index = 0
    for up, level in enumerate(reversed(range(levels))):
        for block in range(blocks + 1):
            _resnet(mapping, f"up_blocks.{up}.resnets.{block}", f"output_blocks.{index}.0", True)
            slot = 1
            if level in attention_levels:
                _attention(mapping, f"up_blocks.{up}.attentions.{block}", f"output_blocks.{index}.1", True)
                slot = 2
            if level and block == blocks:
                if updown:
                    _resnet(mapping, f"up_blocks.{up}.upsamplers.0", f"output_blocks.{index}.{slot}", True)
                else:
                    mapping.update({f"up_blocks.{up}.upsamplers.0.conv.{k}": f"output_blocks.{index}.{slot}.conv.{k}" for k in ("weight", "bias")})
            index += 1
    return mapping


def _vq_mapping(levels: int, blocks: int, mid_attention: bool) -> dict:
    mapping = {f"{new}.{kind}": f"{new}.{kind}" for new in ("quant_conv", "post_quant_conv") for kind in ("weight", "bias")}
    mapping["quantize.embedding.weight"] = "quantize.embedding.weight"
    for coder in ("encoder", "decoder"):
        for new, old in [("conv_in", "conv_in"), ("conv_norm_out", "norm_out"), ("conv_out", "conv_out")]:
            mapping.update({f"{coder}.{new}.{k}": f"{coder}.{old}.{k}" for k in ("weight", "bias")})
        _resnet(mapping, f"{coder}.mid_block.resnets.0", f"{coder}.mid.block_1", False)
        _resnet(mapping, f"{coder}.mid_block.resnets.1", f"{coder}.mid.block_2", False)
        if mid_attention:
            _attention(mapping, f"{coder}.mid_block.attentions.0", f"{coder}.mid.attn_1", False)
    for level in range(levels):
        for block in range(blocks):
            _resnet(mapping, f"encoder.down_blocks.{level}.resnets.{block}", f"encoder.down.{level}.block.{block}", False)
        if level != levels - 1:
            mapping.update({f"encoder.down_blocks.{level}.downsamplers.0.conv.{k}": f"encoder.down.{level}.downsample.conv.{k}" for k in ("weight", "bias")})
    for up, level in enumerate(reversed(range(levels))):
        for block in range(blocks + 1):
            _resnet(mapping, f"decoder.up_blocks.{up}.resnets.{block}", f"decoder.up.{level}.block.{block}", False)
        if level != 0:
            mapping.update({f"decoder.up_blocks.{up}.upsamplers.0.conv.{k}": f"decoder.up.{level}.upsample.conv.{k}" for k in ("weight", "bias")})
    return mapping


def _fill(module: torch.nn.Module, mapping: dict, weights: dict, fetch, heads_of, what: str, checkpoint: Path) -> set[str]:
    """Copy every parameter of ``module`` from ``weights`` (``fetch`` maps a CompVis name to its
    checkpoint key); returns the checkpoint keys used."""
    state, used, missing = {}, set(), []
    for name, target in module.state_dict().items():
        source = mapping.get(name)
        if source is None:
            missing.append(name)
            continue
        part = None
        if isinstance(source, tuple):  # ("qkv", key, 0|1|2): the legacy fused projection, per head [q, k, v]
            _, source, part = source
        key = fetch(source)
        if key not in weights:
            missing.append(f"{name} <- {key}")
            continue
        used.add(key)
        value = weights[key]
        if part is not None:
            channels = value.shape[0] // 3
            heads = heads_of(channels)
            value = value.reshape(heads, 3, channels // heads, *value.shape[1:])[:, part].reshape(channels, *value.shape[1:])
        state[name] = value.reshape(target.shape).to(target.dtype)
    if missing:
        raise ValueError(f"{checkpoint}: the {what} lacks weights for {missing[:5]} ({len(missing)} in all); is it a CompVis inpainting checkpoint of this config?")
    module.load_state_dict(state)
    return used


def _set_heads(unet: torch.nn.Module, heads: int) -> None:
    """openaimodel keeps the head *count* fixed across levels; diffusers' UNet2DModel fixes the head
    size, so each attention is told its count (and scale) after construction."""
    from diffusers.models.attention_processor import Attention

    for module in unet.modules():
        if isinstance(module, Attention):
            channels = module.to_q.out_features
            module.heads = module.sliceable_head_dim = heads
            module.scale = (channels // heads) ** -0.5


def load_compvis_inpainting(folder: str | Path, *, use_ema: bool = True) -> CompVisInpainting:
    """``folder``: a CompVis model folder (``config.yaml`` + ``last.ckpt``, e.g. ``models/ldm/inpainting_big``)."""
    import diffusers
    from omegaconf import OmegaConf

    folder = Path(folder).expanduser()
    config_path, checkpoint = folder / "config.yaml", folder / "last.ckpt"
    for path in (config_path, checkpoint):
        if not path.is_file():
            raise FileNotFoundError(f"inpainter.model_path={folder}: no {path.name}; expected a CompVis folder with config.yaml and last.ckpt")
    model = _params(OmegaConf.load(config_path), "model", folder)
    params = _params(model, "params", folder)
    unet_params = _params(_params(params, "unet_config", folder), "params", folder)
    vq_params = _params(_params(params, "first_stage_config", folder), "params", folder)
    dd = _params(vq_params, "ddconfig", folder)
    if list(dd.get("attn_resolutions", [])):
        raise ValueError(f"{config_path}: attention inside the autoencoder's down/up blocks is not supported (attn_resolutions={list(dd.attn_resolutions)})")
    loaded = torch.load(checkpoint, map_location="cpu", weights_only=False)
    weights = loaded.get("state_dict", loaded)

    mults = list(unet_params["channel_mult"])
    channels = int(unet_params["model_channels"])
    attention_levels = {level for level in range(len(mults)) if 2**level in set(unet_params.get("attention_resolutions", []))}
    updown = bool(unet_params.get("resblock_updown", False))
    head_channels = int(unet_params.get("num_head_channels", -1))
    heads = int(unet_params.get("num_heads", -1)) if head_channels == -1 else None
    plain = "ResnetDownsampleBlock2D" if updown else "DownBlock2D"
    unet = diffusers.UNet2DModel(
        sample_size=int(unet_params.get("image_size", 64)),
        in_channels=int(unet_params["in_channels"]),
        out_channels=int(unet_params["out_channels"]),
        block_out_channels=tuple(channels * m for m in mults),
        layers_per_block=int(unet_params["num_res_blocks"]),
        down_block_types=tuple("AttnDownBlock2D" if level in attention_levels else plain for level in range(len(mults))),
        up_block_types=tuple("AttnUpBlock2D" if level in attention_levels else plain.replace("Down", "Up")
                             for level in reversed(range(len(mults)))),
        downsample_type="resnet" if updown else "conv",
        upsample_type="resnet" if updown else "conv",
        attention_head_dim=None if heads else head_channels,
        norm_num_groups=32,
        norm_eps=1e-5,
    )
    ema = use_ema and any(key.startswith(EMA_PREFIX) for key in weights)

    def unet_key(key: str) -> str:  # LitEma names its copies without dots
        return EMA_PREFIX + key.replace(".", "") if ema else UNET_PREFIX + key

    def heads_of(width: int) -> int:
        return heads if heads else width // head_channels

    used = _fill(unet, _unet_mapping(unet_params, len(mults), attention_levels, updown), weights, unet_key, heads_of, "UNet", checkpoint)
    if heads:
        _set_heads(unet, heads)
    vq_mults = list(dd["ch_mult"])
    vqvae = diffusers.VQModel(
        in_channels=int(dd["in_channels"]),
        out_channels=int(dd["out_ch"]),
        down_block_types=("DownEncoderBlock2D",) * len(vq_mults),
        up_block_types=("UpDecoderBlock2D",) * len(vq_mults),
        block_out_channels=tuple(int(dd["ch"]) * m for m in vq_mults),
        layers_per_block=int(dd["num_res_blocks"]),
        latent_channels=int(dd["z_channels"]),
        num_vq_embeddings=int(vq_params["n_embed"]),
        vq_embed_dim=int(vq_params["embed_dim"]),
        scaling_factor=1.0,
        mid_block_add_attention=dd.get("attn_type", "vanilla") != "none",
    )
    used |= _fill(vqvae, _vq_mapping(len(vq_mults), int(dd["num_res_blocks"]), dd.get("attn_type", "vanilla") != "none"),
                  weights, lambda key: VQ_PREFIX + key, None, "autoencoder", checkpoint)
    # The raw weights, when the EMA copy is used, and the loss's and schedule's buffers have no place.
    networks = [k for k in weights if k.startswith((EMA_PREFIX if ema else UNET_PREFIX, VQ_PREFIX)) and not k.startswith(VQ_PREFIX + "loss.")]
    unused = sorted(k for k in networks if k not in used and k not in ("model_ema.decay", "model_ema.num_updates"))
    if unused:
        raise ValueError(f"{checkpoint}: {len(unused)} weights have no place in the converted model, e.g. {unused[:5]}; the config does not describe this checkpoint")
    start, end, steps = float(params.get("linear_start", 0.00085)), float(params.get("linear_end", 0.012)), int(params.get("timesteps", 1000))
    betas = torch.linspace(start**0.5, end**0.5, steps, dtype=torch.float64) ** 2  # the LDM "linear" schedule
    return CompVisInpainting(vqvae.eval(), unet.eval(), torch.cumprod(1 - betas, 0))
