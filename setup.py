"""Ships the bundled model repository inside the package: the top-level model_repository/ folder (where Triton users
expect it, and where docker/ mounts it) is copied to harness/model_repository in every built wheel, so a normal
(non-editable) install finds the bundled models too (harness.triton.repository.BUNDLED_REPOSITORY).
Everything else is configured in pyproject.toml."""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

SOURCE = Path(__file__).resolve().parent / "model_repository"


class BuildWithModels(build_py):
    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return  # an editable install reads the checkout's model_repository/ directly
        target = Path(self.build_lib) / "harness" / "model_repository"
        shutil.copytree(SOURCE, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"), dirs_exist_ok=True)


setup(cmdclass={"build_py": BuildWithModels})
