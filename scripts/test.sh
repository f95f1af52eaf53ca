#!/usr/bin/env bash
# Install what the tests need (venv, Chromium for the browser tests) and run the whole suite:
# unit tests, integration tests against a real tritonserver, real Locust processes, headless Chromium.
#   scripts/test.sh [pytest args]           the whole suite (CI's)
#   scripts/test.sh --quick [pytest args]   the quick tier: the unit tests and the few marked `quick` (one real
#                                           Triton, one Locust run, one browser page); no `heavy` builds
set -euo pipefail
cd "$(dirname "$0")/.."
select=()
if [ "${1:-}" = "--quick" ]; then
  shift
  select=(-m "quick or not (integration or browser or heavy)")
fi
scripts/setup.sh
if [ ! -x /usr/bin/chromium ]; then
  echo "installing Debian's chromium for the browser tests ..."
  if [ "$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium >/dev/null
  else sudo apt-get update -qq && sudo apt-get install -y -qq chromium >/dev/null; fi
fi
# Guards first (seconds): style, formatting and import order, the import contracts between the rooms, the types.
.venv/bin/ruff check --quiet .
.venv/bin/ruff format --check --quiet . || { echo "ruff format would change the files above: run .venv/bin/ruff format ." >&2; exit 1; }
.venv/bin/lint-imports --no-cache >/dev/null || .venv/bin/lint-imports --no-cache
.venv/bin/mypy  # the rooms listed under [tool.mypy] in pyproject.toml
exec .venv/bin/python -m pytest -q -p no:cacheprovider --durations=25 "${select[@]}" "$@"
