"""scripts/setup.sh provides kubectl on a fresh Debian machine (CI needs it for `kubectl kustomize`): the real
script, with a PATH where kubectl is absent and apt-get is a recording fake."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "kubectl_setup.sh"


def _bin(tmp_path: Path, with_kubectl: bool) -> Path:
    folder = tmp_path / "bin"
    folder.mkdir()
    for tool in ("bash", "id", "cat", "env"):
        (folder / tool).symlink_to(shutil.which(tool))  # type: ignore[arg-type]
    fake = folder / "apt-get"
    fake.write_text(f'#!/bin/sh\necho "$*" >> {tmp_path / "apt.log"}\n')
    fake.chmod(0o755)
    if with_kubectl:
        (folder / "kubectl").write_text("#!/bin/sh\n")
        (folder / "kubectl").chmod(0o755)
    (folder / "sudo").write_text('#!/bin/sh\nexec "$@"\n')
    (folder / "sudo").chmod(0o755)
    return folder


def _run(tmp_path: Path, with_kubectl: bool) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": str(_bin(tmp_path, with_kubectl))}
    return subprocess.run(["bash", str(SCRIPT)], capture_output=True, text=True, timeout=30, env=env, cwd=ROOT)


def test_kubectl_missing_installs_debians_kubernetes_client(tmp_path: Path) -> None:
    result = _run(tmp_path, with_kubectl=False)
    assert result.returncode == 0, result.stderr
    calls = (tmp_path / "apt.log").read_text().splitlines()
    assert calls == ["update -qq", "install -y -qq --no-install-recommends kubernetes-client"]


def test_kubectl_present_installs_nothing(tmp_path: Path) -> None:
    result = _run(tmp_path, with_kubectl=True)
    assert result.returncode == 0, result.stderr
    assert not (tmp_path / "apt.log").exists()


def test_setup_calls_it() -> None:
    assert "scripts/kubectl_setup.sh" in (ROOT / "scripts" / "setup.sh").read_text()
