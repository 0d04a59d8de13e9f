"""One graph-cut energy at the image's own resolution with the painting evidence, and the decision
between it and the loop's own mask.

Why (measured in benchmarks/results/refine_quality.md): thresholding the painting difference per crop
and then polishing the boundary in separate steps (the previous default: a GrabCut per crop and
stage, a dense CRF, a GrabCut polish) lost thin parts that no later step recovered and cost 7x a
GrabCut. Here the loop only gathers evidence (:class:`iosm.refine.evidence.PaintingEvidence`: did
painting the object away change a pixel, did painting the background band reproduce it), and one
energy decides every pixel near the rough mask's boundary at full resolution:

    E(L) = sum_p [ -log p(c_p | GMM_{L_p}) - weight * L_p * o_p ] + gamma * sum_{pq} [L_p != L_q] exp(-beta |c_p - c_q|^2) / dist(p, q)

with GrabCut's colour models (Rother et al., 2004: two 5-component Gaussian mixtures in RGB, refitted
for ``iterations`` rounds) and its contrast-sensitive 8-neighbour smoothness, where ``o_p`` is the
painting's object score (positive: painting says object; within +-``deadzone`` none, clipped to
+-``clip``). Pixels farther than ``band`` x the long side from the rough mask's boundary keep the rough
label, as GrabCut from a mask does, unless the loop changed them (a wide leak it removed, a wide hole
it filled: re-decided, with ``prior`` nats towards the loop's label). Solved exactly by max-flow
(PyMaxflow).

Colour models are only worth trusting where they separate the object from its surroundings: the
share of band pixels whose rough label the two fitted mixtures reproduce (``colour accuracy``) is
measured on the first fit. Below ``min_colour_accuracy`` (object and background share colours) the
loop's own mask, decided crop by crop from the painting, is kept instead; and if that mask and the
colour cut then disagree by more than ``min_agreement`` IoU, the rough mask is kept (the manifest's
``fallback`` says why) unless the cut's own colour models, refitted to its labels, reproduce them in the
band at least ``min_cut_accuracy`` of the time: then the colours do separate object and background, and
the low first accuracy only said the rough mask was far off (a held-out composite's rough mask at IoU 0.59
that the cut took to 0.97; among the tuning images the cuts behind kept rough masks score 0.47-0.79).
"""

from __future__ import annotations

import cv2
import maxflow
import numpy as np

from iosm.data.masks import morph_disc

COMPONENTS = 5  # GrabCut's mixture size
HARD = 1e9  # the cost of overruling a fixed label
# k-means on 2k pixels leaves at least one of k clusters with the two members a covariance needs.
MIN_MIXTURE_PIXELS = 2 * COMPONENTS


def _fit_gmm(pixels: np.ndarray, rng: np.random.Generator, max_points: int = 20000):
    """(N, 3) float colours -> (log weights (K,), means (K, 3), whitening matrices (K, 3, 3), log dets (K,))."""
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
        inverses.append(np.linalg.cholesky(np.linalg.inv(covariance)))  # |x W|^2 = x^T inv(C) x
        logdets.append(np.linalg.slogdet(covariance)[1])
    return np.log(weights), np.array(means), np.array(inverses), np.array(logdets)


def _neg_log_likelihood(pixels: np.ndarray, gmm) -> np.ndarray:
    """(N, 3) colours -> (N,) -log p(colour | mixture)."""
    log_weights, means, whitening, logdets = gmm
    scores = []
    for log_weight, mean, matrix, logdet in zip(log_weights, means, whitening, logdets):
        mahalanobis = (((pixels - mean) @ matrix) ** 2).sum(1)
        scores.append(log_weight - 0.5 * logdet - 0.5 * mahalanobis)
    stacked = np.stack(scores)
    top = stacked.max(0)
    return -(top + np.log(np.exp(stacked - top).sum(0)))


def _label_accuracy(colour_fg: np.ndarray, colour_bg: np.ndarray, labels: np.ndarray) -> float:
    """Share of pixels whose label (True: object) the likelier of the two colour models reproduces."""
    return float(np.mean((colour_fg < colour_bg) == labels)) if labels.size else 1.0


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
    deadzone, clip: scores within +-deadzone count as no evidence (the rest shrinks by it), magnitudes
    are capped at clip; band: half-width of the re-decided zone around the rough mask's boundary, a
    fraction of the image's long side; gamma: the smoothness weight (GrabCut's is 50; 25 gave better
    TUNE masks and alphas); iterations: colour-model fits, each followed by a cut; prior: nats
    towards the loop's label where it changed the rough mask beyond the band; min_colour_accuracy,
    min_agreement: the decision rule of the module docstring (0 and 0: always the colour cut); seed:
    the k-means start of the colour models. The defaults are conf/refiner/iosm.yaml's.
    """

    def __init__(self, *, weight: float = 1.0, deadzone: float = 1.0, clip: float = 3.0, band: float = 0.05,
                 gamma: float = 25.0, iterations: int = 2, prior: float = 3.0, min_colour_accuracy: float = 0.75,
                 min_agreement: float = 0.85, min_cut_accuracy: float | None = 0.9, seed: int = 0) -> None:
        if weight < 0 or clip <= 0 or deadzone < 0 or prior < 0:
            raise ValueError(f"energy: expected weight, deadzone, prior >= 0 and clip > 0, got weight={weight}, "
                             f"deadzone={deadzone}, prior={prior}, clip={clip}")
        if not 0 < band < 0.5:
            raise ValueError(f"energy.band: expected a fraction of the image in (0, 0.5), got {band}")
        if iterations < 1:
            raise ValueError(f"energy.iterations: expected >= 1, got {iterations}")
        if not (0 <= min_colour_accuracy <= 1 and 0 <= min_agreement <= 1):
            raise ValueError(f"energy: min_colour_accuracy and min_agreement are fractions in [0, 1], got "
                             f"{min_colour_accuracy} and {min_agreement}")
        if min_cut_accuracy is not None and not 0 <= min_cut_accuracy <= 1:
            raise ValueError(f"energy.min_cut_accuracy: expected a fraction in [0, 1] or null (never), got {min_cut_accuracy}")
        self.weight, self.deadzone, self.clip, self.band, self.gamma = weight, deadzone, clip, band, gamma
        self.iterations, self.prior, self.seed = iterations, prior, seed
        self.min_colour_accuracy, self.min_agreement = min_colour_accuracy, min_agreement
        self.min_cut_accuracy = min_cut_accuracy

    def __call__(self, image: np.ndarray, rough: np.ndarray, loop: np.ndarray | None,
                 score: np.ndarray | None, gate: bool = True) -> tuple[np.ndarray, str, str | None]:
        """image (H, W, 3) float [0, 1], rough (H, W) bool, loop (H, W) bool the loop's mask or None,
        score (H, W) float object score (0 = no evidence) or None -> ((H, W) bool mask, which mask it is:
        "energy" / "loop" / "rough", and why the rough mask was kept or None). ``gate=False``: always
        the cut (a sparse prompt's region is no segmentation to fall back to)."""
        refined, accuracy = self.cut(image, rough, loop, score)
        if loop is None or not gate or accuracy >= self.min_colour_accuracy:
            return refined, "energy", None
        agreement = (loop & refined).sum() / max((loop | refined).sum(), 1)
        if agreement >= self.min_agreement:
            return loop.copy(), "loop", None
        if self.min_cut_accuracy is not None and self.cut_accuracy(image, rough, refined) >= self.min_cut_accuracy:
            return refined, "energy", None
        return rough.copy(), "rough", (
            f"kept the rough mask: colour models separate only {accuracy:.0%} of the boundary band (< "
            f"{self.min_colour_accuracy:.0%}) and the painting loop's mask and the colour cut agree by IoU "
            f"{agreement:.3f} < {self.min_agreement}")

    def _evidence(self, score: np.ndarray | None, shape) -> np.ndarray:
        if score is None:
            return np.zeros(shape)
        confident = np.sign(score) * np.maximum(np.abs(score) - self.deadzone, 0.0)
        return np.clip(confident, -self.clip, self.clip) * self.weight

    def _band(self, rough: np.ndarray) -> tuple[int, np.ndarray]:
        """The re-decided zone's half-width (px) and the band of that width around ``rough``'s boundary."""
        radius = max(3, int(round(self.band * max(rough.shape))))
        return radius, morph_disc(rough, radius) & ~morph_disc(rough, -radius)

    def cut_accuracy(self, image: np.ndarray, rough: np.ndarray, labels: np.ndarray) -> float:
        """How well colour models fitted to ``labels`` (H, W) bool (a cut) reproduce them in ``rough``'s band."""
        if min(labels.sum(), (~labels).sum()) < MIN_MIXTURE_PIXELS:
            return 0.0
        rng = np.random.default_rng(self.seed)
        flat = image.reshape(-1, 3).astype(np.float64) * 255.0
        in_band = self._band(rough)[1].ravel()
        colour_fg = _neg_log_likelihood(flat[in_band], _fit_gmm(flat[labels.ravel()], rng))
        colour_bg = _neg_log_likelihood(flat[in_band], _fit_gmm(flat[~labels.ravel()], rng))
        return _label_accuracy(colour_fg, colour_bg, labels.ravel()[in_band])

    def cut(self, image: np.ndarray, rough: np.ndarray, loop: np.ndarray | None,
            score: np.ndarray | None) -> tuple[np.ndarray, float]:
        """The energy's minimum (H, W) bool and the colour accuracy of the first fit in [0, 1]; when a
        side has too few pixels for a colour model the labels so far come back (the rough mask, with
        accuracy 1.0, if that happens before the first fit)."""
        loop = rough if loop is None or not loop.any() or loop.all() else loop
        if not rough.any() or rough.all():
            return rough.copy(), 1.0
        radius, band = self._band(rough)
        deep_change = (rough != loop) & ~band  # the loop removed a wide leak or filled a wide hole
        sure_fg, maybe = morph_disc(rough, -radius) & ~deep_change, morph_disc(rough, radius) | deep_change
        undecided = maybe & ~sure_fg
        rows, cols = np.nonzero(undecided.any(1))[0], np.nonzero(undecided.any(0))[0]
        window = (slice(max(rows[0] - 1, 0), min(rows[-1] + 2, rough.shape[0])),
                  slice(max(cols[0] - 1, 0), min(cols[-1] + 2, rough.shape[1])))
        colours = image.astype(np.float64) * 255.0
        inside = undecided[window]
        pixels = colours[window][inside]  # fixed pixels get hard costs below
        towards_fg = (self._evidence(score, rough.shape) + np.where(loop, self.prior, -self.prior) * deep_change)[window][inside]
        fixed_fg, fixed_bg = ~inside & sure_fg[window], ~inside & ~maybe[window]
        edges = _smoothness(colours[window], self.gamma)
        rng = np.random.default_rng(self.seed)
        labels, accuracy = rough.copy(), None
        flat = colours.reshape(-1, 3)
        for _ in range(self.iterations):
            if min(labels.sum(), (~labels).sum()) < MIN_MIXTURE_PIXELS:
                # One side is too small for a colour model (a speck of an object, or the last cut
                # swallowed the image): keep the labels so far (the rough mask before any cut).
                break
            fg_gmm, bg_gmm = _fit_gmm(flat[labels.ravel()], rng), _fit_gmm(flat[~labels.ravel()], rng)
            colour_fg, colour_bg = _neg_log_likelihood(pixels, fg_gmm), _neg_log_likelihood(pixels, bg_gmm)
            if accuracy is None:  # how well the rough mask's own colour models explain its band
                in_band = band[window][inside]
                accuracy = _label_accuracy(colour_fg[in_band], colour_bg[in_band], rough[window][inside][in_band])
            cost_fg, cost_bg = np.zeros(inside.shape), np.zeros(inside.shape)
            cost_fg[inside], cost_bg[inside] = colour_fg - towards_fg, colour_bg
            shift = np.minimum(cost_fg, cost_bg)
            cost_fg, cost_bg = cost_fg - shift, cost_bg - shift
            cost_fg[fixed_fg], cost_bg[fixed_fg] = 0.0, HARD
            cost_fg[fixed_bg], cost_bg[fixed_bg] = HARD, 0.0
            graph = maxflow.Graph[float]()
            nodes = graph.add_grid_nodes(inside.shape)
            for structure, weights in edges:
                graph.add_grid_edges(nodes, weights=weights, structure=structure, symmetric=True)
            graph.add_grid_tedges(nodes, cost_bg, cost_fg)  # a node cut to the sink (background) pays cost_bg
            graph.maxflow()
            labels = rough.copy()
            labels[window] = ~graph.get_grid_segments(nodes)
            labels = (labels & maybe) | sure_fg
        return labels, 1.0 if accuracy is None else accuracy
