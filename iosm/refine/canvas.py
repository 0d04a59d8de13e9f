"""The square working canvas: letterbox an image onto ``size x size`` and map masks back.

The original letterboxes to 512x512 and never removes the padding, so its output masks are the
canvas, misaligned with the photograph for any non-square image. :meth:`Letterbox.mask_to_image`
un-pads (the fix) or, with ``unpad=False``, stretches the whole canvas to the image size (what using
the original's 512x512 output on a resized photograph amounts to; kept for ``faithful`` runs).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class Letterbox:
    """Geometry of one image on the canvas: the content occupies ``[top:top+height, left:left+width]``."""

    size: int
    image_height: int
    image_width: int
    height: int
    width: int
    top: int
    left: int

    @classmethod
    def fit(cls, image_height: int, image_width: int, size: int) -> Letterbox:
        scale = size / max(image_height, image_width)
        height = max(1, min(size, round(image_height * scale)))
        width = max(1, min(size, round(image_width * scale)))
        return cls(size, image_height, image_width, height, width, (size - height) // 2, (size - width) // 2)

    @property
    def content_box(self) -> tuple[int, int, int, int]:
        """(top, bottom, left, right) of the canvas pixels that show the image."""
        return self.top, self.top + self.height, self.left, self.left + self.width

    def points_to_canvas(self, points_xy: np.ndarray) -> np.ndarray:
        """(P, 2) x/y image pixels -> (P, 2) x/y canvas pixels."""
        scale = np.array([self.width / self.image_width, self.height / self.image_height])
        return np.asarray(points_xy, dtype=np.float64) * scale + np.array([self.left, self.top])

    def image_to_canvas(self, image: np.ndarray, device: torch.device | str = "cpu") -> torch.Tensor:
        """``(H, W, 3)`` float [0, 1] -> ``(size, size, 3)`` float tensor, area-resized, zero-padded."""
        chw = torch.as_tensor(np.ascontiguousarray(image), dtype=torch.float32, device=device).permute(2, 0, 1)
        resized = F.interpolate(chw[None], (self.height, self.width), mode="area")[0]
        canvas = torch.zeros(3, self.size, self.size, device=device)
        canvas[:, self.top : self.top + self.height, self.left : self.left + self.width] = resized
        return canvas.permute(1, 2, 0).clamp(0.0, 1.0)

    def mask_to_canvas(self, mask: np.ndarray, device: torch.device | str = "cpu", thin: bool = False) -> torch.Tensor:
        """``(H, W)`` bool -> ``(size, size)`` float in {0, 1}: area-resized, then thresholded at 0.5, or
        for ``thin`` masks (strokes) wherever any pixel was set, so a 1 px line survives downscaling."""
        plane = torch.as_tensor(np.ascontiguousarray(mask), dtype=torch.float32, device=device)
        resized = F.interpolate(plane[None, None], (self.height, self.width), mode="area")[0, 0]
        canvas = torch.zeros(self.size, self.size, device=device)
        inside = resized > 0 if thin else resized >= 0.5
        canvas[self.top : self.top + self.height, self.left : self.left + self.width] = inside.float()
        return canvas

    def plane_to_image(self, canvas_plane: torch.Tensor, unpad: bool = True) -> torch.Tensor:
        """``(size, size)`` float map -> ``(H, W)`` float at the image's size (bilinear)."""
        plane = canvas_plane.float()
        if unpad:
            plane = plane[self.top : self.top + self.height, self.left : self.left + self.width]
        return F.interpolate(plane[None, None], (self.image_height, self.image_width), mode="bilinear", align_corners=False)[0, 0]

    def mask_to_image(self, canvas_mask: torch.Tensor, unpad: bool = True) -> np.ndarray:
        """``(size, size)`` float mask -> ``(H, W)`` bool at the image's size (bilinear, threshold 0.5)."""
        return (self.plane_to_image(canvas_mask, unpad) >= 0.5).cpu().numpy()
