"""``prompt=box|points|scribble``: sparse prompts, derived from a mask or read from annotations,
turned into the region the refiner starts from.

PaintSeg's sparse prompts: a box is filled as is; points and a scribble are spread to their convex
hull grown by ``margin`` (a fraction of the image's long side), since the loop shrinks a mask far more
easily than it grows one (an odd stage adds at most a few pixels). Point prompts also hand the refiner
their points, which the original adds as Gaussian bumps to the difference maps (and with
``refiner.faithful=true`` starts from the whole canvas, as the original does); scribbles hand over
their stroke, which the faithful refiner dilates by a 5x5 cross to start from, as the original does.
Deriving from a mask (``prompt.dir``) reproduces the paper's protocol of simulated user input.
"""

from __future__ import annotations

import cv2
import numpy as np

from iosm.refine.prompts.base import MaskFolder, Prompt, PromptInput, mask_source, non_empty


def _hull_mask(points_xy: np.ndarray, shape: tuple[int, int], margin: float) -> np.ndarray:
    """Filled convex hull of (P, 2) x/y points, dilated by ``margin`` x the long side."""
    canvas = np.zeros(shape, np.uint8)
    hull = cv2.convexHull(np.round(points_xy).astype(np.int32).reshape(-1, 1, 2))
    cv2.fillConvexPoly(canvas, hull, 1)
    radius = max(1, int(round(margin * max(shape))))
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    return cv2.dilate(canvas, disc).astype(bool)


def _nearer_to(negatives_xy: np.ndarray, positives_xy: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """(H, W) bool: pixels closer to some negative click than to every positive one (a negative click
    claims its side of the Voronoi split, however the grown hull spread)."""
    if not len(negatives_xy):
        return np.zeros(shape, bool)
    rows = np.arange(shape[0], dtype=np.float32)[:, None]
    cols = np.arange(shape[1], dtype=np.float32)[None, :]

    def nearest(points_xy: np.ndarray) -> np.ndarray:  # (H, W) squared distance to the nearest point
        distance = np.full(shape, np.inf, np.float32)
        for x, y in points_xy:
            np.minimum(distance, (cols - x) ** 2 + (rows - y) ** 2, out=distance)
        return distance

    return nearest(negatives_xy) < nearest(positives_xy)


class _SparsePrompt(Prompt):
    def __init__(self, *, dir: str | None = None, annotations: str | dict | None = None, margin: float = 0.03, seed: int = 0) -> None:  # noqa: A002
        self.source = mask_source(dir, annotations)
        self.margin = margin
        self.seed = seed

    def _mask(self, name: str, shape: tuple[int, int]) -> np.ndarray:
        return non_empty(self.source.read(name, shape), name, "source mask")


class BoxPrompt(_SparsePrompt):
    """The bounding box of the source mask (or an annotated ``box``), filled."""

    kind = "box"

    def initial_mask(self, image: np.ndarray, name: str) -> np.ndarray:
        shape = image.shape[:2]
        if isinstance(self.source, MaskFolder):
            rows, cols = np.nonzero(self._mask(name, shape))
            x0, y0, x1, y1 = cols.min(), rows.min(), cols.max() + 1, rows.max() + 1
        else:
            x0, y0, x1, y1 = (int(round(v)) for v in self.source.get(name, "box"))
        box = np.zeros(shape, bool)
        box[max(0, y0) : min(shape[0], y1), max(0, x0) : min(shape[1], x1)] = True
        return non_empty(box, name, "box")


class PointsPrompt(_SparsePrompt):
    """``count`` points inside the source mask (seeded, away from its edge), or annotated ``points``
    (optionally with ``negative_points``, background clicks: the pixels nearer to one of them than to
    every positive click leave the initial mask; the refiner gets the positive points only)."""

    kind = "points"

    def __init__(self, *, count: int = 5, **kwargs) -> None:
        super().__init__(**kwargs)
        if count < 1:
            raise ValueError(f"prompt.count: expected >= 1 point, got {count}")
        self.count = count

    def points(self, name: str, shape: tuple[int, int]) -> np.ndarray:
        """(P, 2) x/y points in pixels."""
        if not isinstance(self.source, MaskFolder):
            return np.asarray(self.source.get(name, "points"), dtype=np.float64).reshape(-1, 2)
        mask = self._mask(name, shape).astype(np.uint8)
        depth = cv2.distanceTransform(mask, cv2.DIST_L2, 5)
        inner = depth >= 0.5 * depth.max()  # prefer points well inside the object, as a user would click
        rows, cols = np.nonzero(inner)
        chosen = np.random.default_rng(self.seed).choice(rows.size, min(self.count, rows.size), replace=False)
        return np.stack([cols[chosen], rows[chosen]], axis=1).astype(np.float64)

    def negative_points(self, name: str) -> np.ndarray:
        """(N, 2) x/y background clicks (annotated ``negative_points``; none when derived from a mask)."""
        if isinstance(self.source, MaskFolder):
            return np.zeros((0, 2))
        return np.asarray(self.source.get(name, "negative_points", []), dtype=np.float64).reshape(-1, 2)

    def initial_mask(self, image: np.ndarray, name: str) -> np.ndarray:
        return self.prepare(image, name).mask

    def prepare(self, image: np.ndarray, name: str) -> PromptInput:
        shape = image.shape[:2]
        points = self.points(name, shape)
        if not len(points):
            raise ValueError(f"{name}: a point prompt needs at least one positive click")
        mask = _hull_mask(points, shape, self.margin) & ~_nearer_to(self.negative_points(name), points, shape)
        return PromptInput(non_empty(mask, name, "region of the clicks"), self.kind, points)


class ScribblePrompt(_SparsePrompt):
    """The skeleton of the source mask (a stroke through the object), or annotated polylines."""

    kind = "scribble"

    def scribble(self, name: str, shape: tuple[int, int]) -> np.ndarray:
        """(H, W) bool stroke pixels."""
        if isinstance(self.source, MaskFolder):
            from skimage.morphology import skeletonize

            mask = self._mask(name, shape)
            inner = cv2.erode(mask.astype(np.uint8), np.ones((3, 3), np.uint8), iterations=2).astype(bool)
            return skeletonize(inner if inner.any() else mask)
        canvas = np.zeros(shape, np.uint8)
        for line in self.source.get(name, "scribble"):
            cv2.polylines(canvas, [np.round(np.asarray(line)).astype(np.int32).reshape(-1, 1, 2)], False, 1, thickness=2)
        return non_empty(canvas.astype(bool), name, "scribble")

    def initial_mask(self, image: np.ndarray, name: str) -> np.ndarray:
        return self.prepare(image, name).mask

    def prepare(self, image: np.ndarray, name: str) -> PromptInput:
        stroke = self.scribble(name, image.shape[:2])
        rows, cols = np.nonzero(stroke)
        return PromptInput(_hull_mask(np.stack([cols, rows], axis=1), image.shape[:2], self.margin), self.kind, stroke=stroke)
