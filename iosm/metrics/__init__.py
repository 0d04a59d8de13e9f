"""Matting metrics (SAD, MSE, Grad, Conn: the DIM MATLAB definitions), evaluation protocols, mask metrics.

Functional numpy API in ``functional``; torchmetrics classes ``MattingMetrics`` and ``MaskMetrics``;
``protocols`` switches between the standard protocol and the original IOSM evaluation.
"""

from iosm.metrics.functional import (
    METRIC_NAMES,
    UNKNOWN_METRIC_NAMES,
    connectivity_error,
    gradient_error,
    matting_metrics,
    mean_scores,
    mse,
    sad,
    trimap_unknown,
)
from iosm.metrics.mask import MaskMetrics, boundary_f, mask_iou
from iosm.metrics.protocols import PROTOCOLS, get_protocol, iosm_original, standard
from iosm.metrics.torch_metrics import MattingMetrics

__all__ = [
    "METRIC_NAMES",
    "PROTOCOLS",
    "UNKNOWN_METRIC_NAMES",
    "MaskMetrics",
    "MattingMetrics",
    "boundary_f",
    "connectivity_error",
    "get_protocol",
    "gradient_error",
    "iosm_original",
    "mask_iou",
    "matting_metrics",
    "mean_scores",
    "mse",
    "sad",
    "standard",
    "trimap_unknown",
]
