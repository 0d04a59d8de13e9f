"""What the app does for one request, without Gradio: read, prompt, refine, matte, write.

The refinement and the matte run exactly as in refine.py: the same prompt classes, the refine job's
:class:`~iosm.refine.module.RefineModule` (prompt -> refiner -> matte, timing, IoU against a ground
truth, one manifest line, an error captured as the line's message) and its
:class:`~iosm.refine.writer.MaskWriter` (atomic ``masks/``, ``alphas/``, ``cutouts/``, ``steps/`` and
``manifest.jsonl``), pointed at a fresh folder per request, so that requests from several tabs never
share a file. The app adds what a person looks at: the mask over the photograph, the cut-out on a
new background, and download copies named after the upload.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hydra.utils import instantiate
from omegaconf import DictConfig

from iosm.app.prompts import PromptSpec, build_prompt
from iosm.app.uploads import MEGABYTE, UploadLimits, safe_stem
from iosm.app.views import write_step_tiles, write_views
from iosm.refine.devices import resolve_device
from iosm.refine.module import RefineModule
from iosm.refine.writer import MaskWriter


class RequestFolders:
    """A fresh folder per request under ``root``; folders older than ``keep_minutes`` are removed
    whenever a new one is made (the page has long shown their files by then)."""

    def __init__(self, root: str | os.PathLike, keep_minutes: float) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.keep_seconds = keep_minutes * 60

    def new(self) -> Path:
        cutoff = time.time() - self.keep_seconds
        for old in self.root.glob("request-*"):
            if old.is_dir() and old.stat().st_mtime < cutoff:
                shutil.rmtree(old, ignore_errors=True)
        return Path(tempfile.mkdtemp(prefix="request-", dir=self.root))


@dataclass
class AppResult:
    """One request's outputs, all files in ``folder``: ``entry`` the manifest line; ``downloads`` the
    ``mask``, ``alpha`` and ``cutout`` PNGs at the photograph's size, named after the upload (no alpha and
    cut-out with ``matte=none``); ``views`` the page's pictures (:func:`iosm.app.views.write_views`);
    ``panels`` (path, caption): painted sample, difference map and mask per refiner iteration."""

    folder: Path
    entry: dict[str, Any]
    downloads: dict[str, Path]
    views: dict[str, Path]
    panels: list[tuple[Path, str]] = field(default_factory=list)

    @property
    def manifest_line(self) -> str:
        return json.dumps(self.entry)


class RefineService:
    """Holds the loaded backends; :meth:`run` serves one request. Keyword-only.

    refiner: :class:`iosm.refine.Refiner`; matte: :class:`iosm.matting.base.Matte` or None (masks only);
    prompts: ``box``, ``points``, ``scribble``, ``file`` factories and a ``grabcut`` prompt (see
    :func:`iosm.app.prompts.build_prompt`); limits: what an upload may be; folders: where requests write;
    view_side: long side (px) of the page's pictures.
    """

    def __init__(self, *, refiner: Any, matte: Any, prompts: dict[str, Any], limits: UploadLimits,
                 folders: RequestFolders, view_side: int = 768, seed: int = 0) -> None:
        self.refiner, self.matte, self.prompts = refiner, matte, prompts
        self.limits, self.folders, self.view_side, self.seed = limits, folders, view_side, seed

    @classmethod
    def from_config(cls, cfg: DictConfig, workdir: str | os.PathLike) -> RefineService:
        """Build every part from ``conf/app.yaml``; models load now, so a wrong path fails at start."""
        from iosm.matting import build_matte

        limits = UploadLimits(max_bytes=int(cfg.app.max_upload_mb * MEGABYTE), max_pixels=int(cfg.app.max_pixels))
        return cls(refiner=instantiate(cfg.refiner), matte=build_matte(cfg.matte, resolve_device(None)),
                   prompts={key: instantiate(node) for key, node in cfg.prompts.items()}, limits=limits,
                   folders=RequestFolders(Path(workdir) / "requests", cfg.app.keep_requests_minutes),
                   view_side=cfg.app.preview_side, seed=cfg.seed)

    def run(self, photo_path: str, spec: PromptSpec, truth_path: str | None = None,
            background: tuple[float, float, float] = (0.2, 0.6, 0.3)) -> AppResult:
        """Refine (and matte) the photograph at ``photo_path`` from ``spec``; ``truth_path`` an optional
        ground-truth alpha for the manifest's IoU; ``background`` RGB in [0, 1] of the preview.
        Raises ``ValueError`` (``ImageReadError`` for files) with a message for the page."""
        image = self.limits.read_photo(photo_path)
        name = safe_stem(photo_path)
        folder = self.folders.new()
        truth = None if not truth_path else self.limits.read_alpha(truth_path, "ground-truth alpha")
        prompt = build_prompt(spec, self.prompts, name, image.shape[:2], folder,
                              lambda path: self.limits.read_alpha(path, "rough mask"))
        module = RefineModule(refiner=self.refiner, prompt=prompt, matte=self.matte, save_steps=True, seed=self.seed)
        refined = module.predict_step({"name": name, "image": image, "alpha": truth, "error": None, "warnings": []})
        if not refined.ok:
            raise ValueError(refined.entry["error"])
        writer = MaskWriter(folder, matte=self.matte is not None)
        writer.write_on_batch_end(None, module, refined, None, None, 0)  # the refine job's files and manifest line
        if refined.entry["status"] != "ok":  # the writer could not write them
            raise ValueError(refined.entry["error"])
        downloads = {kind: _download(path, f"{name}_{kind}.png") for kind, path in writer.output_paths(name).items()}
        views = write_views(folder / "view", self.view_side, image, refined.mask, refined.alpha,
                            refined.foreground, background)
        result = AppResult(folder, refined.entry, downloads, views, write_step_tiles(folder / "view", refined.steps))
        return result


def _download(path: Path, name: str) -> Path:
    """A copy of an output named after the upload (``photo_mask.png``), so three downloads do not all
    arrive as ``photo.png``; a hard link where the file system allows."""
    target = path.parent.parent / "downloads" / name
    target.parent.mkdir(exist_ok=True)
    try:
        os.link(path, target)
    except OSError:
        shutil.copyfile(path, target)
    return target

