"""Training and evaluation transforms on numpy planes (OpenCV), applied jointly to image and mattes.

A transform takes ``planes``: ``image`` (H, W, 3) float32 [0, 1] plus any of ``alpha`` (H, W) float,
``mask`` (H, W) bool, ``trimap`` (H, W) float in {0, 0.5, 1}, and returns the transformed planes with
``orig_size`` (H, W) added: the size a prediction must be cropped back to (``pred[..., :H, :W]``).
Images are not normalised here: that is the network's job.
"""

from __future__ import annotations

import cv2
import numpy as np

# Interpolation per plane: images and alphas are continuous, masks and trimaps are labels.
_INTERPOLATION = {
    "image": cv2.INTER_LINEAR, "alpha": cv2.INTER_LINEAR, "mask": cv2.INTER_NEAREST, "trimap": cv2.INTER_NEAREST,
}


def _resize(name: str, plane: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize a plane to (height, width); area averaging when shrinking continuous planes (no aliasing)."""
    height, width = size
    interpolation = _INTERPOLATION[name]
    if interpolation == cv2.INTER_LINEAR and height * width < plane.shape[0] * plane.shape[1]:
        interpolation = cv2.INTER_AREA
    resized = cv2.resize(plane.astype(np.float32) if plane.dtype == bool else plane, (width, height),
                         interpolation=interpolation)
    return resized > 0.5 if plane.dtype == bool else resized


def _object_box(planes: dict) -> tuple[int, int, int, int]:
    """(top, left, bottom, right) of the object (alpha > 0, else the mask), or the whole image."""
    support = planes["alpha"] > 0.01 if "alpha" in planes else planes.get("mask")
    height, width = planes["image"].shape[:2]
    if support is None or not support.any():
        return 0, 0, height, width
    rows, cols = np.nonzero(support.any(axis=1))[0], np.nonzero(support.any(axis=0))[0]
    return rows[0], cols[0], rows[-1] + 1, cols[-1] + 1


def jitter_colour(image: np.ndarray, rng: np.random.Generator, strength: float) -> np.ndarray:
    """Random brightness, contrast, saturation (each x [1 - s, 1 + s]) and hue (+- 18 s degrees)."""
    if strength <= 0:
        return image
    brightness, contrast, saturation = rng.uniform(1 - strength, 1 + strength, size=3)
    image = image * brightness
    image = (image - image.mean()) * contrast + image.mean()
    hsv = cv2.cvtColor(np.clip(image, 0, 1).astype(np.float32), cv2.COLOR_RGB2HSV)  # H in degrees
    hsv[..., 0] = (hsv[..., 0] + rng.uniform(-18, 18) * strength) % 360
    hsv[..., 1] = np.clip(hsv[..., 1] * saturation, 0, 1)
    return np.clip(cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB), 0, 1)


class TrainTransform:
    """Crop around the object with random context, resize to ``size`` x ``size``, flip, jitter colours.

    The crop is the object's bounding box grown by a random margin (``context`` x box size on each side)
    and shifted at random, squared when the image allows it, so the network sees the whole boundary at
    several scales rather than mostly background.
    """

    def __init__(
        self, size: int, context: tuple[float, float] = (0.1, 0.5), flip: bool = True, colour_jitter: float = 0.2
    ):
        self.size = int(size)
        self.context = tuple(context)
        self.flip = flip
        self.colour_jitter = colour_jitter

    def _crop_box(self, planes: dict, rng: np.random.Generator) -> tuple[int, int, int, int]:
        height, width = planes["image"].shape[:2]
        top, left, bottom, right = _object_box(planes)
        margin = rng.uniform(*self.context) * max(bottom - top, right - left)
        side = min(int(max(bottom - top, right - left) + 2 * margin), height, width)
        side = max(side, min(height, width, 8))
        centre_y = (top + bottom) / 2 + rng.uniform(-0.5, 0.5) * margin
        centre_x = (left + right) / 2 + rng.uniform(-0.5, 0.5) * margin
        crop_top = int(np.clip(round(centre_y - side / 2), 0, height - side))
        crop_left = int(np.clip(round(centre_x - side / 2), 0, width - side))
        return crop_top, crop_left, crop_top + side, crop_left + side

    def __call__(self, planes: dict, rng: np.random.Generator) -> dict:
        top, left, bottom, right = self._crop_box(planes, rng)
        flip = self.flip and rng.random() < 0.5
        out = {}
        for name, plane in planes.items():
            plane = _resize(name, plane[top:bottom, left:right], (self.size, self.size))
            out[name] = np.ascontiguousarray(plane[:, ::-1]) if flip else plane
        out["image"] = jitter_colour(out["image"], rng, self.colour_jitter).astype(np.float32)
        out["orig_size"] = (self.size, self.size)
        return out


class EvalTransform:
    """Keep the original size; pad bottom/right with zeros to a multiple of ``multiple`` (the network's stride)."""

    def __init__(self, multiple: int = 32):
        self.multiple = int(multiple)

    def __call__(self, planes: dict, rng: np.random.Generator | None = None) -> dict:
        height, width = planes["image"].shape[:2]
        pad_bottom, pad_right = -height % self.multiple, -width % self.multiple
        out = {}
        for name, plane in planes.items():
            padding = ((0, pad_bottom), (0, pad_right)) + ((0, 0),) * (plane.ndim - 2)
            out[name] = np.pad(plane, padding)
        out["orig_size"] = (height, width)
        return out
