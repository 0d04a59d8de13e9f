"""Every config group choice composes (``python JOB.py GROUP=CHOICE --cfg job``) and resolves.

Choices are discovered from the files under ``conf/<group>/`` and ``experiments/``, so a group or
choice added later is covered without editing this file. A choice is composed with every primary
config whose defaults list names its group; a choice named after a job (``callbacks/train.yaml``)
only with that job; an experiment with the jobs its comments run it with (all three if none).
Data configs are also instantiated on fixtures in their layouts, with tiny settings.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import yaml
from hydra.utils import instantiate
from omegaconf import OmegaConf

from iosm.config import CONF_DIR, EXPERIMENTS_DIR
from iosm.data.io import write_image

PRIMARIES = ("train", "refine", "evaluate")


def _groups_of(primary: str) -> set[str]:
    """The config groups named in a primary config's defaults list."""
    defaults = yaml.safe_load((CONF_DIR / f"{primary}.yaml").read_text()).get("defaults", [])
    return {next(iter(entry)).split("@")[0].removeprefix("override ") for entry in defaults if isinstance(entry, dict)}


def _experiment_jobs(path: Path) -> tuple[str, ...]:
    """The jobs whose command lines in the file use it (``python JOB.py ... experiments=NAME``)."""
    pattern = rf"python (train|refine|evaluate)\.py[^\n]*experiments={re.escape(path.stem)}\b"
    jobs = tuple(dict.fromkeys(re.findall(pattern, path.read_text())))
    return jobs or PRIMARIES


def _cases():
    cases = []
    for group_dir in sorted(p for p in CONF_DIR.iterdir() if p.is_dir() and p.name != "hydra"):
        for choice in sorted(p.stem for p in group_dir.glob("*.yaml")):
            for primary in PRIMARIES:
                named_after_a_job = choice in PRIMARIES and choice != primary
                if group_dir.name in _groups_of(primary) and not named_after_a_job:
                    cases.append((primary, f"{group_dir.name}={choice}"))
    for path in sorted(EXPERIMENTS_DIR.glob("*.yaml")):
        cases += [(primary, f"experiments={path.stem}") for primary in _experiment_jobs(path)]
    for sub_group in sorted(p for p in (CONF_DIR / "hydra").iterdir() if p.is_dir()):
        cases += [("train", f"hydra/{sub_group.name}={p.stem}") for p in sorted(sub_group.glob("*.yaml"))]
    return cases


def _missing_keys(node, prefix: str = "") -> list[str]:
    """Dotted keys of the ``???`` values in an unresolved container (OmegaConf's own walker resolves)."""
    if isinstance(node, dict):
        return [k for key, value in node.items() for k in _missing_keys(value, f"{prefix}{key}.")]
    return [prefix[:-1]] if node == "???" else []


@pytest.mark.parametrize(("primary", "override"), _cases())
def test_choice_composes_and_resolves(compose_cfg, primary, override):
    cfg = compose_cfg(primary, [override])
    # Like --cfg job, plus interpolation: a broken ${...} fails here. Required ??? values are what the
    # user supplies on the command line; stand-ins let everything that refers to them resolve.
    for key in _missing_keys(OmegaConf.to_container(cfg, resolve=False)):
        OmegaConf.update(cfg, key, f"/given/{key}")
    OmegaConf.to_container(cfg, resolve=True)


@pytest.mark.parametrize("primary", PRIMARIES)
def test_primary_with_debug_preset(compose_cfg, primary):
    cfg = compose_cfg(primary, ["debug=tiny"])
    assert cfg.trainer.accelerator == "cpu" and cfg.data.layout.size == 64


def test_mistyped_key_is_refused(compose_cfg):
    from hydra.errors import ConfigCompositionException

    with pytest.raises(ConfigCompositionException, match="batch_sise"):
        compose_cfg("train", ["data.batch_sise=3"])


@pytest.fixture
def data_roots(synthetic_root, realdata_root, tmp_path, write_sample):
    """Data overrides that make each shipped data config instantiable on a fixture in its layout."""
    ppm = tmp_path / "ppm"
    write_sample(ppm, "p1", "image", "matte")
    d646 = tmp_path / "d646"
    write_sample(d646 / "Test", "t1", "FG", "GT", image_ext=".png")
    write_image(tmp_path / "bg" / "b.jpg", np.zeros((8, 8, 3)))
    return {
        "synthetic": [],
        "synthetic_tiny": [],
        "realdata": [],
        # the tiny synthetic set stands in for the photographs whose foregrounds are composited
        "composites": [f"paths.realdata_dir={synthetic_root}", "data.layout.names=[syn_0001,syn_0002]",
                       "data.layout.n=4", "data.layout.size=48"],
        "aim500": [f"data.root={synthetic_root}"],
        "ppm100": [f"data.root={ppm}"],
        "folder": [f"data.root={synthetic_root}", "data.layout.image_dir=original", "data.layout.alpha_dir=mask"],
        "d646": [f"data.root={d646}", f"data.layout.background_dir={tmp_path / 'bg'}",
                 "data.layout.test_backgrounds_per_foreground=2", "data.layout.cache_dir=null"],
    }


@pytest.mark.parametrize("choice", sorted(p.stem for p in (CONF_DIR / "data").glob("*.yaml")))
def test_data_config_instantiates(compose_cfg, data_roots, choice):
    if choice not in data_roots:
        pytest.fail(f"conf/data/{choice}.yaml is new: add a fixture for it to data_roots in this file")
    tiny = ["data.num_workers=0", "data.batch_size=2", "data.train_size=32"]
    if choice == "synthetic":
        tiny += ["data.layout.n=4", "data.layout.size=48"]
    datamodule = instantiate(compose_cfg("train", [f"data={choice}", *tiny, *data_roots[choice]]).data)
    batch = next(iter(datamodule.test_dataloader()))
    assert batch["image"].shape[0] == 1 and batch["orig_size"].shape == (1, 2)


@pytest.mark.parametrize("choice", ["aim500", "ppm100", "folder", "d646"])
def test_required_root_is_reported_by_hydra(compose_cfg, choice):
    from omegaconf.errors import MissingMandatoryValue

    with pytest.raises(MissingMandatoryValue, match="root"):
        instantiate(compose_cfg("train", [f"data={choice}"]).data)
