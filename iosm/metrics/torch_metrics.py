"""torchmetrics wrapper of the matting metrics: per-image scores summed, so it is exact under DDP.

The metrics are per-image numbers averaged over a dataset; the state is, per key, the sum of the
per-image values and the number of images that had one (MSE over an empty unknown region is NaN
and is left out of its mean rather than poisoning it). Sums and counts reduce by addition across
processes, so the DDP result equals the single-process one. Scores are computed on the CPU in
float64 by the ``protocols`` functions; the tensors may live on any device.

    metric = MattingMetrics()                      # or protocol="iosm_original"
    metric.update(alpha_pred, alpha_gt, trimap)    # (B, 1, H, W) float in [0, 1]; trimap optional
    metric.compute()                               # {"sad": tensor, ..., "n": tensor}
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torchmetrics import Metric

from iosm.metrics.functional import METRIC_NAMES, UNKNOWN_METRIC_NAMES
from iosm.metrics.protocols import get_protocol

ALL_KEYS = METRIC_NAMES + UNKNOWN_METRIC_NAMES


def _per_image(batch: torch.Tensor | None, name: str, batch_size: int | None = None) -> list[np.ndarray | None]:
    """(B, 1, H, W) or (B, H, W) tensor -> list of (H, W) numpy arrays; None -> list of None."""
    if batch is None:
        return [None] * (batch_size or 0)
    if batch.ndim == 4 and batch.shape[1] == 1:
        batch = batch[:, 0]
    if batch.ndim != 3:
        raise ValueError(f"{name}: expected (B, 1, H, W) or (B, H, W), got shape {tuple(batch.shape)}")
    array = batch.detach().to("cpu")
    array = array.float() if array.dtype in (torch.float16, torch.bfloat16) else array
    return list(array.numpy())


class MattingMetrics(Metric):
    """Mean SAD, MSE, Grad, Conn over images (+ the ``*_unknown`` keys when trimaps are given).

    ``protocol``: ``"standard"`` or ``"iosm_original"`` (see ``protocols.py``).
    ``compute()`` returns a dict of scalar tensors: every key seen so far, and ``"n"`` (images).
    """

    full_state_update = False
    higher_is_better = False
    is_differentiable = False

    def __init__(self, protocol: str = "standard", **kwargs) -> None:
        super().__init__(**kwargs)
        self.protocol_name = protocol
        self.protocol = get_protocol(protocol)
        for key in ALL_KEYS:
            self.add_state(f"sum_{key}", default=torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")
            self.add_state(f"count_{key}", default=torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")
        self.add_state("n", default=torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")

    def update(
        self,
        pred: torch.Tensor,
        gt: torch.Tensor,
        trimap: torch.Tensor | None = None,
        mask: torch.Tensor | None = None,
    ) -> None:
        """``pred``, ``gt``: (B, 1, H, W) float in [0, 1]; ``trimap`` in {0, 0.5, 1}; ``mask``: the
        refined mask (``iosm_original`` only). Crop padding away before calling."""
        preds, gts = _per_image(pred, "pred"), _per_image(gt, "gt")
        if len(preds) != len(gts):
            raise ValueError(f"pred and gt batch sizes differ: {len(preds)} vs {len(gts)}")
        trimaps, masks = _per_image(trimap, "trimap", len(preds)), _per_image(mask, "mask", len(preds))
        for pred_image, gt_image, trimap_image, mask_image in zip(preds, gts, trimaps, masks):
            scores = self.protocol(pred_image, gt_image, trimap=trimap_image, mask=mask_image)
            self.n += 1
            for key, value in scores.items():
                if key in ALL_KEYS and not math.isnan(value):
                    setattr(self, f"sum_{key}", getattr(self, f"sum_{key}") + value)
                    setattr(self, f"count_{key}", getattr(self, f"count_{key}") + 1)

    def compute(self) -> dict[str, torch.Tensor]:
        result = {"n": self.n.clone()}
        for key in ALL_KEYS:
            count = getattr(self, f"count_{key}")
            if count > 0:
                result[key] = getattr(self, f"sum_{key}") / count
        return result
