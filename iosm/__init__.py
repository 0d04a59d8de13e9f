"""IOSM: trimap-free image matting by inpaint-outpaint synergy (mask refinement + mask-to-matte)."""

from iosm.config import register_resolvers

register_resolvers()

__version__ = "0.1.0"
# The notebook API (iosm/api.py), loaded on first use so that `import iosm` stays cheap.
__all__ = ["matte", "refine_mask"]


def __getattr__(name: str):
    if name in __all__:
        from iosm import api

        return getattr(api, name)
    raise AttributeError(f"module 'iosm' has no attribute {name!r}")
