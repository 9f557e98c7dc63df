"""Finetune a model: `python train.py [group=option ...] [key=value ...]` (see README and conf/train.yaml)."""

import hydra
from omegaconf import DictConfig

from honeybee.cli import precheck, run_task


@hydra.main(version_base="1.3", config_path="conf", config_name="train")
def main(cfg: DictConfig) -> float:
    from honeybee.training.task import train

    return run_task(train, cfg)


if __name__ == "__main__":
    precheck("train", name_sweeps=True)
    main()
