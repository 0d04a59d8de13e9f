"""Weight-free painting with OpenCV: classical fills and a sampler of the context's colours.

Smooth fills (Telea, Navier-Stokes, the contrib module's FSR and shift-map) propagate the colours
on the region's border inward; near a rough mask's boundary that border is often the object itself,
so the fill reproduces the object and the difference the refiner measures vanishes (measured: see
benchmarks/results/refine_quality.md). The ``context`` method instead paints every region pixel with
a colour drawn from the known pixels around the region (near its nearest known pixel, jittered by
``context_radius``), a sample of the context's local colour distribution: a pixel that belongs to the
context looks like some of its samples, one that does not looks like none of them.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch

from iosm.refine.inpainters.base import Inpainter

_CLASSICAL = {"telea": cv2.INPAINT_TELEA, "ns": cv2.INPAINT_NS}
_XPHOTO = {"fsr_fast": "INPAINT_FSR_FAST", "fsr_best": "INPAINT_FSR_BEST", "shiftmap": "INPAINT_SHIFTMAP"}
METHODS = (*_CLASSICAL, *_XPHOTO, "context")


def _nearest_known(region: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For every pixel, the (row, col) of the nearest pixel outside ``region`` (H, W) bool."""
    known = ~region
    _, labels = cv2.distanceTransformWithLabels(
        region.astype(np.uint8), cv2.DIST_L2, 5, labelType=cv2.DIST_LABEL_PIXEL
    )
    # With DIST_LABEL_PIXEL every zero (known) pixel gets its own label, numbered in raster order.
    rows, cols = np.nonzero(known)
    return rows[labels - 1], cols[labels - 1]


class OpenCVInpainter(Inpainter):
    """OpenCV fills on the CPU; sample ``s`` uses ``methods[s % len(methods)]``.

    methods: any of ``telea``, ``ns`` (cv2.inpaint), ``fsr_fast``, ``fsr_best``, ``shiftmap``
    (cv2.xphoto, contrib build) and ``context`` (the context-colour sampler); radius: the neighbourhood
    of cv2.inpaint; context_radius: how far (px) from the nearest known pixel a context colour may come.
    """

    def __init__(self, *, methods: list[str] | tuple[str, ...] = ("context",), radius: int = 5, context_radius: float = 12.0) -> None:
        super().__init__()
        methods = tuple(methods)
        unknown = [m for m in methods if m not in METHODS]
        if not methods or unknown:
            raise ValueError(f"inpainter.methods: expected a non-empty list of {list(METHODS)}, got {list(methods)}")
        if any(m in _XPHOTO for m in methods) and not hasattr(cv2, "xphoto"):
            raise ImportError("inpainter.methods: fsr/shiftmap need opencv-contrib-python-headless (cv2.xphoto)")
        self.methods = methods
        self.radius = radius
        self.context_radius = context_radius

    def _paint(self, images: torch.Tensor, regions: torch.Tensor, num_samples: int, seed: int) -> torch.Tensor:
        painted = torch.empty((*images.shape[:1], num_samples, *images.shape[1:]), dtype=torch.float32)
        for n, (image, region) in enumerate(zip(images.cpu().numpy(), regions.cpu().numpy())):
            for s in range(num_samples):
                method = self.methods[s % len(self.methods)]
                rng = np.random.default_rng([seed, n, s])
                cv2.setRNGSeed(int(rng.integers(2**31)))  # xphoto's shift-map draws from OpenCV's global RNG
                filled = self._fill(image, region, method, rng)
                # Only the region is painted: shift-map may also retouch known pixels near it.
                painted[n, s] = torch.from_numpy(np.where(region[..., None], filled, image))
                self.forward_passes += 1
        return painted.to(images.device)

    def _fill(self, image: np.ndarray, region: np.ndarray, method: str, rng: np.random.Generator) -> np.ndarray:
        if not region.any() or region.all():  # nothing to fill, or no context to fill from
            return image.copy()
        if method == "context":
            return self._context(image, region, rng)
        image8 = (image * 255).round().astype(np.uint8)
        mask8 = region.astype(np.uint8) * 255
        if method in _CLASSICAL:
            bgr = cv2.inpaint(cv2.cvtColor(image8, cv2.COLOR_RGB2BGR), mask8, self.radius, _CLASSICAL[method])
            return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB).astype(np.float32) / 255
        filled = np.zeros_like(image8)
        # xphoto.inpaint takes the mask of *valid* pixels (non-zero = known).
        cv2.xphoto.inpaint(image8, 255 - mask8, filled, getattr(cv2.xphoto, _XPHOTO[method]))
        return filled.astype(np.float32) / 255

    def _context(self, image: np.ndarray, region: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Paint each region pixel with a known pixel near its nearest known pixel (jittered)."""
        height, width = region.shape
        near_rows, near_cols = _nearest_known(region)
        rows, cols = np.nonzero(region)
        angle = rng.uniform(0, 2 * np.pi, rows.size)
        distance = self.context_radius * np.sqrt(rng.uniform(0, 1, rows.size))
        jitter_rows = np.clip(near_rows[rows, cols] + np.round(distance * np.sin(angle)).astype(int), 0, height - 1)
        jitter_cols = np.clip(near_cols[rows, cols] + np.round(distance * np.cos(angle)).astype(int), 0, width - 1)
        # A jittered position inside the region snaps to its own nearest known pixel.
        source_rows = near_rows[jitter_rows, jitter_cols]
        source_cols = near_cols[jitter_rows, jitter_cols]
        painted = image.copy()
        painted[rows, cols] = image[source_rows, source_cols]
        return painted
