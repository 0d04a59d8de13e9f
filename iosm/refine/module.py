"""The predict LightningModule of refine.py: prompt -> refiner (-> MTM) on one image per step.

The algorithm lives in plain classes (the prompt, :class:`iosm.refine.refiner.Refiner`, the MTM's
:class:`iosm.models.inference.MattingPredictor`); this module only runs them on one item from
:mod:`iosm.refine.predict_data`, times them, scores them against the ground truth when there is one,
and turns a bad image's exception into an ``error`` entry, so that one image's failure stays one
image's failure. Writing is the :class:`iosm.refine.writer.MaskWriter` callback's business.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from lightning.pytorch import LightningModule

from iosm.data.io import ImageReadError
from iosm.matting.evidence import refine_evidence
from iosm.metrics import boundary_f, mask_iou


@dataclass
class RefinedImage:
    """What :meth:`RefineModule.predict_step` hands the writer for one image.

    ``entry`` is the image's manifest line (JSON-serialisable). The arrays are set only when the
    image was refined: ``image`` (H, W, 3) float32 in [0, 1], ``mask`` (H, W) bool (the refined
    mask at the image's size), ``alpha`` (H, W) float32 in [0, 1] and ``foreground`` (H, W, 3) float32
    in [0, 1] (the estimated object colours of the cut-out) with the matte stage. With
    ``save_steps``, ``steps`` holds the refiner's per-iteration records (on its square canvas) and
    ``canvas_image`` the (size, size, 3) letterboxed photograph they refer to.
    """

    entry: dict[str, Any]
    image: np.ndarray | None = None
    mask: np.ndarray | None = None
    alpha: np.ndarray | None = None
    foreground: np.ndarray | None = None
    steps: list[Any] = field(default_factory=list)
    canvas_image: np.ndarray | None = None

    @property
    def name(self) -> str:
        return self.entry["name"]

    @property
    def ok(self) -> bool:
        return self.entry["status"] == "ok"


class RefineModule(LightningModule):
    """Runs ``prompt -> refiner [-> matte]`` on each predict item.

    Args:
        refiner: :class:`iosm.refine.refiner.Refiner` (``refine(image, initial_mask, seed=,
            record_steps=, prompt_kind=, points=, stroke=)``); it rejects empty, full and tiny inputs with its
            own message.
        prompt: :class:`iosm.refine.prompts.base.Prompt`, ``prepare(image, name)`` -> a
            :class:`iosm.refine.prompts.base.PromptInput` (the initial mask, the kind, points).
        matte: optional :class:`iosm.matting.base.Matte` (``matte(image, mask, evidence)`` -> alpha,
            foreground, warnings); it gets the refiner's evidence (:func:`iosm.matting.evidence.refine_evidence`),
            for which the refiner records its steps.
        save_steps: keep the refiner's per-iteration records for the writer's panels.
        seed: the refiner's seed, the same for every image, so that an image's result does not
            depend on which rank or in which order it is processed.
    """

    def __init__(self, *, refiner: Any, prompt: Any, matte: Any = None, save_steps: bool = False,
                 seed: int = 0) -> None:
        super().__init__()
        self.refiner = refiner
        self.prompt = prompt
        self.matte = matte
        self.save_steps = save_steps
        self.seed = seed

    def predict_step(self, item: dict[str, Any], batch_idx: int = 0) -> RefinedImage:
        start = time.perf_counter()
        entry: dict[str, Any] = {"name": item["name"], "status": "ok", "error": None,
                                 "warnings": list(item.get("warnings", ())), "rank": self.global_rank}
        # Prompts and backends report recoverable oddities (a mask of another size, resized) with
        # `warnings.warn`: they belong in this image's manifest line, not on a scrolling console.
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                outcome = self._refine(item, entry)
            except Exception as error:  # noqa: BLE001  (one image's failure is recorded; the run goes on)
                entry.update(status="error", error=_describe(error))
                outcome = RefinedImage(entry)
        for warning in caught:
            if issubclass(warning.category, UserWarning):
                if str(warning.message) not in entry["warnings"]:
                    entry["warnings"].append(str(warning.message))
            else:  # library deprecations and the like are not about this image
                warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
        entry["seconds"] = round(time.perf_counter() - start, 3)
        return outcome

    def _refine(self, item: dict[str, Any], entry: dict[str, Any]) -> RefinedImage:
        if item["error"]:  # the loader could not read the image
            raise ImageReadError(item["error"])
        image = item["image"]
        entry.update(height=image.shape[0], width=image.shape[1])
        prompt = self.prompt.prepare(image, item["name"])
        initial_mask = prompt.mask
        result = self.refiner.refine(image, initial_mask, seed=self.seed,
                                     record_steps=self.save_steps or self.matte is not None,
                                     prompt_kind=prompt.kind, points=prompt.points, stroke=prompt.stroke)
        refined_mask = np.asarray(result.mask, dtype=bool)
        entry.update(inpaint_calls=int(result.inpaint_calls), feature_calls=int(result.feature_calls),
                     iterations=int(result.iterations))
        entry.update(_mask_scores(initial_mask, refined_mask, item.get("alpha"), entry["warnings"]))
        outcome = RefinedImage(entry, image=image, mask=refined_mask, steps=list(result.steps) if self.save_steps else [],
                               canvas_image=result.canvas_image if self.save_steps else None)
        if self.matte is not None:
            matted = self.matte.matte(image, refined_mask, refine_evidence(result, initial_mask))
            outcome.alpha, outcome.foreground = matted.alpha, matted.foreground
            entry["warnings"].extend(note for note in matted.warnings if note not in entry["warnings"])
        return outcome


def _mask_scores(initial_mask: np.ndarray, refined_mask: np.ndarray, alpha: np.ndarray | None,
                 warning_list: list[str]) -> dict[str, float]:
    """Mask IoU and boundary F of the initial and the refined mask against ``alpha > 0.5``."""
    if alpha is None:
        return {}
    if alpha.shape != refined_mask.shape:
        warning_list.append(f"ground-truth alpha is {alpha.shape[1]}x{alpha.shape[0]} px, the image "
                            f"{refined_mask.shape[1]}x{refined_mask.shape[0]}: no IoU recorded")
        return {}
    gt_mask = alpha > 0.5
    return {
        "iou_before": float(mask_iou(initial_mask, gt_mask)),
        "iou_after": float(mask_iou(refined_mask, gt_mask)),
        "boundary_f_before": float(boundary_f(initial_mask, gt_mask)),
        "boundary_f_after": float(boundary_f(refined_mask, gt_mask)),
    }


def _describe(error: BaseException) -> str:
    """``"ValueError: message"``: the type tells a reader whether it is the data or a bug."""
    return f"{type(error).__name__}: {error}"
