"""Mask perturbation and the training/evaluation transforms."""

from __future__ import annotations

import numpy as np
import pytest

from iosm.data.masks import add_hole, add_leak, perturb_mask
from iosm.data.transforms import EvalTransform, TrainTransform, jitter_colour


@pytest.fixture
def disc_alpha():
    ys, xs = np.mgrid[:96, :96]
    return np.clip(1.0 - (np.hypot(ys - 48, xs - 48) - 25) / 4, 0, 1).astype(np.float32)


def _iou(a, b):
    return (a & b).sum() / (a | b).sum()


def test_perturbation_is_seeded_and_errs_more_with_severity(disc_alpha):
    truth = disc_alpha > 0.5
    first = perturb_mask(disc_alpha, np.random.default_rng(3))
    np.testing.assert_array_equal(first, perturb_mask(disc_alpha, np.random.default_rng(3)))
    assert first.dtype == bool and first.shape == truth.shape
    thresholded_only = perturb_mask(disc_alpha, np.random.default_rng(0), severity=0) ^ truth
    assert not (thresholded_only & ((disc_alpha == 0) | (disc_alpha == 1))).any()  # differs only where soft
    mild = np.mean([_iou(perturb_mask(disc_alpha, np.random.default_rng(s), 0.3), truth) for s in range(20)])
    harsh = np.mean([_iou(perturb_mask(disc_alpha, np.random.default_rng(s), 2.0), truth) for s in range(20)])
    assert 0.9 < mild < 1.0 and 0.4 < harsh < mild
    assert not perturb_mask(np.zeros((8, 8)), np.random.default_rng(0)).any()


def test_leak_grows_outward_and_hole_stays_inside(disc_alpha):
    truth = disc_alpha > 0.5
    leaked = add_leak(truth, np.random.default_rng(0), 0.3)
    assert (leaked & ~truth).sum() > 0 and (truth & ~leaked).sum() == 0
    holed = add_hole(truth, np.random.default_rng(0), 0.1)
    assert (truth & ~holed).sum() > 0 and (holed & ~truth).sum() == 0
    assert holed[0].sum() == truth[0].sum()  # the boundary is untouched


def test_train_transform_crops_around_the_object(disc_alpha):
    image = np.random.default_rng(0).random((96, 128, 3)).astype(np.float32)
    alpha = np.zeros((96, 128), np.float32)
    alpha[:, 70:] = disc_alpha[:, :58]  # object on the right
    planes = {"image": image, "alpha": alpha, "mask": alpha > 0.5, "trimap": np.full_like(alpha, 0.5)}
    out = TrainTransform(32)(planes, np.random.default_rng(0))
    assert out["image"].shape == (32, 32, 3) and out["alpha"].shape == (32, 32)
    assert out["mask"].dtype == bool and out["orig_size"] == (32, 32)
    assert set(np.unique(out["trimap"])) == {0.5}
    assert out["alpha"].mean() > alpha.mean()  # the crop holds more object than the whole image
    assert 0 <= out["image"].min() and out["image"].max() <= 1


def test_eval_transform_pads_to_a_multiple_and_records_the_size():
    planes = {"image": np.ones((33, 70, 3), np.float32), "alpha": np.ones((33, 70), np.float32)}
    out = EvalTransform(32)(planes)
    assert out["image"].shape == (64, 96, 3) and out["alpha"].shape == (64, 96)
    assert out["orig_size"] == (33, 70)
    assert out["alpha"][:33, :70].all() and not out["alpha"][33:].any() and not out["alpha"][:, 70:].any()


def test_colour_jitter_keeps_range_and_zero_strength_is_identity():
    image = np.random.default_rng(0).random((8, 8, 3)).astype(np.float32)
    assert jitter_colour(image, np.random.default_rng(0), 0) is image
    jittered = jitter_colour(image, np.random.default_rng(0), 0.5)
    assert jittered.shape == image.shape and 0 <= jittered.min() and jittered.max() <= 1
    assert not np.allclose(jittered, image)
