"""``inpainter=ldm``: the original's inpaint-stage painter, CompVis latent-diffusion inpainting.

PaintSeg/IOSM paint their even stages with ``models/ldm/inpainting_big`` through
``inpaint_masked_image``: the image, the mask and the masked image ``(1 - mask) * image`` are scaled to
[-1, 1]; the masked image is encoded by the VQ-f4 autoencoder (not quantised) and the mask resized to
the latent size (nearest) and concatenated to it as the UNet's conditioning; DDIM with ``eta = 0`` and
no guidance samples the latent (CompVis' ``DDIMSampler``: timesteps ``range(0, T, T // steps) + 1``,
which is 77 for 75 steps); the decoder quantises and decodes it, and ``(x + 1) / 2`` clamped is the
painting. The checkpoint is read from its CompVis folder (:mod:`iosm.refine.inpainters.ldm_convert`).
``forward_passes`` counts UNet forward passes per sample.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from iosm.refine.devices import resolve_device, resolve_dtype
from iosm.refine.inpainters.base import Inpainter
from iosm.refine.inpainters.ldm_convert import load_compvis_inpainting


def ddim_schedule(alphas_cumprod: torch.Tensor, steps: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """CompVis' uniform DDIM schedule: (timesteps (S,) long ascending, alpha_t (S,), alpha_prev (S,))."""
    total = alphas_cumprod.shape[0]
    timesteps = torch.arange(0, total, total // steps) + 1
    alphas = alphas_cumprod[timesteps].float()
    alphas_prev = torch.cat([alphas_cumprod[:1], alphas_cumprod[timesteps[:-1]]]).float()
    return timesteps, alphas, alphas_prev


class LDMInpainter(Inpainter):
    """model_path: a CompVis folder (``config.yaml`` + ``last.ckpt``); steps: DDIM steps (the original:
    75); use_ema: sample with the checkpoint's EMA weights when it has them (the original does);
    dtype: float32 | float16 | bfloat16 (the original: float32); device: None = CUDA if any."""

    def __init__(self, *, model_path: str, steps: int = 75, use_ema: bool = True, dtype: str = "float32", device: str | None = None) -> None:
        super().__init__()
        if model_path is None or str(model_path) in ("", "???"):
            raise ValueError("inpainter.model_path is required: a CompVis latent-diffusion folder with config.yaml and last.ckpt (e.g. models/ldm/inpainting_big)")
        components = load_compvis_inpainting(model_path, use_ema=use_ema)
        total = components.alphas_cumprod.shape[0]
        if not 1 <= steps <= total // 2:
            raise ValueError(f"inpainter.steps={steps}: expected 1 to {total // 2} DDIM steps for a {total}-step model")
        self.device = resolve_device(device)
        self.dtype = resolve_dtype(dtype, self.device, "inpainter")
        self.vqvae = components.vqvae.to(self.device, self.dtype)
        self.unet = components.unet.to(self.device, self.dtype)
        self.timesteps, self.alphas, self.alphas_prev = ddim_schedule(components.alphas_cumprod, steps)
        # Latents are 1/2^(levels-1) of the image, and the UNet halves them levels-1 times more.
        self.multiple = 2 ** (len(self.vqvae.config.block_out_channels) - 1) * 2 ** (len(self.unet.config.block_out_channels) - 1)

    def _paint(self, images: torch.Tensor, regions: torch.Tensor, num_samples: int, seed: int) -> torch.Tensor:
        count, height, width, _ = images.shape
        size = tuple(max(self.multiple, round(side / self.multiple) * self.multiple) for side in (height, width))
        # (N, H, W, 3) -> (N * S, 3, h, w); sample s of image n is row n * S + s.
        pixels = F.interpolate(images.permute(0, 3, 1, 2), size, mode="bilinear", align_corners=False).repeat_interleave(num_samples, 0)
        masks = F.interpolate(regions[:, None].float(), size, mode="nearest").repeat_interleave(num_samples, 0)
        pixels, masks = pixels.to(self.device, self.dtype), masks.to(self.device, self.dtype)
        generators = [torch.Generator(self.device).manual_seed(seed * 1_000_003 + row) for row in range(pixels.shape[0])]
        with torch.inference_mode():
            painted = self.sample((1 - masks) * pixels * 2 - 1, masks * 2 - 1, generators)
        painted = F.interpolate(painted.float(), (height, width), mode="bilinear", align_corners=False)
        return painted.permute(0, 2, 3, 1).reshape(count, num_samples, height, width, 3).to(images.device)

    def sample(self, masked_image: torch.Tensor, mask: torch.Tensor, generators: list[torch.Generator]) -> torch.Tensor:
        """masked_image: (B, 3, h, w) and mask (B, 1, h, w) in [-1, 1] -> (B, 3, h, w) painting in [0, 1]."""
        latent = self.vqvae.encode(masked_image).latents
        condition = torch.cat([latent, F.interpolate(mask, size=latent.shape[-2:])], dim=1)
        noise = [torch.randn(latent.shape[1:], generator=g, device=self.device, dtype=self.dtype) for g in generators]
        x = torch.stack(noise)
        for index in reversed(range(len(self.timesteps))):
            timestep = torch.full((x.shape[0],), int(self.timesteps[index]), device=self.device, dtype=torch.long)
            noise_prediction = self.unet(torch.cat([x, condition], dim=1), timestep).sample
            self.forward_passes += x.shape[0]
            alpha, alpha_prev = self.alphas[index].item(), self.alphas_prev[index].item()
            predicted_x0 = (x - (1 - alpha) ** 0.5 * noise_prediction) / alpha**0.5
            x = alpha_prev**0.5 * predicted_x0 + (1 - alpha_prev) ** 0.5 * noise_prediction  # eta = 0: no noise added
        decoded = self.vqvae.decode(x).sample  # quantises first, as the original's decode_first_stage
        return ((decoded + 1) / 2).clamp(0, 1)
