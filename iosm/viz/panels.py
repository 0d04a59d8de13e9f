"""Image panels and plots for reports and loggers, as plain RGB uint8 arrays (no GUI backend).

    panel = make_panel([("image", image), ("prediction", alpha_pred), ("ground truth", alpha_gt),
                        ("|error|", error_map(alpha_pred, alpha_gt))])
    grid = stack_rows([panel_a, panel_b])          # one row per case
    plot = histogram([0.1, 0.4, ...], title="SAD per image", xlabel="SAD / 1000")

Tiles are (H, W) gray or (H, W, 3) RGB, float in [0, 1] or uint8; they are resized to a common
height keeping their aspect ratio and captioned with their title. Plots use matplotlib's Agg canvas
directly, so they never depend on (or change) the process-wide backend.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from iosm.data.io import to_uint8

CAPTION_HEIGHT = 22
BACKGROUND = 255  # white around and between tiles


def as_rgb_uint8(array: np.ndarray) -> np.ndarray:
    """(H, W) / (H, W, 1) / (H, W, 3) / (H, W, 4), float in [0, 1] or uint8 or bool -> (H, W, 3) uint8."""
    array = np.asarray(array)
    if array.ndim == 3 and array.shape[2] == 4:
        array = array[..., :3]
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[..., 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] != 3):
        raise ValueError(f"panel tile: expected (H, W) or (H, W, 3), got shape {array.shape}")
    pixels = array if array.dtype == np.uint8 else to_uint8(array)
    return np.ascontiguousarray(np.repeat(pixels[..., None], 3, axis=2) if pixels.ndim == 2 else pixels)


def error_map(pred: np.ndarray, gt: np.ndarray, vmax: float = 1.0) -> np.ndarray:
    """``|pred - gt|`` as a colour image (H, W, 3) uint8, inferno colour map scaled to ``vmax``."""
    error = np.clip(np.abs(np.asarray(pred, np.float64) - np.asarray(gt, np.float64)) / vmax, 0, 1)
    bgr = cv2.applyColorMap(to_uint8(error), cv2.COLORMAP_INFERNO)
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def _caption(width: int, text: str) -> np.ndarray:
    strip = np.full((CAPTION_HEIGHT, width, 3), BACKGROUND, np.uint8)
    scale = 0.5
    (text_width, _), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
    while text_width > width - 4 and scale > 0.25:  # shrink long titles to fit the tile
        scale -= 0.05
        (text_width, _), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
    cv2.putText(strip, text, (2, CAPTION_HEIGHT - 7), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 1, cv2.LINE_AA)
    return strip


def make_panel(columns: Sequence[tuple[str, np.ndarray]], tile_height: int = 256, gap: int = 4) -> np.ndarray:
    """One captioned row of tiles: ``[(title, array), ...]`` -> (CAPTION + tile_height, W, 3) uint8."""
    if not columns:
        raise ValueError("make_panel: no columns given")
    tiles = []
    for title, array in columns:
        rgb = as_rgb_uint8(array)
        width = max(1, round(rgb.shape[1] * tile_height / rgb.shape[0]))
        interpolation = cv2.INTER_AREA if rgb.shape[0] > tile_height else cv2.INTER_NEAREST
        rgb = cv2.resize(rgb, (width, tile_height), interpolation=interpolation)
        tiles.append(np.concatenate([_caption(width, title), rgb], axis=0))
        tiles.append(np.full((tile_height + CAPTION_HEIGHT, gap, 3), BACKGROUND, np.uint8))
    return np.concatenate(tiles[:-1], axis=1)


def stack_rows(rows: Sequence[np.ndarray], gap: int = 6) -> np.ndarray:
    """Panels (from ``make_panel``) stacked vertically, right-padded to the widest: (H, W, 3) uint8."""
    if not rows:
        raise ValueError("stack_rows: no rows given")
    width = max(row.shape[1] for row in rows)
    padded = []
    for row in rows:
        filler = np.full((row.shape[0], width - row.shape[1], 3), BACKGROUND, np.uint8)
        padded.append(np.concatenate([row, filler], axis=1))
        padded.append(np.full((gap, width, 3), BACKGROUND, np.uint8))
    return np.concatenate(padded[:-1], axis=0)


def figure_to_array(figure: Figure) -> np.ndarray:
    """Render a matplotlib ``Figure`` on an Agg canvas: (H, W, 3) uint8."""
    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()


def histogram(
    values: Sequence[float], *, title: str, xlabel: str, bins: int = 30, size: tuple[float, float] = (6.0, 3.5)
) -> np.ndarray:
    """A histogram of ``values`` (NaNs dropped) as (H, W, 3) uint8, with the mean and median marked."""
    finite = np.asarray([value for value in values if np.isfinite(value)], dtype=np.float64)
    figure = Figure(figsize=size, dpi=100)
    axes = figure.add_subplot()
    if finite.size:
        axes.hist(finite, bins=min(bins, max(1, finite.size)), color="#4c72b0", edgecolor="white")
        axes.axvline(finite.mean(), color="#c44e52", label=f"mean {finite.mean():.4g}")
        axes.axvline(np.median(finite), color="#55a868", linestyle="--", label=f"median {np.median(finite):.4g}")
        axes.legend(frameon=False)
    else:
        axes.text(0.5, 0.5, "no values", ha="center", va="center", transform=axes.transAxes)
    axes.set_title(title)
    axes.set_xlabel(xlabel)
    axes.set_ylabel("images")
    figure.tight_layout()
    return figure_to_array(figure)
