"""``python -m iosm.app [overrides]``: serve the web app (conf/app.yaml)."""

import hydra
from omegaconf import DictConfig

from iosm.config import CONF_DIR


@hydra.main(config_path=str(CONF_DIR), config_name="app", version_base="1.3")
def main(cfg: DictConfig) -> None:
    from iosm.app.server import serve

    serve(cfg)


if __name__ == "__main__":
    main()
