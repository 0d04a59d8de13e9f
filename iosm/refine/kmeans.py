"""Batched k-means in PyTorch with k-means++ initialisation (replaces the original's vendored package).

The refiner clusters the per-pixel feature differences of all crops of a stage at once; running
the clustering in torch keeps those values on the device that computed them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


@dataclass
class KMeansResult:
    """``labels``: (B, N) long in [0, k); ``centers``: (B, k, D); ``inertia``: (B,) summed squared distance."""

    labels: torch.Tensor
    centers: torch.Tensor
    inertia: torch.Tensor


def _kmeans_plus_plus(points: torch.Tensor, k: int, generator: torch.Generator) -> torch.Tensor:
    """Pick ``k`` seeds per batch item, each with probability proportional to its squared distance to
    the nearest seed already chosen (Arthur & Vassilvitskii, 2007). ``points``: (B, N, D) -> (B, k, D)."""
    batch, count, _ = points.shape
    rows = torch.arange(batch, device=points.device)
    first = torch.randint(count, (batch,), generator=generator, device=generator.device).to(points.device)
    centers = [points[rows, first]]
    nearest = ((points - centers[0][:, None]) ** 2).sum(-1)  # (B, N)
    for _ in range(1, k):
        weights = nearest.clamp_min(0)
        # All points identical to the seeds: any choice is as good; avoid a zero-sum multinomial.
        weights = torch.where(weights.sum(1, keepdim=True) > 0, weights, torch.ones_like(weights))
        chosen = torch.multinomial(weights.to(generator.device), 1, generator=generator)[:, 0].to(points.device)
        centers.append(points[rows, chosen])
        nearest = torch.minimum(nearest, ((points - centers[-1][:, None]) ** 2).sum(-1))
    return torch.stack(centers, dim=1)


def kmeans(points: torch.Tensor, k: int, *, iterations: int = 50, seed: int = 0, tolerance: float = 1e-6) -> KMeansResult:
    """Lloyd's k-means on ``points`` (B, N, D) or (N, D) float; returns labels, centres and inertia.

    Deterministic for a given ``seed``; an emptied cluster keeps its previous centre.
    """
    if points.dim() == 2:
        result = kmeans(points[None], k, iterations=iterations, seed=seed, tolerance=tolerance)
        return KMeansResult(result.labels[0], result.centers[0], result.inertia[0])
    if points.dim() != 3:
        raise ValueError(f"points: expected (N, D) or (B, N, D), got shape {tuple(points.shape)}")
    if not 1 <= k <= points.shape[1]:
        raise ValueError(f"k: expected 1 <= k <= number of points ({points.shape[1]}), got {k}")
    points = points.float()
    generator = torch.Generator(device="cpu").manual_seed(seed)
    centers = _kmeans_plus_plus(points, k, generator)
    for _ in range(iterations):
        distances = torch.cdist(points, centers) ** 2  # (B, N, k)
        labels = distances.argmin(-1)
        one_hot = torch.nn.functional.one_hot(labels, k).float()  # (B, N, k)
        counts = one_hot.sum(1)  # (B, k)
        sums = one_hot.transpose(1, 2) @ points  # (B, k, D)
        updated = torch.where(counts[..., None] > 0, sums / counts.clamp_min(1)[..., None], centers)
        shift = (updated - centers).abs().max()
        centers = updated
        if shift <= tolerance:
            break
    distances = torch.cdist(points, centers) ** 2
    labels = distances.argmin(-1)
    inertia = distances.gather(-1, labels[..., None])[..., 0].sum(-1)
    return KMeansResult(labels, centers, inertia)


def kmeans_original(points: torch.Tensor, k: int, *, seed: int = 0, iterations: int = 200, tolerance: float = 1e-4) -> tuple[torch.Tensor, torch.Tensor]:
    """The original's clustering (the vendored ``kmeans_pytorch``, euclidean) on ``points`` (N, D) float.

    Initial centres are ``k`` distinct random data points; Lloyd iterations until the squared sum of the
    centres' moves falls below ``tolerance`` or ``iterations`` are done; an emptied cluster takes a
    random data point. Returns (labels (N,) long, the assignment of the *last* iteration, made before
    its centre update, as the original returns them; centres (k, D)). Seeded by ``seed``.
    """
    if points.dim() != 2 or not 1 <= k <= points.shape[0]:
        raise ValueError(f"points: expected (N, D) with N >= k = {k}, got shape {tuple(points.shape)}")
    points = points.float()
    count = points.shape[0]
    chosen = np.random.default_rng(seed).choice(count, k, replace=False)
    refill = torch.Generator(device="cpu").manual_seed(seed)
    centers = points[torch.as_tensor(chosen, device=points.device)].clone()
    for _ in range(iterations):
        distances = ((points[:, None] - centers[None]) ** 2).sum(-1)  # (N, k), as kmeans_pytorch computes it
        labels = distances.argmin(1)
        previous = centers.clone()
        for index in range(k):
            members = points[labels == index]
            if members.shape[0] == 0:
                members = points[torch.randint(count, (1,), generator=refill).to(points.device)]
            centers[index] = members.mean(0)
        shift = torch.sqrt(((centers - previous) ** 2).sum(1)).sum()
        if shift**2 < tolerance:
            break
    return labels, centers
