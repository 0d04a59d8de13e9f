"""The ``heldout`` setting of the synthetic generator: other shapes, other rough-mask errors.

``python -m iosm.data.synthetic OUT --setting heldout --n 40 --size 256 --seed 1000``

Why: a refiner tuned on one generator's composites may only have learnt that generator's quirks. This
setting shares nothing with the default one but the source photographs: objects are polygons with
sharp corners and straight thin sticks standing out of them (pencils in a holder, antennae, legs)
instead of unions of wobbly ellipses, strands are straight and fewer; rough masks err by a polygonal
simplification of the boundary, a uniform erosion that loses the sticks, and several small leaks or
notches instead of one leak and one hole. No threshold of the refiner is chosen on it
(benchmarks/results/refine_quality.md); its figures are reported as untuned.
"""

from __future__ import annotations

import cv2
import numpy as np

from iosm.data.masks import morph_disc


def _polygon_body(rng: np.random.Generator, size: int) -> np.ndarray:
    """One or two star-shaped polygons with 5-11 corners, (size, size) bool."""
    canvas = np.zeros((size, size), np.uint8)
    for _ in range(rng.integers(1, 3)):
        centre = rng.uniform(0.35, 0.65, size=2) * size
        corners = int(rng.integers(5, 12))
        angles = np.sort(rng.uniform(0, 2 * np.pi, corners))
        radii = rng.uniform(0.12, 0.3, corners) * size
        points = centre + np.stack([np.cos(angles), np.sin(angles)], 1) * radii[:, None]
        cv2.fillPoly(canvas, [np.round(points).astype(np.int32)], 1)
    return canvas.astype(bool)


def _sticks(rng: np.random.Generator, body: np.ndarray, count: int) -> np.ndarray:
    """Straight opaque sticks 1.5-4 px wide (at 256 px) from inside the body outwards, (H, W) bool."""
    size = body.shape[0]
    canvas = np.zeros(body.shape, np.uint8)
    ys, xs = np.nonzero(body)
    centre = np.array([xs.mean(), ys.mean()])
    for _ in range(count):
        angle = rng.uniform(0, 2 * np.pi)
        direction = np.array([np.cos(angle), np.sin(angle)])
        start = centre + direction * rng.uniform(0.0, 0.1) * size
        end = start + direction * rng.uniform(0.3, 0.5) * size
        width = max(1, int(round(rng.uniform(1.5, 4.0) * size / 256)))
        cv2.line(canvas, tuple(np.round(start).astype(int)), tuple(np.round(end).astype(int)), 1, width, cv2.LINE_8)
    return canvas.astype(bool)


def make_alpha(rng: np.random.Generator, size: int, matte_type: str) -> np.ndarray:
    """A soft alpha (size, size) float32 in [0, 1]: SO polygon, STM polygon with sticks, NS polygon
    with sticks and a few straight semi-transparent strands."""
    body = _polygon_body(rng, size)
    if matte_type != "SO":
        body |= _sticks(rng, body, int(rng.integers(2, 7)))
    alpha = cv2.GaussianBlur(body.astype(np.float32), (0, 0), rng.uniform(0.4, 1.2) * size / 256)
    if matte_type == "NS":
        strands = np.zeros((size, size), np.uint8)
        ys, xs = np.nonzero(body)
        for pick in rng.integers(0, len(xs), size=int(rng.integers(10, 30))):
            angle = rng.uniform(0, 2 * np.pi)
            end = np.array([xs[pick], ys[pick]]) + np.array([np.cos(angle), np.sin(angle)]) * rng.uniform(0.05, 0.15) * size
            cv2.line(strands, (int(xs[pick]), int(ys[pick])), tuple(np.round(end).astype(int)),
                     int(rng.uniform(0.4, 0.9) * 255), 1, cv2.LINE_AA)
        alpha = np.maximum(alpha, strands.astype(np.float32) / 255.0)
    return np.clip(alpha, 0.0, 1.0)


def rough_mask(alpha: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A rough mask with this setting's errors: polygonal simplification (tolerance up to 3% of the
    object size), an erosion or dilation that loses thin parts, 1-3 small leaks and 0-2 notches."""
    mask = alpha > rng.uniform(0.3, 0.6)
    if not mask.any():
        return mask
    extent = float(np.sqrt(mask.sum()))
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    simplified = np.zeros(mask.shape, np.uint8)
    tolerance = rng.uniform(0.01, 0.03) * extent
    cv2.fillPoly(simplified, [cv2.approxPolyDP(c, tolerance, True) for c in contours], 1)
    mask = morph_disc(simplified.astype(bool), int(round(rng.uniform(-0.03, 0.02) * extent)))
    size = mask.shape[0]
    edge_ys, edge_xs = np.nonzero(mask & ~morph_disc(mask, -1))
    if len(edge_xs) == 0:
        return mask
    for kind, count in (("leak", int(rng.integers(1, 4))), ("notch", int(rng.integers(0, 3)))):
        for pick in rng.integers(0, len(edge_xs), size=count):
            blob = np.zeros((size, size), np.uint8)
            axes = tuple(max(1, int(v)) for v in rng.uniform(0.03, 0.08, 2) * extent)
            cv2.ellipse(blob, (int(edge_xs[pick]), int(edge_ys[pick])), axes, rng.uniform(0, 180), 0, 360, 1, -1)
            mask = mask | blob.astype(bool) if kind == "leak" else mask & ~blob.astype(bool)
    return mask if mask.any() else alpha > 0.5
