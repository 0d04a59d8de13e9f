"""One graph-cut energy at the image's own resolution, with the painting evidence as a unary term.

Why (measured in benchmarks/results/refine_quality.md): thresholding the painting difference per crop
and then polishing the boundary in separate steps (the previous default: a GrabCut per crop and
stage, a dense CRF, a GrabCut polish) lost thin parts that no later step recovered and cost 7x a
GrabCut. Here the loop only gathers evidence (:class:`iosm.refine.evidence.PaintingEvidence`: did
painting the object away change a pixel, did painting the background band reproduce it), and one
energy decides every pixel near the rough mask's boundary at full resolution:

    E(L) = sum_p [ -log p(c_p | GMM_{L_p}) - weight * L_p * o_p ] + gamma * sum_{pq} [L_p != L_q] exp(-beta |c_p - c_q|^2) / dist(p, q)

with GrabCut's colour models (Rother et al., 2004: two 5-component Gaussian mixtures in RGB, refitted
for ``iterations`` rounds) and its contrast-sensitive 8-neighbour smoothness, where ``o_p`` is the
painting's object score (positive: painting says object; clipped to +-``clip``). Pixels farther than
``band`` x the long side from the rough mask's boundary keep the rough label, as GrabCut from a mask
does. Solved exactly by max-flow (PyMaxflow).
"""

from __future__ import annotations

import cv2
import maxflow
import numpy as np

from iosm.data.masks import morph_disc

COMPONENTS = 5  # GrabCut's mixture size


def _fit_gmm(pixels: np.ndarray, rng: np.random.Generator, max_points: int = 20000):
    """(N, 3) float colours -> (log weights (K,), means (K, 3), inverse covariances (K, 3, 3), log dets (K,))."""
    if len(pixels) > max_points:
        pixels = pixels[rng.choice(len(pixels), max_points, replace=False)]
    k = min(COMPONENTS, len(pixels))
    criteria = (cv2.TERM_CRITERIA_MAX_ITER + cv2.TERM_CRITERIA_EPS, 10, 0.5)
    cv2.setRNGSeed(int(rng.integers(2**31)))
    _, labels, _ = cv2.kmeans(pixels.astype(np.float32), k, None, criteria, 1, cv2.KMEANS_PP_CENTERS)
    labels = labels[:, 0]
    weights, means, inverses, logdets = [], [], [], []
    for component in range(k):
        members = pixels[labels == component]
        if len(members) < 2:
            continue
        covariance = np.cov(members.T) + 0.01 * np.eye(3)  # GrabCut's regulariser for flat colours
        weights.append(len(members) / len(pixels))
        means.append(members.mean(0))
        inverses.append(np.linalg.inv(covariance))
        logdets.append(np.linalg.slogdet(covariance)[1])
    return np.log(weights), np.array(means), np.array(inverses), np.array(logdets)


def _neg_log_likelihood(pixels: np.ndarray, gmm) -> np.ndarray:
    """(N, 3) colours -> (N,) -log p(colour | mixture)."""
    log_weights, means, inverses, logdets = gmm
    scores = []
    for log_weight, mean, inverse, logdet in zip(log_weights, means, inverses, logdets):
        centred = pixels - mean
        mahalanobis = np.einsum("ni,ij,nj->n", centred, inverse, centred)
        scores.append(log_weight - 0.5 * logdet - 0.5 * mahalanobis)
    stacked = np.stack(scores)
    top = stacked.max(0)
    return -(top + np.log(np.exp(stacked - top).sum(0)))


def _smoothness(image: np.ndarray, gamma: float) -> list[tuple[np.ndarray, np.ndarray]]:
    """GrabCut's contrast-sensitive 8-neighbour weights: [(structure 3x3, (H, W) weights)]."""
    offsets = [((0, 1), 1.0), ((1, 0), 1.0), ((1, 1), 2**-0.5), ((1, -1), 2**-0.5)]
    squared = []
    for (dy, dx), _ in offsets:
        shifted = np.roll(image, (-dy, -dx), axis=(0, 1))
        squared.append(((image - shifted) ** 2).sum(-1))
    beta = 1.0 / (2.0 * max(np.mean([s[1:-1, 1:-1].mean() for s in squared]), 1e-6))  # wrapped rows/cols left out
    edges = []
    for ((dy, dx), scale), distance in zip(offsets, squared):
        structure = np.zeros((3, 3))
        structure[1 + dy, 1 + dx] = 1
        edges.append((structure, gamma * scale * np.exp(-beta * distance)))
    return edges


class EnergyCut:
    """The loop's last step: decide the mask at the image's resolution (see the module docstring).

    weight: of the painting evidence against the colour models (nats per unit of object score);
    clip: the object score's magnitude cap; band: half-width of the re-decided zone around the rough
    mask's boundary, a fraction of the image's long side; gamma: GrabCut's smoothness weight;
    iterations: colour-model refits (each followed by a cut); seed: the k-means start of the models.
    Fallback: when the cut agrees with the rough mask by less than ``min_overlap`` IoU and fewer than
    ``min_support`` of the flipped pixels have painting evidence for their new label, the rough mask
    is kept (a large change the loop's evidence does not back is more likely a colour-model failure).
    """

    def __init__(self, *, weight: float = 2.0, clip: float = 3.0, band: float = 0.05, gamma: float = 50.0,
                 iterations: int = 2, min_overlap: float = 0.0, min_support: float = 0.5, seed: int = 0) -> None:
        if weight < 0 or clip <= 0:
            raise ValueError(f"energy: expected weight >= 0 and clip > 0, got weight={weight}, clip={clip}")
        if not 0 < band < 0.5:
            raise ValueError(f"energy.band: expected a fraction of the image in (0, 0.5), got {band}")
        if iterations < 1:
            raise ValueError(f"energy.iterations: expected >= 1, got {iterations}")
        self.weight, self.clip, self.band, self.gamma, self.iterations, self.seed = weight, clip, band, gamma, iterations, seed
        self.min_overlap, self.min_support = min_overlap, min_support

    def fallback_reason(self, rough: np.ndarray, refined: np.ndarray, score: np.ndarray | None) -> str | None:
        """Why ``refined`` should not replace ``rough`` (see the class docstring), or None."""
        overlap = (rough & refined).sum() / max((rough | refined).sum(), 1)
        if overlap >= self.min_overlap:
            return None
        flipped = rough != refined
        support = 0.0 if score is None else float(((score > 0) == refined)[flipped & (score != 0)].sum() / max(flipped.sum(), 1))
        if support >= self.min_support:
            return None
        return (f"kept the rough mask: the refined one overlaps it by IoU {overlap:.3f} < {self.min_overlap} and painting "
                f"backs only {support:.0%} of the changed pixels (< {self.min_support:.0%})")

    def __call__(self, image: np.ndarray, rough: np.ndarray, score: np.ndarray | None) -> tuple[np.ndarray, str | None]:
        """image (H, W, 3) float [0, 1], rough (H, W) bool, score (H, W) float object score (0 = no
        evidence) or None -> ((H, W) bool mask, the fallback reason or None)."""
        refined = self.cut(image, rough, score)
        reason = self.fallback_reason(rough, refined, score)
        return (rough.copy(), reason) if reason else (refined, None)

    def cut(self, image: np.ndarray, rough: np.ndarray, score: np.ndarray | None) -> np.ndarray:
        """The energy's minimum: (H, W) bool."""
        if not rough.any() or rough.all():
            return rough.copy()
        radius = max(3, int(round(self.band * max(rough.shape))))
        sure_fg, maybe = morph_disc(rough, -radius), morph_disc(rough, radius)
        undecided = maybe & ~sure_fg
        rows, cols = np.nonzero(undecided.any(1))[0], np.nonzero(undecided.any(0))[0]
        top, bottom = max(rows[0] - 1, 0), min(rows[-1] + 2, rough.shape[0])
        left, right = max(cols[0] - 1, 0), min(cols[-1] + 2, rough.shape[1])
        colours = image.astype(np.float64) * 255.0
        evidence = np.zeros(rough.shape) if score is None else np.clip(score, -self.clip, self.clip) * self.weight
        rng = np.random.default_rng(self.seed)
        labels = rough.copy()
        window = (slice(top, bottom), slice(left, right))
        edges = _smoothness(colours[window], self.gamma)
        inside = undecided[window]
        for _ in range(self.iterations):
            flat = colours.reshape(-1, 3)
            fg_gmm, bg_gmm = _fit_gmm(flat[labels.ravel()], rng), _fit_gmm(flat[~labels.ravel()], rng)
            crop = colours[window].reshape(-1, 3)
            cost_fg = _neg_log_likelihood(crop, fg_gmm).reshape(inside.shape) - evidence[window]
            cost_bg = _neg_log_likelihood(crop, bg_gmm).reshape(inside.shape)
            shift = np.minimum(cost_fg, cost_bg)
            cost_fg, cost_bg = cost_fg - shift, cost_bg - shift
            hard = 1e9
            fixed_fg, fixed_bg = ~inside & sure_fg[window], ~inside & ~maybe[window]
            cost_fg[fixed_fg], cost_bg[fixed_fg] = 0.0, hard
            cost_fg[fixed_bg], cost_bg[fixed_bg] = hard, 0.0
            graph = maxflow.Graph[float]()
            nodes = graph.add_grid_nodes(inside.shape)
            for structure, weights in edges:
                graph.add_grid_edges(nodes, weights=weights, structure=structure, symmetric=True)
            graph.add_grid_tedges(nodes, cost_bg, cost_fg)  # a node cut to the sink (background) pays cost_bg
            graph.maxflow()
            decided = ~graph.get_grid_segments(nodes)
            labels = rough.copy()
            labels[window] = decided
            labels &= maybe
            labels |= sure_fg
        return labels
