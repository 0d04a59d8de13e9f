"""MattingPredictor: an MTM checkpoint as a function ``predict(image, mask) -> alpha`` on numpy arrays.

    from iosm.models.inference import MattingPredictor
    predictor = MattingPredictor.from_checkpoint("RUN/checkpoints/last.ckpt")
    alpha = predictor.predict(image, mask)        # (H, W, 3) [0, 1] or uint8, (H, W) -> (H, W) float32

Big images are matted within a memory budget: when the long side exceeds ``max_side`` the image and
mask are downscaled to it, and the alpha is brought back with the fast guided filter
(iosm.models.upsample), whose edges follow the full-resolution image. The error this costs is
measured in benchmarks/results/mtm_quality.md.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import cv2
import numpy as np
import torch

from iosm.models.module import SPEC_KEY
from iosm.models.mtm import MTMNet
from iosm.models.upsample import guided_upsample

UPSAMPLERS = ("guided", "bilinear")


def load_mtm_checkpoint(path: str | Path) -> MTMNet:
    """The MTMNet saved in a train.py checkpoint (weights only: nothing in the file is executed)."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"MTM checkpoint {path}: no such file; expected a .ckpt written by train.py")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except OSError:
        raise
    except Exception as error:  # the unpickler raises many types (UnpicklingError, KeyError, EOFError...) on junk
        raise ValueError(
            f"MTM checkpoint {path}: not a PyTorch checkpoint readable with weights_only=True ({error}); "
            "expected a .ckpt written by train.py (RUN/checkpoints/*.ckpt)."
        ) from error
    if not isinstance(checkpoint, dict) or SPEC_KEY not in checkpoint or "state_dict" not in checkpoint:
        keys = sorted(checkpoint)[:8] if isinstance(checkpoint, dict) else type(checkpoint).__name__
        raise ValueError(
            f"MTM checkpoint {path}: not an MTM checkpoint (expected a Lightning checkpoint with "
            f"'state_dict' and '{SPEC_KEY}' written by train.py; found {keys})."
        )
    try:
        net = MTMNet.from_spec(checkpoint[SPEC_KEY])
    except (TypeError, ValueError) as error:
        raise ValueError(
            f"MTM checkpoint {path}: describes an MTM this version cannot build ({error}); it was written "
            "by another version of iosm or for another architecture."
        ) from error
    weights = {key.removeprefix("net."): value for key, value in checkpoint["state_dict"].items() if key.startswith("net.")}
    try:
        net.load_state_dict(weights)
    except RuntimeError as error:
        raise ValueError(
            f"MTM checkpoint {path}: its weights do not fit the MTM architecture it describes "
            f"(another architecture or a damaged file): {str(error)[:500]}"
        ) from error
    return net.eval()


class MattingPredictor:
    """net: an MTMNet; device: where it runs; max_side: the long side above which images are matted
    downscaled (None: always full size); upsample: ``guided`` (edge-aware) or ``bilinear``."""

    def __init__(self, net: MTMNet, *, device: str | torch.device = "cpu", max_side: int | None = 1024,
                 upsample: str = "guided") -> None:
        if upsample not in UPSAMPLERS:
            raise ValueError(f"upsample={upsample!r}: expected one of {UPSAMPLERS}")
        if max_side is not None and max_side < 32:
            raise ValueError(f"max_side={max_side}: expected None or at least 32 pixels")
        self.device = torch.device(device)
        self.net = net.to(self.device).eval()
        self.max_side = max_side
        self.upsample = upsample

    @classmethod
    def from_checkpoint(cls, path: str | Path, device: str | torch.device = "cpu", **kwargs) -> MattingPredictor:
        return cls(load_mtm_checkpoint(path), device=device, **kwargs)

    @torch.inference_mode()
    def predict(self, image: np.ndarray, mask: np.ndarray, soft: bool = False) -> np.ndarray:
        """image: (H, W, 3) float in [0, 1] or uint8; mask: (h, w) bool, {0, 1} or 0..255 (resized to
        (H, W) with a warning when h, w differ), or with ``soft`` an (H, W) float in [0, 1] given as is
        (the classical alpha a guided MTM corrects). Returns alpha (H, W) float32 in [0, 1]."""
        image = _as_unit_image(image)
        mask = _as_soft_mask(mask, image.shape[:2]) if soft else _as_binary_mask(mask, image.shape[:2])
        height, width = image.shape[:2]
        scale = 1.0 if self.max_side is None else min(1.0, self.max_side / max(height, width))
        if scale < 1.0:
            size = (max(1, round(width * scale)), max(1, round(height * scale)))
            image_net = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
            mask_net = cv2.resize(mask, size, interpolation=cv2.INTER_AREA)
        else:
            image_net, mask_net = image, mask
        alpha = self._run(image_net, mask_net)
        if scale < 1.0:
            if self.upsample == "guided":
                return guided_upsample(alpha, image)
            return np.clip(cv2.resize(alpha, (width, height), interpolation=cv2.INTER_LINEAR), 0, 1)
        return alpha

    def _run(self, image: np.ndarray, mask: np.ndarray) -> np.ndarray:
        image_tensor = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))[None].to(self.device)
        mask_tensor = torch.from_numpy(np.ascontiguousarray(mask))[None, None].to(self.device)
        alpha = self.net(image_tensor, mask_tensor)  # (1, 1, h, w)
        return alpha[0, 0].float().cpu().numpy()


def _as_unit_image(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"image: expected an (H, W, 3) RGB array, got shape {image.shape}")
    if image.dtype == np.uint8:
        return image.astype(np.float32) / 255.0
    image = image.astype(np.float32)
    if not np.isfinite(image).all() or image.min() < 0 or image.max() > 1:
        raise ValueError("image: float values must be finite and in [0, 1] (or pass uint8 0..255)")
    return image


def _as_soft_mask(mask: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(H, W) float in [0, 1] -> float32, checked (a soft input is never resized or thresholded)."""
    mask = np.asarray(mask, np.float32)
    if mask.shape != tuple(size):
        raise ValueError(f"soft mask: expected shape {tuple(size)} (the image's), got {mask.shape}")
    if not np.isfinite(mask).all() or mask.min() < 0 or mask.max() > 1:
        raise ValueError("soft mask: values must be finite and in [0, 1]")
    return mask


def _as_binary_mask(mask: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(h, w) bool / {0, 1} / 0..255 -> (H, W) float32 in {0, 1}, resized (nearest) when h, w differ."""
    mask = np.asarray(mask)
    if mask.ndim == 3 and mask.shape[2] == 1:
        mask = mask[..., 0]
    if mask.ndim != 2:
        raise ValueError(f"mask: expected an (H, W) array, got shape {mask.shape}")
    threshold = 127 if mask.dtype == np.uint8 else 0.5
    binary = (mask > threshold).astype(np.float32)
    if binary.shape != tuple(size):
        warnings.warn(
            f"mask of size {binary.shape[1]}x{binary.shape[0]} resized (nearest) to the image's "
            f"{size[1]}x{size[0]}", stacklevel=3,
        )
        binary = cv2.resize(binary, (size[1], size[0]), interpolation=cv2.INTER_NEAREST)
    return binary
