"""pymatting's trimap-based alpha solvers behind one function, with the degenerate case made loud.

``solve_alpha(image, trimap, "cf")`` is Levin et al.'s closed-form matting, ``"knn"`` KNN matting
(Chen et al.), ``"lbdm"`` learning-based matting (Zheng & Kambhamettu), ``"lkm"`` large-kernel
matting, ``"rw"`` random-walk matting: pymatting's ``estimate_alpha_<name>``. ``nonlocal_weight``
adds KNN matting's non-local affinities to closed-form's local ones (:func:`nonlocal_laplacian`),
``colour_space`` lets closed-form compare colours in CIE Lab instead of RGB, and ``prior`` adds a data
term towards given labels (the classical matte's pull towards the refined mask where the refiner was sure).
"""

from __future__ import annotations

import warnings

import cv2
import numpy as np
import scipy.sparse

SOLVERS = ("cf", "knn", "lbdm", "lkm", "rw")
# KNN matting's two neighbour searches as pymatting runs them: 20 neighbours close in colour and
# position, then 10 close in colour from anywhere in the box.
KNN_NEIGHBORS = (20, 10)
KNN_DISTANCE_WEIGHTS = (2.0, 0.1)
# The colour space closed-form's windows and the links compare colours in: "lab", CIE Lab over 100
# (L in [0, 1] like RGB's channels), or "rgb" as pymatting has it. Lab spaces colours about as the eye
# does, where sRGB crowds dark and greyish ones together (twigs, shadows, sky through leaves). The links
# weigh Lab's colour 1.75x against position (RGB's weight is pymatting's 1). Chosen on TUNE and seed-0
# synthetic (alpha_quality.md, section 12: TUNE SAD 5.44 -> 4.76).
COLOUR_SPACES = ("lab", "rgb")
LINK_COLOUR_WEIGHTS = {"lab": 1.75, "rgb": 1.0}
# Conjugate gradients' relative tolerance for the linked system: 1e-5 instead of pymatting's 1e-7
# halves its time at the same alphas (TUNE SAD 5.4403 vs 5.4416).
CG_RTOL = 1e-5


class TrimapFallbackWarning(UserWarning):
    """A trimap had no definite foreground or background, so the 'matte' is the thresholded trimap:
    benchmarks count these (a row that says closed-form but is the rough mask must say so)."""


def check_solver(solver: str) -> str:
    if solver not in SOLVERS:
        raise ValueError(f"matte.solver={solver!r}: expected one of {SOLVERS} (pymatting's estimate_alpha_<solver>)")
    return solver


def check_colour_space(colour_space: str) -> str:
    if colour_space not in COLOUR_SPACES:
        raise ValueError(f"matte.colour_space={colour_space!r}: expected one of {COLOUR_SPACES}")
    return colour_space


def solver_colours(image: np.ndarray, colour_space: str) -> np.ndarray:
    """``image`` (H, W, 3) RGB in [0, 1] in ``colour_space`` (:data:`COLOUR_SPACES`), float64."""
    if check_colour_space(colour_space) == "rgb":
        return image.astype(np.float64)
    return cv2.cvtColor(image.astype(np.float32), cv2.COLOR_RGB2Lab).astype(np.float64) / 100.0


def nonlocal_laplacian(image: np.ndarray, unknown: np.ndarray, neighbors: tuple[int, ...] = KNN_NEIGHBORS,
                       distance_weights: tuple[float, ...] = KNN_DISTANCE_WEIGHTS,
                       colour_weight: float = 1.0) -> scipy.sparse.csr_matrix:
    """Graph Laplacian (N x N, N = H * W) linking each ``unknown`` pixel to its nearest pixels in
    colour and position (KNN matting's features: ``image``'s three channels, in whatever colour space,
    times ``colour_weight``, and x, y over the long side times each distance weight; a small weight
    reaches across the image), scaled so a row's weights sum to about 1.

    Why: closed-form's 3x3 windows only propagate alpha along connected colour, so a wide band (a
    bush, hair, yarn) fills with blur far from its walls; these links tie a gap of sky between twigs to
    the sky outside. Only unknown pixels are queried (the links are made symmetric), so the cost
    follows the band, not the box. Kept symmetric positive semi-definite (D - W, not pymatting's
    row-normalised I - D^-1 W) so conjugate gradients stay valid."""
    from pymatting import knn

    height, width = unknown.shape
    queries = np.flatnonzero(unknown)
    rows, cols = np.mgrid[0:height, 0:width]
    positions = np.stack([cols.ravel(), rows.ravel()], axis=1)
    long_side = max(height, width) - 1 or 1
    colours = colour_weight * image.reshape(-1, 3)
    pairs = []
    for count, distance_weight in zip(neighbors, distance_weights):
        count = min(count, height * width)  # a box may hold fewer pixels than neighbours asked for
        features = np.concatenate([colours, distance_weight / long_side * positions], axis=1).astype(np.float32)
        _, nearest = knn(features, features[queries], k=count)
        pairs.append((np.repeat(queries, count), nearest.ravel()))
    source = np.concatenate([p[0] for p in pairs])
    target = np.concatenate([p[1] for p in pairs]).astype(source.dtype)
    size = height * width
    weights = scipy.sparse.coo_matrix((np.ones(2 * source.size), (np.concatenate([source, target]),
                                       np.concatenate([target, source]))), shape=(size, size)).tocsr()
    degree = np.asarray(weights.sum(axis=1)).ravel()
    return (scipy.sparse.diags(degree) - weights) / (2.0 * sum(neighbors))


def solve_alpha(image: np.ndarray, trimap: np.ndarray, solver: str = "cf", nonlocal_weight: float = 0.0,
                colour_space: str = "rgb", prior: np.ndarray | None = None,
                prior_weight: np.ndarray | None = None) -> np.ndarray:
    """Alpha (H, W) float32 in [0, 1] for ``image`` (H, W, 3) RGB in [0, 1] and ``trimap`` (H, W) in
    {0, 0.5, 1}. ``cf`` only: ``nonlocal_weight`` > 0 adds that much :func:`nonlocal_laplacian` to
    closed-form's Laplacian, both compare colours in ``colour_space`` (``rgb``: pymatting's), and
    ``prior`` (H, W) in [0, 1] with ``prior_weight`` (H, W) >= 0 adds the data term
    sum prior_weight (alpha - prior)^2 over the unknown pixels (what the colours leave undecided follows
    the prior). A trimap without both definite regions cannot be solved: the answer is then
    ``trimap >= 0.5`` and a :class:`TrimapFallbackWarning` says so."""
    import pymatting

    estimate = getattr(pymatting, f"estimate_alpha_{check_solver(solver)}")
    if nonlocal_weight and solver != "cf":
        raise ValueError(f"nonlocal_weight={nonlocal_weight} is for solver 'cf' (closed-form's Laplacian), not {solver!r}")
    if check_colour_space(colour_space) != "rgb" and solver != "cf":
        raise ValueError(f"colour_space={colour_space!r} is for solver 'cf'; {solver!r} compares colours in RGB")
    if (prior is None) != (prior_weight is None):
        raise ValueError("prior and prior_weight go together: the labels a data term pulls towards, and its weights")
    if prior is not None and solver != "cf":
        raise ValueError(f"a prior is a data term added to closed-form's Laplacian (solver 'cf'), not {solver!r}'s")
    if not ((trimap == 1.0).any() and (trimap == 0.0).any()):
        warnings.warn(f"{solver}: the trimap has no definite {'foreground' if not (trimap == 1.0).any() else 'background'}; "
                      "the alpha is the thresholded trimap, not a matte", TrimapFallbackWarning, stacklevel=2)
        return (trimap >= 0.5).astype(np.float32)
    colours, trimap = solver_colours(image, colour_space), trimap.astype(np.float64)
    if nonlocal_weight or prior is not None:
        alpha = _closed_form_system(colours, trimap, nonlocal_weight, LINK_COLOUR_WEIGHTS[colour_space], prior, prior_weight)
    else:
        with warnings.catch_warnings():  # Lab's a and b are signed; closed-form only uses colour differences
            warnings.filterwarnings("ignore", message="Image values should be in", category=UserWarning)
            alpha = estimate(colours, trimap)
    return np.clip(alpha, 0.0, 1.0).astype(np.float32)


def _closed_form_system(image: np.ndarray, trimap: np.ndarray, nonlocal_weight: float, colour_weight: float,
                        prior: np.ndarray | None, prior_weight: np.ndarray | None) -> np.ndarray:
    """Closed-form matting with ``nonlocal_weight`` times :func:`nonlocal_laplacian` (its colours weighed
    ``colour_weight`` against position) added, and the data term ``prior_weight`` (alpha - ``prior``)^2
    when a prior is given: the unknown pixels' block of the summed Laplacian plus the prior's diagonal,
    solved against the known pixels' labels and the prior."""
    import pymatting

    is_fg, _, is_known, is_unknown = pymatting.trimap_split(trimap)
    local = pymatting.cf_laplacian(image, is_known=is_known).tocsr()[is_unknown]
    if nonlocal_weight:
        links = nonlocal_laplacian(image, is_unknown.reshape(trimap.shape), colour_weight=colour_weight)
        linked = nonlocal_weight * links.tocsr()[is_unknown]
    else:
        linked = scipy.sparse.csr_matrix(local.shape)
    weights = np.zeros(local.shape[0]) if prior is None else np.asarray(prior_weight, np.float64).ravel()[is_unknown]
    local_block, linked_block = local[:, is_unknown], linked[:, is_unknown]
    system = (local_block + linked_block + scipy.sparse.diags(weights)).tocsr()
    coupling = (local + linked)[:, is_known]
    # Preconditioned by the local block plus the links' and the prior's diagonals: an incomplete Cholesky
    # factor of the whole system fills in along the links (26 s instead of 2 s on a bush-sized band).
    preconditioner = pymatting.ichol((local_block + scipy.sparse.diags(linked_block.diagonal() + weights)).tocsr())
    target = -coupling.dot(is_fg[is_known].astype(np.float64))
    if prior is not None:
        target += weights * np.asarray(prior, np.float64).ravel()[is_unknown]
    alpha = trimap.ravel().copy()
    alpha[is_unknown] = pymatting.cg(system, target, M=preconditioner, rtol=CG_RTOL)
    return alpha.reshape(trimap.shape)
