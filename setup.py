"""Copies the top-level templates/, static/, policies/ and migrations/ into the wheel as govern/_bundled/.

They live at the top of the repository so people find them; an installed govern still needs them,
so the build places them inside the package (govern/resources.py looks there first).
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

BUNDLED = ("templates", "static", "policies", "migrations")


class BuildPyWithBundledDirs(build_py):
    def run(self) -> None:
        super().run()
        root = Path(__file__).resolve().parent
        for name in BUNDLED:
            shutil.copytree(
                root / name,
                Path(self.build_lib, "govern", "_bundled", name),
                dirs_exist_ok=True,
                ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
            )


setup(cmdclass={"build_py": BuildPyWithBundledDirs})
