"""Generate, merge or serve: `python generate.py adapter=<run folder> prompts=...` (conf/generate.yaml)."""

from honeybee.cli import generate

if __name__ == "__main__":
    generate()
