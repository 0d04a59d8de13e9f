"""The original's arithmetic that refiner.faithful reproduces, piece by piece (the whole loop is
proven against an independent reference in test_refine_reference.py)."""

import numpy as np
import pytest
import torch

from iosm.refine import faithful
from iosm.refine.kmeans import kmeans_original


def test_odd_stage_crops_are_about_1_21_times_the_object():
    box = (100, 199, 50, 249)  # inclusive rows 100-199, columns 50-249
    crops, carried = faithful.crop_boxes(box, True, [1.1] * 5, [0] * 5, 512)
    assert crops[0] == (95, 203, 40, 258)  # int(149.5 -+ 1.1 * 49.5), int(149.5 -+ 1.1 * 99.5): truncated
    odd_crops, _ = faithful.crop_boxes(carried, False, [1.1] * 5, [3] * 5, 512)
    height, width = odd_crops[0][1] - odd_crops[0][0], odd_crops[0][3] - odd_crops[0][2]
    assert abs(height / 99 - 1.21) < 0.03 and abs(width / 199 - 1.21) < 0.02


def test_crops_are_clamped_and_share_one_offset_for_rows_and_columns():
    crops, _ = faithful.crop_boxes((0, 60, 0, 60), True, [1.1], [-4], 64)
    assert crops == [(0, 59, 0, 59)]  # int(30 +- 33) = -3, 63; shifted by -4 on both axes, clamped at 0


def test_the_original_kmeans_separates_two_groups_and_refills_an_empty_cluster():
    values = torch.cat([torch.full((50,), 1.0), torch.full((30,), 5.0)])[:, None]
    labels, centers = kmeans_original(values, 2, seed=0)
    assert sorted(centers[:, 0].tolist()) == [1.0, 5.0]
    assert (labels[:50] == labels[0]).all() and (labels[50:] != labels[0]).all()
    labels, centers = kmeans_original(torch.ones(10, 1), 3, seed=0)  # every point identical: clusters empty out
    assert torch.isfinite(centers).all() and labels.shape == (10,)


def test_the_crf_unary_is_the_mask_through_a_softmax_and_crops_are_uint8_truncated():
    probability = faithful.mask_probability(torch.tensor([[0.0, 1.0]]))
    assert np.allclose(probability.numpy(), [[1 / (1 + np.e), np.e / (1 + np.e)]])
    assert faithful.truncate_to_uint8(torch.tensor([0.9999])).item() == pytest.approx(254 / 255)
    crop = torch.full((10, 10, 3), 0.5)
    assert faithful.backbone_input(crop, (20, 30)).shape == (20, 30, 3)
    assert faithful.difference_side(512) == 500 and faithful.difference_side(64) == 62


def test_the_faithful_letterbox_is_the_originals_pil_pad_image():
    """PIL bicubic on uint8 to int(side * scale + 0.5), pasted centred on black (an independent PIL port)."""
    from PIL import Image

    rng = np.random.default_rng(0)
    image = (rng.integers(0, 256, (30, 45, 3)).astype(np.uint8)).astype(np.float32) / 255
    expected = Image.new("RGB", (64, 64))
    expected.paste(Image.fromarray((image * 255).round().astype(np.uint8)).resize((64, 43), Image.BICUBIC), (0, 10))
    assert np.array_equal(faithful.letterbox_image(image, 64).numpy(), np.asarray(expected, np.float32) / 255)
    mask = np.zeros((30, 45), bool)
    mask[10:20, 5:40] = True
    canvas = faithful.letterbox_mask(mask, 64).numpy()
    assert canvas[10:53].any() and not canvas[:10].any() and not canvas[53:].any()
