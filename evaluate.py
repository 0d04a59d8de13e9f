"""Thin entry point: `python evaluate.py [overrides]`; the work is in iosm.jobs.evaluate.run."""

import hydra
from omegaconf import DictConfig

import iosm  # noqa: F401  (registers the config resolvers)


@hydra.main(version_base="1.3", config_path="conf", config_name="evaluate")
def main(cfg: DictConfig) -> float | None:
    from iosm.jobs.evaluate import run

    return run(cfg)


if __name__ == "__main__":
    main()
