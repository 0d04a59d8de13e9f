"""The full-resolution energy (EnergyCut), the painting evidence it reads and the held-out synthetic
setting: oracles are drawn shapes and hand-made difference maps, not the code's own output."""

import numpy as np
import pytest
import torch

from iosm.data.synthetic import make_sample
from iosm.refine.canvas import Letterbox
from iosm.refine.energy import EnergyCut
from iosm.refine.evidence import PaintingEvidence, StageClock

SIZE = 64


def _iou(a, b):
    return (a & b).sum() / (a | b).sum()


@pytest.fixture(scope="module")
def scene():
    """A red disc on blue with noise, and a second red disc (background, same colour) touching it; the
    rough mask leaks into the second disc's near half."""
    rng = np.random.default_rng(0)
    rows, cols = np.mgrid[:SIZE, :SIZE]
    truth = (rows - 32) ** 2 + (cols - 24) ** 2 < 14**2
    twin = (rows - 32) ** 2 + (cols - 46) ** 2 < 9**2
    image = np.where((truth | twin)[..., None], [0.85, 0.2, 0.15], [0.15, 0.45, 0.7]).astype(np.float32)
    image = np.clip(image + 0.04 * rng.standard_normal(image.shape), 0, 1).astype(np.float32)
    return image, truth, twin, truth | (twin & (cols < 46))


def test_colour_alone_snaps_a_shifted_mask_to_the_object(scene):
    image, truth, _, _ = scene
    rough = np.roll(truth, 2, axis=1)
    refined, decision, reason = EnergyCut(weight=0.0, band=0.1)(image, rough, None, None)
    assert decision == "energy" and reason is None
    assert _iou(refined, truth) > 0.97 > _iou(rough, truth)


def test_painting_evidence_removes_what_colour_cannot(scene):
    image, truth, twin, rough = scene  # the leak has the object's colour: colour models keep it
    colour_only, _ = EnergyCut(weight=0.0, band=0.3).cut(image, rough, None, None)
    assert (colour_only & twin & rough).sum() == (twin & rough).sum()
    score = np.where(twin, -4.0, np.where(truth, 4.0, 0.0))  # painting reproduced the twin, not the object
    with_evidence, _ = EnergyCut(weight=10.0, deadzone=1.0, band=0.3).cut(image, rough, None, score)
    assert (with_evidence & twin).sum() < 0.1 * twin.sum()
    assert _iou(with_evidence, truth) > 0.95


def test_a_wide_leak_the_loop_removed_is_re_decided(scene):
    image, truth, twin, rough = scene
    narrow, _ = EnergyCut(weight=0.0, band=0.03, prior=0.0).cut(image, rough, rough, None)
    followed, _ = EnergyCut(weight=0.0, band=0.03, prior=20.0).cut(image, rough, truth, None)
    assert (narrow & twin).sum() > 0.1 * twin.sum()  # deep rough pixels are fixed without the loop
    assert (followed & twin).sum() < 0.1 * twin.sum()


def test_colour_accuracy_decides_between_the_energy_and_the_loop():
    rng = np.random.default_rng(1)
    rows, cols = np.mgrid[:SIZE, :SIZE]
    truth = (rows - 32) ** 2 + (cols - 32) ** 2 < 14**2
    clear = np.where(truth[..., None], [0.9, 0.2, 0.1], [0.1, 0.4, 0.8]) + 0.03 * rng.standard_normal((SIZE, SIZE, 3))
    camouflage = np.full((SIZE, SIZE, 3), 0.5) + 0.1 * rng.standard_normal((SIZE, SIZE, 3))  # no colour tells them apart
    rough, loop = np.roll(truth, 1, axis=0), truth  # accuracy: colour models reproduce the rough labels
    _, accuracy_clear = EnergyCut(band=0.15).cut(clear.clip(0, 1), rough, loop, None)
    _, accuracy_camouflage = EnergyCut(band=0.15).cut(camouflage.clip(0, 1), rough, loop, None)
    assert accuracy_clear > 0.8 and accuracy_camouflage < 0.7
    gate = EnergyCut(band=0.15, min_colour_accuracy=0.75, min_agreement=0.0)
    assert gate(clear.clip(0, 1), rough, loop, None)[1] == "energy"
    mask, decision, reason = gate(camouflage.clip(0, 1), rough, loop, None)
    assert decision == "loop" and reason is None and np.array_equal(mask, loop)
    mask, decision, reason = EnergyCut(band=0.15, min_colour_accuracy=0.75, min_agreement=1.0)(camouflage.clip(0, 1), rough, loop, None)
    assert decision == "rough" and "rough mask" in reason and np.array_equal(mask, rough)


def test_a_cut_whose_colours_separate_beats_a_far_off_rough_mask():
    """A rough mask far off the object lowers the first colour accuracy although the colours separate
    cleanly (a photograph's rough mask at IoU 0.59 was kept that way): the cut's own colour models then
    reproduce its labels, and the cut is kept; where colours do not separate, the rough mask still is."""
    rng = np.random.default_rng(1)
    rows, cols = np.mgrid[:SIZE, :SIZE]
    truth = (rows - 32) ** 2 + (cols - 32) ** 2 < 14**2
    clear = np.where(truth[..., None], [0.9, 0.2, 0.1], [0.1, 0.4, 0.8]) + 0.03 * rng.standard_normal((SIZE, SIZE, 3))
    clear = clear.clip(0, 1)
    rough = (rows - 32) ** 2 + (cols - 42) ** 2 < 16**2  # shifted 10 px and larger: IoU ~0.4
    gate = EnergyCut(band=0.15)
    cut, first_accuracy = gate.cut(clear, rough, rough, None)
    assert first_accuracy < gate.min_colour_accuracy and gate.cut_accuracy(clear, rough, cut) > 0.95
    mask, decision, reason = gate(clear, rough, rough, None)  # the loop no help: it kept the rough mask
    assert decision == "energy" and reason is None and _iou(mask, truth) > 0.95 > 0.5 > _iou(rough, truth)
    assert EnergyCut(band=0.15, min_cut_accuracy=None)(clear, rough, rough, None)[1] == "rough"
    camouflage = (np.full((SIZE, SIZE, 3), 0.5) + 0.1 * rng.standard_normal((SIZE, SIZE, 3))).clip(0, 1)
    camouflage_rough = np.roll(truth, 1, axis=0)
    cut, _ = gate.cut(camouflage, camouflage_rough, truth, None)
    assert gate.cut_accuracy(camouflage, camouflage_rough, cut) < 0.8
    assert EnergyCut(band=0.15, min_agreement=1.0)(camouflage, camouflage_rough, truth, None)[1] == "rough"


@pytest.mark.parametrize("case", ["speck", "all but one column"])
def test_a_side_too_small_for_a_colour_model_keeps_the_labels_so_far(case):
    """A 2x2 object has no colour model to fit, and a cut that swallows the whole image leaves the
    background none for the next round: both used to crash k-means / the mixture (seen with
    energy.band=0.1 on a 256 px composite)."""
    rng = np.random.default_rng(0)
    image = 0.5 + 0.01 * rng.standard_normal((64, 64, 3))
    rough = np.zeros((64, 64), bool)
    if case == "speck":
        rough[30:32, 30:32] = True
    else:
        rough[:, 1:] = True
    mask, which, why = EnergyCut(iterations=3)(image, rough, None, None)
    assert mask.shape == rough.shape and which == "energy" and why is None
    if case == "speck":
        assert np.array_equal(mask, rough)
    else:
        assert mask[4:-4, 4:-4].all()  # the sure object (the rough mask 3 px in) stays


def test_energy_rejects_bad_settings():
    with pytest.raises(ValueError, match="energy.band"):
        EnergyCut(band=0.7)
    with pytest.raises(ValueError, match="weight"):
        EnergyCut(weight=-1.0)
    with pytest.raises(ValueError, match="min_colour_accuracy"):
        EnergyCut(min_colour_accuracy=1.5)
    with pytest.raises(ValueError, match="energy.min_cut_accuracy: expected a fraction in"):
        EnergyCut(min_cut_accuracy=-0.1)


def test_evidence_signs_follow_the_stage():
    box = Letterbox.fit(32, 32, 32)
    region = torch.zeros(32, 32)
    region[8:24, 8:24] = 1
    difference = torch.full((32, 32), 0.01)
    difference[8:24, 8:16] = 1.0  # painting changed the left half of the region, reproduced the right
    inpaint, outpaint = PaintingEvidence(box, "cpu"), PaintingEvidence(box, "cpu")
    inpaint.add("inpaint", difference, region)
    outpaint.add("outpaint", difference, region)
    left, right, outside = (slice(10, 22), slice(9, 15)), (slice(10, 22), slice(17, 23)), (slice(0, 6), slice(0, 6))
    assert (inpaint.score()[left] > 0).all() and (inpaint.score()[right] < 0).all()
    assert (outpaint.score()[left] < 0).all() and (outpaint.score()[right] > 0).all()
    assert (inpaint.score()[outside] == 0).all()


def test_stage_clock_adds_up_repeated_stages():
    clock = StageClock()
    for _ in range(2):
        with clock("painting"):
            pass
    assert set(clock.seconds) == {"painting"} and clock.seconds["painting"] >= 0


def test_heldout_setting_differs_and_is_seeded():
    default, heldout = make_sample(3, 0, 64), make_sample(3, 0, 64, "heldout")
    again = make_sample(3, 0, 64, "heldout")
    assert np.array_equal(heldout["init"], again["init"]) and np.array_equal(heldout["image"], again["image"])
    assert not np.array_equal(default["alpha"], heldout["alpha"])
    ious = [_iou(make_sample(5, i, 96, "heldout")["init"], make_sample(5, i, 96, "heldout")["alpha"] > 0.5) for i in range(6)]
    assert 0.5 < np.mean(ious) < 0.99  # errs, but stays a rough mask of the object
    with pytest.raises(ValueError, match="setting"):
        make_sample(0, 0, 64, "other")


def _refiner(*overrides):
    from hydra import compose, initialize_config_dir
    from hydra.utils import instantiate

    from iosm.config import CONF_DIR, register_resolvers

    register_resolvers()
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        cfg = compose("refine", overrides=["inpainter=opencv", "features=color", f"refiner.size={SIZE}", *overrides])
    return instantiate(cfg.refiner)


def test_default_refiner_times_its_parts_and_faithful_keeps_the_original_steps(scene):
    image, truth, _, rough = scene
    result = _refiner().refine(image, rough, seed=0)
    assert {"painting", "features", "separation"} <= set(result.stage_seconds)
    assert ("energy" in result.stage_seconds) == (_refiner().energy is not None)
    assert _refiner().crf is None  # the energy's smoothness term replaces the CRF
    faithful = _refiner("refiner.faithful=true")
    assert faithful.energy is None and faithful.polish is None and faithful.crf is not None
    assert "energy" not in faithful.refine(image, rough, seed=0).stage_seconds


def test_default_refiner_survives_a_speck_and_a_near_full_rough_mask():
    """Bad input that crashed the default refiner's energy step (k-means on no pixels)."""
    rng = np.random.default_rng(0)
    image = (0.5 + 0.01 * rng.standard_normal((SIZE // 2, SIZE // 2, 3))).clip(0, 1).astype(np.float32)
    speck = np.pad(np.ones((2, 2), bool), SIZE // 4 - 1)
    near_full = np.pad(np.ones((SIZE // 2, SIZE // 2 - 1), bool), ((0, 0), (1, 0)))
    for rough in (speck, near_full):
        result = _refiner().refine(image, rough, seed=0)
        assert result.mask.shape == rough.shape and result.mask.dtype == bool
