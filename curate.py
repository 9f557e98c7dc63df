"""Curate instruction data: `python curate.py experiment_name=<name> round=<r>` (see conf/curate.yaml)."""

import hydra
from omegaconf import DictConfig

from honeybee.cli import precheck, run_task


@hydra.main(version_base="1.3", config_path="conf", config_name="curate")
def main(cfg: DictConfig) -> None:
    from honeybee.curation.loop import run_curate

    return run_task(run_curate, cfg)


if __name__ == "__main__":
    precheck("curate")
    main()
