"""Model-backed backends through their real loading paths: a tiny diffusers inpainting pipeline and tiny
ViT / DINOv2 backbones, saved with save_pretrained and loaded back from the Hydra configs."""

import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate

from iosm.config import CONF_DIR, register_resolvers
from iosm.refine.tiny_models import save_tiny_inpainting_pipeline, save_tiny_vit

STEPS = 2


@pytest.fixture(scope="module")
def tiny_paths(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny_models")
    return {
        "diffusers": save_tiny_inpainting_pipeline(root / "inpainting"),
        "dino": save_tiny_vit(root / "dino", "dino"),
        "dinov2": save_tiny_vit(root / "dinov2", "dinov2"),
    }


def _compose(overrides):
    register_resolvers()
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        return compose("refine", overrides=overrides)


@pytest.mark.parametrize("features,input_size", [("dino", 32), ("dinov2", 28)])
def test_diffusers_and_vit_backends_run_two_iterations(tiny_paths, features, input_size):
    cfg = _compose([
        "inpainter=diffusers", f"inpainter.model_path={tiny_paths['diffusers']}", f"inpainter.steps={STEPS}",
        "inpainter.device=cpu", f"features={features}", f"features.model_path={tiny_paths[features]}",
        f"features.input_size={input_size}", "features.device=cpu", "refiner.size=64", "refiner.iters=2",
        "refiner.crf=null",
    ])
    refiner = instantiate(cfg.refiner)
    rng = np.random.default_rng(0)
    image = rng.random((64, 48, 3)).astype(np.float32)
    mask = np.zeros((64, 48), bool)
    mask[16:48, 12:36] = True
    result = refiner.refine(image, mask, seed=0)
    assert result.mask.shape == (64, 48) and result.mask.dtype == bool
    samples = cfg.refiner.samples
    # One batched call per stage; guidance 7.5 with empty prompts is skipped (skip_empty_guidance).
    assert result.inpaint_calls == STEPS * samples * 2
    assert result.feature_calls == 2 * 2 * len(cfg.refiner.crop_factors)


def test_diffusers_painting_is_seeded_and_batched(tiny_paths):
    from iosm.refine.inpainters.diffusers import DiffusersInpainter

    painter = DiffusersInpainter(model_path=str(tiny_paths["diffusers"]), steps=STEPS, guidance=1.0, device="cpu")
    images = torch.rand(2, 32, 32, 3, generator=torch.Generator().manual_seed(0))
    regions = torch.zeros(2, 32, 32, dtype=torch.bool)
    regions[:, 8:24, 8:24] = True
    painted = painter.paint(images, regions, num_samples=3, seed=5)
    assert painted.shape == (2, 3, 32, 32, 3) and 0 <= painted.min() and painted.max() <= 1
    assert painter.forward_passes == STEPS * 6  # no guidance: one UNet row per sample and step
    assert torch.equal(painted, painter.paint(images, regions, num_samples=3, seed=5))


def test_skipping_empty_guidance_paints_the_same_at_half_the_passes(tiny_paths):
    """With prompt and negative prompt both empty, guided and unguided predictions are identical."""
    from iosm.refine.inpainters.diffusers import DiffusersInpainter

    images = torch.rand(1, 32, 32, 3, generator=torch.Generator().manual_seed(0))
    regions = torch.zeros(1, 32, 32, dtype=torch.bool)
    regions[:, 8:24, 8:24] = True
    painters = {skip: DiffusersInpainter(model_path=str(tiny_paths["diffusers"]), steps=STEPS, guidance=7.5, device="cpu",
                                         skip_empty_guidance=skip) for skip in (True, False)}
    skipped, guided = (painters[skip].paint(images, regions, num_samples=2, seed=1) for skip in (True, False))
    assert torch.allclose(skipped, guided, atol=1e-5)
    assert painters[False].forward_passes == 2 * painters[True].forward_passes == 2 * STEPS * 2
    prompted = DiffusersInpainter(model_path=str(tiny_paths["diffusers"]), steps=STEPS, guidance=7.5, prompt="cat", device="cpu")
    prompted.paint(images, regions, num_samples=2, seed=1)
    assert prompted.forward_passes == 2 * STEPS * 2  # a real prompt keeps guidance


@pytest.mark.parametrize("kind,size", [("dino", 32), ("dinov2", 28)])
def test_vit_features_use_sdpa_and_chunk_to_the_same_values(tiny_paths, kind, size):
    from iosm.refine.features.dino import TransformersFeatures

    whole = TransformersFeatures(model_path=str(tiny_paths[kind]), input_size=size, device="cpu")
    chunked = TransformersFeatures(model_path=str(tiny_paths[kind]), input_size=size, device="cpu", batch_size=2)
    assert whole.model.config._attn_implementation == "sdpa"
    crops = torch.rand(5, size, size, 3, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(whole.extract(crops), chunked.extract(crops), atol=1e-5)


@pytest.mark.parametrize("kind,patch,size", [("dino", 8, 32), ("dinov2", 14, 28)])
def test_vit_features_are_patch_token_maps(tiny_paths, kind, patch, size):
    from iosm.refine.features.dino import TransformersFeatures

    extractor = TransformersFeatures(model_path=str(tiny_paths[kind]), input_size=size, device="cpu")
    features = extractor.extract(torch.rand(3, size, size, 3))
    assert features.shape == (3, 16, size // patch, size // patch) and extractor.forward_passes == 3
    with pytest.raises(ValueError, match="multiple of the patch size"):
        TransformersFeatures(model_path=str(tiny_paths[kind]), input_size=size + 1, device="cpu")


@pytest.mark.parametrize("group", ["inpainter=diffusers", "features=dino", "features=dinov2"])
def test_missing_model_paths_fail_at_construction(tmp_path, group):
    key = group.split("=")[0]
    cfg = _compose([group, f"{key}.model_path={tmp_path / 'nothing_here'}"])
    with pytest.raises(Exception, match="no such folder"):
        instantiate(cfg[key])


def test_an_unreachable_hub_id_says_what_to_provide(monkeypatch):
    from iosm.refine.features.dino import TransformersFeatures

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(FileNotFoundError, match="local folder written by save_pretrained"):
        TransformersFeatures(model_path="nobody/no-such-model", device="cpu")


def test_diffusers_paints_sizes_that_are_not_a_multiple_of_the_vae_factor(tiny_paths):
    """The refiner paints only the image's part of a letterboxed canvas, so any size must work."""
    from iosm.refine.inpainters.diffusers import DiffusersInpainter

    painter = DiffusersInpainter(model_path=str(tiny_paths["diffusers"]), steps=STEPS, guidance=1.0, device="cpu")
    images = torch.rand(1, 30, 44, 3, generator=torch.Generator().manual_seed(0))
    regions = torch.zeros(1, 30, 44, dtype=torch.bool)
    regions[:, 8:20, 10:30] = True
    assert painter.paint(images, regions, num_samples=2, seed=0).shape == (1, 2, 30, 44, 3)

