#!/usr/bin/env bash
# The main job: install (first time), then a short capacity sweep of mnist_cnn on the bundled model repository
# with its own Triton server, cpu:1 vs cpu:2 instance groups. Extra flags go to `harness sweep`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec .venv/bin/harness sweep --model mnist_cnn --instances cpu:1,cpu:2 --concurrency 1,2,4,8 \
  --warmup 2s --window 2s --max-windows 6 --slo p99=100ms "$@"
