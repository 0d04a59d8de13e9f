"""Painting backends for the refiner: :class:`OpenCVInpainter` (weight-free),
:class:`DiffusersInpainter` (any diffusers inpainting pipeline from a local folder or hub id) and
:class:`LDMInpainter` (the original's CompVis latent-diffusion inpainter from its own folder)."""

from iosm.refine.inpainters.base import Inpainter
from iosm.refine.inpainters.opencv import OpenCVInpainter

__all__ = ["Inpainter", "OpenCVInpainter", "DiffusersInpainter", "LDMInpainter"]


def __getattr__(name: str):
    # diffusers is heavy to import; load it only when the diffusion backend is asked for.
    if name == "DiffusersInpainter":
        from iosm.refine.inpainters.diffusers import DiffusersInpainter

        return DiffusersInpainter
    if name == "LDMInpainter":
        from iosm.refine.inpainters.ldm import LDMInpainter

        return LDMInpainter
    raise AttributeError(name)
