"""Device and dtype choices shared by the model-backed painting and feature backends."""

from __future__ import annotations

import torch

DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


def resolve_device(device: str | None) -> torch.device:
    """``None`` = CUDA when available, else CPU."""
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def resolve_dtype(dtype: str, device: torch.device, key: str) -> torch.dtype:
    """A dtype name to a torch dtype; half precision only where it runs (not on CPU for float16)."""
    if dtype not in DTYPES:
        raise ValueError(f"{key}.dtype={dtype!r}: expected one of {list(DTYPES)}")
    if dtype == "float16" and device.type == "cpu":
        raise ValueError(f"{key}.dtype=float16 needs a GPU; use {key}.dtype=float32 (or bfloat16) on the CPU")
    return DTYPES[dtype]


def load_error(key: str, model_path: str, error: Exception) -> Exception:
    """The message for a model that cannot be loaded: what was given and what to provide instead."""
    return FileNotFoundError(
        f"{key}.model_path={model_path!r} could not be loaded ({type(error).__name__}: {error}). "
        f"Give a local folder written by save_pretrained (or a hub id whose weights are already in the local Hugging Face cache: nothing is downloaded at run time)."
    )


def check_model_path(key: str, model_path: str | None) -> str:
    """Fail early on an unset path or a path-looking value that does not exist."""
    from pathlib import Path

    if model_path is None or str(model_path) in ("", "???"):
        raise ValueError(f"{key}.model_path is required: a local folder written by save_pretrained, or a hub id")
    model_path = str(model_path)
    looks_local = model_path.startswith((".", "/", "~")) or model_path.count("/") > 1
    if looks_local and not Path(model_path).expanduser().exists():
        raise FileNotFoundError(f"{key}.model_path={model_path}: no such folder; point it at a save_pretrained folder")
    return str(Path(model_path).expanduser()) if looks_local else model_path
