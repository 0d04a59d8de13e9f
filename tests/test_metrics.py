"""Matting metrics: hand-computed cases, the traps where ports drift from the DIM MATLAB code,
agreement with the straightforward port (``iosm.metrics.reference``), torchmetrics classes, mask metrics."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.ndimage
import torch

from iosm.metrics import (
    MaskMetrics,
    MattingMetrics,
    boundary_f,
    connectivity_error,
    gradient_error,
    iosm_original,
    mask_iou,
    matting_metrics,
    mean_scores,
    mse,
    sad,
    trimap_unknown,
)
from iosm.metrics import reference
from iosm.metrics.connectivity import connectivity_error_map
from iosm.metrics.gradient import gaussgradient_kernels

SIGMA = 1.4


# --- SAD and MSE ---------------------------------------------------------------------------------


def test_sad_and_mse_of_a_4x4_pair_by_hand():
    gt = np.zeros((4, 4))
    gt[0, :] = [1.0, 0.5, 0.25, 0.0]
    pred = np.zeros((4, 4))
    pred[0, :] = [0.5, 0.5, 0.0, 0.0]
    pred[3, 3] = 1.0
    # |differences|: 0.5, 0.25, 1.0 -> SAD 1.75 / 1000; squares 0.25 + 0.0625 + 1 over 16 pixels.
    assert sad(pred, gt) == pytest.approx(1.75 / 1000, rel=1e-12)
    assert mse(pred, gt) == pytest.approx(1.3125 / 16, rel=1e-12)


def test_region_sums_and_mse_divides_by_the_region_count_without_epsilon():
    gt = np.zeros((4, 4))
    pred = np.zeros((4, 4))
    pred[0, 0], pred[0, 1], pred[3, 3] = 0.5, 0.25, 1.0
    region = np.zeros((4, 4), bool)
    region[0, :3] = True  # three pixels, one of them exact
    assert sad(pred, gt, region) == pytest.approx(0.75 / 1000, rel=1e-12)
    assert mse(pred, gt, region) == (0.25 + 0.0625) / 3  # exactly: no "+ 1e-8" in the denominator
    assert math.isnan(mse(pred, gt, np.zeros((4, 4), bool)))  # empty region: 0 / 0, as MATLAB


def test_trimap_unknown_is_the_middle_band_for_float_and_uint8_trimaps():
    trimap_uint8 = np.array([[0, 128, 255], [127, 129, 64]], np.uint8)
    expected = np.array([[False, True, False], [True, True, True]])
    assert (trimap_unknown(trimap_uint8) == expected).all()
    assert (trimap_unknown(trimap_uint8 / 255.0) == expected).all()


# --- Gradient ------------------------------------------------------------------------------------


def _hand_gradient_of_vertical_step(height: int, width: int, step_column: int) -> float:
    """sum (|grad gt|)^2 for gt = [col >= step_column], pred constant: written out from
    gaussgradient.m's definition (hx[i, j] = G(i) G'(j) / ||hx||, replicated border)."""
    halfsize = math.ceil(SIGMA * math.sqrt(-2 * math.log(math.sqrt(2 * math.pi) * SIGMA * 0.01)))
    offsets = range(-halfsize, halfsize + 1)
    gauss = [math.exp(-u * u / (2 * SIGMA**2)) / (SIGMA * math.sqrt(2 * math.pi)) for u in offsets]
    dgauss = [-u * g / SIGMA**2 for u, g in zip(range(-halfsize, halfsize + 1), gauss)]
    norm = math.sqrt(sum(g * g * d * d for g in gauss for d in dgauss))
    total = 0.0
    for col in range(width):
        # Rows are constant, so the Gaussian factor sums to sum(gauss); gy is 0.
        grad_x = sum(gauss) * sum(
            d * (1.0 if min(max(col - u, 0), width - 1) >= step_column else 0.0)
            for u, d in zip(range(-halfsize, halfsize + 1), dgauss)
        ) / norm
        total += height * grad_x**2
    return total / 1000


def test_gradient_error_of_a_step_edge_by_hand():
    gt = np.zeros((8, 16))
    gt[:, 7:] = 1.0
    pred = np.full((8, 16), 0.3)
    assert gradient_error(pred, gt) == pytest.approx(_hand_gradient_of_vertical_step(8, 16, 7), rel=1e-10)


def test_gradient_stretches_each_matte_with_mat2gray():
    """Trap: ports without mat2gray give a 4x smaller error for a half-height step."""
    gt_full = np.zeros((8, 16))
    gt_full[:, 7:] = 1.0
    pred = np.zeros((8, 16))
    assert gradient_error(pred, 0.5 * gt_full) == pytest.approx(gradient_error(pred, gt_full), rel=1e-12)


def test_gradient_kernel_follows_gaussgradient_size_rule_and_normalisation():
    """Trap: ports using gaussian_filter(order=1) (13 taps, unit-sum Gaussian, reflected border, no
    mat2gray) get other numbers; gaussgradient.m has 9 taps and a unit Frobenius norm."""
    gauss, dgauss = gaussgradient_kernels(SIGMA)
    assert gauss.shape == dgauss.shape == (9,)
    assert np.linalg.norm(np.outer(gauss, dgauss)) == pytest.approx(1.0, rel=1e-12)
    rng = np.random.default_rng(3)
    pred, gt = rng.random((24, 24)), rng.random((24, 24))
    magnitudes = [np.hypot(scipy.ndimage.gaussian_filter(m, SIGMA, order=[1, 0]),
                           scipy.ndimage.gaussian_filter(m, SIGMA, order=[0, 1])) for m in (pred, gt)]
    port = float(np.sum((magnitudes[0] - magnitudes[1]) ** 2)) / 1000
    ours = gradient_error(pred, gt)
    assert ours == pytest.approx(reference.gradient_error(pred, gt), rel=1e-9)
    assert abs(port - ours) > 0.05 * ours


# --- Connectivity --------------------------------------------------------------------------------


def test_connectivity_hand_drawn_case_never_takes_the_background_as_largest():
    """A 3x3 block and an isolated pixel; the background (15 px) is larger than both. The block is the
    largest component, so the isolated pixel gets level 0: |phi(1) - phi(0.5)| = |0 - 0.5|."""
    pred = np.zeros((5, 5))
    gt = np.zeros((5, 5))
    pred[:3, :3] = gt[:3, :3] = 1.0
    pred[4, 4], gt[4, 4] = 1.0, 0.5
    assert connectivity_error(pred, gt) == pytest.approx(0.5 / 1000, rel=1e-12)


def _tie_case() -> tuple[np.ndarray, np.ndarray]:
    """Two 2-pixel components tie at thresholds 0.1..0.5: P (top right, first in row-major order)
    and Q (bottom left, first in MATLAB's column-major order)."""
    pred, gt = np.zeros((5, 5)), np.zeros((5, 5))
    pred[0, 3:5], gt[0, 3:5] = 1.0, 0.5  # P
    pred[4, 0:2], gt[4, 0:2] = 0.6, 0.9  # Q
    return pred, gt


def test_connectivity_ties_follow_matlab_column_major_numbering():
    pred, gt = _tie_case()
    # MATLAB keeps Q: P drops out at level 0 (2 x |0 - 0.5|), Q is never assigned (l = 1, no error).
    assert connectivity_error(pred, gt) == pytest.approx(1.0 / 1000, rel=1e-12)
    # scikit-image numbering keeps P: Q at level 0 (2 x |0.4 - 0.1|), P at level 0.5 (2 x |0.5 - 1|).
    row_major = connectivity_error_map(pred, gt, thresholds=np.arange(11) / 10, row_major_ties=True).sum() / 1000
    assert row_major == pytest.approx(1.6 / 1000, rel=1e-12)
    assert reference.connectivity_error(pred, gt, row_major_ties=True) == pytest.approx(row_major, rel=1e-12)


def test_connectivity_thresholds_are_exact_so_153_reaches_0_6():
    """Trap: np.arange(0, 1.1, 0.1)[6] is 0.6000000000000001 and 153/255 falls below it.

    A (5 px, gt 153/255) and C (4 px, gt 1), pred 1 on both. With 0.6 exact, A is largest at t = 0.6
    and drops out at 0.7 (l = 0.6): 5 x |phi(1) - phi(0.6)| = 5 x 0.4. With the accumulated arange A
    drops out at 0.6 (l = 0.5): 5 x 0.5.
    """
    pred, gt = np.zeros((6, 8)), np.zeros((6, 8))
    pred[0, :5], gt[0, :5] = 1.0, 153 / 255  # A
    pred[3:5, 5:7], gt[3:5, 5:7] = 1.0, 1.0  # C
    assert connectivity_error(pred, gt) == pytest.approx(2.0 / 1000, rel=1e-12)
    accumulated = np.arange(0, 1.1, 0.1)
    assert accumulated[6] > 0.6
    drifted = connectivity_error_map(pred, gt, thresholds=accumulated).sum() / 1000
    assert drifted == pytest.approx(2.5 / 1000, rel=1e-12)


@pytest.mark.parametrize("empty", ["pred", "both"])
def test_connectivity_with_nothing_above_the_thresholds_assigns_no_level(empty):
    pred, gt = np.zeros((6, 6)), np.zeros((6, 6))
    gt[1:4, 1:4] = 0.8
    if empty == "both":
        gt[:] = 0.05
    assert connectivity_error(pred, gt) == reference.connectivity_error(pred, gt) == 0.0


# --- Agreement with the straightforward port, identity, validation --------------------------------


def _random_pair(rng: np.random.Generator, height: int, width: int, quantised: bool) -> tuple[np.ndarray, np.ndarray]:
    coarse = rng.random((max(2, height // 6), max(2, width // 6)))
    smooth = scipy.ndimage.zoom(coarse, (height / coarse.shape[0], width / coarse.shape[1]), order=1)
    gt = np.clip(smooth[:height, :width] * 2 - 0.5, 0, 1)
    pred = np.clip(gt + rng.normal(0, 0.15, gt.shape) * (rng.random(gt.shape) < 0.5), 0, 1)
    if quantised:  # 8-bit files read as float32, as read_alpha returns them
        return (np.rint(pred * 255) / 255).astype(np.float32), (np.rint(gt * 255) / 255).astype(np.float32)
    return pred, gt


@pytest.mark.parametrize("seed", range(6))
def test_fast_metrics_equal_the_straightforward_port(seed):
    rng = np.random.default_rng(seed)
    height, width = rng.integers(8, 70, size=2)
    pred, gt = _random_pair(rng, int(height), int(width), quantised=seed % 2 == 0)
    region = rng.random(gt.shape) < 0.4
    for region_arg in (None, region):
        expected_grad = reference.gradient_error(pred, gt, region_arg)
        assert gradient_error(pred, gt, region_arg) == pytest.approx(expected_grad, rel=1e-6)
        assert connectivity_error(pred, gt, region_arg) == pytest.approx(
            reference.connectivity_error(pred, gt, region_arg), rel=1e-6, abs=1e-12
        )


@pytest.mark.parametrize("flat_areas", [False, True])
def test_gradient_strips_join_seamlessly(flat_areas):
    """The gradient is computed in strips of STRIP_ROWS rows; a tall image with flat 0/1 areas and
    edges across the seams must not notice."""
    from iosm.metrics.gradient import STRIP_ROWS

    rng = np.random.default_rng(7)
    height, width = 2 * STRIP_ROWS + 37, 90
    pred, gt = _random_pair(rng, height, width, quantised=False)
    if flat_areas:
        gt = np.zeros((height, width))
        gt[STRIP_ROWS - 2 : STRIP_ROWS + 30, 20:50] = 1.0  # a flat square whose edges cross a seam
        gt[-3:, -5:] = 0.5  # a flat patch in the image corner (replicated border)
        pred = gt.copy()
        pred[STRIP_ROWS + 40 : STRIP_ROWS + 44, 70:72] = 0.7  # a speck far from the square
    assert gradient_error(pred, gt) == pytest.approx(reference.gradient_error(pred, gt), rel=1e-9)


def test_identical_prediction_gives_zero_everywhere():
    rng = np.random.default_rng(0)
    _, gt = _random_pair(rng, 40, 50, quantised=True)
    trimap = np.where(gt > 0.9, 1.0, np.where(gt > 0.05, 0.5, 0.0))
    scores = matting_metrics(gt, gt.copy(), trimap)
    assert set(scores) == {"sad", "mse", "grad", "conn", "sad_unknown", "mse_unknown", "grad_unknown", "conn_unknown"}
    assert all(value == 0.0 for value in scores.values())


def test_matting_metrics_keys_and_region_values():
    rng = np.random.default_rng(1)
    pred, gt = _random_pair(rng, 32, 40, quantised=False)
    trimap = np.full(gt.shape, 0.5)
    trimap[:8] = 0.0
    scores = matting_metrics(pred, gt, trimap)
    unknown = trimap_unknown(trimap)
    assert scores["sad"] == pytest.approx(sad(pred, gt), rel=1e-12)
    assert scores["mse_unknown"] == pytest.approx(mse(pred, gt, unknown), rel=1e-12)
    assert scores["grad_unknown"] == pytest.approx(gradient_error(pred, gt, unknown), rel=1e-12)
    assert scores["conn_unknown"] == pytest.approx(connectivity_error(pred, gt, unknown), rel=1e-12)
    assert set(matting_metrics(pred, gt)) == {"sad", "mse", "grad", "conn"}


@pytest.mark.parametrize(
    ("pred", "message"),
    [
        (np.full((4, 4), np.nan), "NaN"),
        (np.full((4, 4), 1.5), r"\[0, 1\]"),
        (np.full((4, 4), -0.1), r"\[0, 1\]"),
        (np.full((4, 4), 200, np.uint8), "dtype uint8"),
        (np.zeros((4, 5)), "differ in size"),
        (np.zeros((2, 4, 4)), "shape"),
    ],
)
def test_bad_arrays_raise_a_clear_error(pred, message):
    with pytest.raises(ValueError, match=message):
        matting_metrics(pred, np.zeros((4, 4)))


# --- The original IOSM protocol ------------------------------------------------------------------


def _original_port(pred512: np.ndarray, gt512: np.ndarray, mask512: np.ndarray) -> dict[str, float]:
    """metrics2.py's three functions on already-512 float32 arrays, mask in {0, 1}."""
    predict = pred512.copy()
    predict[mask512 == 0] = 0.0
    pixel = mask512.size - float((mask512 == 0).sum())
    grads = []
    for matte in (pred512, gt512):
        grad_x = scipy.ndimage.gaussian_filter(matte, sigma=1.4, order=[1, 0], output=np.float32)
        grad_y = scipy.ndimage.gaussian_filter(matte, sigma=1.4, order=[0, 1], output=np.float32)
        grads.append(np.sqrt(grad_x**2 + grad_y**2))
    return {
        "sad": np.sum(np.abs(predict - gt512)) / 1000,
        "mse": np.sum((predict - gt512) ** 2) / pixel,
        "grad": np.sum(np.square(grads[0] - grads[1])) / 10,
        "conn": reference.connectivity_error(pred512, gt512, thresholds=np.arange(0, 1.1, 0.1), row_major_ties=True),
    }


def test_iosm_original_protocol_reproduces_the_original_code():
    rng = np.random.default_rng(5)
    pred, gt = _random_pair(rng, 512, 512, quantised=True)
    mask = gt > 0.3
    scores = iosm_original(pred, gt, mask=mask)
    expected = _original_port(pred, gt, mask.astype(np.float32))
    assert scores.keys() == expected.keys()
    for key in scores:
        assert scores[key] == pytest.approx(float(expected[key]), rel=1e-5), key


def test_iosm_original_needs_a_mask_and_evaluates_at_512():
    rng = np.random.default_rng(6)
    pred, gt = _random_pair(rng, 64, 96, quantised=True)
    with pytest.raises(ValueError, match="refined mask"):
        iosm_original(pred, gt)
    scores = iosm_original(pred, gt, mask=np.ones(gt.shape, bool))
    # Whole-image SAD at 512x512 is about (512*512 / (64*96)) times the original-size one.
    assert scores["sad"] == pytest.approx(sad(pred, gt) * 512 * 512 / (64 * 96), rel=0.1)


# --- torchmetrics classes ------------------------------------------------------------------------


def _batches(seed: int, n_batches: int = 3, batch_size: int = 2, size: int = 24):
    rng = np.random.default_rng(seed)
    for _ in range(n_batches):
        pairs = [_random_pair(rng, size, size, quantised=True) for _ in range(batch_size)]
        pred = torch.from_numpy(np.stack([p for p, _ in pairs]))[:, None]
        gt = torch.from_numpy(np.stack([g for _, g in pairs]))[:, None]
        trimap = torch.where(gt > 0.95, 1.0, torch.where(gt > 0.05, 0.5, 0.0))
        yield pred, gt, trimap


def test_matting_metrics_class_equals_the_functional_mean_over_updates():
    metric = MattingMetrics()
    per_image = []
    for pred, gt, trimap in _batches(0):
        metric.update(pred, gt, trimap)
        per_image += [matting_metrics(p[0].numpy(), g[0].numpy(), t[0].numpy()) for p, g, t in zip(pred, gt, trimap)]
    result = metric.compute()
    expected = mean_scores(per_image)
    assert int(result["n"]) == expected["n"] == 6
    for key in ("sad", "mse", "grad", "conn", "sad_unknown", "mse_unknown", "grad_unknown", "conn_unknown"):
        assert float(result[key]) == pytest.approx(expected[key], rel=1e-12), key


def test_matting_metrics_states_merge_like_ddp_processes():
    """Two processes' states summed (what DDP's reduction does) give the single-process result."""
    single, rank0, rank1 = MattingMetrics(), MattingMetrics(), MattingMetrics()
    for index, (pred, gt, _) in enumerate(_batches(1, n_batches=4)):
        single.update(pred, gt)
        (rank0 if index % 2 == 0 else rank1).update(pred, gt)
    rank0.merge_state(rank1)
    merged, expected = rank0.compute(), single.compute()
    assert set(merged) == set(expected) == {"n", "sad", "mse", "grad", "conn"}
    for key in expected:
        assert float(merged[key]) == pytest.approx(float(expected[key]), rel=1e-12)


def test_mean_scores_leaves_nan_out_of_its_key():
    assert mean_scores([{"mse": 1.0}, {"mse": float("nan")}, {"mse": 3.0}]) == {"n": 3, "mse": 2.0}


# --- Mask metrics --------------------------------------------------------------------------------


def _square(size: int, top: int, left: int, side: int) -> np.ndarray:
    mask = np.zeros((size, size), bool)
    mask[top : top + side, left : left + side] = True
    return mask


def test_mask_iou_by_hand():
    first, second = _square(10, 0, 0, 4), _square(10, 2, 2, 4)  # overlap 2x2 = 4, union 16 + 16 - 4
    assert mask_iou(first, second) == pytest.approx(4 / 28)
    assert mask_iou(first, first) == 1.0
    assert mask_iou(np.zeros((3, 3), bool), np.zeros((3, 3), bool)) == 1.0


def test_boundary_f_matches_within_tolerance_only():
    gt = _square(40, 10, 10, 20)
    assert boundary_f(gt, gt) == 1.0
    assert boundary_f(_square(40, 11, 10, 20), gt, tolerance=1) == 1.0  # every boundary pixel within 1 px
    assert boundary_f(_square(40, 11, 10, 20), gt, tolerance=0) < 1.0
    assert boundary_f(_square(40, 0, 0, 5), _square(40, 30, 30, 5), tolerance=2) == 0.0
    empty, full = np.zeros((8, 8), bool), np.ones((8, 8), bool)  # no boundaries at all
    assert boundary_f(empty, full) == 0.0
    assert boundary_f(full, full) == boundary_f(empty, empty) == 1.0
    with pytest.raises(ValueError, match="bool"):
        boundary_f(gt.astype(np.uint8), gt)


def test_mask_metrics_class_averages_images():
    masks = torch.from_numpy(np.stack([_square(20, 2, 2, 8), _square(20, 5, 5, 8)]))[:, None]
    gts = torch.from_numpy(np.stack([_square(20, 2, 2, 8), _square(20, 6, 5, 8)]))[:, None]
    metric = MaskMetrics()
    metric.update(masks, gts.float())
    result = metric.compute()
    expected_iou = (1.0 + mask_iou(masks[1, 0].numpy(), gts[1, 0].numpy())) / 2
    assert float(result["iou"]) == pytest.approx(expected_iou)
    assert int(result["n"]) == 2
    assert 0.0 < float(result["boundary_f"]) <= 1.0
