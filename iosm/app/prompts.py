"""The page's five ways to show the object, mapped onto the refiner's own prompt classes.

A box drawn on the photograph, positive and negative clicks, a scribble, an uploaded rough mask, or
nothing: each becomes the :mod:`iosm.refine.prompts` object a refine.py run would use (``BoxPrompt``,
``PointsPrompt``, ``ScribblePrompt`` with annotations given in memory, ``FilePrompt`` on the request's
folder, ``GrabCutPrompt``), so the page and the command line start the loop from the same masks.
The factories come from the config's ``prompts`` node (the ``prompt`` group's own defaults).

The drawing canvas shows a preview of the photograph (long side ``app.preview_side``); strokes
arrive at the preview's size and are scaled to the photograph's pixels here. Clicks arrive already in
the photograph's pixels.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from iosm.refine.prompts import Prompt

# The page's choices, in the order it lists them, with the label a person reads.
KINDS = {
    "box": "Box (drag across the object)",
    "clicks": "Clicks (positive / negative)",
    "scribble": "Scribble (paint over the object)",
    "mask": "Rough mask (upload)",
    "grabcut": "Nothing (GrabCut guesses)",
}


@dataclass
class PromptSpec:
    """What the person gave. ``drawing``: (h, w) bool strokes at the preview's size, or None;
    ``clicks``: ``(x, y, positive)`` in the photograph's pixels; ``mask_path``: an uploaded rough mask."""

    kind: str
    drawing: np.ndarray | None = None
    clicks: Sequence[tuple[float, float, bool]] = field(default_factory=list)
    mask_path: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"prompt kind {self.kind!r}: expected one of {', '.join(KINDS)}")


def drawn_strokes(editor_value: Mapping | None) -> np.ndarray | None:
    """(h, w) bool: the pixels painted on the drawing canvas (any layer), from Gradio's ImageEditor
    value ``{"background", "layers": [(h, w, 4) RGBA], "composite"}``; None when nothing is there."""
    if not editor_value or not editor_value.get("layers"):
        return None
    strokes = None
    for layer in editor_value["layers"]:
        layer = np.asarray(layer)
        painted = layer[..., 3] > 0 if layer.ndim == 3 and layer.shape[2] == 4 else np.asarray(layer).any(axis=-1)
        strokes = painted if strokes is None else strokes | painted
    return strokes if strokes is not None and strokes.any() else None


def build_prompt(spec: PromptSpec, factories: Mapping[str, Callable[..., Prompt] | Prompt], name: str,
                 shape: tuple[int, int], folder: Path, read_mask: Callable[[str], np.ndarray]) -> Prompt:
    """The prompt object for ``spec`` on the photograph ``name`` of ``shape`` (H, W).

    factories: ``box``, ``points``, ``scribble``, ``file`` (partials taking ``annotations=`` / ``dir=``)
    and ``grabcut`` (an instance). folder: the request's folder (an uploaded mask is copied into it for
    ``FilePrompt``). read_mask: reads an upload as (H, W) float in [0, 1] under the app's limits.
    """
    if spec.kind == "grabcut":
        return factories["grabcut"]
    if spec.kind == "mask":
        if not spec.mask_path:
            raise ValueError("Rough mask: no mask file was uploaded; upload one or pick another way to show the object")
        if not (read_mask(spec.mask_path) > 0.5).any():
            raise ValueError(f"rough mask {Path(spec.mask_path).name}: it is empty (no pixel above half), so there is "
                             "no object to refine; upload the object's mask, white on black")
        mask_dir = folder / "prompt"
        mask_dir.mkdir(exist_ok=True)
        shutil.copyfile(spec.mask_path, mask_dir / f"{name}{Path(spec.mask_path).suffix.lower()}")
        return factories["file"](dir=str(mask_dir))
    if spec.kind == "clicks":
        positives = [[x, y] for x, y, positive in spec.clicks if positive]
        negatives = [[x, y] for x, y, positive in spec.clicks if not positive]
        if not positives:
            raise ValueError("Clicks: no positive click on the object; click on the object with 'positive' selected")
        return factories["points"](annotations={name: {"points": positives, "negative_points": negatives}})
    if spec.drawing is None or not spec.drawing.any():
        action = "drag across the object" if spec.kind == "box" else "paint a stroke over the object"
        raise ValueError(f"{spec.kind.capitalize()}: nothing is drawn on the photograph; {action} first")
    scale_x, scale_y = shape[1] / spec.drawing.shape[1], shape[0] / spec.drawing.shape[0]
    if spec.kind == "box":
        rows, cols = np.nonzero(spec.drawing)
        box = [cols.min() * scale_x, rows.min() * scale_y, (cols.max() + 1) * scale_x, (rows.max() + 1) * scale_y]
        return factories["box"](annotations={name: {"box": [int(round(v)) for v in box]}})
    # A scribble's outlines as closed polylines in the photograph's pixels: drawn back by ScribblePrompt,
    # they give the same convex hull as the painted pixels, at any preview scale.
    contours, _ = cv2.findContours(spec.drawing.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    polylines = [[[x * scale_x, y * scale_y] for x, y in np.vstack([c, c[:1]]).reshape(-1, 2)] for c in contours]
    return factories["scribble"](annotations={name: {"scribble": polylines}})
