"""The refiner's building blocks against independent oracles: k-means, morphology, canvas, CRF, painters."""

import cv2
import numpy as np
import pytest
import torch

from iosm.refine.canvas import Letterbox
from iosm.refine.crf import DenseCRF, GuidedFilter
from iosm.refine.features.color import ColorFeatures
from iosm.refine.inpainters.opencv import METHODS, OpenCVInpainter
from iosm.refine.kmeans import kmeans
from iosm.refine.morphology import dilate, erode


def test_kmeans_recovers_a_known_clustering():
    generator = torch.Generator().manual_seed(0)
    centres = torch.tensor([[0.0, 0.0], [5.0, 5.0], [0.0, 8.0]])
    truth = torch.arange(3).repeat_interleave(50)
    points = centres[truth] + 0.3 * torch.randn(150, 2, generator=generator)
    result = kmeans(points, 3, seed=1)
    # Same partition up to a relabelling: each true cluster maps to exactly one found label.
    mapping = {int(t): set(result.labels[truth == t].tolist()) for t in range(3)}
    assert all(len(found) == 1 for found in mapping.values())
    assert len(set().union(*mapping.values())) == 3
    assert torch.allclose(result.centers[result.labels[::50]], centres, atol=0.2)


def test_kmeans_is_batched_and_seeded():
    points = torch.rand(4, 100, 1)
    first, second = kmeans(points, 2, seed=3), kmeans(points, 2, seed=3)
    assert first.labels.shape == (4, 100) and torch.equal(first.labels, second.labels)
    with pytest.raises(ValueError, match="k"):
        kmeans(points, 101)


@pytest.mark.parametrize("shape,cv_shape", [("square", cv2.MORPH_RECT), ("cross", cv2.MORPH_CROSS)])
@pytest.mark.parametrize("size", [3, 5, 15])
def test_morphology_matches_opencv(shape, cv_shape, size):
    mask = (np.random.default_rng(size).random((40, 50)) > 0.9).astype(np.uint8)
    kernel = cv2.getStructuringElement(cv_shape, (size, size))
    ours = dilate(torch.from_numpy(mask).float(), size, shape).numpy().astype(np.uint8)
    assert np.array_equal(ours, cv2.dilate(mask, kernel))
    dense = 1 - mask
    ours = erode(torch.from_numpy(dense).float(), size, shape).numpy().astype(np.uint8)
    assert np.array_equal(ours, cv2.erode(dense, kernel, borderType=cv2.BORDER_CONSTANT, borderValue=1))


def test_letterbox_round_trip_keeps_a_mask_at_the_image_size():
    mask = np.zeros((60, 100), bool)
    mask[10:50, 20:70] = True
    box = Letterbox.fit(60, 100, 64)
    canvas = box.mask_to_canvas(mask)
    assert canvas.shape == (64, 64) and canvas[: box.top].sum() == 0  # padding stays empty
    back = box.mask_to_image(canvas)
    assert back.shape == mask.shape and (back & mask).sum() / (back | mask).sum() > 0.95
    stretched = box.mask_to_image(canvas, unpad=False)  # the faithful quirk: padding kept, misaligned
    assert (stretched & mask).sum() / (stretched | mask).sum() < 0.95


def _two_tone(size=48):
    image = torch.zeros(size, size, 3)
    image[..., 2] = 0.8
    image[:, : size // 2] = torch.tensor([0.9, 0.1, 0.1])
    return image


@pytest.mark.parametrize("smoother", [DenseCRF(), GuidedFilter(radius=4, eps=1e-3)])
def test_edge_aware_smoothers_snap_a_shifted_probability_to_the_colour_edge(smoother):
    image = _two_tone()
    probability = torch.zeros(48, 48)
    probability[:, :28] = 0.7  # the red half, overshooting by 4 px
    probability[:, 28:] = 0.3
    labels = smoother(image, probability)
    assert labels.shape == (48, 48)
    assert labels[:, :20].mean() > 0.95 and labels[:, 30:].mean() < 0.05


@pytest.mark.parametrize("method", METHODS)
def test_opencv_painters_fill_only_the_region_from_its_context(method):
    image = _two_tone()
    region = torch.zeros(48, 48, dtype=torch.bool)
    region[20:28, 30:38] = True  # a hole inside the blue half
    painter = OpenCVInpainter(methods=[method])
    painted = painter.paint(image[None], region[None], num_samples=2, seed=0)
    assert painted.shape == (1, 2, 48, 48, 3) and painter.forward_passes == 2
    assert torch.allclose(painted[0, 0][~region], image[~region], atol=2 / 255)
    # The hole is painted with the surrounding blue, not red.
    assert painted[0, 0][region][:, 2].mean() > 0.6 and painted[0, 0][region][:, 0].mean() < 0.3


def test_opencv_painter_rejects_unknown_methods_and_bad_shapes():
    with pytest.raises(ValueError, match="methods"):
        OpenCVInpainter(methods=["magic"])
    with pytest.raises(ValueError, match="regions"):
        OpenCVInpainter().paint(torch.rand(1, 8, 8, 3), torch.zeros(1, 8, 9, dtype=torch.bool))


def test_color_features_separate_colour_and_texture():
    flat = torch.full((1, 32, 32, 3), 0.5)
    noisy = (flat + 0.2 * torch.randn(1, 32, 32, 3, generator=torch.Generator().manual_seed(0))).clamp(0, 1)
    extractor = ColorFeatures(sigma=0.0)
    features = extractor.extract(torch.cat([flat, noisy]))
    assert features.shape == (2, 5, 32, 32) and extractor.forward_passes == 2
    assert features[0, 3:].abs().max() < 1e-3 < features[1, 3:].mean()  # texture channels see the noise
