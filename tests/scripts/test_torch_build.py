"""Set-up's torch choice (scripts/torch_build.py) against faked `nvidia-smi` outcomes, and its install order
against a fake pip: the real script runs as a subprocess, only nvidia-smi, pip and the target python are fakes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "torch_build.py"
H200 = "GPU 0: NVIDIA H200 (UUID: GPU-1b2c3d4e-0000-1111-2222-333344445555)"


def _executable(path: Path, body: str) -> Path:
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)
    return path


def _bin_with_nvidia_smi(tmp_path: Path, body: str | None) -> Path:
    """A PATH folder with `sh`-only tools and, unless body is None, a fake nvidia-smi."""
    folder = tmp_path / "bin"
    folder.mkdir()
    if body is not None:
        _executable(folder / "nvidia-smi", body)
    return folder


Result = subprocess.CompletedProcess[str]


def _run(tmp_path: Path, nvidia_smi: str | None, *args: str, lock: str = "torch==2.13.0+cpu\n") -> Result:
    (tmp_path / "requirements.lock").write_text(f"sympy==1.14.0\n{lock}tritonclient==2.51.0\n")
    folder = _bin_with_nvidia_smi(tmp_path, nvidia_smi)
    env = {**os.environ, "PATH": f"{folder}:/usr/bin:/bin"}
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args, "--lock", str(tmp_path / "requirements.lock")],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )


def _plan(tmp_path: Path, nvidia_smi: str | None) -> dict:
    result = _run(tmp_path, nvidia_smi, "plan")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.mark.parametrize(
    ("nvidia_smi", "reason"),
    [
        (None, "no nvidia-smi on PATH"),
        (
            "echo 'NVIDIA-SMI has failed because it could not communicate with the NVIDIA driver.'; exit 9\n",
            "nvidia-smi failed (exit 9): NVIDIA-SMI has failed because it could not communicate with the NVIDIA driver.",
        ),
        ("echo 'No devices were found'; exit 6\n", "nvidia-smi failed (exit 6): No devices were found"),
        ("exit 0\n", "nvidia-smi lists no GPU"),
    ],
)
def test_no_usable_gpu_gets_the_cpu_build_local_wheel_first(nvidia_smi: str | None, reason: str, tmp_path: Path) -> None:
    plan = _plan(tmp_path, nvidia_smi)
    assert plan["build"] == "cpu" and plan["reason"] == reason
    assert [a["pip_args"] for a in plan["attempts"]] == [
        ["--no-deps", "--no-index", "torch==2.13.0+cpu"],
        ["--no-deps", "--extra-index-url", "https://download.pytorch.org/whl/cpu", "torch==2.13.0+cpu"],
        ["torch==2.13.0"],
    ]


def test_a_listed_gpu_gets_the_cuda_build_with_its_runtime_libraries(tmp_path: Path) -> None:
    plan = _plan(tmp_path, f"[ \"$1\" = -L ] && echo '{H200}' && echo 'GPU 1: NVIDIA H200 (UUID: GPU-x)'\n")
    assert plan["build"] == "cuda"
    assert plan["reason"] == f"nvidia-smi lists 2 GPU(s): {H200}"
    assert [a["pip_args"] for a in plan["attempts"]] == [["torch==2.13.0"]]  # with deps: the nvidia-* CUDA wheels


def test_a_hanging_nvidia_smi_counts_as_no_gpu(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    sys.path.insert(0, str(SCRIPT.parent))
    try:
        import torch_build
    finally:
        sys.path.remove(str(SCRIPT.parent))
    folder = _bin_with_nvidia_smi(tmp_path, "exec sleep 30\n")
    monkeypatch.setenv("PATH", f"{folder}:/usr/bin:/bin")
    assert torch_build.detect_gpu(timeout_s=0.5) == torch_build.Gpu(False, "nvidia-smi did not answer (TimeoutExpired)")


def test_the_version_comes_from_the_lock(tmp_path: Path) -> None:
    plan = _plan_with_lock(tmp_path, "torch==2.9.1+cpu\n")
    assert plan["attempts"][0]["requirement"] == "torch==2.9.1+cpu" and plan["attempts"][-1]["requirement"] == "torch==2.9.1"


def _plan_with_lock(tmp_path: Path, lock: str) -> dict:
    result = _run(tmp_path, None, "plan", lock=lock)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


# --- install: the order of attempts, against a fake pip and a fake target python -----------------------------------


def _fakes(tmp_path: Path, installed: str, refuse: str) -> tuple[Path, Path, Path]:
    """A fake pip that logs its arguments, refuses requirements containing `refuse` and otherwise 'installs' (its
    version file); a fake python whose `import torch` prints that file (or fails when there is none)."""
    state, log = tmp_path / "torch-installed", tmp_path / "pip.log"
    if installed:
        state.write_text(installed)
    pip = _executable(
        tmp_path / "pip",
        f"""echo "$*" >> {log}
case "$1" in
  uninstall) rm -f {state}; exit 0;;
esac
last=$(eval echo \\${{$#}})
case "$last" in *{refuse}*) echo "ERROR: No matching distribution found for $last" >&2; exit 1;; esac
case "$last" in *+cpu) echo "${{last#torch==}} " > {state};; *) echo "${{last#torch==}} 12.8" > {state};; esac
""",
    )
    python = _executable(
        tmp_path / "python", f"[ -f {state} ] && cat {state} || {{ echo 'No module named torch' >&2; exit 1; }}\n"
    )
    return pip, python, log


def _install(tmp_path: Path, nvidia_smi: str | None, installed: str, refuse: str) -> tuple[Result, list[str]]:
    pip, python, log = _fakes(tmp_path, installed, refuse)
    result = _run(tmp_path, nvidia_smi, "install", "--pip", str(pip), "--python", str(python))
    return result, log.read_text().splitlines() if log.exists() else []


def test_no_local_wheel_and_no_pytorch_index_falls_back_to_plain_torch(tmp_path: Path) -> None:
    result, calls = _install(tmp_path, None, installed="", refuse="+cpu")
    assert result.returncode == 0, result.stderr
    assert calls == [
        "install --quiet --no-deps --no-index torch==2.13.0+cpu",
        "install --quiet --no-deps --extra-index-url https://download.pytorch.org/whl/cpu torch==2.13.0+cpu",
        "install --quiet torch==2.13.0",
    ]
    assert "torch: installed torch 2.13.0, CUDA 12.8, CUDA build (cpu build chosen: no nvidia-smi on PATH)" in result.stdout


def test_the_local_wheel_folder_is_enough_on_a_cpu_machine(tmp_path: Path) -> None:
    result, calls = _install(tmp_path, None, installed="", refuse="nothing")
    assert result.returncode == 0, result.stderr
    assert calls == ["install --quiet --no-deps --no-index torch==2.13.0+cpu"]
    assert "torch: installed torch 2.13.0+cpu, CPU build (cpu build chosen: no nvidia-smi on PATH)" in result.stdout


def test_a_gpu_machine_swaps_an_installed_cpu_build_for_the_cuda_one(tmp_path: Path) -> None:
    result, calls = _install(tmp_path, f"echo '{H200}'\n", installed="2.13.0+cpu ", refuse="nothing")
    assert result.returncode == 0, result.stderr
    assert calls == ["uninstall --quiet --yes torch", "install --quiet torch==2.13.0"]
    assert "torch: installed torch 2.13.0, CUDA 12.8, CUDA build (cuda build chosen: nvidia-smi lists 1 GPU(s)" in result.stdout


def test_the_right_build_already_installed_is_kept(tmp_path: Path) -> None:
    result, calls = _install(tmp_path, None, installed="2.13.0+cpu ", refuse="nothing")
    assert result.returncode == 0 and calls == []
    assert "torch: keeping torch 2.13.0+cpu, CPU build" in result.stdout


def test_nothing_installable_fails_and_says_so(tmp_path: Path) -> None:
    result, calls = _install(tmp_path, None, installed="", refuse="torch")
    assert result.returncode == 1 and len(calls) == 3
    assert "torch: no build could be installed" in result.stderr
