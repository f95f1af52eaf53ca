#!/usr/bin/env bash
# The worked comparison kept in results/examples/: sweep mnist_cnn (float32), mnist_cnn_int8 and resnet50 on
# CPU instance groups (and a GPU group, skipped where there is none), then compare and decide.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
out=${1:-results/examples}
common=(--warmup 2s --window 2s --max-windows 6 --slo p99=100ms --instances cpu:1,cpu:2,gpu:1)
.venv/bin/harness sweep --model mnist_cnn --concurrency 1,2,4,8,16 --label float32 --output "$out/mnist_cnn" "${common[@]}"
.venv/bin/harness sweep --model mnist_cnn_int8 --concurrency 1,2,4,8,16 --label int8 --output "$out/mnist_cnn_int8" "${common[@]}"
.venv/bin/harness sweep --model resnet50 --concurrency 1,2,4 --label resnet50 --output "$out/resnet50" "${common[@]}"
.venv/bin/harness compare "$out/mnist_cnn" "$out/mnist_cnn_int8" "$out/resnet50" -o "$out/compare.html" \
  --target-rps 500 --slo p99=50ms --cost cpu:1=0.05,cpu:2=0.10,gpu:1=2.50 | tee "$out/compare.txt"
.venv/bin/harness verdict "$out/resnet50" --target-rps 50 --slo p99=200ms --cost cpu:1=0.05,cpu:2=0.10,gpu:1=2.50 \
  | tee "$out/verdict-resnet50.txt"
# Keep only what is small: the pages and run JSON, not logs or server output.
rm -rf "$out"/*/logs "$out"/*/triton.log "$out"/*/report.html  # harness report DIR rebuilds a report
