#!/usr/bin/env bash
# The main job: install (first time), then a capacity sweep of mnist_cnn on the bundled model repository with its own
# Triton server, cpu:1 vs cpu:2 instance groups, each raised by the concurrency search until its throughput stops
# growing or the SLO breaks (the curve's knee). Extra flags go to `harness sweep`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec .venv/bin/harness sweep --model mnist_cnn --instances cpu:1,cpu:2 --concurrency auto \
  --warmup 1s --window 2s --max-windows 6 --slo p99=100ms "$@"
