#!/usr/bin/env bash
# Create .venv and install the harness with its pinned dependencies (idempotent: quick when nothing changed).
# torch is the CPU build (torch==2.13.0+cpu): pip finds it in this machine's wheel folder; no CUDA download.
set -euo pipefail
cd "$(dirname "$0")/.."

python_bin="${PYTHON:-$(command -v python3.11 || command -v python3)}"
stamp=.venv/.installed
if [ ! -x .venv/bin/python ]; then
  echo "creating .venv with $python_bin"
  "$python_bin" -m venv .venv
fi
if [ ! -f "$stamp" ] || [ requirements.lock -nt "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo "installing dependencies (requirements.lock) ..."
  .venv/bin/python -m pip install --quiet --upgrade pip 2>&1 | grep -v "^WARNING: Location" || true
  # --no-deps: the lock is the whole, tested closure. (nvidia-pytriton asks for tritonclient[http], whose pin
  # of geventhttpclient conflicts with Locust's; the harness uses neither pytriton's Python API nor HTTP.)
  .venv/bin/python -m pip install --quiet --no-deps -r requirements.lock 2>&1 | grep -v "^WARNING: Location" || true
  .venv/bin/python -m pip install --quiet --no-deps -e . 2>&1 | grep -v "^WARNING: Location" || true
  .venv/bin/python -c "import locust, harness, torch, tritonclient.grpc, plotly, hdrh, pytriton" \
    || { echo "setup: dependencies failed to install; see pip's messages above" >&2; exit 1; }
  touch "$stamp"
fi
