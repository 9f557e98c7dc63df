"""``python -m honeybee <train|generate|evaluate|curate> [overrides]``: the entry points of an installed package."""

from honeybee.cli import main

if __name__ == "__main__":
    main()
