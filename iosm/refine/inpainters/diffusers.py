"""Diffusion inpainting through any diffusers pipeline (``AutoPipelineForInpainting``).

SD 1.5 / 2 inpainting, SDXL inpainting and other pipelines with an ``image`` + ``mask_image`` call
load from a ``save_pretrained`` folder (or a hub id while online). All samples of a stage go through
one batched pipeline call; ``forward_passes`` counts denoiser forward passes per sample (a forward
hook adds the batch size of every call: steps x samples x 2 with classifier-free guidance).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from iosm.refine.devices import check_model_path, load_error, resolve_device, resolve_dtype
from iosm.refine.inpainters.base import Inpainter

SCHEDULERS = {
    "ddim": "DDIMScheduler",
    "pndm": "PNDMScheduler",
    "dpm++": "DPMSolverMultistepScheduler",
    "euler": "EulerDiscreteScheduler",
    "euler_a": "EulerAncestralDiscreteScheduler",
}


class DiffusersInpainter(Inpainter):
    """model_path: folder or hub id; steps: denoising steps; guidance: classifier-free guidance scale
    (<= 1 disables it); prompt / negative_prompt: text prompts (the original: both empty);
    skip_empty_guidance: with both prompts empty the guided and unguided noise predictions are the same
    (both embeddings are those of ""), so guidance is skipped: half the UNet batch, the same painting
    (the original pays for it: ``false`` reproduces its cost); scheduler: a key of ``SCHEDULERS`` or None
    for the pipeline's own; dtype: float32 | float16 | bfloat16; device: None = CUDA if any."""

    def __init__(
        self,
        *,
        model_path: str,
        steps: int = 75,
        guidance: float = 7.5,
        prompt: str = "",
        negative_prompt: str = "",
        skip_empty_guidance: bool = True,
        scheduler: str | None = "ddim",
        dtype: str = "float32",
        device: str | None = None,
    ) -> None:
        super().__init__()
        import diffusers

        model_path = check_model_path("inpainter", model_path)
        if steps < 1:
            raise ValueError(f"inpainter.steps: expected >= 1, got {steps}")
        if scheduler is not None and scheduler not in SCHEDULERS:
            raise ValueError(f"inpainter.scheduler={scheduler!r}: expected one of {list(SCHEDULERS)} or null")
        self.device = resolve_device(device)
        torch_dtype = resolve_dtype(dtype, self.device, "inpainter")
        try:
            pipeline = diffusers.AutoPipelineForInpainting.from_pretrained(
                model_path, dtype=torch_dtype, local_files_only=True  # never download at run time
            )
        except (OSError, ValueError) as error:
            raise load_error("inpainter", model_path, error) from error
        if scheduler is not None:
            pipeline.scheduler = getattr(diffusers, SCHEDULERS[scheduler]).from_config(pipeline.scheduler.config)
        if getattr(pipeline, "safety_checker", None) is not None:
            pipeline.safety_checker = None  # a false positive would paint black and corrupt the difference
        pipeline.set_progress_bar_config(disable=True)
        self.pipeline = pipeline.to(self.device)
        denoiser = getattr(pipeline, "unet", None) or getattr(pipeline, "transformer")
        denoiser.register_forward_hook(self._count, with_kwargs=True)
        self.steps = steps
        self.guidance = guidance
        self.prompt = prompt
        self.negative_prompt = negative_prompt
        self.skip_empty_guidance = skip_empty_guidance

    def _count(self, module, args, kwargs, output) -> None:
        sample = args[0] if args else next(iter(kwargs.values()))
        self.forward_passes += int(sample.shape[0])

    def _paint(self, images: torch.Tensor, regions: torch.Tensor, num_samples: int, seed: int) -> torch.Tensor:
        count, height, width, _ = images.shape
        # The latents are 1/scale of the image: paint at the nearest multiple, resize back.
        scale = getattr(self.pipeline, "vae_scale_factor", 8)
        paint_size = (max(scale, round(height / scale) * scale), max(scale, round(width / scale) * scale))
        # (N, H, W, 3) -> (N * S, 3, H', W'); sample s of image n is row n * S + s.
        pixels = F.interpolate(images.permute(0, 3, 1, 2), paint_size, mode="bilinear", align_corners=False)
        pixels = pixels.repeat_interleave(num_samples, 0).to(self.device, self.pipeline.dtype)
        masks = F.interpolate(regions[:, None].float(), paint_size, mode="nearest")
        masks = masks.repeat_interleave(num_samples, 0).to(self.device, self.pipeline.dtype)
        generators = [torch.Generator(self.device).manual_seed(seed * 1_000_003 + row) for row in range(pixels.shape[0])]
        guidance = self.guidance
        if self.skip_empty_guidance and not self.prompt and not self.negative_prompt:
            guidance = 1.0  # "" vs "": classifier-free guidance would change nothing but the cost
        with torch.inference_mode():
            painted = self.pipeline(
                prompt=[self.prompt] * pixels.shape[0],
                negative_prompt=[self.negative_prompt] * pixels.shape[0] if guidance > 1 else None,
                image=pixels,
                mask_image=masks,
                height=paint_size[0],
                width=paint_size[1],
                num_inference_steps=self.steps,
                guidance_scale=guidance,
                generator=generators,
                output_type="pt",
            ).images
        painted = F.interpolate(painted.float(), (height, width), mode="bilinear", align_corners=False)
        painted = painted.permute(0, 2, 3, 1).reshape(count, num_samples, height, width, 3)
        return painted.to(images.device)
