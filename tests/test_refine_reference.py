"""The proof of faithfulness: ``refiner.faithful=true`` against an independent reference of the original loop.

``reference_predict_mask`` below is a plain, straight-line transcription of ALGORITHM.md's Stage 1 loop
(PaintSeg's ``predict_mask`` as the IOSM repository runs it), written from that description and not
from :mod:`iosm.refine`: OpenCV crosses for the morphology, ``pydensecrf`` called directly, the
original's tensor layout (1, 1, S, S) and its variable names. Only the parts the issue asks to inject
are shared: a deterministic stand-in painter, a stand-in feature extractor, the k-means routine and the
crop offsets. Both must then give exactly the same mask, for file, box, point and scribble prompts,
on several images. Keep this test when the refiner changes.
"""

import cv2
import numpy as np
import pydensecrf.densecrf as dcrf
import pydensecrf.utils as crf_utils
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from iosm.refine.crf import DenseCRF
from iosm.refine.features.base import FeatureExtractor
from iosm.refine.inpainters.base import Inpainter
from iosm.refine.kmeans import kmeans_original
from iosm.refine.prompts.base import PromptInput
from iosm.refine.prompts.geometric import BoxInput, PointsInput, ScribbleInput
from iosm.refine.refiner import Refiner

SIZE = 64  # the canvas; the test images are this size, so letterboxing is the identity
ITERS = 6
FACTORS = [1.1] * 5
SEED = 0


# -- injected stand-ins ------------------------------------------------------------------------------
class StandInPainter(Inpainter):
    """Deterministic 'painting': the region becomes the mean colour of the rest plus a ramp that
    differs per sample; outside the region the image changes slightly, as a VAE round trip does (so a
    composited and a raw output differ)."""

    def _paint(self, images, regions, num_samples, seed):
        self.forward_passes += images.shape[0] * num_samples
        outside = ~regions[..., None]
        context = (images * outside).sum((1, 2)) / outside.sum((1, 2)).clamp_min(1)  # (N, 3)
        height, width = images.shape[1:3]
        ramp = torch.linspace(0, 1, width)[None, None, :, None] * torch.tensor([0.3, -0.2, 0.1])
        samples = []
        for sample in range(num_samples):
            fill = (context[:, None, None] + (0.5 + 0.25 * sample) * ramp).clamp(0, 1)
            samples.append(torch.where(regions[..., None], fill.expand_as(images), 0.97 * images + 0.015))
        return torch.stack(samples, 1)


class StandInFeatures(FeatureExtractor):
    """A ViT-like patch grid: 4x4 average pools of colour and two products, at a fixed input size."""

    input_size = 32

    def _extract(self, images):
        rgb = images.permute(0, 3, 1, 2)
        channels = torch.cat([rgb, rgb[:, :1] * rgb[:, 1:2], (rgb[:, :1] - rgb[:, 2:]) ** 2], 1)
        return F.avg_pool2d(channels, 4)


def injected_kmeans(values, clusters):
    return kmeans_original(values, clusters, seed=0)


def drawn_offsets(seed: int) -> list[list[int]]:
    """The refiner's documented draw: one offset in [-4, 4) per crop, from numpy's default_rng(seed)."""
    rng = np.random.default_rng(seed)
    return [[int(rng.integers(-4, 4)) for _ in FACTORS] for _ in range(ITERS)]


# -- the reference --------------------------------------------------------------------------------------
def _cross(size):
    return cv2.getStructuringElement(cv2.MORPH_CROSS, (size, size))


def _dilate(mask, size, iterations):  # mask (1, 1, S, S) float tensor
    return torch.from_numpy(cv2.dilate(mask[0, 0].numpy().astype(np.uint8), _cross(size), iterations=iterations)[None, None].astype(np.float32))


def _erode(mask, size, iterations):
    return torch.from_numpy(cv2.erode(mask[0, 0].numpy().astype(np.uint8), _cross(size), iterations=iterations)[None, None].astype(np.float32))


def _to_pil(x):  # (1, 3, h, w) float in [0, 1]
    return Image.fromarray((x[0].permute(1, 2, 0).numpy() * 255).astype(np.uint8))


def _features(crop, features, grid):
    resized = _to_pil(crop).resize((features.input_size, features.input_size), Image.BICUBIC)
    pixels = torch.from_numpy(np.asarray(resized, dtype=np.float32) / 255)[None]
    return F.interpolate(features.extract(pixels), (grid, grid))


def _densecrf(image_uint8, mask):
    fg = mask.numpy().astype(np.float64)[None]
    logits = torch.from_numpy(np.concatenate((1 - fg, fg), axis=0))
    height, width = image_uint8.shape[:2]
    logits = F.interpolate(logits[None], size=(height, width), mode="bilinear")[0]
    probs = F.softmax(logits, dim=0).numpy()
    crf = dcrf.DenseCRF2D(width, height, 2)
    crf.setUnaryEnergy(np.ascontiguousarray(crf_utils.unary_from_softmax(probs)))
    crf.addPairwiseGaussian(sxy=3, compat=7)
    crf.addPairwiseBilateral(sxy=50, srgb=5, rgbim=np.ascontiguousarray(image_uint8), compat=10)
    q = np.array(crf.inference(10)).reshape((2, height, width))
    return np.argmax(q, axis=0).astype(np.float32)


def reference_predict_mask(image, init_mask, *, painter, features, kmeans, offsets, points=None, box_init=False):
    """ALGORITHM.md Stage 1, straight through. image (S, S, 3) float32; init_mask (S, S) {0, 1};
    points (P, 2) (row, col) canvas pixels or None. Returns the (S, S) {0, 1} mask."""
    size = image.shape[0]
    grid = round(size * 500 / 512)  # the original's 500x500 comparison grid at its 512 canvas
    image = torch.from_numpy(image).permute(2, 0, 1)[None]
    mask = torch.from_numpy(init_mask.astype(np.float32))[None, None]
    index = torch.where(mask == 1)
    a, aa, b, bb = index[2].min(), index[2].max(), index[3].min(), index[3].max()
    ca, cb = (a + aa) / 2, (b + bb) / 2
    da, db = (aa - a) / 2, (bb - b) / 2
    valid_a, valid_aa, valid_b, valid_bb = int(ca - 1.25 * da), int(ca + 1.25 * da), int(cb - 1.25 * db), int(cb + 1.25 * db)
    valid_mask = torch.zeros_like(mask)
    valid_mask[:, :, max(0, valid_a) : min(size, valid_aa), max(0, valid_b) : min(size, valid_bb)] = 1
    for i in range(ITERS):
        if i % 2 == 0:  # the box is recomputed only in inpaint stages
            index = torch.where(mask == 1)
            a, aa, b, bb = index[2].min(), index[2].max(), index[3].min(), index[3].max()
        ca, cb = (a + aa) / 2, (b + bb) / 2
        da, db = (aa - a) / 2, (bb - b) / 2
        crop_boxes, diffs = [], []
        if i % 2 == 1:  # outpaint: `mask` holds the background here
            region = mask if points is not None else mask * _dilate(1 - mask, 15, 1)
            pil_image = torch.from_numpy((image[0].permute(1, 2, 0).numpy() * 255).astype(np.uint8).astype(np.float32) / 255)
            outpainted = painter.paint(pil_image[None], region[0, 0].bool()[None], num_samples=len(FACTORS), seed=0)[0]
        for k, factor in enumerate(FACTORS):
            a, aa, b, bb = int(ca - factor * da), int(ca + factor * da), int(cb - factor * db), int(cb + factor * db)
            if i % 2 == 0:
                inpaint_mask = _dilate(mask, 3, 4)
                painted = painter.paint(image.permute(0, 2, 3, 1), inpaint_mask[:, 0].bool(), num_samples=1, seed=0)[0]
                inpainted = inpaint_mask * painted.permute(0, 3, 1, 2) + (1 - inpaint_mask) * image
            else:
                inpainted = outpainted[k][None].permute(0, 3, 1, 2)  # raw: not composited
            offset = offsets[i][k]
            crop_a, crop_aa, crop_b, crop_bb = max(0, a + offset), min(size, aa + offset), max(0, b + offset), min(size, bb + offset)
            crop_boxes.append((crop_a, crop_aa, crop_b, crop_bb))
            inpainted_ = inpainted[:, :, crop_a:crop_aa, crop_b:crop_bb]
            image_ = image[:, :, crop_a:crop_aa, crop_b:crop_bb]
            mask_ = mask[:, :, crop_a:crop_aa, crop_b:crop_bb]
            diff = torch.sum((_features(inpainted_, features, grid) - _features(image_, features, grid)) ** 2, dim=1, keepdim=True)
            diff_min, diff_max = diff.min(), diff.max()
            image_crf = (image_[0].permute(1, 2, 0).numpy() * 255).astype(np.uint8)
            crf_diff = torch.from_numpy(_densecrf(image_crf, mask_[0, 0]))[None, None]
            crf_diff = F.interpolate(crf_diff * (diff_max - diff_min) + diff_min, (grid, grid))
            diff = 0.2 * crf_diff + 0.8 * diff
            if points is not None:
                mesh_x, mesh_y = torch.meshgrid(torch.linspace(0, crop_aa - crop_a, steps=crop_aa - crop_a),
                                                torch.linspace(0, crop_bb - crop_b, steps=crop_bb - crop_b), indexing="ij")
                sigma = (crop_aa - crop_a + crop_bb - crop_b) / 5
                gaussian = torch.zeros_like(diff)
                for point in points:
                    mu_x, mu_y = point[0] - crop_a, point[1] - crop_b
                    bump = torch.exp(-((mesh_x - mu_x) ** 2 + (mesh_y - mu_y) ** 2) / (2 * sigma**2))[None, None]
                    gaussian += F.interpolate(bump, (grid, grid))
                diff_min, diff_max = diff.min(), diff.max()
                gaussian = (0.2 - i * 0.04) * (gaussian * (diff_max - diff_min) + diff_min)
                diff = diff + gaussian if i % 2 == 0 else diff - gaussian
            diffs.append(diff)
        diffs = torch.stack(diffs, dim=0)
        cluster_num = 3 if (box_init and i < 1) or (points is not None and i < 3) else 2
        ids, centers = kmeans(diffs.reshape(-1, 1), cluster_num)
        ids = ids.reshape(diffs.shape)
        keep = torch.argmax(centers[:, 0]) if i % 2 == 0 else torch.argmin(centers[:, 0])
        votes, count = torch.zeros_like(mask), torch.zeros_like(mask)
        for k, (crop_a, crop_aa, crop_b, crop_bb) in enumerate(crop_boxes):
            labels = F.interpolate(ids[k].float(), (crop_aa - crop_a, crop_bb - crop_b))
            votes[:, :, crop_a:crop_aa, crop_b:crop_bb] += (labels == keep).float()
            count[:, :, crop_a:crop_aa, crop_b:crop_bb] += 1
        votes[count > 0] = votes[count > 0] / count[count > 0]
        new_mask = votes * valid_mask
        growth = 25 if points is not None else 5
        if i % 2 == 0:
            new_mask = _dilate(mask, growth, 4) * new_mask
        else:
            new_mask = _dilate(1 - mask, growth, 4) * new_mask * mask + (1 - mask)
        binary = (new_mask > 0.5).float()
        new_mask = new_mask * _dilate(_erode(binary, 5, 1), 5, 1)
        new_mask = (new_mask > 0.5).float()
        new_mask = _erode(_dilate(new_mask, 5, 1), 5, 1)
        mask = 1 - new_mask if i % 2 == 0 and i != ITERS - 1 else new_mask
    return mask[0, 0].numpy()


# -- the comparison -------------------------------------------------------------------------------------
def _scene(kind):
    """(S, S, 3) float32 image quantised to k/255, its object mask, a rough mask with a leak."""
    rng = np.random.default_rng({"disc": 1, "bar": 2, "blobs": 3}[kind])
    rows, cols = np.mgrid[:SIZE, :SIZE]
    if kind == "disc":
        truth = (rows - 30) ** 2 + (cols - 28) ** 2 < 14**2
    elif kind == "bar":
        truth = (abs(rows - 34) < 9) & (abs(cols - 30) < 20)
    else:
        truth = ((rows - 24) ** 2 + (cols - 22) ** 2 < 9**2) | ((rows - 40) ** 2 + (cols - 40) ** 2 < 11**2)
    colours = {"disc": ([0.85, 0.2, 0.15], [0.15, 0.45, 0.7]), "bar": ([0.9, 0.85, 0.2], [0.2, 0.2, 0.3]),
               "blobs": ([0.3, 0.8, 0.3], [0.6, 0.4, 0.6])}[kind]
    image = np.where(truth[..., None], *colours) + 0.05 * rng.standard_normal((SIZE, SIZE, 3))
    image = (np.clip(image, 0, 1) * 255).astype(np.uint8).astype(np.float32) / 255
    rough = truth.copy()
    rough[20:40, 30:50] = True
    return image.astype(np.float32), truth, rough


def _prompt(kind, truth, rough):
    """(the refiner's prompt input, the reference's start mask, its points as (row, col), box_init)."""
    if kind == "file":
        return PromptInput(rough), rough.astype(np.float32), None, False
    if kind == "box":
        rows, cols = np.nonzero(rough)
        box = np.zeros_like(rough)
        box[rows.min() : rows.max(), cols.min() : cols.max()] = True  # the original's max-exclusive box
        return BoxInput(box), box.astype(np.float32), None, True
    if kind == "points":
        rows, cols = np.nonzero(truth)
        chosen = np.random.default_rng(7).choice(rows.size, 3, replace=False)
        row_col = np.stack([rows[chosen], cols[chosen]], 1)
        return PointsInput(rough, points=row_col[:, ::-1].astype(np.float64)), np.ones_like(rough, np.float32), row_col, False
    stroke = np.zeros_like(truth)
    rows, cols = np.nonzero(truth)
    cv2.line(stroke.view(np.uint8), (int(cols.min()) + 2, int(rows.min()) + 4), (int(cols.max()) - 2, int(rows.max()) - 4), 1, 3)
    stroke &= truth
    start = cv2.dilate(stroke.astype(np.uint8), _cross(5), iterations=1).astype(np.float32)
    return ScribbleInput(rough, stroke=stroke), start, None, False


@pytest.mark.parametrize("scene", ["disc", "bar", "blobs"])
@pytest.mark.parametrize("prompt_kind", ["file", "box", "points", "scribble"])
def test_faithful_refiner_matches_the_reference_loop_exactly(scene, prompt_kind):
    image, truth, rough = _scene(scene)
    prompt, start, points, box_init = _prompt(prompt_kind, truth, rough)
    crf = DenseCRF(iterations=10, gaussian_sxy=3, gaussian_compat=7, bilateral_sxy=50, bilateral_srgb=5, bilateral_compat=10)
    refiner = Refiner(inpainter=StandInPainter(), features=StandInFeatures(), crf=crf, iters=ITERS, size=SIZE,
                      crop_factors=FACTORS, faithful=True, polish=None, energy=None)
    refined = refiner.refine(image, prompt, seed=SEED).mask
    expected = reference_predict_mask(image, start, painter=StandInPainter(), features=StandInFeatures(), kmeans=injected_kmeans,
                                      offsets=drawn_offsets(SEED), points=points, box_init=box_init)
    assert expected.any() and not expected.all()  # a real mask, not a degenerate agreement
    assert np.array_equal(refined, expected.astype(bool)), f"{(refined != expected.astype(bool)).sum()} pixels differ"
