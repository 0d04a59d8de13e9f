"""The refiner loop: the weight-free default repairs a constructed mask, the faithful schedule costs
what the original's does, bad inputs fail with clear messages, runs are seeded."""

import numpy as np
import pytest
from hydra.utils import instantiate

from iosm.refine.features.color import ColorFeatures
from iosm.refine.inpainters.opencv import OpenCVInpainter
from iosm.refine.refiner import Refiner

SIZE = 64


def _iou(a, b):
    return (a & b).sum() / (a | b).sum()


@pytest.fixture(scope="module")
def scene():
    """A textured red disc on a textured blue-green background (64 px), its true mask, and a rough mask
    that leaks a 10 px slab into the background on the right."""
    rng = np.random.default_rng(0)
    rows, cols = np.mgrid[:SIZE, :SIZE]
    truth = (rows - 30) ** 2 + (cols - 26) ** 2 < 15**2
    image = np.where(truth[..., None], [0.85, 0.2, 0.15], [0.15, 0.45, 0.7]).astype(np.float32)
    image = np.clip(image + 0.04 * rng.standard_normal(image.shape), 0, 1).astype(np.float32)
    rough = truth.copy()
    rough[18:44, 26:52] = True
    return image, truth, rough


@pytest.fixture(scope="module")
def default_refiner(request):
    """The refiner exactly as conf/refiner/iosm.yaml + inpainter=opencv + features=color build it."""
    from hydra import compose, initialize_config_dir

    from iosm.config import CONF_DIR, register_resolvers

    register_resolvers()
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        cfg = compose("refine", overrides=["inpainter=opencv", "features=color", f"refiner.size={SIZE}"])
    return instantiate(cfg.refiner)


def test_default_removes_a_background_leak(scene, default_refiner):
    image, truth, rough = scene
    result = default_refiner.refine(image, rough, seed=0, record_steps=True)
    assert result.mask.shape == truth.shape and result.mask.dtype == bool
    assert _iou(result.mask, truth) > _iou(rough, truth) + 0.1
    assert (result.mask & ~truth).sum() < 0.5 * (rough & ~truth).sum()  # most of the leak is gone
    assert result.inpaint_calls > 0 and result.feature_calls > 0
    assert len(result.steps) == result.iterations and result.steps[0].stage == "inpaint"
    assert result.steps[0].painted.shape[1:] == (SIZE, SIZE, 3)


def test_refinement_is_seeded(scene, default_refiner):
    image, _, rough = scene
    first = default_refiner.refine(image, rough, seed=3).mask
    assert np.array_equal(first, default_refiner.refine(image, rough, seed=3).mask)


def _cheap(**kwargs):
    return Refiner(inpainter=OpenCVInpainter(methods=["telea"]), features=ColorFeatures(), size=SIZE, crf=None, **kwargs)


def test_faithful_schedule_paints_once_per_crop_and_runs_every_iteration(scene):
    image, truth, _ = scene
    faithful = _cheap(faithful=True, iters=2).refine(image, truth, seed=0)
    improved = _cheap(samples=1, iters=2, early_stop=None).refine(image, truth, seed=0)
    # Inpaint stage: one call per crop (5); outpaint stage: one batch of 5 samples either way.
    assert faithful.inpaint_calls == 10 and improved.inpaint_calls == 2
    assert faithful.feature_calls == improved.feature_calls == 2 * 2 * 5  # original + painted, 5 crops, 2 stages


def test_a_non_square_image_comes_back_at_its_own_size(scene):
    image, truth, _ = scene
    result = _cheap(iters=2).refine(image[:40], truth[:40], seed=0)
    assert result.mask.shape == (40, SIZE)


@pytest.mark.parametrize(
    "mask_kind,message",
    [("empty", "empty"), ("full", "whole image"), ("tiny", "too small"), ("shape", "expected shape")],
)
def test_bad_inputs_fail_with_a_clear_message(scene, mask_kind, message):
    image, truth, _ = scene
    mask = {"empty": np.zeros_like(truth), "full": np.ones_like(truth), "tiny": truth[:5, :5], "shape": truth[:10]}[mask_kind]
    if mask_kind == "tiny":
        image = image[:5, :5]
    with pytest.raises(ValueError, match=message):
        _cheap(iters=2).refine(image, mask)


def test_bad_settings_are_rejected():
    with pytest.raises(ValueError, match="refiner.size"):
        _cheap(iters=2).__class__(inpainter=OpenCVInpainter(), features=ColorFeatures(), size=100)
    with pytest.raises(ValueError, match="refiner.iters"):
        Refiner(inpainter=OpenCVInpainter(), features=ColorFeatures(), iters=0)


@pytest.mark.parametrize("stages", [["inpaint"], ["outpaint"]])
def test_single_stage_ablations_run_only_that_stage(scene, stages):
    image, truth, rough = scene
    result = _cheap(stages=stages, iters=3, early_stop=None).refine(image, rough, seed=0, record_steps=True)
    assert [step.stage for step in result.steps] == stages * 3
    if stages == ["inpaint"]:  # inpainting may only remove pixels (or regrow a few at the boundary)
        assert (result.mask & ~rough).sum() <= 0.05 * rough.sum()
    else:  # outpainting may only add pixels
        assert not (rough & ~result.mask).any()
    with pytest.raises(ValueError, match="refiner.stages"):
        _cheap(stages=["inpaint", "paint"])
