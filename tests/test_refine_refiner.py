"""The refiner loop: the weight-free default repairs a constructed mask, the faithful schedule costs
what the original's does, bad inputs fail with clear messages, runs are seeded."""

import cv2
import numpy as np
import pytest
from hydra.utils import instantiate

from iosm.refine.features.color import ColorFeatures
from iosm.refine.graphcut_separator import GraphCutSeparator
from iosm.refine.inpainters.opencv import OpenCVInpainter
from iosm.refine.prompts.base import PromptInput
from iosm.refine.prompts.geometric import BoxInput, PointsInput, ScribbleInput
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
    """One OpenCV fill, no CRF, no polish: each test passes what it checks."""
    settings = {"size": SIZE, "crf": None, "polish": None, "energy": None, **kwargs}
    return Refiner(inpainter=OpenCVInpainter(methods=["telea"]), features=ColorFeatures(), **settings)


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
        _cheap(iters=2).__class__(inpainter=OpenCVInpainter(), features=ColorFeatures(), size=100, crf=None, polish=None, energy=None)
    with pytest.raises(ValueError, match="refiner.iters"):
        Refiner(inpainter=OpenCVInpainter(), features=ColorFeatures(), iters=0, crf=None, polish=None, energy=None)


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


class _RecordingKMeans:
    """The original's 2-means separator, recording the cluster count each stage asked for."""

    def __init__(self):
        from iosm.refine.separators import KMeansSeparator

        self.inner, self.asked = KMeansSeparator(), []

    def __call__(self, *args, clusters=None):
        self.asked.append(clusters)
        return self.inner(*args, clusters=clusters)


@pytest.mark.parametrize("kind,expected", [("file", [None] * 4), ("box", [3, None, None, None]), ("points", [3, 3, 3, None])])
def test_box_and_point_prompts_cluster_into_three_early_on(scene, kind, expected):
    image, truth, rough = scene
    separator = _RecordingKMeans()
    prompt = {"file": PromptInput(rough), "box": BoxInput(rough), "points": PointsInput(rough, points=np.array([[26.0, 30.0]]))}[kind]
    _cheap(iters=4, early_stop=None, separator=separator).refine(image, prompt, seed=0)
    assert separator.asked == expected


def test_point_bumps_peak_on_the_points_and_span_the_difference_range():
    import torch

    from iosm.refine.prompts.geometric import point_bumps

    difference = torch.linspace(0.5, 2.0, 40 * 30).reshape(40, 30)
    bumps = point_bumps(difference, torch.tensor([[15.0, 25.0]]), (10, 50, 0, 30))  # x=15, y=25 -> crop row 15
    assert tuple(np.unravel_index(int(bumps.argmax()), bumps.shape)) == (15, 15)
    assert bumps.max().item() == pytest.approx(2.0) and bumps.min().item() > 0.5


def test_letterbox_padding_is_not_context(scene):
    """An object cut by the bottom of a wide image: with the padding as context (faithful) the black
    bars are painted into it; the default paints and crops only the image."""
    image, truth, _ = scene
    wide = np.concatenate([image[:, :, :], image[:, ::-1]], axis=1)[20:]  # 44 x 128, the disc cut at the top
    wide_truth = np.concatenate([truth, truth[:, ::-1]], axis=1)[20:]
    refiner = _cheap(iters=2, early_stop=None)
    records = refiner.refine(wide, wide_truth, seed=0, record_steps=True)
    box = records.letterbox.content_box
    assert box[0] > 0  # the image is letterboxed
    painted = records.steps[0].painted[0]
    padding_rows = np.r_[0 : box[0], box[1] : SIZE]
    assert np.array_equal(painted[padding_rows], records.canvas_image[padding_rows])  # padding untouched



class _RecordingPainter(OpenCVInpainter):
    """OpenCV's Telea fill, recording the regions it was asked to paint."""

    def __init__(self):
        super().__init__(methods=["telea"])
        self.regions = []

    def _paint(self, images, regions, num_samples, seed):
        self.regions.append(regions[0].cpu().numpy())
        return super()._paint(images, regions, num_samples, seed)


@pytest.mark.parametrize("faithful", [True, False])
def test_point_prompts_start_from_the_whole_canvas_only_when_faithful(scene, faithful):
    image, truth, _ = scene
    hull = np.zeros((SIZE, SIZE), bool)
    hull[24:36, 20:32] = True
    painter = _RecordingPainter()
    refiner = Refiner(inpainter=painter, features=ColorFeatures(), size=SIZE, crf=None, polish=None, energy=None, iters=1,
                      faithful=faithful, separator=_RecordingKMeans())
    refiner.refine(image, PointsInput(hull, points=np.array([[26.0, 30.0]])), seed=0)
    first_region = painter.regions[0]
    assert first_region.all() == faithful  # the original paints everything; the default the grown hull
    assert faithful or not first_region[0, 0]


def test_the_module_hands_a_point_prompts_clicks_to_the_refiner(scene, tmp_path):
    import json

    from iosm.refine.module import RefineModule
    from iosm.refine.prompts import PointsPrompt

    class SpyRefiner(Refiner):
        def refine(self, image, prompt, **kwargs):
            self.prompt = prompt
            return super().refine(image, prompt, **kwargs)

    image, truth, _ = scene
    annotations = tmp_path / "clicks.json"
    annotations.write_text(json.dumps({"disc": {"points": [[26, 30], [20, 26]]}}))
    refiner = SpyRefiner(inpainter=OpenCVInpainter(methods=["telea"]), features=ColorFeatures(), size=SIZE, crf=None,
                         polish=None, energy=None, iters=2)
    module = RefineModule(refiner=refiner, prompt=PointsPrompt(annotations=str(annotations)))
    outcome = module.predict_step({"name": "disc", "image": image, "error": None, "alpha": truth})
    assert outcome.ok, outcome.entry
    assert isinstance(refiner.prompt, PointsInput)
    assert np.array_equal(refiner.prompt.points, [[26, 30], [20, 26]])


def test_polish_redraws_a_blocky_boundary_along_the_image_edge(scene):
    """A mask upsampled from a coarse canvas is blocky; GrabCut in a narrow band snaps it to the disc."""
    from iosm.refine.polish import GrabCutPolish

    image, truth, _ = scene
    blocky = np.kron(truth[::8, ::8], np.ones((8, 8), bool))  # the disc at 1/8 resolution, brought back
    polished = GrabCutPolish(band=0.1)(image, blocky)
    assert _iou(polished, truth) > _iou(blocky, truth) + 0.05
    with pytest.raises(ValueError, match="refiner.polish.band"):
        GrabCutPolish(band=0.0)


def test_polish_runs_only_on_images_larger_than_the_canvas_and_never_when_faithful(scene, default_refiner):
    image, truth, rough = scene
    calls = []

    def polish(image, mask):
        calls.append(image.shape[:2])
        return mask

    assert default_refiner.polish is None and default_refiner.energy is not None  # the energy decides at full size instead
    _cheap(iters=2, polish=polish).refine(image, rough, seed=0)  # 64 px on the 64 px canvas
    assert calls == []
    big_image, big_rough = np.kron(image, np.ones((2, 2, 1), np.float32)), np.kron(rough, np.ones((2, 2), bool))
    _cheap(iters=2, polish=polish).refine(big_image, big_rough, seed=0)
    assert calls == [(2 * SIZE, 2 * SIZE)]
    assert _cheap(faithful=True, polish=polish).polish is None


@pytest.mark.parametrize("faithful", [True, False])
def test_scribble_prompts_start_from_the_dilated_stroke_only_when_faithful(scene, faithful):
    image, _, _ = scene
    stroke = np.zeros((SIZE, SIZE), bool)
    stroke[30, 16:36] = True  # a 1 px horizontal line through the disc
    hull = np.zeros((SIZE, SIZE), bool)
    hull[22:38, 12:40] = True
    painter = _RecordingPainter()
    refiner = Refiner(inpainter=painter, features=ColorFeatures(), separator=GraphCutSeparator(), size=SIZE, crf=None,
                      polish=None, energy=None, iters=1, faithful=faithful)
    try:
        refiner.refine(image, ScribbleInput(hull, stroke=stroke), seed=0)
    except ValueError as error:  # the faithful loop may empty a 5 px stroke (weight-free backends); the start is painted first
        assert faithful and "removed the whole mask" in str(error)
    first_region = painter.regions[0]  # the start dilated by a 3x3 cross 4 times
    if faithful:  # the stroke dilated by a 5x5 cross: rows 28-32, then 4 more each way
        assert first_region[30, 16:36].all() and not first_region[20].any() and not first_region[40].any()
    else:
        assert first_region[hull].all()


@pytest.mark.parametrize("setting,message", [
    ({"margin": 0.0}, "separator.margin"), ({"core_margin": 0.7}, "separator.core_margin"), ({"reproduced": -1.0}, "separator.reproduced"),
])
def test_bad_separator_settings_are_rejected(setting, message):
    with pytest.raises(ValueError, match=message):
        GraphCutSeparator(**setting)


def test_the_deep_core_keeps_a_background_coloured_object_part_but_not_a_reproduced_leak():
    """The inpaint stage's definite labels: deep object pixels stay definite where painting changed
    them or left them merely *different*, and not where it reproduced them (a leak's core)."""
    foreground = np.zeros((80, 80), bool)
    foreground[10:70, 10:70] = True
    region = cv2.dilate(foreground.astype(np.uint8), np.ones((9, 9), np.uint8)).astype(bool)
    difference = np.full((80, 80), 1.0, np.float32)
    difference[10:70, 40:70] = 0.01  # the right half: painting it away reproduced it (a wide leak)
    nothing_changed = np.zeros_like(foreground)
    definite = GraphCutSeparator(core_margin=0.1)._definite_object(difference, region, foreground, nothing_changed)
    assert definite[40, 25] and not definite[40, 55]  # deep and not reproduced / deep but reproduced
    assert not definite[12, 25]  # near the boundary: up to GrabCut
    assert not GraphCutSeparator(core_margin=None)._definite_object(difference, region, foreground, nothing_changed).any()


def test_the_default_refines_from_a_point_prompt(scene, default_refiner):
    """Outpaint stages subtract the clicks' bumps, so differences go negative; the default's
    GrabCut separator must take that (it once failed on every image with NaNs)."""
    image, truth, _ = scene
    clicks = np.array([[26.0, 30.0], [20.0, 26.0]])
    hull = np.zeros_like(truth)
    hull[20:40, 14:36] = True
    result = default_refiner.refine(image, PointsInput(hull, points=clicks), seed=0, record_steps=True)
    assert [step.stage for step in result.steps] == ["inpaint", "outpaint"]
    assert result.mask[30, 26] and result.mask[26, 20]
