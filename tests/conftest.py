"""Shared fixtures: a tiny synthetic dataset, the shared real photographs, and Hydra composition.

Everything is built here on temporary folders (the synthetic set by the real generator, in the AIM-500
layout plus init/), so tests never download anything and exercise the same loaders as the jobs.
"""

from __future__ import annotations

import os
import zlib
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf

from iosm.config import CONF_DIR, register_resolvers

# 8 images of 64 px: enough for every split of an 80/10/10 cut, fast to generate (well under a second).
SYNTHETIC_N, SYNTHETIC_SIZE, SYNTHETIC_SEED = 8, 64, 0
# Set (to 1) where the real photographs must be present, as in CI (.ci/run): their absence is then a
# failure instead of a skip, so a broken data path can never pass unnoticed.
REQUIRE_REALDATA = "IOSM_REQUIRE_REALDATA"


def configured_realdata_dir() -> Path:
    """``paths.realdata_dir`` as conf/paths/default.yaml resolves it (``IOSM_REALDATA`` overrides it)."""
    register_resolvers()
    config = OmegaConf.create({"paths": OmegaConf.load(CONF_DIR / "paths" / "default.yaml")})
    return Path(config.paths.realdata_dir).expanduser().resolve()


@pytest.fixture(scope="session")
def synthetic_root(tmp_path_factory) -> Path:
    """A generated dataset: ROOT/original/*.jpg, mask/*.png (alpha), trimap/, init/ (rough masks),
    aim_category_type.json; 8 images of 64x64, seed 0. Read-only by convention: copy it to modify it."""
    from iosm.data.synthetic import ensure_synthetic

    return ensure_synthetic(tmp_path_factory.mktemp("synthetic") / "data", SYNTHETIC_N, SYNTHETIC_SIZE, SYNTHETIC_SEED)


@pytest.fixture(scope="session")
def realdata_root() -> Path:
    """The real photographs (AIM-500 layout, png, with init/) at ``paths.realdata_dir``; read in place,
    never copied. Absent (a fresh clone), the tests that read them are skipped, saying how to get them,
    unless ``IOSM_REQUIRE_REALDATA`` is set (CI), where that is a failure."""
    realdata_dir = configured_realdata_dir()
    if not (realdata_dir / "original").is_dir():
        reason = (f"real photographs not found at paths.realdata_dir={realdata_dir} (no original/ folder): "
                  "set IOSM_REALDATA=/path/to/alphamatting-training-lowres to run these tests "
                  "(README, 'Real photographs')")
        if os.environ.get(REQUIRE_REALDATA, "") not in ("", "0"):
            pytest.fail(f"{reason}; {REQUIRE_REALDATA} is set, so this is a failure, not a skip")
        pytest.skip(reason)
    return realdata_dir


@pytest.fixture(scope="session")
def iosm_cache_dir(tmp_path_factory) -> Path:
    """A cache folder shared by the whole session (generated synthetic sets, splits, composites)."""
    return tmp_path_factory.mktemp("iosm_cache")


@pytest.fixture
def compose_cfg(tmp_path, iosm_cache_dir):
    """``compose_cfg(config_name, overrides)`` -> the composed config, as ``python JOB.py overrides`` sees it.

    ``paths.cache_dir`` (the session's shared cache) and ``output_dir`` (the test's tmp_path/output) are
    set unless the overrides set them, so tests never write into the repository.
    """
    register_resolvers()

    def _compose(config_name: str, overrides: list[str] | tuple[str, ...] = ()):
        overrides = list(overrides)
        if not any(o.startswith("paths.cache_dir=") for o in overrides):
            overrides.append(f"paths.cache_dir={iosm_cache_dir}")
        if not any(o.startswith("output_dir=") for o in overrides):
            overrides.append(f"output_dir={tmp_path / 'output'}")
        GlobalHydra.instance().clear()
        with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
            return compose(config_name=config_name, overrides=overrides, return_hydra_config=False)

    return _compose


@pytest.fixture
def write_sample():
    """``write_sample(root, name, image_dir, alpha_dir=None, trimap_dir=None, size=(24, 32), image_ext=".jpg")``
    writes one random photograph with a disc-shaped soft alpha (and its trimap) under ``root``, in
    whatever layout the sub-folder names describe; returns the alpha (H, W) float32."""
    import numpy as np

    from iosm.data.io import write_image

    def _write(root, name, image_dir, alpha_dir=None, trimap_dir=None, size=(24, 32), image_ext=".jpg"):
        height, width = size
        rng = np.random.default_rng(zlib.crc32(name.encode()))
        ys, xs = np.mgrid[:height, :width]
        radius = np.hypot(ys - height / 2, xs - width / 2) / (min(height, width) / 3)
        alpha = np.clip(1.5 - radius, 0, 1).astype(np.float32)
        write_image(Path(root) / image_dir / f"{name}{image_ext}", rng.random((height, width, 3)))
        if alpha_dir:
            write_image(Path(root) / alpha_dir / f"{name}.png", alpha)
        if trimap_dir:
            trimap = np.where(alpha >= 1, 1.0, np.where(alpha > 0, 0.5, 0.0))
            write_image(Path(root) / trimap_dir / f"{name}.png", trimap)
        return alpha

    return _write


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny tensors gain nothing from a second thread, and on a busy machine its synchronisation
    dominates the step time; restore the setting afterwards."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def tiny_mtm_checkpoint(tmp_path, compose_cfg) -> Path:
    """A randomly initialised tiny MTM saved the way train.py's checkpoints store it."""
    from hydra.utils import instantiate

    from iosm.models.module import SPEC_KEY

    torch.manual_seed(0)
    net = instantiate(compose_cfg("train", ["model=mtm_tiny", "model.freeze_encoder=false"]).model.net)
    path = tmp_path / "tiny.ckpt"
    state_dict = {f"net.{key}": value for key, value in net.state_dict().items()}  # MTMModule's keys
    torch.save({"state_dict": state_dict, SPEC_KEY: net.spec}, path)
    return path
