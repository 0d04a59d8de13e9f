"""Prompts: each gives an (H, W) bool initial mask for an image, or a clear error naming what is wrong."""

import json

import numpy as np
import pytest
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from PIL import Image

from iosm.config import CONF_DIR, register_resolvers
from iosm.refine.prompts import BoxPrompt, FilePrompt, GrabCutPrompt, PointsPrompt, ScribblePrompt

H, W = 48, 64


@pytest.fixture
def scene(tmp_path):
    """An image with a bright rectangle on a dark ground, and its mask saved as masks/img.png."""
    truth = np.zeros((H, W), bool)
    truth[12:36, 16:48] = True
    image = np.where(truth[..., None], [0.9, 0.8, 0.2], [0.1, 0.2, 0.4]).astype(np.float32)
    (tmp_path / "masks").mkdir()
    Image.fromarray(truth.astype(np.uint8) * 255).save(tmp_path / "masks" / "img.png")
    return image, truth, tmp_path / "masks"


def test_every_prompt_config_instantiates(scene):
    _, _, masks = scene
    register_resolvers()
    for kind in ["file", "box", "points", "scribble", "grabcut"]:
        with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
            overrides = [f"prompt={kind}"] + ([f"prompt.dir={masks}"] if kind != "grabcut" else [])
            prompt = instantiate(compose("refine", overrides=overrides).prompt)
        assert prompt.kind == kind


def test_file_prompt_reads_by_stem_and_resizes_with_a_warning(scene, tmp_path):
    image, truth, masks = scene
    assert np.array_equal(FilePrompt(dir=str(masks)).initial_mask(image, "img"), truth)
    big = np.repeat(np.repeat(truth, 2, 0), 2, 1)
    Image.fromarray(big.astype(np.uint8) * 255).save(masks / "img.png")
    with pytest.warns(UserWarning, match="resized"):
        resized = FilePrompt(dir=str(masks)).initial_mask(image, "img")
    assert np.array_equal(resized, truth)
    with pytest.raises(FileNotFoundError, match="no mask named other"):
        FilePrompt(dir=str(masks)).initial_mask(image, "other")
    with pytest.raises(FileNotFoundError, match="no such folder"):
        FilePrompt(dir=str(tmp_path / "absent")).initial_mask(image, "img")


def test_box_points_and_scribble_derived_from_a_mask_cover_the_object(scene):
    image, truth, masks = scene
    box = BoxPrompt(dir=str(masks)).initial_mask(image, "img")
    assert np.array_equal(box, truth)  # the mask is its own bounding box
    points = PointsPrompt(dir=str(masks), count=4, seed=0)
    clicks = points.points("img", (H, W))
    assert clicks.shape == (4, 2) and truth[clicks[:, 1].astype(int), clicks[:, 0].astype(int)].all()
    assert points.initial_mask(image, "img").any()
    scribble = ScribblePrompt(dir=str(masks))
    stroke = scribble.scribble("img", (H, W))
    assert stroke.any() and truth[stroke].all()
    assert (scribble.initial_mask(image, "img") & truth).sum() > stroke.sum()


def test_sparse_prompts_read_json_annotations(scene, tmp_path):
    image, _, _ = scene
    path = tmp_path / "prompts.json"
    path.write_text(json.dumps({"img": {"box": [16, 12, 48, 36], "points": [[20, 20], [40, 30]], "scribble": [[[20, 24], [44, 24]]]}}))
    assert BoxPrompt(annotations=str(path)).initial_mask(image, "img")[12:36, 16:48].all()
    hull = PointsPrompt(annotations=str(path)).initial_mask(image, "img")  # the segment between the clicks, grown
    assert hull[20, 20] and hull[30, 40] and hull[25, 30] and not hull[40, 5]
    assert ScribblePrompt(annotations=str(path)).initial_mask(image, "img")[24, 20:45].all()
    with pytest.raises(ValueError, match="no 'box' for image missing"):
        BoxPrompt(annotations=str(path)).initial_mask(image, "missing")
    with pytest.raises(ValueError, match="exactly one of"):
        BoxPrompt()


def test_grabcut_prompt_finds_a_centred_object_without_any_mask(scene):
    image, truth, _ = scene
    mask = GrabCutPrompt(box_fraction=0.9).initial_mask(image, "img")
    assert (mask & truth).sum() / (mask | truth).sum() > 0.9
    with pytest.raises(ValueError, match="box_fraction"):
        GrabCutPrompt(box_fraction=1.5)


def test_each_sparse_prompt_hands_the_refiner_its_own_policy(scene):
    """The loop asks the prompt input for its policy; a new prompt kind is one subclass, no refiner edit."""
    from iosm.refine.features.color import ColorFeatures
    from iosm.refine.inpainters.opencv import OpenCVInpainter
    from iosm.refine.prompts.base import PromptInput
    from iosm.refine.prompts.geometric import BoxInput, PointsInput, ScribbleInput
    from iosm.refine.refiner import Refiner
    from iosm.refine.separators import KMeansSeparator

    image, truth, masks = scene
    assert type(BoxPrompt(dir=str(masks)).prepare(image, "img")) is BoxInput
    assert type(PointsPrompt(dir=str(masks)).prepare(image, "img")) is PointsInput
    assert type(ScribblePrompt(dir=str(masks)).prepare(image, "img")) is ScribbleInput
    assert type(FilePrompt(dir=str(masks)).prepare(image, "img")) is PromptInput

    class FourMeansInput(PromptInput):
        def clusters(self, iteration):
            return 4

    asked = []

    def separator(*args, clusters=None):
        asked.append(clusters)
        return KMeansSeparator()(*args, clusters=clusters)

    refiner = Refiner(inpainter=OpenCVInpainter(methods=["telea"]), features=ColorFeatures(), size=64, crf=None, polish=None, energy=None,
                      iters=2, early_stop=None, separator=separator)
    refiner.refine(image, FourMeansInput(truth), seed=0)
    assert asked == [4, 4]
    asked.clear()
    refiner.refine(image, truth, seed=0)  # a plain mask is a file prompt
    assert asked == [None, None]


def test_annotations_given_in_memory_work_like_a_json_file(scene, tmp_path):
    """The app hands its box, clicks and stroke over as a mapping: the same prompts, nothing to read."""
    image, _, _ = scene
    entries = {"img": {"box": [16, 12, 48, 36], "points": [[20, 20], [40, 30]], "scribble": [[[20, 24], [44, 24]]]}}
    path = tmp_path / "prompts.json"
    path.write_text(json.dumps(entries))
    for prompt_class in (BoxPrompt, PointsPrompt, ScribblePrompt):
        from_memory = prompt_class(annotations=entries).initial_mask(image, "img")
        assert np.array_equal(from_memory, prompt_class(annotations=str(path)).initial_mask(image, "img"))
    with pytest.raises(ValueError, match=r"in memory.*no 'box' for image other"):
        BoxPrompt(annotations=entries).initial_mask(image, "other")


def test_negative_clicks_take_their_side_of_the_split_out_of_the_initial_mask(scene):
    image, _, _ = scene
    positive_only = PointsPrompt(annotations={"img": {"points": [[20, 24], [44, 24]]}}, margin=0.25)
    with_negative = PointsPrompt(annotations={"img": {"points": [[20, 24], [44, 24]], "negative_points": [[32, 10]]}},
                                 margin=0.25)
    before = positive_only.prepare(image, "img")
    after = with_negative.prepare(image, "img")
    # Oracle: a pixel goes exactly when it is nearer (x, y) = (32, 10) than both positive clicks.
    rows, cols = np.mgrid[:H, :W]
    nearer_negative = (cols - 32) ** 2 + (rows - 10) ** 2 < np.minimum((cols - 20) ** 2 + (rows - 24) ** 2,
                                                                       (cols - 44) ** 2 + (rows - 24) ** 2)
    assert np.array_equal(after.mask, before.mask & ~nearer_negative)
    assert before.mask[12, 32] and not after.mask[12, 32] and after.mask[24, 32]
    assert np.array_equal(after.points, [[20, 24], [44, 24]])  # the refiner's bumps: positive clicks only
    with pytest.raises(ValueError, match="at least one positive click"):
        PointsPrompt(annotations={"img": {"points": [], "negative_points": [[3, 3]]}}).prepare(image, "img")


def test_the_energy_step_refines_a_segmentation_prompt_gated_and_a_sparse_one_around_the_loops_mask(scene):
    """A box's edges are background: the energy step must re-decide around the loop's mask, ungated,
    never fall back to the box; a rough mask (file prompt) is the segmentation to keep when in doubt."""
    from iosm.refine.energy import EnergyCut
    from iosm.refine.features.color import ColorFeatures
    from iosm.refine.inpainters.opencv import OpenCVInpainter
    from iosm.refine.prompts.base import PromptInput
    from iosm.refine.prompts.geometric import BoxInput
    from iosm.refine.refiner import Refiner

    calls = []

    class SpyEnergy(EnergyCut):
        def __call__(self, image, rough, loop, score, gate=True):
            calls.append((rough.copy(), loop.copy(), gate))
            return super().__call__(image, rough, loop, score, gate)

    image, truth, _ = scene
    refiner = Refiner(inpainter=OpenCVInpainter(methods=["telea"]), features=ColorFeatures(), size=64, crf=None,
                      polish=None, energy=SpyEnergy(), iters=2)
    box = np.zeros_like(truth)
    box[6:42, 8:56] = True
    refiner.refine(image, PromptInput(box), seed=0)
    refiner.refine(image, BoxInput(box), seed=0)
    (dense_reference, _, dense_gate), (sparse_reference, sparse_loop, sparse_gate) = calls
    assert np.array_equal(dense_reference, box) and dense_gate
    assert np.array_equal(sparse_reference, sparse_loop) and not sparse_gate
