#!/usr/bin/env bash
# GPU check (prepared script, well under 10 minutes): resnet50 on KIND_GPU vs KIND_CPU, printed and saved under
# results/gpu/. Without a GPU it still runs: the CPU part, the GPU part reported as skipped.
# Uses .venv (scripts/setup.sh) or the python given in $PYTHON (e.g. a machine with CUDA torch preinstalled).
set -euo pipefail
cd "$(dirname "$0")/.."
python_bin="${PYTHON:-}"
if [ -z "$python_bin" ]; then scripts/setup.sh; python_bin=.venv/bin/python; fi
mkdir -p results/gpu
out="results/gpu/gpu_check-$(hostname)-$(date -u +%Y%m%dT%H%M%SZ).txt"
"$python_bin" scripts/gpu_check.py "$@" 2>&1 | tee "$out"
echo "saved: $out"
