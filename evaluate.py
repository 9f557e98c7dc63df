"""Evaluate runs on tasks: `python evaluate.py runs=[<run folder>] tasks=[...]` (see conf/evaluate.yaml)."""

from honeybee.cli import evaluate

if __name__ == "__main__":
    evaluate()
