"""Prompts give the refiner its initial mask: read from a file, drawn from a box, points or a
scribble, or computed by GrabCut from the raw image.

Every prompt maps ``(image (H, W, 3) float [0, 1], name)`` to an ``(H, W)`` bool mask and raises
``FileNotFoundError``/``ValueError`` naming the file or argument when it cannot.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import cv2
import numpy as np
import torch

from iosm.data.io import find_by_stem, read_mask
import iosm.refine.faithful as original
from iosm.refine.canvas import Letterbox


@dataclass
class PromptInput:
    """What a prompt hands the refiner: the initial ``mask`` (H, W) bool and the prompt's ``kind`` (for
    the manifest), plus the prompt's policy inside the loop, which the refiner asks for instead of
    branching on prompt kinds. This base class is a dense mask's policy (``file``, ``grabcut``, or a
    plain mask in a notebook): start from the mask, the separator's own cluster count, no bumps, the
    refiner's growth size and band. Sparse prompts override what the original does differently for
    them (:mod:`iosm.refine.prompts.geometric`). ``faithful`` is ``refiner.faithful``.
    """

    mask: np.ndarray
    kind: str = "file"
    # The mask is a segmentation (a rough one): the full-resolution energy step re-decides around it,
    # and keeps it where the evidence says refining would make it worse. Sparse prompts say False.
    segmentation: ClassVar[bool] = True

    def start(self, letterbox: Letterbox, device: torch.device | str, faithful: bool) -> torch.Tensor:
        """(size, size) float {0, 1}: the canvas mask the loop starts from (the prompt's mask; faithful:
        letterboxed as the original's ``pad_image`` does)."""
        foreground = original.letterbox_mask(self.mask, letterbox.size, device) if faithful else letterbox.mask_to_canvas(self.mask, device)
        if not foreground.any():  # a speck that vanished on the canvas
            raise ValueError(f"initial_mask: its {int(self.mask.sum())} pixels vanish on the {letterbox.size}px canvas; raise refiner.size")
        return foreground

    def clusters(self, iteration: int) -> int | None:
        """The k-means cluster count for this iteration; None = the separator's own."""
        return None

    def difference_bumps(self, difference: torch.Tensor, box: tuple[int, int, int, int], stage: str, iteration: int,
                         letterbox: Letterbox, faithful: bool) -> torch.Tensor | None:
        """What to add to a crop's (h, w) ``difference`` (crop ``box`` = top, bottom, left, right on the
        canvas) in this stage; None = nothing."""
        return None

    def growth_size(self, size: int, faithful: bool) -> int:
        """Side of the structuring element that bounds growth (``refiner.constraint_size`` = ``size``)."""
        return size

    def outpaint_region(self, band: torch.Tensor, background: torch.Tensor, faithful: bool) -> torch.Tensor:
        """(size, size) float: what an outpaint stage paints, given the band just outside the object."""
        return band


class Prompt:
    """Base class: subclasses implement :meth:`initial_mask`."""

    kind = "prompt"

    def initial_mask(self, image: np.ndarray, name: str) -> np.ndarray:
        raise NotImplementedError

    def prepare(self, image: np.ndarray, name: str) -> PromptInput:
        """The refiner's input for this image (the initial mask, plus what else the prompt knows)."""
        return PromptInput(np.asarray(self.initial_mask(image, name), dtype=bool), self.kind)


class MaskFolder:
    """Masks matched to images by file stem; a mask of another size is resized (nearest) with a warning."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        self._paths: dict[str, Path] | None = None

    def read(self, name: str, shape: tuple[int, int]) -> np.ndarray:
        # Listed on first use, not at construction: a generated dataset's folder appears only once the
        # DataModule has prepared it.
        if self._paths is None:
            if not self.directory.is_dir():
                raise FileNotFoundError(f"prompt.dir={self.directory}: no such folder of masks; point it at the masks (e.g. DATA/init)")
            self._paths = find_by_stem(self.directory)
        if name not in self._paths:
            raise FileNotFoundError(f"prompt.dir={self.directory}: no mask named {name}.* for image {name}")
        mask = read_mask(self._paths[name])
        if mask.shape != tuple(shape):
            warnings.warn(
                f"{self._paths[name]}: mask is {mask.shape[1]}x{mask.shape[0]}, image is {shape[1]}x{shape[0]}; resized",
                stacklevel=2,
            )
            mask = cv2.resize(mask.astype(np.uint8), (shape[1], shape[0]), interpolation=cv2.INTER_NEAREST).astype(bool)
        return mask


_REQUIRED = object()  # Annotations.get: no default, a missing key is an error


class Annotations:
    """A JSON file ``{name: {"box": [x0, y0, x1, y1]}, ...}`` (or ``"points": [[x, y], ...]`` with
    optional ``"negative_points"``, ``"scribble": [[[x, y], ...], ...]`` polylines), in the image's pixel
    coordinates; or the same mapping given in memory (the app's box, clicks or stroke: nothing to read)."""

    def __init__(self, path: str | Path | Mapping) -> None:
        if isinstance(path, Mapping):
            self.path, self.entries = "(given in memory)", dict(path)
            return
        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"prompt.annotations={self.path}: no such JSON file")
        try:
            self.entries = json.loads(self.path.read_text())
        except json.JSONDecodeError as error:
            raise ValueError(f"prompt.annotations={self.path}: not valid JSON ({error})") from None

    def get(self, name: str, key: str, default=_REQUIRED):
        if name not in self.entries or key not in self.entries[name]:
            if default is not _REQUIRED:
                return default
            raise ValueError(f"prompt.annotations={self.path}: no {key!r} for image {name}")
        return self.entries[name][key]


def mask_source(directory: str | None, annotations: str | Mapping | None) -> MaskFolder | Annotations:
    """Exactly one of a mask folder (prompts derived from masks) or annotations (a JSON file or a mapping)."""
    if (directory is None) == (annotations is None):
        raise ValueError("prompt: set exactly one of prompt.dir (masks to derive the prompt from) or prompt.annotations (a JSON file)")
    return MaskFolder(directory) if directory is not None else Annotations(annotations)


def non_empty(mask: np.ndarray, name: str, what: str) -> np.ndarray:
    if not mask.any():
        raise ValueError(f"{name}: the {what} is empty, so it gives no prompt")
    return mask
