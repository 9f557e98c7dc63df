"""Evaluate runs on tasks: `python evaluate.py runs=[<run folder>] tasks=[...]` (see conf/evaluate.yaml)."""

import hydra
from omegaconf import DictConfig

from honeybee.cli import precheck, run_task


@hydra.main(version_base="1.3", config_path="conf", config_name="evaluate")
def main(cfg: DictConfig) -> None:
    from honeybee.evaluation.task import evaluate

    return run_task(evaluate, cfg)


if __name__ == "__main__":
    precheck("evaluate")
    main()
