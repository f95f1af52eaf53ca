"""The engines that do the scaling, checked offline: compose's and Kubernetes' sweep master and workers.

Kubernetes: `kubectl kustomize` renders the CPU base and the GPU overlay, and every rendered object validates
against the Kubernetes API schemas shipped by the kubernetes-validate package (no cluster). Both engines: the
workers' command line must be the one the sweep's master prints for its own flags, or the workers would be
refused; the master's Service must select the sweep's pod and port.
"""

from __future__ import annotations

import argparse
import re
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from harness.cli.main import build_parser
from harness.load.roster import worker_command
from helpers.requirements import require_or_skip

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "docker" / "k8s"
KUBERNETES_VERSION = "1.32.0"  # the schemas of a current Kubernetes release, as kubernetes-validate ships them


def sweep_args(words: list[str]) -> argparse.Namespace:
    args = build_parser().parse_args(words)
    assert args.command == "sweep"
    return args


def expected_worker_words(args: argparse.Namespace, master_host: str) -> list[str]:
    """What the master started with these flags prints for its workers (the sweep's --seed is --input-seed; no
    --arrivals is constant; no --schedule is left out)."""
    options = argparse.Namespace(
        model=args.model, batch_size=args.batch_size, input_seed=args.seed, arrivals=args.arrivals or "constant"
    )
    port = args.master_port
    return shlex.split(worker_command(master_host, port, options))


def with_defaults(text: str) -> str:
    """Compose's ${NAME:-default}, taken at its default (what `docker compose config` gives with nothing set)."""
    return re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", text)


def test_compose_runs_the_sweep_as_master_and_its_scaled_workers_join_it() -> None:
    compose = yaml.safe_load(with_defaults((ROOT / "docker" / "compose.yaml").read_text()))
    services = compose["services"]
    args = sweep_args(shlex.split(services["harness"]["command"]))
    assert (args.expect_workers, args.master_bind, args.master_port, args.url) == (2, "0.0.0.0", 5557, "triton:8001")
    worker = services["locust-worker"]
    assert [*worker["entrypoint"], *shlex.split(worker["command"])] == expected_worker_words(args, "harness")
    assert "profiles" not in services["harness"] and services["locust-master"]["profiles"] == ["ui"]


def render(folder: Path) -> list[dict[str, Any]]:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        require_or_skip("the Kubernetes manifests are rendered with `kubectl kustomize` (install kubectl)")
    result = subprocess.run([kubectl, "kustomize", str(folder)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def by_kind(objects: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(o["kind"], o["metadata"]["name"]): o for o in objects}


def container(obj: dict[str, Any]) -> dict[str, Any]:
    (only,) = obj["spec"]["template"]["spec"]["containers"]
    return only


@pytest.mark.parametrize("folder", ["base", "overlays/gpu"])
def test_kubernetes_manifests_render_and_validate_against_the_api_schemas(folder: str) -> None:
    objects = render(K8S / folder)
    for obj in objects:
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
    rendered = by_kind(objects)
    assert set(rendered) == {
        ("Deployment", "triton"),
        ("Service", "triton"),
        ("Job", "harness-sweep"),
        ("Service", "harness-master"),
        ("Deployment", "locust-worker"),
        ("PersistentVolumeClaim", "harness-results"),
    }
    job, master = rendered[("Job", "harness-sweep")], rendered[("Service", "harness-master")]
    args = sweep_args(container(job)["args"])
    assert args.expect_workers == rendered[("Deployment", "locust-worker")]["spec"]["replicas"]
    assert args.master_bind == "0.0.0.0" and args.url == "triton:8001"
    assert master["spec"]["selector"].items() <= job["spec"]["template"]["metadata"]["labels"].items()
    assert [p["port"] for p in master["spec"]["ports"]] == [args.master_port]
    assert [p["containerPort"] for p in container(job)["ports"]] == [args.master_port]
    worker = container(rendered[("Deployment", "locust-worker")])
    assert [*worker["command"], *worker["args"]] == expected_worker_words(args, "harness-master")
    limits = container(rendered[("Deployment", "triton")]).get("resources", {}).get("limits", {})
    gpu = folder == "overlays/gpu"
    assert limits == ({"nvidia.com/gpu": 1} if gpu else {})
    assert args.instances == ("cpu:1,gpu:1" if gpu else "cpu:1")


def test_the_fetch_pod_mounts_the_results_the_sweep_writes() -> None:
    (pod,) = [d for d in yaml.safe_load_all((K8S / "fetch-results.yaml").read_text()) if d]
    kubernetes_validate.validate(pod, KUBERNETES_VERSION, strict=True)
    job = yaml.safe_load_all((K8S / "base" / "sweep.yaml").read_text())
    claims = {
        v["persistentVolumeClaim"]["claimName"]
        for d in job
        if d and d["kind"] == "Job"
        for v in d["spec"]["template"]["spec"]["volumes"]
    }
    assert claims == {v["persistentVolumeClaim"]["claimName"] for v in pod["spec"]["volumes"]} == {"harness-results"}


# Fields of kustomize 3+ that Debian bookworm's kubectl 1.20 (kustomize 2, what scripts/kubectl_setup.sh installs
# on a fresh machine) rejects: "unknown field labels", inline `patches`, a folder under `resources`.
_KUSTOMIZE_2_REJECTS = ("labels", "patches", "components")


@pytest.mark.parametrize("folder", ["base", "overlays/gpu"])
def test_kustomizations_use_what_debians_kubectl_renders_too(folder: str) -> None:
    """Checked by hand: kubectl 1.20 (kubernetes-client, dpkg -x) and 1.32 render these to the same objects."""
    kustomization = yaml.safe_load((K8S / folder / "kustomization.yaml").read_text())
    assert not set(kustomization) & set(_KUSTOMIZE_2_REJECTS)
    assert all((K8S / folder / entry).is_file() for entry in kustomization.get("resources", []))
