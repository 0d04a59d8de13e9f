"""inpainter=ldm: a tiny random latent-diffusion inpainting model written by the test in the CompVis format
(config.yaml + last.ckpt, with openaimodel / taming-transformers weight names and shapes, listed in
:func:`iosm.refine.tiny_models.save_tiny_compvis_inpainting` from those architectures, not from the
converter), loaded through the converter and sampled."""

import numpy as np
import pytest
import torch

from iosm.refine.inpainters.ldm import LDMInpainter, ddim_schedule
from iosm.refine.inpainters.ldm_convert import load_compvis_inpainting
from iosm.refine.tiny_models import COMPVIS_HEADS as HEADS
from iosm.refine.tiny_models import COMPVIS_MC as MC
from iosm.refine.tiny_models import COMPVIS_MULT as MULT
from iosm.refine.tiny_models import save_tiny_compvis_inpainting

@pytest.fixture(scope="module")
def compvis(tmp_path_factory):
    return save_tiny_compvis_inpainting(tmp_path_factory.mktemp("ldm") / "inpainting_big")


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
