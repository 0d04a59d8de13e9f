"""Where the MTM's mask input comes from: perturbed ground truth, or a folder of masks.

``perturb``: :func:`iosm.data.masks.perturb_mask` on the ground-truth alpha, so training sees
segmenter-like errors; fresh at random for training, a fixed function of (seed, name) for evaluation so
that scores are comparable between runs. ``folder``: binary masks from a folder, matched by stem
(refine.py's ``OUT/masks``, or a dataset's ``init/``), to train or evaluate on a real segmenter's output.
``prior``: soft maps in [0, 1] from a folder, kept soft (the classical alpha a guided MTM corrects:
``data=composites`` writes them to ``prior/``).
"""

from __future__ import annotations

import logging
import os
import zlib

import cv2
import numpy as np

from iosm.data.io import ImageReadError, find_by_stem, image_size, read_alpha, read_mask
from iosm.data.layouts import MattingRecord
from iosm.data.masks import perturb_mask

log = logging.getLogger(__name__)


def name_rng(seed: int, name: str) -> np.random.Generator:
    """A generator that is a fixed function of (seed, sample name), whatever the order or the worker."""
    return np.random.default_rng([seed, zlib.crc32(name.encode("utf-8"))])


class PerturbedMasks:
    """Masks perturbed from the ground-truth alpha (severity: see :func:`perturb_mask`)."""

    needs_alpha = True

    def __init__(self, severity: float = 1.0):
        self.severity = severity

    def problem(self, record: MattingRecord, full_check: bool) -> str | None:
        return None

    def __call__(
        self, record: MattingRecord, alpha: np.ndarray, size: tuple[int, int], rng: np.random.Generator
    ) -> np.ndarray:
        return perturb_mask(alpha, rng, self.severity)


class FolderMasks:
    """Masks read from ``mask_dir`` by stem; one of another size is resized (nearest), with a warning
    (once per file and process: training reads it every epoch)."""

    needs_alpha = False

    def __init__(self, mask_dir: str | os.PathLike):
        if mask_dir is None:
            raise ValueError("data.mask_source=folder|prior needs data.mask_dir (a folder of masks named like the images)")
        self.mask_dir = mask_dir
        self._paths: dict | None = None
        self._warned: set[str] = set()
        if not self.deferred:  # a missing folder fails now, when the data module is built
            self._paths = self._list()

    # List the folder when built (False) or on first use (True: a generated layout writes it later).
    deferred = False

    @property
    def paths(self) -> dict:
        """Files by stem, listed once."""
        if self._paths is None:
            self._paths = self._list()
        return self._paths

    def _list(self) -> dict:
        try:
            return find_by_stem(self.mask_dir)
        except FileNotFoundError:
            raise FileNotFoundError(f"data.mask_dir={self.mask_dir}: folder does not exist") from None

    def problem(self, record: MattingRecord, full_check: bool) -> str | None:
        """Why the record's mask is unusable (absent, unreadable), or None; decodes it if ``full_check``."""
        if record.name not in self.paths:
            return f"{record.image_path}: no mask named {record.name}.* in data.mask_dir={self.mask_dir}"
        try:
            read_mask(self.paths[record.name]) if full_check else image_size(self.paths[record.name])
        except ImageReadError as error:
            return str(error)
        return None

    def __call__(
        self, record: MattingRecord, alpha: np.ndarray | None, size: tuple[int, int], rng: np.random.Generator
    ) -> np.ndarray:
        path = self.paths[record.name]
        plane = self._read(path)
        if plane.shape != tuple(size):
            if record.name not in self._warned:
                self._warned.add(record.name)
                log.warning("%s: %s is %dx%d but the image is %dx%d; resized (%s)", path, self.kind,
                            plane.shape[1], plane.shape[0], size[1], size[0], self.resize_name)
            plane = self._resize(plane, (size[1], size[0]))
        return plane

    kind, resize_name = "mask", "nearest"

    @staticmethod
    def _read(path) -> np.ndarray:
        return read_mask(path)

    @staticmethod
    def _resize(mask: np.ndarray, size: tuple[int, int]) -> np.ndarray:
        return cv2.resize(mask.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST).astype(bool)


class FolderPriors(FolderMasks):
    """Soft maps (H, W) float in [0, 1] read from ``mask_dir`` by stem, not thresholded (resized
    bilinearly, with a warning, when another size). The folder is listed on first use: data=composites
    writes its prior/ when the records are first asked for, after the data module is built."""

    deferred = True
    kind, resize_name = "prior", "bilinear"

    @staticmethod
    def _read(path) -> np.ndarray:
        return read_alpha(path)

    @staticmethod
    def _resize(prior: np.ndarray, size: tuple[int, int]) -> np.ndarray:
        return np.clip(cv2.resize(prior, size, interpolation=cv2.INTER_LINEAR), 0.0, 1.0)


def build_mask_source(mask_source: str, mask_dir: str | None = None, severity: float = 1.0):
    """``perturb`` -> :class:`PerturbedMasks`, ``folder`` -> :class:`FolderMasks`, ``prior`` ->
    :class:`FolderPriors` (the ``data.mask_source`` key)."""
    if mask_source == "perturb":
        return PerturbedMasks(severity)
    if mask_source == "folder":
        return FolderMasks(mask_dir)
    if mask_source == "prior":
        return FolderPriors(mask_dir)
    raise ValueError(f"data.mask_source={mask_source!r}: expected 'perturb', 'folder' or 'prior'")
