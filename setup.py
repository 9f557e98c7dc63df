"""Ships ``conf/`` inside the wheel as ``honeybee/conf``, so an installed package finds its Hydra configs.

``conf/`` stays at the top of the checkout (where ``train.py`` and the docs expect it); package data can only
come from inside a package, so the build copies it in. Everything else is declared in ``pyproject.toml``.
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py


class BuildPyWithConf(build_py):
    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return  # an editable install reads the checkout's conf/ in place
        src = Path(__file__).resolve().parent / "conf"
        dst = Path(self.build_lib) / "honeybee" / "conf"
        shutil.copytree(src, dst, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__"))


setup(cmdclass={"build_py": BuildPyWithConf})
