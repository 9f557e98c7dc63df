"""Generate, merge or serve: `python generate.py adapter=<run folder> prompts=...` (conf/generate.yaml)."""

import hydra
from omegaconf import DictConfig

from honeybee.cli import precheck, run_task


@hydra.main(version_base="1.3", config_path="conf", config_name="generate")
def main(cfg: DictConfig) -> None:
    from honeybee.generation.task import run_generate

    return run_task(run_generate, cfg)


if __name__ == "__main__":
    precheck("generate")
    main()
