"""How a stage turns its crops' difference maps into "keep" labels.

Even (inpaint) stages keep the pixels whose difference is high (painting the object away changed
them: they are object); odd (outpaint) stages keep the low ones (painting the band from its context
reproduced them). :class:`KMeansSeparator` is the original's rule: k-means over the difference values
of all crops together, keeping the cluster with the largest (inpaint) or smallest (outpaint) centre.
Every separator maps ``differences``, a list of K (h_k, w_k) float tensors, ``painted``, the matching
(h_k, w_k) bool regions that were painted, the stage, and the crops' ``images`` (h_k, w_k, 3) float
[0, 1] and current ``foregrounds`` (h_k, w_k) bool, to a list of K (h_k, w_k) float {0, 1}. The keyword
``clusters`` is the original's cluster count for this iteration (3 early on for box and point prompts),
None for the separator's own; separators that do not cluster ignore it.
"""

from __future__ import annotations

import torch

from iosm.refine.kmeans import kmeans, kmeans_original

INPAINT, OUTPAINT = "inpaint", "outpaint"


class KMeansSeparator:
    """k-means on the pooled difference values (the original); ``log=True`` clusters log(1 + d / median).

    ``original=True`` is the original's clustering exactly (:func:`iosm.refine.kmeans.kmeans_original`:
    random data points as initial centres, up to 200 iterations, tolerance 1e-4, every value, the
    labels of its last assignment); the default fits k-means++ on a strided subset of at most
    ``max_points`` values and labels every value by its nearest final centre.
    """

    def __init__(self, *, k: int = 2, log: bool = False, max_points: int = 200_000, seed: int = 0, original: bool = False) -> None:
        if k < 2:
            raise ValueError(f"separator.k: expected >= 2 clusters, got {k}")
        if original and log:
            raise ValueError("separator.log=true changes the values the original clusters; set it false with separator.original=true")
        self.k = k
        self.log = log
        self.max_points = max_points
        self.seed = seed
        self.original = original

    def __call__(self, differences, painted, stage, images=None, foregrounds=None, *, clusters: int | None = None) -> list[torch.Tensor]:
        values = torch.cat([d.flatten() for d in differences])
        sizes = [d.numel() for d in differences]
        if self.original:
            ids, centers = kmeans_original(values[:, None], min(clusters or self.k, values.numel()), seed=self.seed)
            keep = centers[:, 0].argmax() if stage == INPAINT else centers[:, 0].argmin()
            return [(part == keep).view_as(d).float() for part, d in zip(ids.split(sizes), differences)]
        if self.log:
            scale = values[values > 0].median() if (values > 0).any() else values.new_tensor(1.0)
            values = torch.log1p(values / scale)
        # Fit on an evenly strided subset (the clustering of 1-D values needs no more), label all.
        stride = max(1, values.numel() // self.max_points)
        fitted = kmeans(values[::stride, None], min(clusters or self.k, values[::stride].numel()), seed=self.seed)
        centers = fitted.centers[:, 0]
        keep = centers.argmax() if stage == INPAINT else centers.argmin()
        labels = (values[:, None] - centers[None]).abs().argmin(1) == keep
        return [part.view_as(d).float() for part, d in zip(labels.split(sizes), differences)]
