"""MTMModule: the Lightning wrapper around MTMNet (steps, logging, optimisers; nothing else).

Batches are the matting datasets' samples collated (see iosm.data): ``image`` (B, 3, H, W) in
[0, 1], ``alpha`` and ``mask`` (B, 1, H, W), optional ``trimap`` (B, 1, H, W) in {0, 0.5, 1},
``orig_size`` (B, 2) [H, W] and ``name``. Validation and test score every image at its original
size (padded predictions are cropped back) with the standard metrics and log their means as
``val/sad``, ``val/mse``, ``val/grad``, ``val/conn`` (+ ``*_unknown`` when trimaps exist), and
``test/...`` likewise. Both loops also score the input mask itself as the alpha (``val_mask/sad``,
``test_mask/sad``, ...): the baseline a matting network has to beat (for a guided MTM, the classical
alpha it corrects), and log ``val/worst_ratio_to_mask`` (``test/...``): the largest of the network's
SAD, MSE and Conn each divided by its input's. Below 1 the network beats its input on all three, which
is what a guided MTM is for; a recipe can select its checkpoint by it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import lightning as L
import torch

from iosm.metrics import MattingMetrics
from iosm.models.losses import MattingLoss
from iosm.models.mtm import MTMNet

SPEC_KEY = "mtm_spec"
RATIO_METRICS = ("sad", "mse", "conn")  # the errors a network must lower against its input (issue 11's target)
RATIO_EPS = 1e-12  # a perfect input and a perfect network: ratio 1, not 0 / 0


class MTMModule(L.LightningModule):
    """net: the network; loss: a MattingLoss; optimizer: ``params -> Optimizer`` (Hydra ``_partial_``)
    (loss and optimizer may be None for prediction only);
    scheduler: ``optimizer -> LRScheduler`` or None, stepped every ``scheduler_interval``;
    compile: ``torch.compile`` the network (in place, so checkpoints keep plain keys);
    channels_last: run convolutions in NHWC memory format (faster on recent GPUs)."""

    def __init__(
        self,
        *,
        net: MTMNet,
        loss: MattingLoss | None = None,
        optimizer: Callable[..., torch.optim.Optimizer] | None = None,
        scheduler: Callable[..., Any] | None = None,
        scheduler_interval: str = "epoch",
        compile: bool = False,
        channels_last: bool = False,
    ) -> None:
        super().__init__()
        self.net = net
        self.loss = loss
        self.optimizer_factory = optimizer
        self.scheduler_factory = scheduler
        self.scheduler_interval = scheduler_interval
        self.compile_net = compile
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self.metrics = torch.nn.ModuleDict(
            {stage: MattingMetrics() for stage in ("val", "val_mask", "test", "test_mask")}
        )

    def setup(self, stage: str) -> None:
        self.net.to(memory_format=self.memory_format)
        if self.compile_net:
            self.net.compile()

    def forward(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """image (B, 3, H, W) in [0, 1], mask (B, 1, H, W) -> alpha (B, 1, H, W) in [0, 1]."""
        image = image.contiguous(memory_format=self.memory_format)
        return self.net(image, mask.contiguous(memory_format=self.memory_format))

    def _step(self, batch: dict[str, Any], stage: str) -> dict[str, Any]:
        alpha_pred = self(batch["image"], batch["mask"])
        loss, terms = self.loss(alpha_pred, batch["alpha"], batch["image"])
        batch_size = batch["image"].shape[0]
        on_step = stage == "train"
        self.log(f"{stage}/loss", loss, on_step=on_step, on_epoch=True, prog_bar=True,
                 batch_size=batch_size, sync_dist=not on_step)
        for name, value in terms.items():
            self.log(f"{stage}/loss_{name}", value, on_step=on_step, on_epoch=True,
                     batch_size=batch_size, sync_dist=not on_step)
        if stage != "train":
            self._update_metrics(self.metrics[stage], alpha_pred, batch)
            self._update_metrics(self.metrics[f"{stage}_mask"], batch["mask"], batch)
        return {"loss": loss, "alpha_pred": alpha_pred.detach()}

    @staticmethod
    def _update_metrics(metrics: MattingMetrics, alpha_pred: torch.Tensor, batch: dict[str, Any]) -> None:
        """Score every image at its original size (padding cropped away)."""
        trimap = batch.get("trimap")
        for index, (height, width) in enumerate(batch["orig_size"].tolist()):
            crop = (slice(index, index + 1), slice(None), slice(0, height), slice(0, width))
            metrics.update(
                alpha_pred[crop].clamp(0, 1), batch["alpha"][crop], None if trimap is None else trimap[crop]
            )

    def _log_metrics(self, stage: str) -> None:
        """Log ``STAGE/*`` and ``STAGE_mask/*`` and the ratio of the two (see the module docstring)."""
        scores, mask_scores = (self.metrics[name].compute() for name in (stage, f"{stage}_mask"))  # synced
        for name, values in ((stage, scores), (f"{stage}_mask", mask_scores)):
            self.log_dict({f"{name}/{key}": value.float() for key, value in values.items() if key != "n"})
            self.metrics[name].reset()
        if all(key in scores and key in mask_scores for key in RATIO_METRICS):  # not when no image was scored
            ratios = [(scores[key] + RATIO_EPS) / (mask_scores[key] + RATIO_EPS) for key in RATIO_METRICS]
            self.log(f"{stage}/worst_ratio_to_mask", torch.stack(ratios).max().float())

    def on_validation_epoch_end(self) -> None:
        self._log_metrics("val")

    def on_test_epoch_end(self) -> None:
        self._log_metrics("test")

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> dict[str, Any]:
        return self._step(batch, "train")

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> dict[str, Any]:
        return self._step(batch, "val")

    def test_step(self, batch: dict[str, Any], batch_idx: int) -> dict[str, Any]:
        return self._step(batch, "test")

    def predict_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        return self(batch["image"], batch["mask"])

    def configure_optimizers(self) -> Any:
        if self.optimizer_factory is None or self.loss is None:
            raise ValueError("MTMModule: training needs `loss` and `optimizer` (see conf/model/mtm.yaml)")
        optimizer = self.optimizer_factory([p for p in self.net.parameters() if p.requires_grad])
        if self.scheduler_factory is None:
            return optimizer
        scheduler = self.scheduler_factory(optimizer)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": self.scheduler_interval}}

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        # What MattingPredictor needs to rebuild the network without the training config.
        checkpoint[SPEC_KEY] = self.net.spec

