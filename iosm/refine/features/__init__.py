"""Feature backends for the refiner: :class:`ColorFeatures` (weight-free) and
:class:`TransformersFeatures` (DINO ViT / DINOv2 through transformers, from a local folder or hub id)."""

from iosm.refine.features.base import FeatureExtractor
from iosm.refine.features.color import ColorFeatures

__all__ = ["FeatureExtractor", "ColorFeatures", "TransformersFeatures"]


def __getattr__(name: str):
    # transformers is heavy to import; load it only when a ViT backbone is asked for.
    if name == "TransformersFeatures":
        from iosm.refine.features.dino import TransformersFeatures

        return TransformersFeatures
    raise AttributeError(name)
