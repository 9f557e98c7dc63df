"""Export a run as one standalone folder: `python export.py run=<run folder> out=<folder> [merged=true]`."""

from honeybee.cli import export

if __name__ == "__main__":
    export()
