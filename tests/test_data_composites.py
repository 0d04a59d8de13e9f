"""data=composites (real foregrounds on scikit-image backgrounds, with the classical prior) and the
guided MTM that corrects that prior. The 'photographs' here are the tiny synthetic set's composites
(the same AIM-500 layout with measured-like alphas), so the tests need no shared data."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from iosm.data.composites import composite_records, generate_whole_composites, main as composites_main
from iosm.data.io import read_alpha, read_image
from iosm.data.mask_sources import build_mask_source

NAMES = ("syn_0001", "syn_0002")


@pytest.fixture(scope="module")
def composites(synthetic_root, tmp_path_factory):
    root = tmp_path_factory.mktemp("composites") / "data"
    return root, composite_records(root, synthetic_root, n=4, size=48, seed=0, names=NAMES)


def test_composites_are_written_in_the_aim500_layout_with_priors(composites):
    root, records = composites
    assert [record.name for record in records] == [f"comp_{index:04d}" for index in range(4)]
    for record in records:
        image, alpha = read_image(record.image_path), read_alpha(record.alpha_path)
        assert image.shape == (48, 48, 3) and alpha.shape == (48, 48)
        assert record.trimap_path is not None and (root / "init" / f"{record.name}.png").is_file()
        prior = read_alpha(root / "prior" / f"{record.name}.png")
        assert prior.shape == (48, 48) and 0.0 <= prior.min() and prior.max() <= 1.0
        assert record.meta["category"] in NAMES  # the source photograph, for per-source breakdowns
    priors = [read_alpha(root / "prior" / f"{record.name}.png") for record in records]
    assert any(((p > 0.02) & (p < 0.98)).any() for p in priors)  # soft, not a binary mask


def test_composites_are_a_function_of_the_settings(composites, synthetic_root):
    root, records = composites
    again = composite_records(root, synthetic_root, n=4, size=48, seed=0, names=NAMES)  # reused, not redone
    assert [r.name for r in again] == [r.name for r in records]
    with pytest.raises(ValueError, match="other settings"):
        composite_records(root, synthetic_root, n=5, size=48, seed=0, names=NAMES)


def test_a_cache_made_with_another_prior_matte_is_refused(composites, synthetic_root, monkeypatch):
    import iosm.matting

    root, _ = composites
    original = iosm.matting.ClassicalMatte

    class NarrowerMatte(original):
        def __init__(self, **settings):
            super().__init__(**{**settings, "band_radius": 0.002})

    monkeypatch.setattr(iosm.matting, "ClassicalMatte", NarrowerMatte)
    with pytest.raises(ValueError, match="other settings.*band_radius"):
        composite_records(root, synthetic_root, n=4, size=48, seed=0, names=NAMES)


def test_drawn_fraction_mixes_in_the_synthetic_generator(synthetic_root, tmp_path):
    records = composite_records(tmp_path / "c", synthetic_root, n=6, size=48, seed=0, names=NAMES, drawn_fraction=0.5)
    drawn = [record for record in records if record.meta["category"] == "drawn"]
    assert 0 < len(drawn) < len(records)  # both kinds, from the per-composite draw
    assert all(record.meta["type"] in ("SO", "STM", "NS") for record in drawn)
    assert all((tmp_path / "c" / "prior" / f"{record.name}.png").is_file() for record in records)
    with pytest.raises(ValueError, match="other settings"):
        composite_records(tmp_path / "c", synthetic_root, n=6, size=48, seed=0, names=NAMES, drawn_fraction=0.25)
    with pytest.raises(ValueError, match=r"data.layout.drawn_fraction=1.5: expected a share in \[0, 1\]"):
        composite_records(tmp_path / "d", synthetic_root, n=6, size=48, seed=0, names=NAMES, drawn_fraction=1.5)


def test_drawn_composites_alone_need_no_photographs(tmp_path):
    records = composite_records(tmp_path / "c", tmp_path / "no_such_folder", n=3, size=48, seed=0, names=(),
                                drawn_fraction=1.0)
    assert [record.meta["category"] for record in records] == ["drawn"] * 3
    assert all((tmp_path / "c" / "prior" / f"{record.name}.png").is_file() for record in records)


def test_unknown_or_no_photographs_are_refused_by_name(synthetic_root, tmp_path):
    with pytest.raises(ValueError, match=r"names=\[\]: no photographs to composite"):
        composite_records(tmp_path / "e", synthetic_root, n=2, size=48, seed=0, names=(), drawn_fraction=0.5)
    with pytest.raises(FileNotFoundError, match=r"no photograph with a measured alpha named \['GT99'\]"):
        composite_records(tmp_path / "c", synthetic_root, n=2, size=48, seed=0, names=("GT99",))


def test_whole_composites_keep_each_photographs_frame_alpha_and_trimap(synthetic_root, tmp_path):
    from iosm.data.layouts import aim500_records

    out = generate_whole_composites(tmp_path / "w", synthetic_root, NAMES, per_foreground=2, seed=0)
    records = aim500_records(out)
    assert [record.name for record in records] == [f"{name}_{draw}" for name in NAMES for draw in range(2)]
    for record in records:
        source = record.meta["category"]
        image, alpha, trimap = read_image(record.image_path), read_alpha(record.alpha_path), read_alpha(record.trimap_path)
        source_alpha = read_alpha(synthetic_root / "mask" / f"{source}.png")
        assert image.shape[:2] == alpha.shape == trimap.shape == source_alpha.shape
        # The alpha is the photograph's, flipped or not, and its dataset trimap is flipped with it.
        source_trimap = read_alpha(synthetic_root / "trimap" / f"{source}.png")
        flipped = not np.allclose(alpha, source_alpha, atol=1 / 255)
        expected_alpha, expected_trimap = (source_alpha[:, ::-1], source_trimap[:, ::-1]) if flipped else (source_alpha, source_trimap)
        np.testing.assert_allclose(alpha, expected_alpha, atol=1 / 255)
        np.testing.assert_array_equal(trimap, expected_trimap)
        rough = read_alpha(out / "init" / f"{record.name}.png") > 0.5
        assert 0 < rough.sum() < rough.size and not np.array_equal(rough, alpha > 0.5)  # perturbed, not the truth
    draws = [read_image(record.image_path) for record in records if record.meta["category"] == NAMES[0]]
    assert not np.allclose(draws[0], draws[1])  # other backgrounds
    again = generate_whole_composites(tmp_path / "again", synthetic_root, NAMES, per_foreground=2, seed=0)
    assert all(np.array_equal(read_image(again / "original" / f"{record.name}.png"), read_image(record.image_path))
               for record in records)


def test_whole_composites_refuse_unknown_photographs_and_no_backgrounds(synthetic_root, tmp_path, capsys):
    with pytest.raises(FileNotFoundError, match=r"no photograph with a measured alpha named \['GT99'\]"):
        generate_whole_composites(tmp_path / "w", synthetic_root, ("GT99",), per_foreground=1, seed=0)
    with pytest.raises(ValueError, match="at least one background per foreground, got 0"):
        generate_whole_composites(tmp_path / "w", synthetic_root, NAMES, per_foreground=0, seed=0)
    with pytest.raises(SystemExit):
        composites_main([str(tmp_path / "w"), "--realdata", str(synthetic_root), "--half", "report", "--per", "0"])
    assert "need --per >= 1, got 0" in capsys.readouterr().err


def test_whole_composites_of_the_report_photographs_from_the_command_line(realdata_root, tmp_path):
    from iosm.data.realdata_split import REPORT

    composites_main([str(tmp_path / "w"), "--realdata", str(realdata_root), "--half", "report", "--per", "1"])
    assert sorted(path.stem for path in (tmp_path / "w" / "original").iterdir()) == [f"{name}_0" for name in REPORT]
    assert len(list((tmp_path / "w" / "init").iterdir())) == len(REPORT)


def test_prior_mask_source_keeps_soft_values(composites):
    root, records = composites
    source = build_mask_source("prior", str(root / "prior"))
    prior = source(records[0], None, (48, 48), np.random.default_rng(0))
    np.testing.assert_allclose(prior, read_alpha(root / "prior" / f"{records[0].name}.png"))
    assert prior.dtype != bool


def test_a_prior_of_another_size_is_resized_soft_with_a_warning(composites, caplog):
    root, records = composites
    source = build_mask_source("prior", str(root / "prior"))
    prior = source(records[0], None, (64, 64), np.random.default_rng(0))
    assert prior.shape == (64, 64) and prior.dtype != bool and 0.0 <= prior.min() and prior.max() <= 1.0
    assert "prior is 48x48 but the image is 64x64; resized (bilinear)" in caplog.text


@pytest.fixture
def guided_checkpoint(compose_cfg, tmp_path):
    """An untrained guided MTM (zero-initialised output layers) saved like train.py's checkpoints."""
    from hydra.utils import instantiate

    from iosm.models.module import SPEC_KEY

    torch.manual_seed(0)
    cfg = compose_cfg("train", ["model=mtm_tiny", "model.freeze_encoder=false", "+model.net.mask_input=classical_alpha"])
    net = instantiate(cfg.model.net)
    path = tmp_path / "guided.ckpt"
    torch.save({"state_dict": {f"net.{k}": v for k, v in net.state_dict().items()}, SPEC_KEY: net.spec}, path)
    return path


def test_untrained_guided_mtm_answers_the_classical_alpha(compose_cfg, guided_checkpoint, composites):
    """Zero-initialised output layers: before training, the guided MTM's alpha is its prior's."""
    from iosm.matting import ClassicalMatte, build_matte

    path = guided_checkpoint
    matte = build_matte(compose_cfg("refine", ["matte=mtm", f"matte.ckpt_path={path}", "matte.kind=mtm_guided"]).matte)
    root, records = composites
    image = read_image(records[0].image_path)
    mask = read_alpha(records[0].alpha_path) > 0.5
    expected = ClassicalMatte().matte(image, mask).alpha
    np.testing.assert_allclose(matte.matte(image, mask).alpha, expected, atol=1e-5)
    with pytest.raises(ValueError, match=f"{path}: holds a model=mtm_guided network"):
        build_matte(compose_cfg("refine", ["matte=mtm", f"matte.ckpt_path={path}", "matte.kind=mtm"]).matte)


@pytest.mark.parametrize("scale", [0.5, 1.0])
def test_guided_matte_applies_its_share_of_the_correction(compose_cfg, guided_checkpoint, composites, scale):
    from iosm.matting import ClassicalMatte, build_matte

    matte = build_matte(compose_cfg("refine", ["matte=mtm", f"matte.ckpt_path={guided_checkpoint}",
                                               f"matte.correction_scale={scale}", "matte.min_correction=0"]).matte)
    matte.predictor.predict = lambda image, prior, soft: np.clip(prior + 0.2, 0.0, 1.0)  # a known correction
    _, records = composites
    image = read_image(records[0].image_path)
    mask = read_alpha(records[0].alpha_path) > 0.5
    prior = ClassicalMatte().matte(image, mask).alpha
    expected = prior + scale * (np.clip(prior + 0.2, 0.0, 1.0) - prior)
    np.testing.assert_allclose(matte.matte(image, mask).alpha, expected, atol=1e-6)


@pytest.mark.parametrize("scale", [0.0, 1.5])
def test_guided_matte_rejects_a_correction_scale_outside_0_1(compose_cfg, guided_checkpoint, scale):
    from iosm.matting import build_matte

    cfg = compose_cfg("refine", ["matte=mtm", f"matte.ckpt_path={guided_checkpoint}", f"matte.correction_scale={scale}"])
    with pytest.raises(ValueError, match=rf"matte.correction_scale={scale}: expected a share in \(0, 1\]"):
        build_matte(cfg.matte)
