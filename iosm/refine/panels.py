"""Per-iteration inspection panels for ``save_steps=true``: one row of tiles per refiner iteration.

From a :class:`iosm.refine.refiner.RefineStep` (everything on the refiner's square canvas): the
photograph, each painted sample, the feature difference through the ``magma`` colour map and the
mask after the iteration, resized to one height and laid side by side, so a person reads left to
right what the iteration painted, what changed and which mask came out.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

# Tile height (px) of a panel: big enough to judge a boundary, small enough for many iterations.
TILE_HEIGHT = 256
# Gap between tiles (px), white, so that neighbouring masks do not merge.
GAP = 4


def steps_panel(canvas_image: np.ndarray, step: Any) -> np.ndarray:
    """A ``(TILE_HEIGHT, W, 3)`` float32 panel: ``canvas_image`` (size, size, 3), then the step's
    ``painted`` (S, size, size, 3) samples, ``difference`` (size, size) and ``mask`` (size, size) bool."""
    return _hstack([_resize(tile, TILE_HEIGHT) for tile in [_to_rgb(np.asarray(canvas_image)), *step_tiles(step)]])


def step_tiles(step: Any) -> list[np.ndarray]:
    """The step's pictures as (size, size, 3) float32 RGB: each painted sample, the difference through
    the colour map, the mask (white = foreground)."""
    return [_to_rgb(np.asarray(tile)) for tile in [*step.painted, step.difference, step.mask]]


def _to_rgb(tile: np.ndarray) -> np.ndarray:
    if tile.dtype == bool:
        return np.repeat(tile[..., None].astype(np.float32), 3, axis=2)
    tile = tile.astype(np.float32)
    if tile.ndim == 3:
        return np.clip(tile, 0.0, 1.0)
    from matplotlib import colormaps

    low, high = float(np.nanmin(tile)), float(np.nanmax(tile))
    scaled = (tile - low) / (high - low) if high > low else np.zeros_like(tile)
    return colormaps["magma"](np.nan_to_num(scaled))[..., :3].astype(np.float32)


def _resize(tile: np.ndarray, height: int) -> np.ndarray:
    width = max(1, round(tile.shape[1] * height / tile.shape[0]))
    return cv2.resize(tile, (width, height), interpolation=cv2.INTER_NEAREST)


def _hstack(tiles: list[np.ndarray]) -> np.ndarray:
    gap = np.ones((TILE_HEIGHT, GAP, 3), np.float32)
    row = [part for tile in tiles for part in (tile, gap)][:-1]
    return np.concatenate(row, axis=1)
