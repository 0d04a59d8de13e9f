"""The notebook API (iosm.refine_mask): the job's configs and result, without Hydra or files."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import iosm
from iosm.api import compose_job
from iosm.data.io import find_by_stem, read_mask
from iosm.jobs.refine import run

# The refiner's settings, given to the job and to the API alike (a 64 px canvas, two iterations).
SETTINGS = ["inpainter=opencv", "features=color", "refiner.iters=2", "refiner.size=64", "seed=0"]


@pytest.fixture
def two_images(synthetic_root, tmp_path) -> Path:
    root = Path(shutil.copytree(synthetic_root, tmp_path / "data"))
    for path in sorted(find_by_stem(root / "original").values())[2:]:
        path.unlink()
    return root


def test_refine_mask_gives_the_refine_jobs_masks(two_images, tmp_path, compose_cfg):
    output_dir = tmp_path / "out"
    run(compose_cfg("refine", ["data=aim500", f"data.root={two_images}", "data.num_workers=0", "prompt=file",
                               f"prompt.dir={two_images}/init", *SETTINGS, f"output_dir={output_dir}",
                               "trainer.enable_progress_bar=false"]))
    refined_differs = []
    for name, image_path in find_by_stem(two_images / "original").items():
        job_mask = read_mask(output_dir / "masks" / f"{name}.png")
        refined_differs.append(not np.array_equal(job_mask, read_mask(two_images / "init" / f"{name}.png")))
        from_paths = iosm.refine_mask(image_path, two_images / "init" / f"{name}.png", overrides=SETTINGS)
        assert from_paths.dtype == bool and from_paths.shape == job_mask.shape
        np.testing.assert_array_equal(from_paths, job_mask)
        # The same inputs as arrays: the decoded uint8 photograph and a bool mask.
        rgb = np.asarray(Image.open(image_path).convert("RGB"))
        from_arrays = iosm.refine_mask(rgb, read_mask(two_images / "init" / f"{name}.png"), overrides=SETTINGS)
        np.testing.assert_array_equal(from_arrays, job_mask)
    assert any(refined_differs)  # the refinement did something, so equal masks say something


def test_overrides_reach_the_refiner():
    assert compose_job("refine", ["refiner.iters=4"]).refiner.iters == 4


@pytest.mark.parametrize(("image", "mask", "message"), [
    (np.zeros((8, 8), np.uint8), np.ones((8, 8), bool), r"image: expected an \(H, W, 3\)"),
    (np.full((8, 8, 3), 300.0), np.ones((8, 8), bool), "image: expected uint8, or float in"),
    (np.zeros((8, 8, 3), np.uint8), np.ones((4, 8), bool), "mask: 8x4 px, but the image is 8x8"),
])
def test_bad_arrays_are_refused_with_what_was_expected(image, mask, message):
    with pytest.raises(ValueError, match=message):
        iosm.refine_mask(image, mask)


def test_a_bad_mask_fails_with_the_jobs_message():
    image = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    with pytest.raises(ValueError, match="empty"):
        iosm.refine_mask(image, np.zeros((32, 32), bool), overrides=["refiner.size=64"])


def test_overrides_must_be_a_list_and_keys_must_exist():
    from hydra.errors import ConfigCompositionException

    with pytest.raises(TypeError, match="expected a list of override strings"):
        compose_job("refine", "refiner.iters=4")
    with pytest.raises(ConfigCompositionException, match="iterz"):
        compose_job("refine", ["refiner.iterz=4"])


def test_matte_gives_evaluate_pys_matte_stage_alphas(synthetic_root, tmp_path, compose_cfg):
    """iosm.matte and `evaluate.py matte=classical` (the matte stage over a dataset's masks, no
    refiner evidence in either) give the same alphas, up to the job's 8-bit PNGs."""
    from iosm.data.io import read_alpha
    from iosm.jobs.evaluate import run as evaluate

    output_dir = tmp_path / "eval"
    evaluate(compose_cfg("evaluate", ["matte=classical", "data=aim500", f"data.root={synthetic_root}",
                                      "data.mask_source=folder", f"data.mask_dir={synthetic_root}/init",
                                      "data.num_workers=0", f"output_dir={output_dir}"]))
    for name, image_path in sorted(find_by_stem(synthetic_root / "original").items())[:2]:
        alpha = iosm.matte(image_path, synthetic_root / "init" / f"{name}.png")
        assert alpha.dtype == np.float32 and alpha.shape == read_mask(synthetic_root / "init" / f"{name}.png").shape
        assert 0.0 <= alpha.min() and alpha.max() <= 1.0 and ((alpha > 0.02) & (alpha < 0.98)).any()  # a soft edge
        np.testing.assert_allclose(alpha, read_alpha(output_dir / "alphas" / f"{name}.png"), atol=1 / 255 + 1e-6)


def test_matte_overrides_choose_the_solver_and_none_is_refused(synthetic_root):
    image, mask = synthetic_root / "original" / "syn_0000.jpg", synthetic_root / "init" / "syn_0000.png"
    assert not np.array_equal(iosm.matte(image, mask), iosm.matte(image, mask, overrides=["matte.solver=knn"]))
    with pytest.raises(ValueError, match="matte=none makes no alpha"):
        iosm.matte(image, mask, overrides=["matte=none"])


def test_matte_of_an_empty_mask_is_zero_with_a_warning():
    image = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    with pytest.warns(UserWarning, match="empty"):
        alpha = iosm.matte(image, np.zeros((32, 32), bool))
    assert alpha.dtype == np.float32 and not alpha.any()
