"""The original refiner's arithmetic, which ``refiner.faithful=true`` reproduces (ALGORITHM.md, Stage 1).

The improved default keeps its own choices (rounded, centred crop boxes, bilinear resizes, square
morphology, ``>= 0.5``); these helpers are what PaintSeg's ``predict_mask`` computes instead, each
named for the step it belongs to:

- input: the original's ``pad_image`` letterbox (PIL bicubic on uint8, centred on black).
- boxes (step 1): the object box is min/max row and column, *inclusive*; a crop box is
  ``int(c - f d), int(c + f d)`` about that box's centre ``c`` and half-size ``d`` (truncation, not
  rounding; float32 arithmetic while the box comes from the mask, which the original holds in torch
  tensors, float64 once it is a crop box of Python ints); one random offset per crop moves rows and
  columns alike; the crop is the slice ``[a + o : aa + o]`` clamped to the canvas. The last crop box
  replaces the object box, so odd stages, which keep it, crop about 1.21x the object.
- valid box: the start mask's box scaled 1.25x the same way, clamped, sliced ``[a : aa]``.
- features (step 3): each crop goes through ``toPIL`` (x255, uint8 truncation) and PIL's bicubic
  resize to the backbone's input size; the squared feature difference is brought to a
  ``difference_side`` square (500 at the 512 px canvas) with nearest interpolation.
- CRF (step 4): its unary is the current mask crop as 0/1 logits through a softmax.
- growth and clean-up (steps 6-7): crosses; the growth element is applied 4 times.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

DIFFERENCE_SIDE = 500  # the original's comparison grid at its 512 px canvas
CANVAS_SIDE = 512
GROWTH_ITERATIONS = 4  # the original's get_dilate default


def object_box(mask: torch.Tensor) -> tuple[int, int, int, int]:
    """(min row, max row, min col, max col) of a (H, W) mask's set pixels, all inclusive."""
    rows = torch.nonzero(mask.any(1))[:, 0]
    cols = torch.nonzero(mask.any(0))[:, 0]
    return int(rows[0]), int(rows[-1]), int(cols[0]), int(cols[-1])


def scaled_box(box: tuple[int, int, int, int], factor: float, from_mask: bool) -> tuple[int, int, int, int]:
    """``int(c - factor d), int(c + factor d)`` per axis, unclamped; float32 arithmetic when the box
    came from the mask (the original's torch tensors), float64 when it is a previous crop box."""
    real = np.float32 if from_mask else float
    top, bottom, left, right = (real(v) for v in box)
    centre_y, centre_x = (top + bottom) / real(2), (left + right) / real(2)
    half_h, half_w = (bottom - top) / real(2), (right - left) / real(2)
    scale = real(factor)
    return (int(centre_y - scale * half_h), int(centre_y + scale * half_h),
            int(centre_x - scale * half_w), int(centre_x + scale * half_w))


def crop_boxes(box, from_mask: bool, factors, offsets, size: int):
    """The crops of one stage: for each factor, the scaled box shifted by its offset (rows and columns
    alike) and clamped to [0, size]. Returns (crops as (top, bottom, left, right) slices, the last
    unshifted scaled box, which the original carries into the next stage)."""
    crops, scaled = [], box
    for factor, offset in zip(factors, offsets):
        scaled = scaled_box(box, factor, from_mask)
        top, bottom, left, right = scaled
        crops.append((max(0, top + offset), min(size, bottom + offset), max(0, left + offset), min(size, right + offset)))
    return crops, scaled


def valid_area(mask: torch.Tensor, scale: float, size: int) -> torch.Tensor:
    """(size, size) float: 1 inside the start mask's box scaled ``scale`` (the original's valid box)."""
    top, bottom, left, right = scaled_box(object_box(mask > 0), scale, from_mask=True)
    valid = torch.zeros_like(mask, dtype=torch.float32)
    valid[max(0, top) : min(size, bottom), max(0, left) : min(size, right)] = 1.0
    return valid


def difference_side(size: int) -> int:
    """The comparison grid's side: the original's 500 at its 512 px canvas, in proportion otherwise."""
    return max(1, round(size * DIFFERENCE_SIDE / CANVAS_SIDE))


def truncate_to_uint8(image: torch.Tensor) -> torch.Tensor:
    """``(x * 255).astype(uint8) / 255``: what the original's ``toPIL`` keeps of a [0, 1] image."""
    return torch.floor((image * 255).clamp(0, 255)) / 255


def backbone_input(crop: torch.Tensor, input_size: tuple[int, int]) -> torch.Tensor:
    """(h, w, 3) float [0, 1] -> (H_in, W_in, 3): uint8-truncated, PIL bicubic, back to [0, 1]."""
    pixels = (crop.detach().cpu().numpy() * 255).astype(np.uint8)
    resized = Image.fromarray(pixels).resize((input_size[1], input_size[0]), Image.BICUBIC)
    return torch.from_numpy(np.asarray(resized, dtype=np.float32) / 255).to(crop.device)


def mask_probability(mask_crop: torch.Tensor) -> torch.Tensor:
    """The CRF's foreground probability from a 0/1 mask crop: ``softmax([1 - m, m])[1]`` (float64)."""
    mask = mask_crop.double()
    return torch.softmax(torch.stack([1 - mask, mask]), dim=0)[1]


def nearest(plane: torch.Tensor, shape: tuple[int, int]) -> torch.Tensor:
    """A (h, w) or (C, h, w) map resized to ``shape`` with ``F.interpolate``'s default (nearest) mode."""
    shape = tuple(shape)[-2:]
    if tuple(plane.shape[-2:]) == shape:
        return plane
    if plane.dim() == 2:
        return F.interpolate(plane[None, None].float(), shape)[0, 0]
    return F.interpolate(plane[None].float(), shape)[0]


def letterbox_image(image: np.ndarray, size: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """The original's ``pad_image``: (H, W, 3) float [0, 1] (read from uint8) -> (size, size, 3) float:
    PIL bicubic to ``int(side * scale + 0.5)``, pasted on black at ``((size - w) // 2, (size - h) // 2)``."""
    pixels = Image.fromarray(np.round(np.clip(image, 0, 1) * 255).astype(np.uint8))
    return torch.from_numpy(np.asarray(_pad(pixels, size, "RGB"), dtype=np.float32) / 255).to(device)


def letterbox_mask(mask: np.ndarray, size: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """The same for a (H, W) bool mask ('L' mode, then ``>= 0.5``) -> (size, size) float {0, 1}."""
    pixels = Image.fromarray(mask.astype(np.uint8) * 255)
    return torch.from_numpy((np.asarray(_pad(pixels, size, "L"), dtype=np.float32) / 255 >= 0.5).astype(np.float32)).to(device)


def _pad(pixels: Image.Image, size: int, mode: str) -> Image.Image:
    width, height = pixels.size
    scale = min(size / width, size / height)
    new_width, new_height = int(width * scale + 0.5), int(height * scale + 0.5)
    canvas = Image.new(mode, (size, size), 0)
    canvas.paste(pixels.resize((new_width, new_height), Image.BICUBIC), ((size - new_width) // 2, (size - new_height) // 2))
    return canvas
