"""Which torch build this machine gets, and installing it: called by scripts/setup.sh.

The bundled models run torch inside Triton's Python backend, so the build decides what a sweep can measure: the
CPU build on a GPU machine would skip every GPU instance group, the half of the question this tool exists for.

- `nvidia-smi -L` lists a GPU  -> the CUDA build: PyPI's Linux torch wheel of the locked version, installed with
  its dependencies (the CUDA runtime libraries come as nvidia-* wheels).
- otherwise                    -> the CPU build, the locked local version (`torch==2.13.0+cpu`): first from the
  machine's own wheel folder (pip's find-links, no index), then from PyTorch's CPU index; where neither has it,
  plain `torch==2.13.0` from PyPI (a larger wheel that also runs on the CPU).

    python scripts/torch_build.py plan       the choice as JSON (what would be installed, and why)
    python scripts/torch_build.py install    install it with this interpreter's pip; prints which build it got

Standard library only: it runs before anything else is installed.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

LOCK = Path(__file__).resolve().parents[1] / "requirements.lock"
PYTORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"


@dataclass(frozen=True)
class Gpu:
    found: bool
    why: str  # one line: what nvidia-smi said


@dataclass(frozen=True)
class Attempt:
    requirement: str
    pip_args: tuple[str, ...]  # after `pip install`
    source: str  # where pip looks, in words


@dataclass(frozen=True)
class Plan:
    build: str  # "cuda" or "cpu": the build this machine should run
    reason: str
    attempts: tuple[Attempt, ...]  # tried in order until one installs


def detect_gpu(timeout_s: float = 20.0) -> Gpu:
    """A GPU is there when `nvidia-smi -L` runs, succeeds and lists at least one `GPU n:` line."""
    binary = shutil.which("nvidia-smi")
    if binary is None:
        return Gpu(False, "no nvidia-smi on PATH")
    try:
        listed = subprocess.run([binary, "-L"], capture_output=True, text=True, timeout=timeout_s)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return Gpu(False, f"nvidia-smi did not answer ({type(exc).__name__})")
    gpus = [line.strip() for line in listed.stdout.splitlines() if re.match(r"\s*GPU \d+:", line)]
    if listed.returncode != 0:
        said = (listed.stderr.strip() or listed.stdout.strip()).splitlines()
        return Gpu(False, f"nvidia-smi failed (exit {listed.returncode}): {said[0] if said else 'no message'}")
    if not gpus:
        return Gpu(False, "nvidia-smi lists no GPU")
    return Gpu(True, f"nvidia-smi lists {len(gpus)} GPU(s): {gpus[0]}")


def locked_version(lock: Path = LOCK) -> tuple[str, str]:
    """(public version, local label) of the lock's torch pin: ('2.13.0', 'cpu') for torch==2.13.0+cpu."""
    for line in lock.read_text().splitlines():
        match = re.match(r"^torch==([^+\s#]+)(?:\+(\S+))?", line.strip())
        if match:
            return match.group(1), match.group(2) or ""
    raise SystemExit(f"torch_build: no torch== pin in {lock}")


def plan(gpu: Gpu, version: str, local: str = "cpu") -> Plan:
    plain = f"torch=={version}"
    if gpu.found:
        return Plan("cuda", gpu.why, (Attempt(plain, (plain,), "PyPI (the Linux wheel is the CUDA build)"),))
    cpu = f"torch=={version}+{local or 'cpu'}"
    return Plan(
        "cpu",
        gpu.why,
        (
            Attempt(cpu, ("--no-deps", "--no-index", cpu), "this machine's wheel folder (pip find-links)"),
            Attempt(
                cpu, ("--no-deps", "--extra-index-url", PYTORCH_CPU_INDEX, cpu), f"PyTorch's CPU index {PYTORCH_CPU_INDEX}"
            ),
            Attempt(plain, (plain,), "PyPI, plain version (the local-version CPU wheel was not found)"),
        ),
    )


def install(chosen: Plan, pip: list[str], python: str, version: str) -> int:
    """Try each attempt in order; say which build got installed. Non-zero when none installed.

    A torch of the locked version and the chosen build is kept; one of the other build is removed first
    (pip counts 2.13.0+cpu as satisfying torch==2.13.0, so it would never swap a CPU build for the CUDA one)."""
    current = installed_build(python)
    if current.startswith(f"torch {version}") and current.endswith(f"{chosen.build.upper()} build"):
        print(f"torch: keeping {current} ({chosen.build} build chosen: {chosen.reason})")
        return 0
    if current.startswith("torch "):
        print(f"torch: removing {current} ({chosen.build} build chosen: {chosen.reason})", flush=True)
        subprocess.run([*pip, "uninstall", "--quiet", "--yes", "torch"], check=False)
    for attempt in chosen.attempts:
        print(f"torch: installing {attempt.requirement} from {attempt.source} ...", flush=True)
        done = subprocess.run([*pip, "install", "--quiet", *attempt.pip_args], capture_output=True, text=True)
        if done.returncode == 0:
            print(f"torch: installed {installed_build(python)} ({chosen.build} build chosen: {chosen.reason})")
            return 0
        tail = (done.stderr.strip() or done.stdout.strip()).splitlines()
        print(f"torch: {attempt.requirement} not installed from there ({tail[-1] if tail else 'pip failed'})", file=sys.stderr)
    print("torch: no build could be installed; see pip's messages above", file=sys.stderr)
    return 1


def installed_build(python: str) -> str:
    """What the interpreter imports: 'torch 2.13.0+cpu, CPU build' or 'torch 2.13.0, CUDA 12.8, CUDA build'."""
    code = "import torch; print(torch.__version__, torch.version.cuda or '')"
    probe = subprocess.run([python, "-c", code], capture_output=True, text=True, timeout=300)
    if probe.returncode != 0:
        return "no importable torch (" + (probe.stderr.strip().splitlines() or ["?"])[-1] + ")"
    version, _, cuda = probe.stdout.strip().partition(" ")
    return f"torch {version}, " + (f"CUDA {cuda}, CUDA build" if cuda else "CPU build")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["plan", "install"])
    parser.add_argument("--lock", type=Path, default=LOCK)
    parser.add_argument("--python", default=sys.executable, help="the interpreter to install into (default: this one)")
    parser.add_argument("--pip", help="the pip command (default: PYTHON -m pip)")
    args = parser.parse_args(argv)
    version, local = locked_version(args.lock)
    chosen = plan(detect_gpu(), version, local)
    if args.action == "plan":
        print(json.dumps(asdict(chosen), indent=1))
        return 0
    pip = args.pip.split() if args.pip else [args.python, "-m", "pip"]
    return install(chosen, pip, args.python, version)


if __name__ == "__main__":
    sys.exit(main())
