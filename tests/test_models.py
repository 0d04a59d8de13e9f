"""The MTM network, its encoder loading, losses, edge-aware upsampling and the inference API (no Lightning)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hydra.utils import instantiate
from transformers import ResNetBackbone, ResNetConfig

from iosm.models.encoder import STAGES, build_resnet_encoder
from iosm.models.losses import MattingLoss
from iosm.models.mtm import MTMNet
from iosm.models.upsample import guided_upsample

TINY_ENCODER = {"depths": [1, 1, 1, 1], "hidden_sizes": [8, 16, 16, 32], "embedding_size": 8}
TINY_NET = {"decoder_channels": [32, 16, 16, 8, 8], "head_channels": 8, "attention_key_channels": 4}
IMPROVED = {"attention": "mask_features", "mask_guidance": True, "head_residual": True, "mask_residual": True}


def tiny_net(**overrides) -> MTMNet:
    torch.manual_seed(0)
    return MTMNet(encoder=build_resnet_encoder(**TINY_ENCODER), **{**TINY_NET, **overrides})


def disc_batch(count: int, size: int = 64, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Soft-edged discs on noisy backgrounds: image (B,3,S,S), alpha (B,1,S,S), a shifted rough mask."""
    generator = torch.Generator().manual_seed(seed)
    grid = torch.stack(torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")).float()
    images, alphas, masks = [], [], []
    for _ in range(count):
        centre = size * (0.3 + 0.4 * torch.rand(2, generator=generator))
        radius = size * (0.15 + 0.15 * torch.rand((), generator=generator))
        distance = ((grid - centre[:, None, None]) ** 2).sum(0).sqrt()
        alpha = (radius - distance + 2).clamp(0, 4) / 4
        colour_fg, colour_bg = torch.rand(3, 1, 1, generator=generator), torch.rand(3, 1, 1, generator=generator)
        noise = 0.05 * torch.rand(3, size, size, generator=generator)
        images.append((alpha * colour_fg + (1 - alpha) * colour_bg + noise).clamp(0, 1))
        alphas.append(alpha[None])
        masks.append((distance < radius + 3).float()[None])
    return torch.stack(images), torch.stack(alphas), torch.stack(masks)


@pytest.mark.parametrize("switches", [{}, IMPROVED, {"attention": "none"}], ids=["faithful", "improved", "no_attention"])
@pytest.mark.parametrize("size", [(64, 64), (45, 70)])
def test_forward_any_size_gives_alpha_in_unit_range(switches, size):
    net = tiny_net(**switches).eval()
    image, _, mask = disc_batch(2, size=max(size))
    image, mask = image[..., : size[0], : size[1]], mask[..., : size[0], : size[1]]
    with torch.no_grad():
        alpha = net(image, mask)
    assert alpha.shape == (2, 1, *size)
    assert float(alpha.min()) >= 0 and float(alpha.max()) <= 1


def test_mask_residual_makes_the_untrained_network_answer_the_mask():
    net = tiny_net(**IMPROVED).eval()
    image, _, mask = disc_batch(1)
    with torch.no_grad():
        alpha = net(image, mask)
    torch.testing.assert_close(alpha, mask)


def test_spec_rebuilds_the_same_network():
    net = tiny_net(**IMPROVED).eval()
    rebuilt = MTMNet.from_spec(net.spec)
    rebuilt.load_state_dict(net.state_dict())
    image, _, mask = disc_batch(1)
    with torch.no_grad():
        torch.testing.assert_close(rebuilt.eval()(image, mask), net(image, mask))


@pytest.mark.parametrize("norm", ["batch", "group"])
def test_group_norm_keeps_evaluation_independent_of_the_training_batches(norm):
    net = tiny_net(norm=norm)  # no zero-initialised residual: the output depends on every layer
    image, _, mask = disc_batch(2)
    with torch.no_grad():
        before = net.eval()(image, mask)
        net.train()(0.2 * image, mask)  # a training batch unlike the evaluated images
        after = net.eval()(image, mask)
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in net.modules()) == (norm == "batch")
    if norm == "group":
        torch.testing.assert_close(after, before)
        rebuilt = MTMNet.from_spec(net.spec)
        rebuilt.load_state_dict(net.state_dict())
        torch.testing.assert_close(rebuilt.eval()(image, mask), before)
    else:  # batch norm's running statistics moved with that batch
        assert not torch.allclose(after, before)


def test_group_norm_refuses_a_pretrained_encoder(tmp_path):
    ResNetBackbone(ResNetConfig(**TINY_ENCODER, out_features=STAGES)).save_pretrained(tmp_path / "resnet")
    with pytest.raises(ValueError, match="model.net.norm=group.*pretrained statistics"):
        MTMNet(encoder=build_resnet_encoder(pretrained=str(tmp_path / "resnet")), norm="group", **TINY_NET)
    with pytest.raises(ValueError, match="model.net.norm='layer'"):
        tiny_net(norm="layer")


def test_overfitting_four_images_reduces_the_loss():
    net = tiny_net(**IMPROVED).train()
    loss_fn = MattingLoss()
    optimizer = torch.optim.Adam(net.parameters(), lr=3e-3)
    image, alpha, mask = disc_batch(4)
    losses = []
    for _ in range(40):
        loss, _ = loss_fn(net(image, mask), alpha, image)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert np.mean(losses[-5:]) < 0.5 * np.mean(losses[:3])


def test_from_pretrained_loads_a_saved_tiny_resnet(tmp_path):
    torch.manual_seed(1)
    saved = ResNetBackbone(ResNetConfig(**TINY_ENCODER, layer_type="basic", out_features=STAGES))
    saved.save_pretrained(tmp_path / "resnet")
    loaded = build_resnet_encoder(pretrained=str(tmp_path / "resnet"), depths=[2, 2, 2, 2])
    assert loaded.config.depths == [1, 1, 1, 1]  # the folder's architecture wins
    for (name, expected), actual in zip(saved.state_dict().items(), loaded.state_dict().values()):
        torch.testing.assert_close(actual, expected, msg=name)


def test_freeze_flag_freezes_exactly_the_encoder(tmp_path):
    ResNetBackbone(ResNetConfig(**TINY_ENCODER, out_features=STAGES)).save_pretrained(tmp_path / "resnet")
    net = MTMNet(encoder=build_resnet_encoder(pretrained=str(tmp_path / "resnet")), freeze_encoder=True, **TINY_NET)
    frozen = {name for name, p in net.named_parameters() if not p.requires_grad}
    assert frozen == {f"encoder.{name}" for name, _ in net.encoder.named_parameters()}
    encoder_before = {k: v.clone() for k, v in net.encoder.state_dict().items()}
    rest_before = {k: v.clone() for k, v in net.state_dict().items() if not k.startswith("encoder.")}
    net.train()
    optimizer = torch.optim.Adam([p for p in net.parameters() if p.requires_grad], lr=1e-2)
    image, alpha, mask = disc_batch(2)
    MattingLoss()(net(image, mask), alpha, image)[0].backward()
    optimizer.step()
    for key, value in net.encoder.state_dict().items():  # weights and batch-norm statistics
        torch.testing.assert_close(value, encoder_before[key], msg=key)
    assert any(not torch.equal(v, rest_before[k]) for k, v in net.state_dict().items() if k in rest_before)


def test_freezing_a_random_encoder_warns_and_trains_it():
    with pytest.warns(UserWarning, match="no pretrained weights"):
        net = MTMNet(encoder=build_resnet_encoder(**TINY_ENCODER), freeze_encoder=True, **TINY_NET)
    assert all(p.requires_grad for p in net.encoder.parameters())


def test_missing_weights_folder_names_the_key(tmp_path):
    with pytest.raises(FileNotFoundError, match="model.encoder.pretrained=.*no transformers model folder"):
        build_resnet_encoder(pretrained=str(tmp_path / "nowhere"))


def test_hub_id_while_offline_asks_for_a_local_folder(monkeypatch, tmp_path):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setenv("HF_HOME", str(tmp_path))  # an empty cache
    with pytest.raises(FileNotFoundError, match="give the local folder"):
        build_resnet_encoder(pretrained="microsoft/resnet-18")


def test_losses_vanish_on_the_truth_and_all_zero_weights_are_refused():
    image, alpha, _ = disc_batch(2)
    loss_fn = MattingLoss(laplacian_weight=1.0)
    total, terms = loss_fn(alpha, alpha, image)
    assert set(terms) == {"alpha", "composition", "smooth_l1", "laplacian"}
    assert float(total) < 1e-4
    assert float(loss_fn(alpha.flip(-1), alpha, image)[0]) > 0.05
    with pytest.raises(ValueError, match="every term's weight is 0"):
        MattingLoss(alpha_weight=0, composition_weight=0, smooth_l1_weight=0)


def test_guided_upsampling_keeps_edges_sharper_than_bilinear():
    import cv2

    image_t, alpha_t, _ = disc_batch(1, size=256, seed=3)
    image, alpha = image_t[0].permute(1, 2, 0).numpy(), alpha_t[0, 0].numpy()
    alpha_low = cv2.resize(alpha, (64, 64), interpolation=cv2.INTER_AREA)
    bilinear = cv2.resize(alpha_low, (256, 256), interpolation=cv2.INTER_LINEAR)
    guided = guided_upsample(alpha_low, image)
    assert guided.shape == alpha.shape and guided.min() >= 0 and guided.max() <= 1
    assert np.abs(guided - alpha).sum() < 0.8 * np.abs(bilinear - alpha).sum()


@pytest.mark.parametrize("model", ["mtm", "mtm_r34", "mtm_r50", "mtm_faithful", "mtm_tiny"])
def test_every_model_config_builds_its_module(compose_cfg, model):
    cfg = compose_cfg("train", [f"model={model}"])
    with pytest.warns(UserWarning, match="no pretrained weights"):  # every config freezes; none has weights here
        module = instantiate(cfg.model.module)
    assert module.net.spec["encoder_config"]["depths"] == list(cfg.model.encoder.depths)
    assert callable(module.optimizer_factory)
