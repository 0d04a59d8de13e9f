"""DINO-family features through transformers: ``ViTModel`` (DINO ViT-B/8, the original) or
``Dinov2Model``, chosen by the folder's config (``AutoModel``); last-layer patch tokens.

Crops arrive resized to ``input_size`` (the refiner does that); all crops of a stage go through one
forward call, or ``batch_size`` at a time. Attention is PyTorch's scaled-dot-product kernel where the
model supports it (eager attention materialises (N, 12, 3601, 3601) weights: about 6 GB in float32 for
a stage's 10 crops of ViT-B/8 at 480 px). The original resizes to 480x480 and compares 60x60x768
token maps of ViT-B/8.
"""

from __future__ import annotations

import inspect

import torch

from iosm.refine.devices import check_model_path, load_error, resolve_device, resolve_dtype
from iosm.refine.features.base import FeatureExtractor

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class TransformersFeatures(FeatureExtractor):
    """(N, input_size, input_size, 3) -> (N, hidden, input_size / patch, input_size / patch) patch tokens."""

    def __init__(
        self,
        *,
        model_path: str,
        input_size: int = 480,
        device: str | None = None,
        dtype: str = "float32",
        batch_size: int | None = None,
        separator=None,
    ) -> None:
        super().__init__(separator=separator)
        import transformers

        model_path = check_model_path("features", model_path)
        self.device = resolve_device(device)
        torch_dtype = resolve_dtype(dtype, self.device, "features")
        try:
            try:  # scaled-dot-product attention: no (N, heads, T, T) weights in memory where the kernel allows
                model = transformers.AutoModel.from_pretrained(model_path, dtype=torch_dtype, local_files_only=True, attn_implementation="sdpa")
            except ValueError as error:
                if "sdpa" not in str(error).lower() and "scaled_dot_product" not in str(error).lower():
                    raise
                model = transformers.AutoModel.from_pretrained(model_path, dtype=torch_dtype, local_files_only=True)
            self.model = model.to(self.device).eval()
        except (OSError, ValueError) as error:
            raise load_error("features", model_path, error) from error
        config = self.model.config
        self.patch_size = int(config.patch_size)
        if input_size % self.patch_size:
            raise ValueError(f"features.input_size={input_size}: expected a multiple of the patch size {self.patch_size}")
        self.input_size = input_size
        # CLS plus any register tokens precede the patch tokens.
        self.prefix_tokens = 1 + int(getattr(config, "num_register_tokens", 0) or 0)
        self.batch_size = batch_size
        self.interpolate = "interpolate_pos_encoding" in inspect.signature(self.model.forward).parameters
        self.mean = torch.tensor(IMAGENET_MEAN, device=self.device).view(1, 3, 1, 1)
        self.std = torch.tensor(IMAGENET_STD, device=self.device).view(1, 3, 1, 1)

    def _extract(self, images: torch.Tensor) -> torch.Tensor:
        pixels = images.to(self.device).permute(0, 3, 1, 2)  # (N, 3, H, W)
        if pixels.shape[-2:] != (self.input_size, self.input_size):
            pixels = torch.nn.functional.interpolate(pixels, (self.input_size, self.input_size), mode="bilinear", align_corners=False)
        pixels = ((pixels - self.mean) / self.std).to(self.model.dtype)
        grid = self.input_size // self.patch_size
        chunks = pixels.split(self.batch_size or pixels.shape[0])
        kwargs = {"interpolate_pos_encoding": True} if self.interpolate else {}
        outputs = []
        with torch.inference_mode():
            for chunk in chunks:
                tokens = self.model(pixel_values=chunk, **kwargs).last_hidden_state[:, self.prefix_tokens :]
                outputs.append(tokens.float().transpose(1, 2).reshape(chunk.shape[0], -1, grid, grid))  # (n, C, g, g)
        return torch.cat(outputs)
