"""The matte stage: a binary mask -> alpha matte and foreground colours (``matte=`` config group).

    from iosm.matting import ClassicalMatte
    result = ClassicalMatte().matte(image, mask)   # (H, W, 3) [0, 1], (H, W) bool
    result.alpha, result.foreground, result.warnings

``build_matte(cfg.matte, device)`` builds the configured one (None for ``matte=none``).
"""

from iosm.matting.base import Matte, MatteResult
from iosm.matting.build import build_matte
from iosm.matting.classical import ClassicalMatte

__all__ = ["ClassicalMatte", "Matte", "MatteResult", "build_matte"]
