"""Pictures a person reads at a glance, at the page's size: the refined mask over the photograph, the
alpha, the cut-out, and the cut-out on a new background. The downloads stay at the photograph's size;
these are resized to a long side of ``side`` px, so a 100 px photograph is not a stamp on the page and
a 6000 px one is not sent to the browser four times. And per refiner iteration, on its square canvas:
the painted sample, the feature difference and the mask after it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np

from iosm.data.io import write_image
from iosm.refine.panels import step_tiles

# The mask's tint and outline over the photograph: a colour rare in photographs, half-transparent
# inside so the object stays visible, a solid outline so the boundary can be judged.
TINT = np.array([1.0, 0.2, 0.6], np.float32)
TINT_OPACITY = 0.4
OUTLINE = (1.0, 1.0, 0.0)
OUTLINE_WIDTH = 2


def fit_side(array: np.ndarray, side: int) -> np.ndarray:
    """``array`` (H, W[, C]) float resized so that its long side is ``side`` (area-averaged down,
    bilinear up)."""
    scale = side / max(array.shape[:2])
    size = (max(1, round(array.shape[1] * scale)), max(1, round(array.shape[0] * scale)))
    return cv2.resize(array.astype(np.float32), size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)


def mask_overlay(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``image`` (H, W, 3) with the (H, W) bool ``mask`` tinted and outlined: (H, W, 3) float32."""
    overlay = image.astype(np.float32).copy()
    overlay[mask] = (1 - TINT_OPACITY) * overlay[mask] + TINT_OPACITY * TINT
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_LIST, cv2.CHAIN_APPROX_NONE)
    cv2.drawContours(overlay, contours, -1, OUTLINE, OUTLINE_WIDTH)
    return overlay


def on_background(foreground: np.ndarray, alpha: np.ndarray, colour: tuple[float, float, float]) -> np.ndarray:
    """The object composited on a plain ``colour`` (RGB in [0, 1]): ``alpha * F + (1 - alpha) * colour``,
    with ``foreground`` (H, W, 3) the matte's estimated colours and ``alpha`` (H, W); (H, W, 3) float32."""
    alpha = np.clip(alpha, 0.0, 1.0)[..., None].astype(np.float32)
    return alpha * foreground.astype(np.float32) + (1 - alpha) * np.asarray(colour, np.float32)


def write_views(folder: Path, side: int, image: np.ndarray, mask: np.ndarray, alpha: np.ndarray | None = None,
                foreground: np.ndarray | None = None, colour: tuple[float, float, float] = (0.2, 0.6, 0.3)) -> dict[str, Path]:
    """Write ``overlay`` (and with a matte ``alpha``, ``cutout``, ``background``) PNGs into ``folder``.

    image (H, W, 3), mask (H, W) bool, alpha (H, W) and foreground (H, W, 3) float in [0, 1]."""
    views = {"overlay": mask_overlay(fit_side(image, side), fit_side(mask, side) > 0.5)}
    if alpha is not None:
        alpha, foreground = np.clip(fit_side(alpha, side), 0, 1), np.clip(fit_side(foreground, side), 0, 1)
        views.update(alpha=alpha, cutout=np.dstack([foreground, alpha]),
                     background=on_background(foreground, alpha, colour))
    return {name: write_image(folder / f"{name}.png", picture) for name, picture in views.items()}


def write_step_tiles(folder: Path, steps: list[Any]) -> list[tuple[Path, str]]:
    """Per :class:`iosm.refine.refiner.RefineStep`: its first painted sample, its difference map and its
    mask as PNGs in ``folder``; returns ``(path, caption)`` in reading order, three per iteration."""
    tiles = []
    for step in steps:
        pictures = step_tiles(step)
        for what, picture in (("painted sample", pictures[0]), ("difference", pictures[-2]), ("mask", pictures[-1])):
            path = write_image(folder / f"iter_{step.iteration}_{what.split()[0]}.png", picture)
            tiles.append((path, f"iteration {step.iteration} ({step.stage}): {what}"))
    return tiles
