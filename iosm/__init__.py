"""IOSM: trimap-free image matting by inpaint-outpaint synergy (mask refinement + mask-to-matte)."""

from iosm.config import register_resolvers

register_resolvers()

__version__ = "0.1.0"
