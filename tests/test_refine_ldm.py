"""inpainter=ldm: a tiny random latent-diffusion inpainting model written here in the CompVis format
(config.yaml + last.ckpt, with openaimodel / taming-transformers weight names and shapes, listed
below from those architectures, not from the converter), loaded through the converter and sampled."""

import numpy as np
import pytest
import torch
import yaml

from iosm.refine.inpainters.ldm import LDMInpainter, ddim_schedule
from iosm.refine.inpainters.ldm_convert import load_compvis_inpainting

MC, MULT, BLOCKS, HEADS = 32, (1, 2), 1, 2  # UNet: model channels, channel_mult, num_res_blocks, num_heads
VQ_CH, VQ_MULT, Z, EMBED, CODES = 32, (1, 2), 3, 3, 16


def _unet_shapes() -> dict:
    """openaimodel.UNetModel(in 7, out 3, attention at ds 2, resblock_updown) parameter names -> shapes."""
    shapes = {"time_embed.0.weight": (4 * MC, MC), "time_embed.0.bias": (4 * MC,),
              "time_embed.2.weight": (4 * MC, 4 * MC), "time_embed.2.bias": (4 * MC,),
              "input_blocks.0.0.weight": (MC, 7, 3, 3), "input_blocks.0.0.bias": (MC,),
              "out.0.weight": (MC,), "out.0.bias": (MC,), "out.2.weight": (3, MC, 3, 3), "out.2.bias": (3,)}

    def res(prefix, cin, cout):
        shapes.update({f"{prefix}.in_layers.0.weight": (cin,), f"{prefix}.in_layers.0.bias": (cin,),
                       f"{prefix}.in_layers.2.weight": (cout, cin, 3, 3), f"{prefix}.in_layers.2.bias": (cout,),
                       f"{prefix}.emb_layers.1.weight": (cout, 4 * MC), f"{prefix}.emb_layers.1.bias": (cout,),
                       f"{prefix}.out_layers.0.weight": (cout,), f"{prefix}.out_layers.0.bias": (cout,),
                       f"{prefix}.out_layers.3.weight": (cout, cout, 3, 3), f"{prefix}.out_layers.3.bias": (cout,)})
        if cin != cout:
            shapes.update({f"{prefix}.skip_connection.weight": (cout, cin, 1, 1), f"{prefix}.skip_connection.bias": (cout,)})

    def attn(prefix, c):
        shapes.update({f"{prefix}.norm.weight": (c,), f"{prefix}.norm.bias": (c,), f"{prefix}.qkv.weight": (3 * c, c, 1),
                       f"{prefix}.qkv.bias": (3 * c,), f"{prefix}.proj_out.weight": (c, c, 1), f"{prefix}.proj_out.bias": (c,)})

    channels, index, skips = MC, 1, [MC]
    for level, mult in enumerate(MULT):
        for _ in range(BLOCKS):
            res(f"input_blocks.{index}.0", channels, MC * mult)
            channels = MC * mult
            if level == 1:
                attn(f"input_blocks.{index}.1", channels)
            skips.append(channels)
            index += 1
        if level != len(MULT) - 1:
            res(f"input_blocks.{index}.0", channels, channels)
            skips.append(channels)
            index += 1
    res("middle_block.0", channels, channels)
    attn("middle_block.1", channels)
    res("middle_block.2", channels, channels)
    index = 0
    for level, mult in reversed(list(enumerate(MULT))):
        for block in range(BLOCKS + 1):
            res(f"output_blocks.{index}.0", channels + skips.pop(), MC * mult)
            channels = MC * mult
            slot = 1
            if level == 1:
                attn(f"output_blocks.{index}.1", channels)
                slot = 2
            if level and block == BLOCKS:
                res(f"output_blocks.{index}.{slot}", channels, channels)
            index += 1
    return shapes


def _vq_shapes() -> dict:
    """taming-transformers Encoder/Decoder (attn_type none) + VectorQuantizer names -> shapes."""
    shapes = {"quant_conv.weight": (EMBED, Z, 1, 1), "quant_conv.bias": (EMBED,), "post_quant_conv.weight": (Z, EMBED, 1, 1),
              "post_quant_conv.bias": (Z,), "quantize.embedding.weight": (CODES, EMBED)}

    def res(prefix, cin, cout):
        shapes.update({f"{prefix}.norm1.weight": (cin,), f"{prefix}.norm1.bias": (cin,), f"{prefix}.conv1.weight": (cout, cin, 3, 3),
                       f"{prefix}.conv1.bias": (cout,), f"{prefix}.norm2.weight": (cout,), f"{prefix}.norm2.bias": (cout,),
                       f"{prefix}.conv2.weight": (cout, cout, 3, 3), f"{prefix}.conv2.bias": (cout,)})
        if cin != cout:
            shapes.update({f"{prefix}.nin_shortcut.weight": (cout, cin, 1, 1), f"{prefix}.nin_shortcut.bias": (cout,)})

    def conv(name, cout, cin, k=3):
        shapes.update({f"{name}.weight": (cout, cin, k, k), f"{name}.bias": (cout,)})

    conv("encoder.conv_in", VQ_CH, 3)
    block_in = VQ_CH
    for level, mult in enumerate(VQ_MULT):
        for block in range(2):
            res(f"encoder.down.{level}.block.{block}", block_in, VQ_CH * mult)
            block_in = VQ_CH * mult
        if level != len(VQ_MULT) - 1:
            conv(f"encoder.down.{level}.downsample.conv", block_in, block_in)
    for coder in ("encoder", "decoder"):
        res(f"{coder}.mid.block_1", block_in, block_in)
        res(f"{coder}.mid.block_2", block_in, block_in)
    shapes.update({"encoder.norm_out.weight": (block_in,), "encoder.norm_out.bias": (block_in,)})
    conv("encoder.conv_out", Z, block_in)
    conv("decoder.conv_in", block_in, Z)
    for level, mult in reversed(list(enumerate(VQ_MULT))):
        for block in range(3):
            res(f"decoder.up.{level}.block.{block}", block_in, VQ_CH * mult)
            block_in = VQ_CH * mult
        if level != 0:
            conv(f"decoder.up.{level}.upsample.conv", block_in, block_in)
    shapes.update({"decoder.norm_out.weight": (block_in,), "decoder.norm_out.bias": (block_in,)})
    conv("decoder.conv_out", 3, block_in)
    return shapes


def write_tiny_compvis_inpainting(folder, *, ema: bool = True):
    """config.yaml (inpainting_big's structure, tiny) and last.ckpt {"state_dict": ...}, random weights."""
    folder.mkdir(parents=True, exist_ok=True)
    config = {"model": {"target": "ldm.models.diffusion.ddpm.LatentDiffusion", "params": {
        "linear_start": 0.0015, "linear_end": 0.0205, "timesteps": 1000, "concat_mode": True, "cond_stage_config": "__is_first_stage__",
        "unet_config": {"target": "ldm.modules.diffusionmodules.openaimodel.UNetModel", "params": {
            "image_size": 16, "in_channels": 7, "out_channels": 3, "model_channels": MC, "attention_resolutions": [2],
            "num_res_blocks": BLOCKS, "channel_mult": list(MULT), "num_heads": HEADS, "resblock_updown": True}},
        "first_stage_config": {"target": "ldm.models.autoencoder.VQModelInterface", "params": {
            "embed_dim": EMBED, "n_embed": CODES, "ddconfig": {
                "attn_type": "none", "double_z": False, "z_channels": Z, "resolution": 64, "in_channels": 3, "out_ch": 3, "ch": VQ_CH,
                "ch_mult": list(VQ_MULT), "num_res_blocks": 2, "attn_resolutions": [], "dropout": 0.0}}}}}}
    (folder / "config.yaml").write_text(yaml.safe_dump(config))
    generator = torch.Generator().manual_seed(0)

    def random(shape):
        return 0.1 * torch.randn(shape, generator=generator)

    state = {f"model.diffusion_model.{k}": random(s) for k, s in _unet_shapes().items()}
    state.update({f"first_stage_model.{k}": random(s) for k, s in _vq_shapes().items()})
    state.update({f"cond_stage_model.{k}": v for k, v in state.items() if k.startswith("first_stage_model.")})  # __is_first_stage__
    if ema:
        state.update({"model_ema." + k[len("model."):].replace(".", ""): v + 0.01 for k, v in state.items() if k.startswith("model.diffusion_model.")})
        state.update({"model_ema.decay": torch.tensor(0.9999), "model_ema.num_updates": torch.tensor(10)})
    state["betas"] = torch.zeros(1000)  # the schedule's buffers sit beside the networks
    torch.save({"state_dict": state}, folder / "last.ckpt")
    return folder, state


@pytest.fixture(scope="module")
def compvis(tmp_path_factory):
    return write_tiny_compvis_inpainting(tmp_path_factory.mktemp("ldm") / "inpainting_big")


def test_converter_uses_every_weight_and_the_ema_copy(compvis):
    folder, state = compvis
    model = load_compvis_inpainting(folder)
    assert torch.equal(model.unet.conv_in.weight, state["model_ema.diffusion_modelinput_blocks00weight"])
    raw = load_compvis_inpainting(folder, use_ema=False)
    assert torch.equal(raw.unet.conv_in.weight, state["model.diffusion_model.input_blocks.0.0.weight"])
    assert torch.equal(model.vqvae.quantize.embedding.weight, state["first_stage_model.quantize.embedding.weight"])
    assert model.alphas_cumprod.shape == (1000,) and bool((model.alphas_cumprod.diff() < 0).all())


def test_legacy_attention_is_split_per_head(compvis):
    """openaimodel's QKVAttentionLegacy on the CompVis weights, by hand, against the converted block."""
    folder, state = compvis
    attention = load_compvis_inpainting(folder, use_ema=False).unet.mid_block.attentions[0]
    prefix = "model.diffusion_model.middle_block.1."
    channels = MC * MULT[-1]
    x = torch.randn(1, channels, 4, 4, generator=torch.Generator().manual_seed(1))
    normed = torch.nn.functional.group_norm(x, 32, state[prefix + "norm.weight"], state[prefix + "norm.bias"], eps=1e-5).reshape(1, channels, -1)
    qkv = torch.nn.functional.conv1d(normed, state[prefix + "qkv.weight"], state[prefix + "qkv.bias"])
    head = channels // HEADS
    q, k, v = qkv.reshape(HEADS, 3 * head, -1).split(head, dim=1)
    scale = 1 / head**0.25
    weight = torch.softmax(torch.einsum("bct,bcs->bts", q * scale, k * scale), dim=-1)
    mixed = torch.einsum("bts,bcs->bct", weight, v).reshape(1, channels, -1)
    expected = x + torch.nn.functional.conv1d(mixed, state[prefix + "proj_out.weight"], state[prefix + "proj_out.bias"]).reshape(x.shape)
    with torch.no_grad():
        assert torch.allclose(attention(x), expected, atol=1e-5)


def test_ddim_schedule_is_compvis_uniform():
    alphas_cumprod = torch.cumprod(1 - torch.linspace(0.0015**0.5, 0.0205**0.5, 1000, dtype=torch.float64) ** 2, 0)
    timesteps, alphas, alphas_prev = ddim_schedule(alphas_cumprod, 75)
    assert len(timesteps) == 77 and timesteps[0] == 1 and timesteps[-1] == 989  # range(0, 1000, 13) + 1
    assert alphas_prev[0] == pytest.approx(alphas_cumprod[0].item()) and alphas_prev[1] == pytest.approx(alphas[0].item())


def test_ldm_painter_fills_the_region_seeded(compvis):
    folder, _ = compvis
    painter = LDMInpainter(model_path=str(folder), steps=4, device="cpu")
    images = torch.rand(1, 64, 64, 3, generator=torch.Generator().manual_seed(0))
    regions = torch.zeros(1, 64, 64, dtype=torch.bool)
    regions[:, 16:48, 16:48] = True
    painted = painter.paint(images, regions, num_samples=2, seed=3)
    assert painted.shape == (1, 2, 64, 64, 3) and 0 <= painted.min() and painted.max() <= 1
    assert painter.forward_passes == 2 * 4  # 4 DDIM steps (range(0, 1000, 250)) per sample
    assert not torch.equal(painted[0, 0], painted[0, 1])  # two samples, two noises
    assert torch.equal(painted, painter.paint(images, regions, num_samples=2, seed=3))


def test_ldm_config_refines_with_sd_outpainting(compvis, tmp_path):
    """inpainter=ldm from the Hydra config, with a diffusers outpainter as experiments=paper_iosm pins."""
    from hydra import compose, initialize_config_dir
    from hydra.utils import instantiate

    from iosm.config import CONF_DIR, register_resolvers
    from iosm.refine.tiny_models import save_tiny_inpainting_pipeline

    folder, _ = compvis
    sd = save_tiny_inpainting_pipeline(tmp_path / "sd")
    register_resolvers()
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        cfg = compose("refine", overrides=[
            "inpainter=ldm", f"inpainter.model_path={folder}", "inpainter.steps=2", "inpainter.device=cpu", "features=color",
            "refiner.size=64", "refiner.iters=2", "refiner.crf=null",
            f"+refiner.outpainter={{_target_: iosm.refine.inpainters.diffusers.DiffusersInpainter, model_path: {sd}, steps: 2, device: cpu}}",
        ])
    refiner = instantiate(cfg.refiner)
    image = np.random.default_rng(0).random((64, 64, 3)).astype(np.float32)
    mask = np.zeros((64, 64), bool)
    mask[16:48, 16:48] = True
    result = refiner.refine(image, mask, seed=0)
    assert result.mask.shape == (64, 64)
    assert refiner.inpainter.forward_passes == 2 * cfg.refiner.samples and refiner.outpainter.forward_passes > 0
