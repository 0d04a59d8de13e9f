"""The Python API for notebooks and scripts, built from the same Hydra configs as the jobs.

    import iosm
    refined = iosm.refine_mask("photo.jpg", "rough.png")                     # (H, W) bool
    refined = iosm.refine_mask(rgb_uint8, rough_bool, overrides=["refiner.iters=4"])
    alpha = iosm.matte("photo.jpg", refined)                                 # (H, W) float32 in [0, 1]

Every function composes ``conf/<job>.yaml`` with the given Hydra override strings, exactly as
``python refine.py OVERRIDES`` would (:func:`compose_job`), and builds its parts from that config, so
a notebook gets the measured defaults of ``conf/`` and the same result as the job on the same input.
Nothing is written to disk; nothing is downloaded (backends load from local folders, as in the jobs).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.initialize import get_gh_backup, restore_gh_from_backup
from hydra.utils import instantiate
from omegaconf import DictConfig

from iosm.config import CONF_DIR, register_resolvers
from iosm.data.io import read_image, read_mask
from iosm.matting import build_matte
from iosm.refine.devices import resolve_device
from iosm.refine.module import RefinedImage, RefineModule
from iosm.refine.prompts.file import FilePrompt

ImageInput = str | os.PathLike | np.ndarray


class GivenMask(FilePrompt):
    """``prompt=file`` with the mask in memory instead of in a folder: the refiner treats it alike."""

    def __init__(self, mask: np.ndarray) -> None:  # no folder to list: FilePrompt's own is not called
        self.mask = mask

    def initial_mask(self, image: np.ndarray, name: str) -> np.ndarray:
        return self.mask


def compose_job(config_name: str, overrides: Sequence[str] = ()) -> DictConfig:
    """The config ``python <config_name>.py OVERRIDES`` runs with (``refine``, ``train``, ``evaluate``).

    A mistyped key or a bad value fails here with Hydra's message. Hydra's global state is restored
    afterwards, so this also works inside a running Hydra app or between other compositions.
    """
    if isinstance(overrides, str):
        raise TypeError(f"overrides={overrides!r}: expected a list of override strings, e.g. ['refiner.iters=4']")
    register_resolvers()
    backup = get_gh_backup()
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
            return compose(config_name=config_name, overrides=list(overrides))
    finally:
        restore_gh_from_backup(backup)


def load_image_input(image: ImageInput) -> np.ndarray:
    """A path (any format :func:`iosm.data.io.read_image` reads) or an (H, W, 3) RGB array, uint8 or
    float in [0, 1] -> (H, W, 3) float32 in [0, 1], the values the jobs' loader gives for the same file."""
    if not isinstance(image, np.ndarray):
        return read_image(image)
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"image: expected an (H, W, 3) RGB array, got shape {image.shape}")
    if image.dtype == np.uint8:
        return image.astype(np.float32) / 255.0
    if image.dtype.kind == "f" and np.isfinite(image).all() and 0.0 <= image.min() and image.max() <= 1.0:
        return image.astype(np.float32)
    raise ValueError(f"image: expected uint8, or float in [0, 1], got {image.dtype} with values in "
                     f"[{image.min()}, {image.max()}]")


def load_mask_input(mask: ImageInput, shape: tuple[int, int]) -> np.ndarray:
    """A path or an (H, W) array (bool; uint8 0/255; float in [0, 1]) -> (H, W) bool at ``shape``.

    The threshold is the jobs' (:func:`iosm.data.io.read_mask`: above half). A mask of another size
    than the image is an error here (the job resizes a file's with a warning; a caller of the API
    knows both arrays and should say which size is meant).
    """
    if isinstance(mask, np.ndarray):
        if mask.ndim != 2:
            raise ValueError(f"mask: expected an (H, W) array, got shape {mask.shape}")
        if mask.dtype == bool:
            binary = mask
        elif mask.dtype == np.uint8:
            binary = mask.astype(np.float32) / 255.0 > 0.5
        else:
            binary = mask.astype(np.float32) > 0.5
        source = "mask"
    else:
        binary, source = read_mask(mask), f"mask={mask}"
    if binary.shape != tuple(shape):
        raise ValueError(f"{source}: {binary.shape[1]}x{binary.shape[0]} px, but the image is {shape[1]}x{shape[0]}; "
                         "give a mask of the image's size")
    return binary


def refine_one(cfg: DictConfig, image: ImageInput, mask: ImageInput, *, matte: Any = None) -> RefinedImage:
    """Run ``cfg``'s refiner (and ``matte``, an optional :class:`iosm.matting.base.Matte`) on one image
    through the refine job's own per-image step; returns its
    :class:`~iosm.refine.module.RefinedImage` (``mask`` (H, W) bool, ``alpha`` with ``matte``,
    ``entry`` with the costs).

    The given mask is the prompt (the ``prompt=file`` kind). A bad input raises ``ValueError`` with
    the job's message; the warnings the job would record in its manifest are issued as warnings.
    """
    name = Path(image).stem if not isinstance(image, np.ndarray) else "image"
    image_array = load_image_input(image)
    prompt = GivenMask(load_mask_input(mask, image_array.shape[:2]))
    module = RefineModule(refiner=instantiate(cfg.refiner), prompt=prompt, matte=matte, seed=cfg.seed)
    item = {"name": name, "image": image_array, "alpha": None, "error": None, "warnings": []}
    refined = module.predict_step(item)
    for message in refined.entry["warnings"]:
        warnings.warn(message, stacklevel=3)
    if not refined.ok:
        raise ValueError(refined.entry["error"])
    return refined


def refine_mask(image: ImageInput, mask: ImageInput, overrides: Sequence[str] = ()) -> np.ndarray:
    """Refine a rough object mask by inpaint-outpaint synergy, as ``refine.py`` does.

    Args:
        image: a path, or an (H, W, 3) uint8 RGB array (float in [0, 1] also works).
        mask: a path, or an (H, W) array (bool, uint8 0/255 or float in [0, 1]), the image's size.
        overrides: Hydra override strings for ``conf/refine.yaml``, e.g. ``["refiner.iters=4",
            "inpainter=diffusers", "inpainter.model_path=/models/sd2-inpaint"]``.

    Returns:
        The refined mask, (H, W) bool at the image's size.
    """
    if any(override.lstrip("~+").startswith("prompt") for override in overrides):
        raise ValueError("overrides: refine_mask takes the mask itself as the prompt; prompt=... has no effect here")
    return refine_one(compose_job("refine", overrides), image, mask).mask


def matte(image: ImageInput, mask: ImageInput, overrides: Sequence[str] = ()) -> np.ndarray:
    """The alpha matte of the object in ``mask``, made by refine.py's matte stage (``conf/matte``:
    ``matte=classical`` by default, ``matte=mtm matte.ckpt_path=CKPT`` for a trained network).

    The mask is used as given (refine it first with :func:`refine_mask`); without the refiner's
    evidence the classical matte's unknown band is its fixed-width one.

    Args:
        image: a path, or an (H, W, 3) uint8 RGB array (float in [0, 1] also works).
        mask: a path, or an (H, W) array (bool, uint8 0/255 or float in [0, 1]), the image's size.
        overrides: Hydra override strings for ``conf/refine.yaml``, e.g. ``["matte.solver=knn"]``.

    Returns:
        The alpha, (H, W) float32 in [0, 1]. An empty or full mask gives an all-0 / all-1 alpha and a
        warning, as in the job's manifest.
    """
    cfg = compose_job("refine", overrides)
    matte_stage = build_matte(cfg.matte, resolve_device(None))
    if matte_stage is None:
        raise ValueError("overrides: matte=none makes no alpha; use matte=classical (the default) or "
                         "matte=mtm matte.ckpt_path=CKPT")
    image_array = load_image_input(image)
    result = matte_stage.matte(image_array, load_mask_input(mask, image_array.shape[:2]))
    for message in result.warnings:
        warnings.warn(message, stacklevel=2)
    return result.alpha
