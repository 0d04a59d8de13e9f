"""Mask refinement by inpaint-outpaint synergy: :class:`Refiner` plus its swappable parts
(painters in :mod:`.inpainters`, features in :mod:`.features`, :mod:`.prompts`, :mod:`.separators`,
:mod:`.crf`, :mod:`.kmeans`). Plain PyTorch; the Lightning job lives in :mod:`.module`."""

from iosm.refine.refiner import Refiner, RefineResult, RefineStep

__all__ = ["Refiner", "RefineResult", "RefineStep"]
