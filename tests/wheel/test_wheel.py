"""A normal (non-editable) install ships the bundled models: build the wheel, install it into a fresh venv, and
let the installed `harness models` list them (no server needed). The checkout's model_repository/ is out of reach."""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ["pyproject.toml", "setup.py", "MANIFEST.in", "README.md", "harness", "model_repository"]
BUNDLED_MODELS = sorted(p.parent.name for p in (ROOT / "model_repository").glob("*/config.pbtxt"))


pytestmark = pytest.mark.heavy  # builds and installs a wheel


def _copy_sources(target: Path) -> None:
    """Built from a copy: an in-tree build would leave build/ and *.egg-info in the checkout."""
    target.mkdir()
    for name in SOURCES:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, target / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "build"))
        else:
            shutil.copy2(source, target / name)


def test_installed_wheel_finds_the_bundled_models(tmp_path: Path) -> None:
    source, wheels, venv = tmp_path / "src", tmp_path / "wheels", tmp_path / "venv"
    _copy_sources(source)
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(wheels), str(source)],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert built.returncode == 0, built.stderr[-3000:]
    (wheel,) = wheels.glob("harness-*.whl")
    shipped = zipfile.ZipFile(wheel).namelist()
    assert "harness/model_repository/mnist_cnn/config.pbtxt" in shipped
    assert not [name for name in shipped if "__pycache__" in name or name.endswith(".pyc")]
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    installed = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install", "--quiet", "--no-deps", str(wheel)],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert installed.returncode == 0, installed.stderr[-3000:]

    # The dependencies come from the test's own environment, through PYTHONPATH (which runs no .pth file, so
    # the shared venv's editable install of this checkout stays out); the command runs far from the checkout.
    env = {"PATH": f"{venv / 'bin'}:/usr/bin:/bin", "PYTHONPATH": sysconfig.get_paths()["purelib"], "HOME": str(tmp_path)}
    where = subprocess.run(
        [
            str(venv / "bin" / "python"),
            "-c",
            "from harness.triton.repository import BUNDLED_REPOSITORY; print(BUNDLED_REPOSITORY)",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=tmp_path,
    )
    assert where.returncode == 0, where.stderr[-3000:]
    repository = Path(where.stdout.strip())
    assert repository.is_relative_to(venv) and repository.name == "model_repository", repository
    assert sorted(p.parent.name for p in repository.glob("*/config.pbtxt")) == BUNDLED_MODELS
    assert (repository / "_nets" / "nets.py").is_file() and (repository / "mnist_cnn" / "1" / "model.py").is_file()

    listed = subprocess.run(
        [str(venv / "bin" / "harness"), "models"], capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path
    )
    assert listed.returncode == 0, listed.stderr[-3000:]
    for model in BUNDLED_MODELS:
        assert model in listed.stdout

    # The worker line a sweep prints finds its locustfile in the installed package, from a folder far from any
    # checkout (Locust lists the file's user classes and exits: no master needed).
    line = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "from harness.load.roster import worker_command as w; print(w('h', 5557))"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=tmp_path,
    ).stdout.strip()
    words = shlex.split(line)
    assert words[:3] == ["python3", "-m", "harness.locustfile"], line
    users = subprocess.run(
        [str(venv / "bin" / "python"), *words[1:], "--list"], capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path
    )
    assert users.returncode == 0, users.stderr[-3000:]
    assert users.stdout.split() == ["Available", "Users:", "TritonOpenLoopUser", "TritonUser"]
