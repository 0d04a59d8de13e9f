"""Dataset layouts: a folder on disk -> a list of :class:`MattingRecord`, files matched by stem.

A layout only finds files; it neither reads pixels nor decides what is fatal. An image whose alpha or
trimap is missing still gets a record, with the problem written into ``meta["missing"]``, so that the
dataset (which knows whether it needs ground truth) can skip it or stop with that message. A folder
that does not exist or holds no images is a configuration error and raises at once.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from iosm.data.io import IMAGE_EXTENSIONS, find_by_stem


@dataclass
class MattingRecord:
    """One image of a dataset: where its files are, and what else is known about it.

    ``meta`` holds layout-specific facts: AIM-500's ``category`` and ``type``, a composite's
    ``background_path``, a predefined ``split``, and ``missing`` ({"alpha" | "trimap": message} for
    ground truth the layout expected but did not find).
    """

    name: str
    image_path: Path
    alpha_path: Path | None = None
    trimap_path: Path | None = None
    meta: dict = field(default_factory=dict)


def existing_root(root: str | os.PathLike) -> Path:
    """``root`` as an absolute path; a clear error when it is unset (``???``) or not a folder."""
    if root is None or str(root) in ("", "???"):
        raise ValueError("data.root is not set: point it at the dataset folder (data.root=DIR)")
    path = Path(root).expanduser()
    if not path.is_dir():
        raise FileNotFoundError(f"data.root={root}: folder does not exist")
    return path.resolve()


def _files(root: Path, sub_folder: str, what: str, hint: str) -> dict[str, Path]:
    folder = root / sub_folder
    if not folder.is_dir():
        present = sorted(p.name for p in root.iterdir() if p.is_dir())
        raise FileNotFoundError(
            f"data.root={root}: no {sub_folder}/ folder ({what}); sub-folders here: {present}. {hint}"
        )
    return find_by_stem(folder)


def folder_records(
    root: str | os.PathLike,
    image_dir: str = "image",
    alpha_dir: str | None = "alpha",
    trimap_dir: str | None = None,
    optional_trimap: bool = False,
) -> list[MattingRecord]:
    """Records of ``root/image_dir/*`` with alphas in ``root/alpha_dir`` and trimaps in ``root/trimap_dir``.

    ``alpha_dir=None``: images only (refinement or prediction on a user's photos). ``trimap_dir=None``:
    no trimaps; with ``optional_trimap`` a missing trimap folder means the same. Sorted by name.
    """
    root = existing_root(root)
    hint = "Set the sub-folder names (data.layout.image_dir=..., alpha_dir=..., trimap_dir=...) or check the path."
    images = _files(root, image_dir, "the images", hint)
    if not images:
        extensions = "/".join(IMAGE_EXTENSIONS)
        raise ValueError(f"{root / image_dir}: no images (looked for {extensions} files)")
    alphas = _files(root, alpha_dir, "the ground-truth alphas", hint) if alpha_dir else None
    if trimap_dir and optional_trimap and not (root / trimap_dir).is_dir():
        trimap_dir = None
    trimaps = _files(root, trimap_dir, "the trimaps", hint) if trimap_dir else None
    records = []
    for name, image_path in images.items():
        missing = {}
        if alphas is not None and name not in alphas:
            missing["alpha"] = f"{image_path}: no ground-truth alpha named {name}.* in {root / alpha_dir}"
        if trimaps is not None and name not in trimaps:
            missing["trimap"] = f"{image_path}: no trimap named {name}.* in {root / trimap_dir}"
        records.append(MattingRecord(
            name=name,
            image_path=image_path,
            alpha_path=alphas.get(name) if alphas else None,
            trimap_path=trimaps.get(name) if trimaps else None,
            meta={"missing": missing} if missing else {},
        ))
    return records


def aim500_records(root: str | os.PathLike, category_file: str = "aim_category_type.json") -> list[MattingRecord]:
    """AIM-500: ``original/`` images, ``mask/`` ground-truth alphas, ``trimap/``; ``usr/`` is ignored.

    ``aim_category_type.json`` ({stem: {"category": ..., "type": "SO" | "STM" | "NS"}}), when present,
    puts ``category`` and ``type`` into every record (``"unknown"`` for stems it does not list) so that
    results can be broken down by type. The synthetic generator and the shared alphamatting folder use
    this layout too (trimap/ is optional for them).
    """
    records = folder_records(root, "original", "mask", "trimap", optional_trimap=True)
    category_path = Path(root).expanduser() / category_file
    if category_path.is_file():
        try:
            table = json.loads(category_path.read_text())
        except (ValueError, UnicodeDecodeError) as error:
            raise ValueError(f"{category_path}: not valid JSON ({error})") from None
        if not isinstance(table, dict):
            raise ValueError(f"{category_path}: expected an object {{stem: {{category, type}}}}")
        for record in records:
            entry = table.get(record.name) or {}
            record.meta["category"] = str(entry.get("category", "unknown"))
            record.meta["type"] = str(entry.get("type", "unknown"))
    return records


def ppm100_records(root: str | os.PathLike) -> list[MattingRecord]:
    """PPM-100: ``image/`` photographs and ``matte/`` alphas with the same stems; no trimaps shipped."""
    return folder_records(root, "image", "matte", None)
