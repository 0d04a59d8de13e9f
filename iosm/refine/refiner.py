"""Mask refinement by inpaint-outpaint synergy (IOSM Stage 1, built on PaintSeg): ALGORITHM.md steps 1-8.

By default (``stages`` = inpaint, outpaint) even iterations paint the object away (inpaint the
dilated mask) and keep the pixels whose features changed; odd iterations paint a band just outside
the object from its context (outpaint) and add the band pixels the painting reproduced.
``faithful=True`` runs the original's schedule and behaviour (one painting call per crop, the whole
canvas painted and cropped and stretched back with its letterbox padding, an empty mask is an error,
all iterations run) and its arithmetic step for step (:mod:`iosm.refine.faithful`: truncated crop
boxes that odd stages scale again, one shared row/column offset, uint8 PIL-bicubic crops for the
features, nearest resizes on the original's 500 px comparison grid, the CRF's unary from the current
mask, the original's k-means, a 5x5 cross grown 4 times, ``> 0.5``, cross clean-up, and the outpaint
stage's raw painted image, not composited). The default runs one batched painting call of ``samples``
per stage, paints and crops only the image's part of the canvas (black padding would pose as background next to an object
cut by the frame), un-pads, returns the last non-empty mask if a stage removes everything, stops
early once a full inpaint+outpaint cycle changes fewer than ``early_stop`` of the pixels, and hands
its mask and painting evidence to one graph-cut energy at the image's own resolution, which decides the
final mask (``energy``, :mod:`iosm.refine.energy`; ``polish`` is the older GrabCut step, off by default).

The prompt's own policy (its starting mask, cluster counts, difference bumps, growth element and
outpaint region: PaintSeg's per-prompt details) comes from the
:class:`iosm.refine.prompts.base.PromptInput` the prompt hands over; the loop names no prompt kind.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

import iosm.refine.faithful as original
from iosm.refine.canvas import Letterbox
from iosm.refine.devices import resolve_device
from iosm.refine.evidence import PaintingEvidence, StageClock
from iosm.refine.features.base import FeatureExtractor
from iosm.refine.inpainters.base import Inpainter
from iosm.refine.morphology import close_mask, dilate, open_mask
from iosm.refine.prompts.base import PromptInput
from iosm.refine.separators import INPAINT, OUTPAINT, KMeansSeparator

MIN_IMAGE_SIDE = 8  # below this there is no context to paint from and no crop to compare


@dataclass
class RefineStep:
    """One iteration, on the canvas, for inspection panels: ``painted`` (S, size, size, 3) float [0, 1],
    ``difference`` (size, size) float [0, 1] (normalised), ``mask`` (size, size) bool foreground after it."""

    iteration: int
    stage: str
    painted: np.ndarray
    difference: np.ndarray
    mask: np.ndarray


@dataclass
class RefineResult:
    """``mask`` (H, W) bool at the image's size; ``inpaint_calls`` painting-model forward passes;
    ``feature_calls`` images through the feature backbone; ``steps`` per-iteration records;
    ``stage_seconds`` wall seconds per part (painting, features, crf, separation, polish, energy);
    ``decision`` which mask the energy step returned ("energy", "loop", "rough"; None without one);
    ``fallback`` why the rough mask was kept instead of the refined one (None: it was not)."""

    mask: np.ndarray
    inpaint_calls: int
    feature_calls: int
    iterations: int
    letterbox: Letterbox
    canvas_image: np.ndarray
    steps: list[RefineStep] = field(default_factory=list)
    stage_seconds: dict[str, float] = field(default_factory=dict)
    decision: str | None = None
    fallback: str | None = None

    def step_masks(self) -> list[np.ndarray]:
        """The foreground after each recorded iteration, at the image's size (H, W) bool."""
        return [self.letterbox.mask_to_image(torch.from_numpy(s.mask), unpad=True) for s in self.steps]


def _bounding_box(mask: torch.Tensor) -> tuple[float, float, float, float]:
    """(top, bottom, left, right) of the set pixels of a (H, W) mask, inclusive-exclusive."""
    rows = torch.nonzero(mask.any(1))[:, 0]
    cols = torch.nonzero(mask.any(0))[:, 0]
    return rows[0].item(), rows[-1].item() + 1, cols[0].item(), cols[-1].item() + 1


def _scaled_box(box: tuple[float, float, float, float], factor: float, shift: tuple[int, int], area: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
    """The box scaled by ``factor`` about its centre, shifted, clamped to ``area`` (top, bottom, left,
    right), at least 8 px."""
    top, bottom, left, right = box
    area_top, area_bottom, area_left, area_right = area
    centre_y, centre_x = (top + bottom) / 2 + shift[0], (left + right) / 2 + shift[1]
    half_h = max(factor * (bottom - top) / 2, MIN_IMAGE_SIDE / 2)
    half_w = max(factor * (right - left) / 2, MIN_IMAGE_SIDE / 2)
    y0, y1 = int(max(area_top, round(centre_y - half_h))), int(min(area_bottom, round(centre_y + half_h)))
    x0, x1 = int(max(area_left, round(centre_x - half_w))), int(min(area_right, round(centre_x + half_w)))
    return y0, max(y1, y0 + 1), x0, max(x1, x0 + 1)


class Refiner:
    """The inpaint-outpaint loop; see the module docstring. Keyword-only; Hydra builds it from
    ``conf/refiner/*.yaml`` with the chosen ``inpainter``/``features`` objects passed in, and so does
    :func:`iosm.refine_mask` for notebooks. The keyword defaults are that config's values (a test
    checks they agree); ``crf``, ``polish`` and ``energy`` have none: pass the config's choice or None (off).

    inpainter: paints the foreground away (even stages); outpainter: paints the band outside the
    object (odd stages), default the inpainter. separator: turns difference maps into keep-labels
    (default: the feature backend's own, else the original's 2-means). crf: optional
    :mod:`iosm.refine.crf` smoother blended with weight ``crf_weight`` into each crop's difference;
    not used when an ``energy`` step decides the mask (its smoothness term replaces it).
    polish: optional last step on the mask at the image's size when the image is larger than the
    canvas (:class:`iosm.refine.polish.GrabCutPolish`; off when ``faithful``). energy: optional last step
    that decides the mask at the image's resolution from the rough mask and the loop's painting evidence
    (:class:`iosm.refine.energy.EnergyCut`: ``(image, rough, loop mask, score) -> (mask, decision,
    fallback reason)``; off when ``faithful``). samples: painted samples per stage in the improved
    schedule (crop k uses sample k mod samples); ignored when ``faithful`` (one per crop). device: of
    the masks and differences; None = CUDA when available.
    """

    def __init__(
        self,
        *,
        inpainter: Inpainter,
        features: FeatureExtractor,
        outpainter: Inpainter | None = None,
        separator=None,
        crf,
        crf_weight: float = 0.2,
        polish,
        energy,
        iters: int = 2,
        size: int = 256,
        crop_factors: list[float] | tuple[float, ...] = (1.1,) * 5,
        crop_jitter: int = 4,
        valid_box_scale: float = 1.25,
        inpaint_dilation: int = 4,
        band_size: int = 15,
        constraint_size: int = 5,
        clean_size: int = 5,
        samples: int = 1,
        faithful: bool = False,
        early_stop: float | None = 0.001,
        stages: list[str] | tuple[str, ...] = (INPAINT, OUTPAINT),
        device: str | None = None,
    ) -> None:
        if not stages or any(stage not in (INPAINT, OUTPAINT) for stage in stages):
            raise ValueError(f"refiner.stages: expected a non-empty list of {INPAINT!r} / {OUTPAINT!r}, got {list(stages)}")
        if iters < 1:
            raise ValueError(f"refiner.iters: expected >= 1, got {iters}")
        if size < 32 or size % 8:
            raise ValueError(f"refiner.size: expected a multiple of 8 >= 32 (diffusion latents are 1/8), got {size}")
        if not crop_factors or min(crop_factors) <= 0:
            raise ValueError(f"refiner.crop_factors: expected a non-empty list of positive scales, got {list(crop_factors)}")
        if samples < 1:
            raise ValueError(f"refiner.samples: expected >= 1, got {samples}")
        self.inpainter = inpainter
        self.outpainter = outpainter or inpainter
        self.features = features
        self.separator = separator or (KMeansSeparator(original=True) if faithful else features.separator) or KMeansSeparator()
        self.polish = None if faithful else polish
        self.energy = None if faithful else energy
        self.crf = crf if self.energy is None else None  # an energy step has its own smoothness term
        self.crf_weight = crf_weight
        self.iters = iters
        self.size = size
        self.crop_factors = tuple(crop_factors)
        self.crop_jitter = crop_jitter
        self.valid_box_scale = valid_box_scale
        self.inpaint_dilation = inpaint_dilation
        self.band_size = band_size
        self.constraint_size = constraint_size
        self.clean_size = clean_size
        self.samples = samples
        self.faithful = faithful
        self.early_stop = None if faithful else early_stop
        self.stages = tuple(stages)
        self.device = resolve_device(device)

    # -- public -------------------------------------------------------------------------------
    def refine(self, image: np.ndarray, prompt: PromptInput | np.ndarray, *, seed: int = 0, record_steps: bool = False) -> RefineResult:
        """Refine the prompt's initial mask for ``image`` (H, W, 3) float [0, 1]; see :class:`RefineResult`.

        prompt: what a prompt's ``prepare`` returns (the initial mask and the prompt's policy in the
        loop), or a plain (H, W) bool mask, treated as a ``file`` prompt.
        """
        if not isinstance(prompt, PromptInput):
            prompt = PromptInput(np.asarray(prompt, dtype=bool))
        self._check_inputs(image, prompt.mask)
        letterbox = Letterbox.fit(image.shape[0], image.shape[1], self.size)
        # The original letterboxes with PIL bicubic on uint8 (pad_image); the default area-resizes floats.
        canvas = original.letterbox_image(image, self.size, self.device) if self.faithful else letterbox.image_to_canvas(image, self.device)
        foreground = prompt.start(letterbox, self.device, self.faithful)
        painter_passes = self._painter_passes()
        feature_passes = self.features.forward_passes
        generator = np.random.default_rng(seed)
        clock, evidence = StageClock(), PaintingEvidence(letterbox, self.device)
        # The original paints and crops the whole canvas, letterbox padding included: black padding
        # then poses as context (an object cut by the frame gets painted black and looks removable).
        area = (0, self.size, 0, self.size) if self.faithful else letterbox.content_box
        valid = original.valid_area(foreground, self.valid_box_scale, self.size) if self.faithful else self._valid_box(foreground, area)
        box, box_from_mask = None, True
        steps: list[RefineStep] = []
        cycle_start = foreground
        iterations = 0
        for iteration in range(self.iters):
            stage = self.stages[iteration % len(self.stages)]
            if stage == INPAINT or box is None:  # outpaint stages reuse the last inpaint stage's box
                box, box_from_mask = (original.object_box(foreground > 0) if self.faithful else _bounding_box(foreground > 0)), True
            boxes, carried_box = self._crops(box, box_from_mask, generator, area)
            if self.faithful:  # the original's crop loop overwrites its box: odd stages scale the last crop
                box, box_from_mask = carried_box, False
            updated, record, difference = self._stage(canvas, foreground, boxes, valid, area, stage, seed * 1009 + iteration, prompt,
                                                      iteration, letterbox, clock)
            if self.energy is not None:
                evidence.add(stage, *difference)
            iterations += 1
            if not updated.any():
                if self.faithful:  # the original crashes on the next bounding box
                    raise ValueError(f"iteration {iteration} ({stage}) removed the whole mask; the faithful loop cannot go on")
                if record_steps:
                    steps.append(RefineStep(iteration, stage, *record, foreground.bool().cpu().numpy()))
                break  # keep the last non-empty mask
            foreground = updated
            if record_steps:
                steps.append(RefineStep(iteration, stage, *record, foreground.bool().cpu().numpy()))
            cycle_done = (iteration + 1) % len(self.stages) == 0
            if cycle_done and self.early_stop is not None:
                changed = (foreground != cycle_start).float().mean().item()
                if changed < self.early_stop:
                    break
                cycle_start = foreground
        painter_passes = self._painter_passes() - painter_passes
        mask = letterbox.mask_to_image(foreground, unpad=not self.faithful)
        if self.polish is not None and max(image.shape[:2]) > self.size:  # only a mask upsampled from the canvas
            with clock("polish"):
                mask = self.polish(image, mask)
        decision = fallback = None
        if self.energy is not None:
            with clock("energy"):
                reference = prompt.mask if prompt.segmentation else mask
                mask, decision, fallback = self.energy(image, reference, mask, evidence.score(), gate=prompt.segmentation)
        return RefineResult(
            mask=mask,
            inpaint_calls=painter_passes,
            feature_calls=self.features.forward_passes - feature_passes,
            iterations=iterations,
            letterbox=letterbox,
            canvas_image=canvas.cpu().numpy(),
            steps=steps,
            stage_seconds=dict(clock.seconds),
            decision=decision,
            fallback=fallback,
        )

    # -- steps ----------------------------------------------------------------------------------
    def _painter_passes(self) -> int:
        """Forward passes of both painters so far (counted once when they are the same object)."""
        shared = self.outpainter is self.inpainter
        return self.inpainter.forward_passes + (0 if shared else self.outpainter.forward_passes)

    def _check_inputs(self, image: np.ndarray, initial_mask: np.ndarray) -> None:
        if image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f"image: expected (H, W, 3) RGB, got shape {image.shape}")
        if initial_mask.shape != image.shape[:2]:
            raise ValueError(f"initial_mask: expected shape {image.shape[:2]} (the image's), got {initial_mask.shape}")
        if min(image.shape[:2]) < MIN_IMAGE_SIDE:
            raise ValueError(f"image: {image.shape[1]}x{image.shape[0]} px is too small to refine (min side {MIN_IMAGE_SIDE} px)")
        if not initial_mask.any():
            raise ValueError("initial_mask is empty: there is no object to refine (check the prompt or the mask file)")
        if initial_mask.all():
            raise ValueError("initial_mask covers the whole image: there is no background to paint from (use a tighter prompt)")

    def _valid_box(self, foreground: torch.Tensor, area: tuple[int, int, int, int]) -> torch.Tensor:
        """(size, size) float: the initial mask's box scaled ``valid_box_scale`` about its centre."""
        y0, y1, x0, x1 = _scaled_box(_bounding_box(foreground > 0), self.valid_box_scale, (0, 0), area)
        valid = torch.zeros_like(foreground)
        valid[y0:y1, x0:x1] = 1.0
        return valid

    def _crops(self, box, from_mask: bool, generator: np.random.Generator, area):
        """The stage's crop boxes (top, bottom, left, right) and the box the next stage starts from."""
        if self.faithful:
            offsets = [int(generator.integers(-self.crop_jitter, self.crop_jitter)) if self.crop_jitter else 0 for _ in self.crop_factors]
            return original.crop_boxes(box, from_mask, self.crop_factors, offsets, self.size)
        boxes = [
            _scaled_box(box, factor, tuple(generator.integers(-self.crop_jitter, self.crop_jitter, 2)) if self.crop_jitter else (0, 0), area)
            for factor in self.crop_factors
        ]
        return boxes, box

    def _paint(self, canvas, region, area, painter: Inpainter, stage_seed: int, count: int, per_sample: bool, composite: bool = True) -> torch.Tensor:
        """(S, size, size, 3) samples of the canvas ``area``, composited into the canvas unless not
        ``composite`` (the faithful outpaint stage compares the pipeline's raw output, which is a
        uint8-truncated canvas through the VAE): one batched call, or one call per sample when
        ``per_sample`` (the faithful inpaint stage: the original re-paints inside its crop loop)."""
        y0, y1, x0, x1 = area
        images, regions = canvas[None, y0:y1, x0:x1], region[None, y0:y1, x0:x1].bool()
        if not composite:
            images = original.truncate_to_uint8(images)
        if per_sample:
            painted = torch.cat([painter.paint(images, regions, num_samples=1, seed=stage_seed * 31 + k)[0] for k in range(count)])
        else:
            painted = painter.paint(images, regions, num_samples=count, seed=stage_seed)[0]
        samples = canvas[None].repeat(count, 1, 1, 1)
        samples[:, y0:y1, x0:x1] = painted.to(self.device)
        if not composite:
            return samples
        weight = region[None, ..., None].float()
        return weight * samples + (1 - weight) * canvas[None]

    def _stage(self, canvas, foreground, boxes, valid, area, stage, stage_seed, prompt: PromptInput, iteration: int, letterbox: Letterbox,
               clock: StageClock):
        """One iteration: paint, compare crops, separate, constrain, clean. Returns the new foreground
        (size, size) float {0, 1}, the (painted, difference) record and (mean difference, painted region)
        on the canvas."""
        background = 1.0 - foreground
        constraint_size = prompt.growth_size(self.constraint_size, self.faithful)
        if stage == INPAINT:
            region, painter = dilate(foreground, 3, "cross", self.inpaint_dilation), self.inpainter
        else:
            band = background * dilate(foreground, self.band_size, "cross")
            region, painter = prompt.outpaint_region(band, background, self.faithful), self.outpainter
        count = len(self.crop_factors) if self.faithful else self.samples
        faithful_outpaint = self.faithful and stage != INPAINT
        with clock("painting"):
            painted = self._paint(canvas, region, area, painter, stage_seed, count, per_sample=self.faithful and stage == INPAINT,
                                  composite=not faithful_outpaint)
        with clock("features"):
            differences = self._differences(canvas, painted, boxes)
        if self.crf is not None:
            # The original's unary is the current mask (the background in its outpaint stages).
            unaries = [(foreground if stage == INPAINT else background)[y0:y1, x0:x1] for (y0, y1, x0, x1) in boxes] if self.faithful else [None] * len(boxes)
            with clock("crf"):
                differences = [self._blend_crf(canvas[y0:y1, x0:x1], d, u) for d, (y0, y1, x0, x1), u in zip(differences, boxes, unaries)]
        bumps = [prompt.difference_bumps(d, b, stage, iteration, letterbox, self.faithful) for d, b in zip(differences, boxes)]
        differences = [d if bump is None else d + bump for d, bump in zip(differences, bumps)]
        # The faithful differences are on the original's comparison grid; the separator sees the
        # crops there too, and its labels come back to each crop by nearest interpolation.
        grid = (lambda plane: original.nearest(plane, differences[0].shape)) if self.faithful else (lambda plane: plane)
        regions = [grid(region[y0:y1, x0:x1]) > 0 for (y0, y1, x0, x1) in boxes]
        crops = [grid(canvas[y0:y1, x0:x1].permute(2, 0, 1)).permute(1, 2, 0) if self.faithful else canvas[y0:y1, x0:x1] for (y0, y1, x0, x1) in boxes]
        current = [grid(foreground[y0:y1, x0:x1]) > 0 for (y0, y1, x0, x1) in boxes]
        with clock("separation"):
            labels = self.separator(differences, regions, stage, crops, current, clusters=prompt.clusters(iteration))
        if self.faithful:
            labels = [original.nearest(label, (y1 - y0, x1 - x0)) for label, (y0, y1, x0, x1) in zip(labels, boxes)]
            differences = [original.nearest(d, (y1 - y0, x1 - x0)) for d, (y0, y1, x0, x1) in zip(differences, boxes)]
        votes, counts = torch.zeros_like(foreground), torch.zeros_like(foreground)
        summed_difference = torch.zeros_like(foreground)
        for (y0, y1, x0, x1), label, difference in zip(boxes, labels, differences):
            votes[y0:y1, x0:x1] += label
            counts[y0:y1, x0:x1] += 1
            summed_difference[y0:y1, x0:x1] += difference
        updated = votes / counts.clamp_min(1) * valid
        # The original grows by a 5x5 cross 4 times (8 px); the default by a 5x5 square once (2 px).
        grown = dilate(foreground, constraint_size, "cross", original.GROWTH_ITERATIONS) if self.faithful else dilate(foreground, constraint_size)
        if stage == INPAINT:  # the object may only shrink, or grow a few pixels
            updated = updated * grown
        else:  # only band pixels next to the object may join it
            updated = grown * updated * background + foreground
        updated = (updated > 0.5 if self.faithful else updated >= 0.5).float()
        clean_shape = "cross" if self.faithful else "square"
        updated = updated * open_mask(updated, self.clean_size, clean_shape)  # remove specks
        updated = close_mask(updated, self.clean_size, clean_shape)  # fill small holes
        mean_difference = summed_difference / counts.clamp_min(1)
        normalised = mean_difference / mean_difference.max().clamp_min(1e-12)
        record = (painted.cpu().numpy(), normalised.cpu().numpy())
        return updated, record, (mean_difference, region)

    def _differences(self, canvas: torch.Tensor, painted: torch.Tensor, boxes) -> list[torch.Tensor]:
        """Per crop k: sum over channels of (f(painted_k) - f(original))^2 at the crop's size (faithful:
        on the original's square comparison grid, nearest).

        All crops (original and painted) go through the feature backbone in one batched call,
        resized to the backbone's ``input_size`` or, if it has none, to the largest crop (bilinear;
        faithful: uint8-truncated, PIL bicubic).
        """
        input_size = getattr(self.features, "input_size", None)
        if input_size is None:
            input_size = (max(y1 - y0 for y0, y1, _, _ in boxes), max(x1 - x0 for _, _, x0, x1 in boxes))
        elif isinstance(input_size, int):
            input_size = (input_size, input_size)

        def resized(crop: torch.Tensor) -> torch.Tensor:  # (h, w, 3) -> (H_in, W_in, 3)
            if self.faithful:
                return original.backbone_input(crop, input_size)
            return F.interpolate(crop.permute(2, 0, 1)[None], input_size, mode="bilinear", align_corners=False)[0].permute(1, 2, 0)

        originals = [resized(canvas[y0:y1, x0:x1]) for y0, y1, x0, x1 in boxes]
        paints = [resized(painted[k % painted.shape[0], y0:y1, x0:x1]) for k, (y0, y1, x0, x1) in enumerate(boxes)]
        features = self.features.extract(torch.stack(originals + paints)).to(self.device)
        squared = ((features[len(boxes) :] - features[: len(boxes)]) ** 2).sum(1, keepdim=True)  # (K, 1, h, w)
        if self.faithful:  # nearest commutes with the per-pixel sum, so resizing the sum is the same
            side = original.difference_side(self.size)
            return [original.nearest(squared[k, 0], (side, side)) for k in range(len(boxes))]
        return [
            F.interpolate(squared[k : k + 1], (y1 - y0, x1 - x0), mode="bilinear", align_corners=False)[0, 0]
            for k, (y0, y1, x0, x1) in enumerate(boxes)
        ]

    def _blend_crf(self, crop: torch.Tensor, difference: torch.Tensor, mask_crop: torch.Tensor | None = None) -> torch.Tensor:
        """``(1 - w) * diff + w * crf``, the CRF's binary MAP rescaled to the difference's range. Its
        unary is the normalised difference, or (faithful) ``mask_crop``'s 0/1 logits through a softmax
        with the crop truncated to uint8, the MAP brought to the difference's grid by nearest."""
        low, high = difference.min(), difference.max()
        if mask_crop is not None:
            smoothed = self.crf(original.truncate_to_uint8(crop), original.mask_probability(mask_crop))
            smoothed = original.nearest(smoothed * (high - low) + low, difference.shape)
            return (1 - self.crf_weight) * difference + self.crf_weight * smoothed
        if high <= low:
            return difference
        smoothed = self.crf(crop, (difference - low) / (high - low))
        return (1 - self.crf_weight) * difference + self.crf_weight * (low + smoothed * (high - low))
