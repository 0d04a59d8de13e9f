"""Mask refinement by inpaint-outpaint synergy (IOSM Stage 1, built on PaintSeg): ALGORITHM.md steps 1-8.

By default (``stages`` = inpaint, outpaint) even iterations paint the object away (inpaint the
dilated mask) and keep the pixels whose features changed; odd iterations paint a band just outside
the object from its context (outpaint) and add the band pixels the painting reproduced.
``faithful=True`` runs the original's schedule and behaviour (one painting call per crop, the whole
canvas painted and cropped and stretched back with its letterbox padding, an empty mask is an error,
all iterations run). The default runs one batched painting call of ``samples`` per stage, paints and
crops only the image's part of the canvas (black padding would pose as background next to an object
cut by the frame), un-pads, returns the last non-empty mask if a stage removes everything, stops
early once a full inpaint+outpaint cycle changes fewer than ``early_stop`` of the pixels, and, for
an image larger than the canvas, re-decides the boundary at the image's own resolution (``polish``).

Prompt details of the original (PaintSeg's ``predict_mask``): a box prompt clusters into 3 in the first
iteration and a point prompt in the first three (the kept cluster is still the largest / smallest
centre); point prompts add (even) or subtract (odd) Gaussian bumps centred on the points to every
crop's difference, scaled to its range and weighted ``0.2 - 0.04 i`` (clamped at 0 unless
``faithful``: the original's weight turns negative after five iterations). With ``faithful`` a point
prompt also starts from the whole canvas, outpaints the whole background and lets even stages grow
the mask within a 25x25 square, and a scribble starts from its stroke dilated by a 5x5 cross, as the
original does; otherwise both start from the prompt's mask (a grown convex hull).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from iosm.refine.canvas import Letterbox
from iosm.refine.devices import resolve_device
from iosm.refine.evidence import PaintingEvidence, StageClock
from iosm.refine.features.base import FeatureExtractor
from iosm.refine.inpainters.base import Inpainter
from iosm.refine.morphology import close_mask, dilate, open_mask
from iosm.refine.separators import INPAINT, OUTPAINT, KMeansSeparator

MIN_IMAGE_SIDE = 8  # below this there is no context to paint from and no crop to compare
POINT_CONSTRAINT_SIZE = 25  # the original's growth square for point prompts (5 otherwise)


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


@dataclass(frozen=True)
class _StagePrompt:
    """What a stage takes from the prompt: ``clusters`` (None = the separator's own), ``points`` (P, 2)
    x/y canvas pixels or None, and the weight of their bumps."""

    clusters: int | None
    points: torch.Tensor | None
    bump_weight: float


def _point_bumps(difference: torch.Tensor, points: torch.Tensor, box: tuple[int, int, int, int]) -> torch.Tensor:
    """Sum of Gaussians (sigma = (crop height + width) / 5) centred on the points, in the crop's frame,
    rescaled to the difference's range as the original does (``g * (max - min) + min``)."""
    y0, y1, x0, x1 = box
    rows = torch.arange(y0, y1, dtype=torch.float32, device=difference.device)[:, None]
    cols = torch.arange(x0, x1, dtype=torch.float32, device=difference.device)[None, :]
    sigma = ((y1 - y0) + (x1 - x0)) / 5
    bumps = torch.zeros_like(difference)
    for x, y in points.tolist():
        bumps += torch.exp(-((rows - y) ** 2 + (cols - x) ** 2) / (2 * sigma**2))
    low, high = difference.min(), difference.max()
    return bumps * (high - low) + low


class Refiner:
    """The inpaint-outpaint loop; see the module docstring. Keyword-only; Hydra builds it from
    ``conf/refiner/*.yaml`` with the chosen ``inpainter``/``features`` objects passed in.

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
        crf=None,
        crf_weight: float = 0.2,
        polish=None,
        energy=None,
        iters: int = 6,
        size: int = 512,
        crop_factors: list[float] | tuple[float, ...] = (1.1,) * 5,
        crop_jitter: int = 4,
        valid_box_scale: float = 1.25,
        inpaint_dilation: int = 4,
        band_size: int = 15,
        constraint_size: int = 5,
        clean_size: int = 5,
        samples: int = 5,
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
        self.separator = separator or features.separator or KMeansSeparator()
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
    def refine(
        self,
        image: np.ndarray,
        initial_mask: np.ndarray,
        *,
        seed: int = 0,
        record_steps: bool = False,
        prompt_kind: str = "file",
        points: np.ndarray | None = None,
        stroke: np.ndarray | None = None,
    ) -> RefineResult:
        """Refine ``initial_mask`` (H, W) bool for ``image`` (H, W, 3) float [0, 1]; see :class:`RefineResult`.

        prompt_kind: the prompt that made the mask (``box`` and ``points`` change the clustering);
        points: (P, 2) x/y image pixels of a point prompt (Gaussian bumps on the differences);
        stroke: (H, W) bool of a scribble prompt (the faithful start: the stroke dilated 5x5).
        """
        self._check_inputs(image, initial_mask)
        letterbox = Letterbox.fit(image.shape[0], image.shape[1], self.size)
        canvas = letterbox.image_to_canvas(image, self.device)
        foreground = self._start(letterbox, initial_mask, points is not None, stroke)
        canvas_points = None
        if points is not None:
            canvas_points = torch.as_tensor(letterbox.points_to_canvas(points), dtype=torch.float32, device=self.device).reshape(-1, 2)
        painter_passes = self._painter_passes()
        feature_passes = self.features.forward_passes
        generator = np.random.default_rng(seed)
        self._clock, evidence = StageClock(), PaintingEvidence(letterbox, self.device)
        # The original paints and crops the whole canvas, letterbox padding included: black padding
        # then poses as context (an object cut by the frame gets painted black and looks removable).
        area = (0, self.size, 0, self.size) if self.faithful else letterbox.content_box
        valid = self._valid_box(foreground, area)
        box = None
        steps: list[RefineStep] = []
        cycle_start = foreground
        iterations = 0
        for iteration in range(self.iters):
            stage = self.stages[iteration % len(self.stages)]
            if stage == INPAINT or box is None:  # outpaint stages reuse the last inpaint stage's box
                box = _bounding_box(foreground > 0)
            prompt = _StagePrompt(self._clusters(prompt_kind, points is not None, iteration), canvas_points, self._bump_weight(iteration))
            updated, record, difference = self._stage(canvas, foreground, box, valid, area, stage, generator, seed * 1009 + iteration, prompt)
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
            with self._clock("polish"):
                mask = self.polish(image, mask)
        decision = fallback = None
        if self.energy is not None:
            with self._clock("energy"):
                mask, decision, fallback = self.energy(image, initial_mask, mask, evidence.score())
        return RefineResult(
            mask=mask,
            inpaint_calls=painter_passes,
            feature_calls=self.features.forward_passes - feature_passes,
            iterations=iterations,
            letterbox=letterbox,
            canvas_image=canvas.cpu().numpy(),
            steps=steps,
            stage_seconds=dict(self._clock.seconds),
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

    def _start(self, letterbox: Letterbox, initial_mask: np.ndarray, has_points: bool, stroke: np.ndarray | None) -> torch.Tensor:
        """The canvas mask the loop starts from: the prompt's mask, or with ``faithful`` the original's
        start for sparse prompts (the whole canvas for points, the stroke dilated 5x5 for a scribble)."""
        foreground = letterbox.mask_to_canvas(initial_mask, self.device)
        if not foreground.any():  # a speck that vanished on the canvas
            raise ValueError(f"initial_mask: its {int(initial_mask.sum())} pixels vanish on the {self.size}px canvas; raise refiner.size")
        if self.faithful and has_points:
            return torch.ones_like(foreground)
        if self.faithful and stroke is not None:
            return dilate(letterbox.mask_to_canvas(stroke, self.device, thin=True), 5, "cross")
        return foreground

    @staticmethod
    def _clusters(prompt_kind: str, has_points: bool, iteration: int) -> int | None:
        """The original's k-means cluster count for this iteration; None = the separator's own."""
        if prompt_kind == "box" and iteration < 1:
            return 3
        if has_points and iteration < 3:
            return 3
        return None

    def _bump_weight(self, iteration: int) -> float:
        weight = 0.2 - 0.04 * iteration
        return weight if self.faithful else max(weight, 0.0)

    def _valid_box(self, foreground: torch.Tensor, area: tuple[int, int, int, int]) -> torch.Tensor:
        """(size, size) float: the initial mask's box scaled ``valid_box_scale`` about its centre."""
        y0, y1, x0, x1 = _scaled_box(_bounding_box(foreground > 0), self.valid_box_scale, (0, 0), area)
        valid = torch.zeros_like(foreground)
        valid[y0:y1, x0:x1] = 1.0
        return valid

    def _paint(self, canvas, region, area, painter: Inpainter, stage_seed: int, count: int, per_sample: bool) -> torch.Tensor:
        """(S, size, size, 3) composited samples of the canvas ``area``: one batched call, or one call
        per sample when ``per_sample`` (the faithful inpaint stage: the original re-paints inside its
        crop loop)."""
        y0, y1, x0, x1 = area
        images, regions = canvas[None, y0:y1, x0:x1], region[None, y0:y1, x0:x1].bool()
        if per_sample:
            painted = torch.cat([painter.paint(images, regions, num_samples=1, seed=stage_seed * 31 + k)[0] for k in range(count)])
        else:
            painted = painter.paint(images, regions, num_samples=count, seed=stage_seed)[0]
        samples = canvas[None].repeat(count, 1, 1, 1)
        samples[:, y0:y1, x0:x1] = painted.to(self.device)
        weight = region[None, ..., None].float()
        return weight * samples + (1 - weight) * canvas[None]

    def _stage(self, canvas, foreground, box, valid, area, stage, generator, stage_seed, prompt: _StagePrompt):
        """One iteration: paint, compare crops, separate, constrain, clean. Returns the new foreground
        (size, size) float {0, 1}, the (painted, difference) record and (mean difference, painted region)
        on the canvas."""
        background = 1.0 - foreground
        original_points = self.faithful and prompt.points is not None
        constraint_size = POINT_CONSTRAINT_SIZE if original_points else self.constraint_size
        if stage == INPAINT:
            region, painter = dilate(foreground, 3, "cross", self.inpaint_dilation), self.inpainter
        elif original_points:  # the original outpaints the whole background for point prompts
            region, painter = background, self.outpainter
        else:
            region, painter = background * dilate(foreground, self.band_size, "cross"), self.outpainter
        count = len(self.crop_factors) if self.faithful else self.samples
        with self._clock("painting"):
            painted = self._paint(canvas, region, area, painter, stage_seed, count, per_sample=self.faithful and stage == INPAINT)
        boxes = [
            _scaled_box(box, factor, tuple(generator.integers(-self.crop_jitter, self.crop_jitter, 2)) if self.crop_jitter else (0, 0), area)
            for factor in self.crop_factors
        ]
        with self._clock("features"):
            differences = self._differences(canvas, painted, boxes)
        if self.crf is not None:
            with self._clock("crf"):
                differences = [self._blend_crf(canvas[y0:y1, x0:x1], d) for d, (y0, y1, x0, x1) in zip(differences, boxes)]
        if prompt.points is not None:
            sign = 1.0 if stage == INPAINT else -1.0
            differences = [d + sign * prompt.bump_weight * _point_bumps(d, prompt.points, b) for d, b in zip(differences, boxes)]
        regions = [region[y0:y1, x0:x1] > 0 for (y0, y1, x0, x1) in boxes]
        crops = [canvas[y0:y1, x0:x1] for (y0, y1, x0, x1) in boxes]
        current = [foreground[y0:y1, x0:x1] > 0 for (y0, y1, x0, x1) in boxes]
        with self._clock("separation"):
            labels = self.separator(differences, regions, stage, crops, current, clusters=prompt.clusters)
        votes, counts = torch.zeros_like(foreground), torch.zeros_like(foreground)
        summed_difference = torch.zeros_like(foreground)
        for (y0, y1, x0, x1), label, difference in zip(boxes, labels, differences):
            votes[y0:y1, x0:x1] += label
            counts[y0:y1, x0:x1] += 1
            summed_difference[y0:y1, x0:x1] += difference
        updated = votes / counts.clamp_min(1) * valid
        if stage == INPAINT:  # the object may only shrink, or grow a few pixels
            updated = updated * dilate(foreground, constraint_size)
        else:  # only band pixels next to the object may join it
            updated = dilate(foreground, constraint_size) * updated * background + foreground
        updated = (updated >= 0.5).float()
        updated = updated * open_mask(updated, self.clean_size)  # remove specks
        updated = close_mask(updated, self.clean_size)  # fill small holes
        mean_difference = summed_difference / counts.clamp_min(1)
        normalised = mean_difference / mean_difference.max().clamp_min(1e-12)
        record = (painted.cpu().numpy(), normalised.cpu().numpy())
        return updated, record, (mean_difference, region)

    def _differences(self, canvas: torch.Tensor, painted: torch.Tensor, boxes) -> list[torch.Tensor]:
        """Per crop k: sum over channels of (f(painted_k) - f(original))^2 at the crop's size.

        All crops (original and painted) go through the feature backbone in one batched call,
        resized to the backbone's ``input_size`` or, if it has none, to the largest crop.
        """
        input_size = getattr(self.features, "input_size", None)
        if input_size is None:
            input_size = (max(y1 - y0 for y0, y1, _, _ in boxes), max(x1 - x0 for _, _, x0, x1 in boxes))
        elif isinstance(input_size, int):
            input_size = (input_size, input_size)

        def resized(crop: torch.Tensor) -> torch.Tensor:  # (h, w, 3) -> (H_in, W_in, 3)
            return F.interpolate(crop.permute(2, 0, 1)[None], input_size, mode="bilinear", align_corners=False)[0].permute(1, 2, 0)

        originals = [resized(canvas[y0:y1, x0:x1]) for y0, y1, x0, x1 in boxes]
        paints = [resized(painted[k % painted.shape[0], y0:y1, x0:x1]) for k, (y0, y1, x0, x1) in enumerate(boxes)]
        features = self.features.extract(torch.stack(originals + paints)).to(self.device)
        squared = ((features[len(boxes) :] - features[: len(boxes)]) ** 2).sum(1, keepdim=True)  # (K, 1, h, w)
        return [
            F.interpolate(squared[k : k + 1], (y1 - y0, x1 - x0), mode="bilinear", align_corners=False)[0, 0]
            for k, (y0, y1, x0, x1) in enumerate(boxes)
        ]

    def _blend_crf(self, crop: torch.Tensor, difference: torch.Tensor) -> torch.Tensor:
        """``(1 - w) * diff + w * crf``, the CRF's binary MAP rescaled to the difference's range."""
        low, high = difference.min(), difference.max()
        if high <= low:
            return difference
        smoothed = self.crf(crop, (difference - low) / (high - low))
        return (1 - self.crf_weight) * difference + self.crf_weight * (low + smoothed * (high - low))
