#!/usr/bin/env bash
# kubectl for the Kubernetes manifest tests (`kubectl kustomize docker/k8s/...`), where it is missing: Debian's
# kubernetes-client (bookworm: kubectl 1.20, kustomize 2). docker/k8s is written in the kustomize form that it and
# current kubectl (kustomize 5) render to the same objects (bases + patchesJson6902 files, labels in the manifests).
set -euo pipefail
if command -v kubectl >/dev/null 2>&1; then
  exit 0
fi
echo "installing kubernetes-client (Debian) for kubectl kustomize ..."
sudo_cmd=""; [ "$(id -u)" = 0 ] || sudo_cmd="sudo"
{ $sudo_cmd apt-get update -qq && $sudo_cmd apt-get install -y -qq --no-install-recommends kubernetes-client >/dev/null; } \
  || { echo "setup: could not install kubernetes-client; the Kubernetes manifest tests need kubectl" >&2; exit 1; }
