"""The matte stage (iosm.matting): the classical matte against ground truth, the band and its cap,
the refiner's evidence, degenerate masks, the downscaled solve, the builder and checkpoint kinds."""

from __future__ import annotations

import warnings

import cv2
import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from iosm.data.synthetic import make_sample
from iosm.matting import ClassicalMatte, build_matte
from iosm.matting.band import band_trimap, boundary_distance, reopen_band
from iosm.matting.evidence import refine_evidence
from iosm.matting.mtm import MTMMatte, keep_certain_prior
from iosm.matting.solvers import TrimapFallbackWarning, nonlocal_laplacian, solve_alpha
from iosm.metrics import matting_metrics


def sad(alpha: np.ndarray, truth: np.ndarray) -> float:
    return matting_metrics(alpha.astype(np.float64), truth.astype(np.float64))["sad"]


@pytest.fixture(scope="module")
def soft_disc() -> tuple[np.ndarray, np.ndarray]:
    """A 96 px composite of a disc whose edge is a 10 px ramp (wider than a 2% band), and its alpha."""
    rows, cols = np.mgrid[:96, :96]
    alpha = np.clip((30.0 - np.hypot(rows - 48, cols - 48)) / 10.0 + 0.5, 0.0, 1.0).astype(np.float32)
    rng = np.random.default_rng(0)
    foreground = np.array([0.9, 0.3, 0.2]) + 0.05 * rng.standard_normal((96, 96, 3))
    background = np.array([0.1, 0.3, 0.8]) + 0.05 * rng.standard_normal((96, 96, 3))
    image = alpha[..., None] * foreground + (1.0 - alpha[..., None]) * background
    return np.clip(image, 0.0, 1.0).astype(np.float32), alpha


@pytest.fixture(scope="module")
def composite() -> dict:
    """A 96 px synthetic composite with strands (type NS) and its exact alpha."""
    return make_sample(seed=0, index=2, size=96)


def test_classical_matte_beats_the_mask_it_starts_from(composite):
    mask = composite["alpha"] > 0.5
    result = ClassicalMatte(band_radius=0.03).matte(composite["image"], mask)
    assert result.alpha.shape == mask.shape and result.alpha.dtype == np.float32
    assert 0.0 <= result.alpha.min() and result.alpha.max() <= 1.0
    assert result.foreground.shape == composite["image"].shape
    assert sad(result.alpha, composite["alpha"]) < 0.8 * sad(mask.astype(np.float32), composite["alpha"])
    assert result.warnings == []


@pytest.mark.parametrize("value", [False, True], ids=["empty", "full"])
def test_empty_or_full_mask_gives_a_constant_alpha_and_a_warning(value, composite):
    mask = np.full(composite["alpha"].shape, value)
    result = ClassicalMatte().matte(composite["image"], mask)
    assert np.all(result.alpha == float(value))
    assert len(result.warnings) == 1 and f"all {int(value)}" in result.warnings[0]


def test_evidence_widens_the_band_only_where_it_is_set():
    mask = np.zeros((80, 80), bool)
    mask[20:60, 20:60] = True
    plain, _ = band_trimap(mask, radius=2)
    evidence = np.zeros(mask.shape, np.float32)
    evidence[:, :40] = 1.0  # the refiner was unsure about the left half
    widened, notes = band_trimap(mask, radius=2, evidence=evidence, evidence_radius=8)
    assert notes == []
    assert (widened[:, 40:] == plain[:, 40:]).all()
    assert (widened[:, :40] == 0.5).sum() > (plain[:, :40] == 0.5).sum()
    assert widened[40, 13] == 0.5 and plain[40, 13] == 0.0  # 7 px outside the left edge


def test_reopening_widens_the_band_only_where_the_alpha_runs_past_its_wall():
    mask = np.zeros((80, 80), bool)
    mask[20:60, 20:60] = True
    trimap, _ = band_trimap(mask, radius=2)
    settled = mask.astype(np.float32)  # reaches the definite labels at every wall
    assert reopen_band(trimap, mask, settled, radius=8, tolerance=0.1)[0] is trimap
    soft = settled.copy()
    soft[:, :40][trimap[:, :40] == 0.5] = 0.5  # the left half's edge is still half-transparent at the wall
    wider, notes = reopen_band(trimap, mask, soft, radius=8, tolerance=0.1)
    assert notes == []
    assert (wider[:, 48:] == trimap[:, 48:]).all()  # 8 px right of the soft half
    assert wider[40, 13] == 0.5 and trimap[40, 13] == 0.0  # 7 px outside the left edge
    assert wider[40, 10] == 0.0  # beyond the reopened radius


def test_reopening_recovers_an_edge_softer_than_the_band(soft_disc):
    image, alpha = soft_disc
    mask = alpha > 0.5
    once = ClassicalMatte(band_radius=0.02, reopen_radius=None).matte(image, mask).alpha
    reopened = ClassicalMatte(band_radius=0.02, reopen_radius=0.06).matte(image, mask).alpha
    assert sad(reopened, alpha) < 0.5 * sad(once, alpha)


def _disc_with_lines(lines: list[tuple[int, int, int, int]], shade: float = 0.7, seed: int = 0):
    """A 96 px red disc on a noisy blue background with 1 px lines of the disc's colour (x0, y0, x1, y1):
    the image, the disc's mask and the lines' own pixels."""
    rows, cols = np.mgrid[:96, :96]
    disc = np.hypot(rows - 48, cols - 48) <= 20
    canvas = np.zeros((96, 96), np.uint8)
    for x0, y0, x1, y1 in lines:
        cv2.line(canvas, (x0, y0), (x1, y1), 255, 1)
    line = (canvas > 0) & ~disc
    alpha = np.where(disc, 1.0, np.where(line, shade, 0.0)).astype(np.float32)
    rng = np.random.default_rng(seed)
    background = np.array([0.15, 0.3, 0.75]) + 0.03 * rng.standard_normal((96, 96, 3))
    image = alpha[..., None] * np.array([0.9, 0.25, 0.2]) + (1.0 - alpha[..., None]) * background
    return np.clip(image, 0.0, 1.0).astype(np.float32), disc, line


def test_a_strand_past_the_band_is_unmixed_from_the_background_behind_it():
    image, disc, strand = _disc_with_lines([(68, 48, 82, 44)])  # from the disc's edge 14 px outwards
    without = ClassicalMatte(strand_reach=None).matte(image, disc).alpha
    assert np.array_equal(ClassicalMatte().matte(image, disc).alpha, without)  # 96 px: below strand_min_side
    far = strand & (np.hypot(*(np.mgrid[:96, :96] - 48)) > 26)  # past the band of either matte
    assert far.sum() >= 5 and without[far].max() < 0.05
    found = ClassicalMatte(strand_min_side=0).matte(image, disc).alpha
    assert np.abs(found[far] - 0.7).mean() < 0.15
    changed = np.abs(found - without) > 1e-6
    assert not (changed & ~(cv2.dilate(strand.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0)).any()


def test_a_line_that_does_not_reach_the_object_is_left_alone():
    """The same line past the band is a strand when it runs on to the object's edge, and left alone
    when a gap separates them (background structure near an object, not hair growing out of it)."""
    detached = [(73, 58), (82, 65)]  # 7 to 19 px outside the disc
    attached = [(66, 52)] + detached  # the same line, continued to the disc's edge
    for points, expect_change in ((detached, False), (attached, True)):
        segments = [(*a, *b) for a, b in zip(points, points[1:])]
        image, disc, line = _disc_with_lines(segments)
        with_search = ClassicalMatte(strand_min_side=0, strand_min_length=0).matte(image, disc).alpha
        without = ClassicalMatte(strand_reach=None).matte(image, disc).alpha
        far_part = line & (np.hypot(*(np.mgrid[:96, :96] - 48)) > 28)
        assert (np.abs(with_search - without)[far_part] > 0.2).any() == expect_change


def test_a_line_shorter_than_strand_min_length_is_left_alone():
    image, disc, _ = _disc_with_lines([(68, 48, 74, 48)])  # runs 6 px out
    with_search = ClassicalMatte(strand_min_side=0).matte(image, disc).alpha
    without = ClassicalMatte(strand_reach=None).matte(image, disc).alpha
    np.testing.assert_array_equal(with_search, without)


def test_object_coloured_blobs_are_no_strands():
    image, disc, _ = _disc_with_lines([])
    image[44:52, 70:82] = [0.9, 0.25, 0.2]  # an 8 px wide patch of the object's colour beside its edge
    with_search = ClassicalMatte(strand_min_side=0).matte(image, disc).alpha
    without = ClassicalMatte(strand_reach=None).matte(image, disc).alpha
    np.testing.assert_array_equal(with_search, without)


@pytest.mark.parametrize("key, value", [("strand_window", 8), ("strand_window", 1), ("strand_min_length", -1),
                                        ("strand_reach", 0.7), ("strand_min_side", -1)])
def test_bad_strand_settings_name_the_key(key, value):
    with pytest.raises(ValueError, match=f"matte.{key}={value}"):
        ClassicalMatte(**{key: value})


def test_a_band_over_the_whole_image_is_capped_and_said_so():
    mask = np.zeros((60, 60), bool)
    mask[25:35, 25:35] = True
    trimap, notes = band_trimap(mask, radius=40, max_fraction=0.3)
    assert (trimap == 0.5).mean() <= 0.31
    assert (trimap == 1.0).any() and (trimap == 0.0).any()
    assert any("capped" in note for note in notes)


def test_a_speckled_mask_gives_its_own_labels_and_says_why():
    """A checkerboard mask: every pixel touches the edge, so no band can be capped and, once both
    definite regions are kept, none is left to solve (this crashed the solve's bounding box)."""
    mask = (np.indices((32, 32)).sum(0) % 2).astype(bool)
    trimap, notes = band_trimap(mask, radius=1, max_fraction=0.5)
    assert any("no narrower band exists" in note for note in notes)
    image = np.random.default_rng(0).random((32, 32, 3)).astype(np.float32)
    result = ClassicalMatte().matte(image, mask)
    np.testing.assert_array_equal(result.alpha, mask.astype(np.float32))
    assert any("no pixel was left to solve" in note for note in result.warnings)


def test_a_band_that_swallows_a_thin_object_keeps_its_core():
    mask = np.zeros((40, 40), bool)
    mask[10:30, 19:22] = True  # 3 px wide
    trimap, notes = band_trimap(mask, radius=3)
    assert (trimap == 1.0).any() and mask[trimap == 1.0].all()
    assert any("swallowed" in note for note in notes)


def test_solver_without_definite_regions_warns_instead_of_pretending():
    image = np.random.default_rng(0).random((16, 16, 3))
    trimap = np.full((16, 16), 0.5)
    trimap[:8] = 1.0
    with pytest.warns(TrimapFallbackWarning, match="no definite background"):
        alpha = solve_alpha(image, trimap, "cf")
    assert np.all(alpha == 1.0)


@pytest.fixture(scope="module")
def enclosed_hole() -> tuple[np.ndarray, np.ndarray]:
    """A green object on blue with a blue hole (:func:`_object_with_hole`)."""
    return _object_with_hole([0.2, 0.8, 0.2], [0.1, 0.2, 0.8], 0.03)


def _object_with_hole(object_rgb, background_rgb, noise: float) -> tuple[np.ndarray, np.ndarray]:
    """A 64 px image of an object on a background with an 8 px hole of the background's colour in
    it, and a trimap whose unknown region covers the hole and the object around it but touches no
    background pixel."""
    rng = np.random.default_rng(0)
    image = np.array(background_rgb) + noise * rng.standard_normal((64, 64, 3))
    image[12:52, 12:52] = np.array(object_rgb) + noise * rng.standard_normal((40, 40, 3))
    image[28:36, 28:36] = np.array(background_rgb) + noise * rng.standard_normal((8, 8, 3))
    trimap = np.zeros((64, 64), np.float32)
    trimap[12:52, 12:52] = 1.0
    trimap[22:42, 22:42] = 0.5
    return np.clip(image, 0.0, 1.0).astype(np.float32), trimap


HOLE = (slice(29, 35), slice(29, 35))


def _ring(trimap: np.ndarray) -> np.ndarray:
    """The unknown object pixels at least 2 px from the hole."""
    ring = trimap == 0.5
    ring[26:38, 26:38] = False
    return ring


@pytest.mark.parametrize("colour_space", ["lab", "rgb"])
def test_nonlocal_links_open_a_hole_that_closed_form_cannot_reach(enclosed_hole, colour_space):
    """Closed-form only propagates from the band's walls, all object here, so the hole stays 1; the
    non-local links tie it to the like-coloured background outside, and the object around it stays."""
    image, trimap = enclosed_hole
    local = solve_alpha(image, trimap, "cf", colour_space=colour_space)
    linked = solve_alpha(image, trimap, "cf", nonlocal_weight=0.05, colour_space=colour_space)
    assert local[HOLE].min() > 0.95
    assert linked[HOLE].max() < 0.3
    assert linked[_ring(trimap)].min() > 0.9
    np.testing.assert_array_equal(linked[trimap != 0.5], trimap[trimap != 0.5])


def test_lab_tells_dark_colours_apart_where_rgb_does_not():
    """Dark green and dark blue are 0.11 apart in RGB, no farther than the pixels' distance in position
    weighs, so RGB links stay inside the object and the hole stays 1; in Lab the two are far apart and
    the hole links to the dark blue background outside."""
    image, trimap = _object_with_hole([0.06, 0.14, 0.06], [0.06, 0.06, 0.14], 0.01)
    rgb = solve_alpha(image, trimap, "cf", nonlocal_weight=0.05, colour_space="rgb")
    lab = solve_alpha(image, trimap, "cf", nonlocal_weight=0.05, colour_space="lab")
    assert rgb[HOLE].min() > 0.95
    assert lab[HOLE].mean() < 0.85
    assert lab[_ring(trimap)].min() > 0.9


def test_nonlocal_laplacian_is_a_graph_laplacian_over_the_unknown_pixels(enclosed_hole):
    """Symmetric, rows summing to zero (a constant alpha costs nothing), positive semi-definite (so
    conjugate gradients apply), and no link between two pixels that are both outside the band."""
    image, trimap = enclosed_hole
    laplacian = nonlocal_laplacian(image, trimap == 0.5)
    assert laplacian.shape == (64 * 64, 64 * 64)
    assert abs(laplacian - laplacian.T).max() < 1e-12
    np.testing.assert_allclose(laplacian @ np.ones(64 * 64), 0.0, atol=1e-12)
    probe = np.random.default_rng(1).standard_normal(64 * 64)
    assert probe @ (laplacian @ probe) >= 0.0
    known = np.flatnonzero(trimap != 0.5)
    assert laplacian[known][:, known].count_nonzero() == np.count_nonzero(laplacian[known][:, known].diagonal())


def test_nonlocal_links_solve_a_box_smaller_than_their_neighbour_count():
    """A 4x4 box has 16 pixels, fewer than the 20 neighbours asked for: every pixel is one."""
    image = np.random.default_rng(0).random((4, 4, 3)).astype(np.float32)
    trimap = np.full((4, 4), 0.5, np.float32)
    trimap[0], trimap[-1] = 0.0, 1.0
    alpha = solve_alpha(image, trimap, "cf", nonlocal_weight=0.05)
    assert np.all(alpha[0] == 0.0) and np.all(alpha[-1] == 1.0) and np.all((alpha >= 0) & (alpha <= 1))


def test_nonlocal_weight_and_colour_space_are_checked_and_only_used_by_closed_form(enclosed_hole, caplog):
    image, trimap = enclosed_hole
    with pytest.raises(ValueError, match="matte.nonlocal_weight=-0.1"):
        ClassicalMatte(nonlocal_weight=-0.1)
    with pytest.raises(ValueError, match="matte.colour_space='hsv': expected one of"):
        ClassicalMatte(colour_space="hsv")
    with pytest.raises(ValueError, match="colour_space='lab' is for solver 'cf'"):
        solve_alpha(image, trimap, "knn", colour_space="lab")
    with pytest.raises(ValueError, match="nonlocal_weight=0.05 is for solver 'cf'"):
        solve_alpha(image, trimap, "knn", nonlocal_weight=0.05)
    with caplog.at_level("WARNING", logger="iosm.matting.classical"):
        matte = ClassicalMatte(solver="knn")
    assert matte.nonlocal_weight == 0.0 and "matte.solver=knn does not use it" in caplog.text
    assert matte.colour_space == "rgb" and "matte.solver=knn compares colours in RGB" in caplog.text


def test_downscaled_solve_stays_close_to_the_full_solve(composite):
    mask = composite["alpha"] > 0.5
    full = ClassicalMatte(max_side=None).matte(composite["image"], mask)
    capped = ClassicalMatte(max_side=48).matte(composite["image"], mask)
    assert any("max_side=48" in note for note in capped.warnings)
    assert sad(capped.alpha, composite["alpha"]) < 1.25 * sad(full.alpha, composite["alpha"])
    assert sad(capped.alpha, composite["alpha"]) < sad(mask.astype(np.float32), composite["alpha"])
    # Beyond the widest band (the reopened one) both keep the mask's exact 0/1.
    outside = boundary_distance(mask) > ClassicalMatte().reopen_radius * max(mask.shape)
    np.testing.assert_array_equal(capped.alpha[outside], mask[outside].astype(np.float32))
    np.testing.assert_array_equal(full.alpha[outside], mask[outside].astype(np.float32))


def test_refine_evidence_marks_changed_pixels_and_ambiguous_differences(synthetic_root):
    from iosm.data.io import read_image, read_mask
    from iosm.refine.features.color import ColorFeatures
    from iosm.refine.inpainters.opencv import OpenCVInpainter
    from iosm.refine.refiner import Refiner

    image = read_image(synthetic_root / "original" / "syn_0000.jpg")
    rough = read_mask(synthetic_root / "init" / "syn_0000.png")
    refiner = Refiner(inpainter=OpenCVInpainter(), features=ColorFeatures(), size=64, iters=2, crf=None, polish=None, energy=None)
    result = refiner.refine(image, rough, seed=0, record_steps=True)
    evidence = refine_evidence(result, rough)
    assert evidence.shape == rough.shape and evidence.dtype == np.float32
    assert 0.0 <= evidence.min() and evidence.max() <= 1.0
    changed = rough != result.mask
    assert changed.any() and np.all(evidence[changed] == 1.0)
    assert ((evidence > 0) & (evidence < 1)).any()  # the ambiguity part, not only the changes


def test_build_matte_from_each_config(compose_cfg):
    assert build_matte(compose_cfg("refine", ["matte=none"]).matte) is None
    matte = build_matte(compose_cfg("refine", ["matte.solver=knn"]).matte)
    assert isinstance(matte, ClassicalMatte) and matte.solver == "knn"
    with pytest.raises(ValueError, match="matte.solver='nope'"):
        build_matte(compose_cfg("refine", ["matte.solver=nope"]).matte)


def test_mtm_matte_rejects_a_checkpoint_of_the_wrong_kind(tiny_mtm_checkpoint, compose_cfg):
    cfg = compose_cfg("refine", ["matte=mtm", f"matte.ckpt_path={tiny_mtm_checkpoint}", "matte.kind=mtm_guided"])
    with pytest.raises(ValueError, match=f"matte.ckpt_path={tiny_mtm_checkpoint}: holds a model=mtm network.*mtm_guided"):
        build_matte(cfg.matte)
    matte = build_matte(OmegaConf.merge(cfg.matte, {"kind": "mtm"}))
    assert isinstance(matte, MTMMatte) and matte.kind == "mtm"


def test_mtm_matte_rejects_a_file_that_is_no_mtm_checkpoint(tmp_path, compose_cfg):
    path = tmp_path / "other.ckpt"
    torch.save({"state_dict": {}}, path)
    with pytest.raises(ValueError, match=f"matte.ckpt_path={path}: .*not an MTM checkpoint"):
        build_matte(compose_cfg("refine", ["matte=mtm", f"matte.ckpt_path={path}"]).matte)


def test_matte_rejects_mismatched_shapes(composite):
    with pytest.raises(ValueError, match="mask: expected shape"):
        ClassicalMatte().matte(composite["image"], np.ones((5, 5), bool))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no stray warnings from a normal call
        ClassicalMatte().matte(composite["image"], composite["alpha"] > 0.5)


def test_trimap_from_mask_matches_an_independent_disc_morphology():
    from scipy import ndimage

    from iosm.baselines import trimap_from_mask

    mask = np.zeros((40, 50), bool)
    mask[8:30, 10:35] = True
    mask[20:24, 35:45] = True
    radius = 3
    yy, xx = np.mgrid[-radius:radius + 1, -radius:radius + 1]
    disc = xx**2 + yy**2 <= radius**2 + radius  # OpenCV's ellipse of a 7x7 box, drawn by its rule
    trimap = trimap_from_mask(mask, radius)
    inner = ndimage.binary_erosion(mask, disc, border_value=1)
    outer = ndimage.binary_dilation(mask, disc)
    agree = (trimap == 1.0) == inner
    assert agree.mean() > 0.99 and ((trimap == 0.0) == ~outer).mean() > 0.99
    assert set(np.unique(trimap)) == {0.0, 0.5, 1.0}


def test_evaluate_runs_the_classical_matte_over_a_dataset(synthetic_root, tmp_path, compose_cfg):
    """evaluate.py matte=classical: the matte on the data's masks, scored like the folder mode; it
    must beat the same masks used as alphas (scored by the same job, folder mode)."""
    import json

    from iosm.jobs.evaluate import run

    data = ["data=aim500", f"data.root={synthetic_root}", "data.mask_source=folder",
            f"data.mask_dir={synthetic_root}/init", "data.num_workers=0"]
    matte_sad = run(compose_cfg("evaluate", ["matte=classical", *data, f"output_dir={tmp_path / 'matte'}"]))
    metrics = json.loads((tmp_path / "matte" / "metrics.json").read_text())
    assert metrics["n"] == 8 and len(list((tmp_path / "matte" / "alphas").iterdir())) == 8
    mask_sad = run(compose_cfg("evaluate", [f"pred_dir={tmp_path / 'matte' / 'masks'}", f"gt_dir={synthetic_root}/mask",
                                            f"output_dir={tmp_path / 'masks'}"]))
    assert matte_sad < mask_sad


def test_guided_matte_drops_faint_corrections_only_where_the_prior_is_certain():
    prior = np.array([[0.0, 0.0, 1.0, 1.0, 0.5, 0.5]], np.float32)
    alpha = np.array([[0.02, 0.30, 0.98, 0.60, 0.51, 0.90]], np.float32)
    kept = keep_certain_prior(prior, alpha, 0.03)
    # faint leaks on certain pixels go; a real correction there (a mask error) and any band pixel stay
    np.testing.assert_array_equal(kept, np.array([[0.0, 0.30, 1.0, 0.60, 0.51, 0.90]], np.float32))
    assert kept.dtype == np.float32
    np.testing.assert_array_equal(keep_certain_prior(prior, alpha, 0.0), alpha)


def test_mtm_matte_rejects_a_min_correction_outside_0_1(tiny_mtm_checkpoint, compose_cfg):
    cfg = compose_cfg("refine", ["matte=mtm", f"matte.ckpt_path={tiny_mtm_checkpoint}", "matte.min_correction=1.5"])
    with pytest.raises(ValueError, match=r"matte.min_correction=1.5: expected a value in \[0, 1\)"):
        build_matte(cfg.matte)


def _unexplained_patch() -> tuple[np.ndarray, np.ndarray]:
    """A 64 px image, red object left and blue background right, with a white patch in the unknown
    band between them: a colour neither definite region has, so the colours leave its alpha open."""
    rng = np.random.default_rng(0)
    image = np.empty((64, 64, 3))
    image[:, :32] = [0.8, 0.15, 0.1]
    image[:, 32:] = [0.1, 0.2, 0.8]
    image[24:40, 30:38] = [0.95, 0.95, 0.95]
    image = np.clip(image + 0.01 * rng.standard_normal(image.shape), 0.0, 1.0).astype(np.float32)
    trimap = np.full((64, 64), 0.5, np.float32)
    trimap[:, :20], trimap[:, 48:] = 1.0, 0.0
    return image, trimap


PATCH = (slice(26, 38), slice(31, 37))


def test_a_mask_prior_decides_a_colour_neither_side_explains():
    """The data term moves the undecided patch towards the label it is given, while the band pixels
    the colours decide (red next to the object, blue next to the background) keep their alpha."""
    image, trimap = _unexplained_patch()
    free = solve_alpha(image, trimap, "cf", nonlocal_weight=0.05, colour_space="lab")
    weight = np.full(trimap.shape, 0.001, np.float32)
    towards = {label: solve_alpha(image, trimap, "cf", nonlocal_weight=0.05, colour_space="lab",
                                  prior=np.full(trimap.shape, label, np.float32), prior_weight=weight)
               for label in (0.0, 1.0)}
    assert towards[0.0][PATCH].mean() < free[PATCH].mean() - 0.1
    assert towards[1.0][PATCH].mean() > free[PATCH].mean() + 0.1
    decided = (slice(None), np.r_[20:26, 42:48])
    for alpha in towards.values():
        assert np.abs(alpha[decided] - free[decided]).max() < 0.05
    plain = solve_alpha(image, trimap, "cf", prior=np.zeros(trimap.shape), prior_weight=weight)  # no links
    assert plain[PATCH].mean() < solve_alpha(image, trimap, "cf")[PATCH].mean()


def test_the_mask_prior_follows_the_refiners_certainty_and_needs_its_evidence(composite):
    """Weights mask_prior x (1 - evidence) towards the mask's labels; no evidence (a mask from elsewhere)
    or a weight of 0 means no prior, and evidence of 1 everywhere gives the same alpha as no prior."""
    mask = composite["alpha"] > 0.5
    evidence = np.random.default_rng(0).random(mask.shape).astype(np.float32)
    labels, weights = ClassicalMatte(mask_prior=0.002).prior(mask, evidence)
    np.testing.assert_array_equal(labels, mask.astype(np.float32))
    np.testing.assert_allclose(weights, 0.002 * (1.0 - evidence), rtol=1e-6)
    assert ClassicalMatte().prior(mask, None) is None and ClassicalMatte(mask_prior=0).prior(mask, evidence) is None
    unsure = np.ones(mask.shape, np.float32)
    with_prior = ClassicalMatte().matte(composite["image"], mask, unsure).alpha
    without = ClassicalMatte(mask_prior=0).matte(composite["image"], mask, unsure).alpha
    np.testing.assert_allclose(with_prior, without, atol=1e-6)
    sure = np.zeros(mask.shape, np.float32)
    pulled = ClassicalMatte().matte(composite["image"], mask, sure).alpha
    free = ClassicalMatte(mask_prior=0).matte(composite["image"], mask, sure).alpha
    assert np.abs(pulled - free).max() > 1e-3  # the prior acts where the refiner was sure


def test_mask_prior_is_checked_and_only_used_by_closed_form(caplog):
    image, trimap = _unexplained_patch()
    with pytest.raises(ValueError, match="matte.mask_prior=-0.1: expected a weight >= 0"):
        ClassicalMatte(mask_prior=-0.1)
    with pytest.raises(ValueError, match="prior and prior_weight go together"):
        solve_alpha(image, trimap, "cf", prior=np.zeros(trimap.shape))
    with pytest.raises(ValueError, match="a prior is a data term added to closed-form's Laplacian"):
        solve_alpha(image, trimap, "knn", prior=np.zeros(trimap.shape), prior_weight=np.ones(trimap.shape))
    with caplog.at_level("WARNING", logger="iosm.matting.classical"):
        matte = ClassicalMatte(solver="knn")
    assert matte.mask_prior == 0.0 and "matte.mask_prior=0.001 is a data term of closed-form's" in caplog.text
