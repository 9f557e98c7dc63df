"""``python -m honeybee <train|generate|evaluate|curate|export> [overrides]``: an installed package's entry points."""

from honeybee.cli import main

if __name__ == "__main__":
    main()
