#!/usr/bin/env bash
# Create .venv and install the harness with its pinned dependencies (idempotent: quick when nothing changed).
# torch: the build this machine can use (scripts/torch_build.py): the CUDA build where nvidia-smi lists a GPU,
# the CPU build (the lock's torch==2.13.0+cpu, else plain torch==2.13.0) elsewhere; it says which it installed.
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
  # The lock's torch pin is a local version (+cpu) that only some wheel folders serve: torch_build.py picks it.
  grep -v '^torch==' requirements.lock > .venv/requirements-without-torch.txt
  .venv/bin/python -m pip install --quiet --no-deps -r .venv/requirements-without-torch.txt 2>&1 \
    | grep -v "^WARNING: Location" || true
  .venv/bin/python scripts/torch_build.py install \
    || { echo "setup: torch failed to install; see the messages above" >&2; exit 1; }
  .venv/bin/python -m pip install --quiet --no-deps -e . 2>&1 | grep -v "^WARNING: Location" || true
  .venv/bin/python -c "import locust, harness, torch, tritonclient.grpc, plotly, hdrh, pytriton" \
    || { echo "setup: dependencies failed to install; see pip's messages above" >&2; exit 1; }
  touch "$stamp"
fi

# The compiled lean engine (harness/load/engine/cpp/lean_engine.cc): gRPC C++, libcurl and msgpack-cxx from Debian, built once
# into ~/.cache/triton-harness. Without them the load generator falls back to its slower Python engine.
engine_packages="g++ pkg-config libgrpc++-dev libcurl4-openssl-dev libmsgpack-cxx-dev"
if ! pkg-config --exists grpc++ libcurl 2>/dev/null || [ ! -f /usr/include/msgpack.hpp ]; then
  echo "installing $engine_packages (Debian) for the compiled lean engine ..."
  sudo_cmd=""; [ "$(id -u)" = 0 ] || sudo_cmd="sudo"
  { $sudo_cmd apt-get update -qq && $sudo_cmd apt-get install -y -qq --no-install-recommends $engine_packages >/dev/null; } \
    || echo "setup: could not install $engine_packages; the load generator will use its slower Python engine" >&2
fi
.venv/bin/python -m harness.load.engine.compiled >/dev/null \
  || echo "setup: the compiled lean engine did not build (see above); the Python engine will be used" >&2

# kubectl (the Kubernetes manifest tests render docker/k8s with `kubectl kustomize`): Debian's package where absent.
scripts/kubectl_setup.sh || echo "setup: no kubectl; tests/load/test_distributed_deploy.py will fail under CI=true" >&2
