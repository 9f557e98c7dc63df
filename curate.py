"""Curate instruction data: `python curate.py experiment_name=<name> round=<r>` (see conf/curate.yaml)."""

from honeybee.cli import curate

if __name__ == "__main__":
    curate()
