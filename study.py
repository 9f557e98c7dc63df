"""Run a study: `python study.py study=<name> [key=value ...]` (see README "Studies" and conf/study.yaml)."""

from honeybee.study.entry import main

if __name__ == "__main__":
    main()
