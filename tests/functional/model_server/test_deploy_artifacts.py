"""The container and Kubernetes artifacts agree with the server they deploy."""

from __future__ import annotations

import ast
import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from radstream.tooling.stack.embedded import free_port
from support.model_server import http

REPO = Path(__file__).resolve().parents[3]
MS = REPO / "model_server"
K8S = MS / "k8s"


def _render(overlay: str) -> list[dict]:
    kubectl = shutil.which("kubectl")
    if kubectl:
        out = subprocess.run([kubectl, "kustomize", str(K8S / overlay)], check=True, capture_output=True,
                             text=True, timeout=60).stdout
        return [d for d in yaml.safe_load_all(out) if d]
    # Without kubectl: read the listed resources (no patches applied).
    kust = yaml.safe_load((K8S / overlay / "kustomization.yaml").read_text())
    docs = []
    for res in kust["resources"]:
        p = (K8S / overlay / res).resolve()
        docs += _render(str(p.relative_to(K8S))) if p.is_dir() else list(yaml.safe_load_all(p.read_text()))
    return docs


def _by_kind(docs):
    return {d["kind"]: d for d in docs}


def test_base_has_no_autoscaler_and_probes_hit_v2_health(model_server):
    docs = _by_kind(_render("base"))
    assert "HorizontalPodAutoscaler" not in docs
    dep = docs["Deployment"]
    assert dep["spec"]["replicas"] >= 1
    [c] = dep["spec"]["template"]["spec"]["containers"]
    assert c["readinessProbe"]["httpGet"]["path"] == "/v2/health/ready"
    assert c["livenessProbe"]["httpGet"]["path"] == "/v2/health/live"
    assert c["resources"]["requests"] and c["resources"]["limits"]
    assert dep["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"] is True
    for probe in ("readinessProbe", "livenessProbe"):
        status, _, _ = http("GET", model_server.url + c[probe]["httpGet"]["path"])
        assert status == 200
    svc = docs["Service"]
    assert svc["spec"]["selector"] == dep["spec"]["selector"]["matchLabels"]
    assert svc["spec"]["ports"][0]["targetPort"] == c["ports"][0]["name"]


def test_autoscaling_overlay_adds_hpa_for_the_deployment():
    docs = _by_kind(_render("autoscaling"))
    hpa, dep = docs["HorizontalPodAutoscaler"], docs["Deployment"]
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment",
                                            "name": dep["metadata"]["name"]}
    assert 1 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]
    if shutil.which("kubectl"):  # the overlay's patch ran: the HPA owns the replica count
        assert "replicas" not in dep["spec"]


def test_dockerfile_is_slim_nonroot_with_healthcheck():
    text = (MS / "Dockerfile").read_text()
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.strip().startswith("#")]
    assert lines[0] == "ARG BASE_IMAGE=python:3.11-slim" and lines[1] == "FROM ${BASE_IMAGE}"
    user = [ln for ln in lines if ln.startswith("USER ")][-1]
    assert not re.match(r"USER\s+(root|0)\b", user)
    assert re.search(r"HEALTHCHECK .*?/v2/health/ready", text, re.S)


def test_container_requirements_cover_the_package_imports():
    reqs = {re.split(r"[=<>\[ ]", ln)[0].lower().replace("-", "_")
            for ln in (MS / "requirements.txt").read_text().splitlines() if ln and not ln.startswith("#")}
    dist_of = {"prometheus_client": "prometheus_client"}
    stdlib = set(sys.stdlib_module_names)
    missing = set()
    for py in (MS / "radstream_model_server").rglob("*.py"):
        for node in ast.walk(ast.parse(py.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for n in names:
                top = n.split(".")[0]
                if top not in stdlib and top != "radstream_model_server" and dist_of.get(top, top) not in reqs:
                    missing.add(top)
    assert not missing, f"model_server/requirements.txt lacks {sorted(missing)}"


def _container_cli() -> tuple[str | None, str]:
    """(cli, reason-if-none). Uses RADSTREAM_CONTAINER_CLI (e.g. podman) if set, else docker
    when `docker info` reaches an engine (a real one, or podman's socket via DOCKER_HOST)."""
    import os

    wanted = os.environ.get("RADSTREAM_CONTAINER_CLI")
    cli = shutil.which(wanted) if wanted else shutil.which("docker")
    if not cli:
        return None, (f"{wanted} not on PATH" if wanted else
                      "no docker CLI on PATH (set RADSTREAM_CONTAINER_CLI=podman to use podman)")
    p = subprocess.run([cli, "info"], capture_output=True, text=True, timeout=60)
    if p.returncode != 0:
        return None, (f"no Docker-compatible engine reachable ({cli} info: "
                      f"{(p.stderr or p.stdout).strip()[:160]}); set DOCKER_HOST or RADSTREAM_CONTAINER_CLI=podman")
    return cli, ""


@pytest.mark.container
def test_container_builds_and_serves():
    """Build model_server/ as the docs say, run it like the Deployment does (non-root, read-only
    root filesystem), and talk to it with tritonclient. BASE_IMAGE: RADSTREAM_TEST_BASE_IMAGE
    (default python:3.11-slim, pulled if missing)."""
    import os

    cli, reason = _container_cli()
    if not cli:
        pytest.skip(reason)
    base = os.environ.get("RADSTREAM_TEST_BASE_IMAGE", "python:3.11-slim")
    if subprocess.run([cli, "image", "inspect", base], capture_output=True).returncode != 0:
        pull = subprocess.run([cli, "pull", base], capture_output=True, text=True, timeout=300)
        if pull.returncode != 0:
            pytest.skip(f"base image {base} is not present and cannot be pulled "
                        f"({pull.stderr.strip()[:160]}); set RADSTREAM_TEST_BASE_IMAGE to a local Python 3.11+ image")
    is_podman = "podman" in subprocess.run([cli, "--version"], capture_output=True, text=True).stdout.lower()
    tag = "radstream-model-server:test"
    build = [cli, "build", "--build-arg", f"BASE_IMAGE={base}", "-t", tag]
    if is_podman:
        build += ["--format", "docker"]  # OCI format drops HEALTHCHECK
    subprocess.run(build + [str(MS)], check=True, capture_output=True, timeout=1200)

    inspect = json.loads(subprocess.run([cli, "image", "inspect", tag], check=True, capture_output=True,
                                        text=True).stdout)[0]
    config = inspect.get("Config") or inspect.get("config") or {}
    healthcheck = config.get("Healthcheck") or inspect.get("Healthcheck") or {}  # docker | podman
    assert "/v2/health/ready" in " ".join(healthcheck.get("Test") or [])
    assert config.get("User") not in (None, "", "root", "0", "0:0")

    port = free_port()
    cid = subprocess.run([cli, "run", "-d", "--rm", "--read-only", "--tmpfs", "/tmp",
                          "-p", f"127.0.0.1:{port}:8080", tag],
                         check=True, capture_output=True, text=True).stdout.strip()
    try:
        import numpy as np
        import tritonclient.http as httpclient

        client = httpclient.InferenceServerClient(f"127.0.0.1:{port}")
        deadline = time.monotonic() + 90
        while True:
            try:
                if client.is_server_ready():
                    break
            except Exception:
                pass
            if time.monotonic() > deadline:
                logs = subprocess.run([cli, "logs", cid], capture_output=True, text=True)
                pytest.fail(f"container not ready in 90 s:\n{logs.stdout}{logs.stderr}")
            time.sleep(0.5)
        assert client.get_model_metadata("chestxray14-stub")["parameters"]["stub"] is True
        inp = httpclient.InferInput("input", [1, 1, 224, 224], "FP32")
        inp.set_data_from_numpy(np.zeros((1, 1, 224, 224), np.float32))
        assert client.infer("chestxray14-stub", [inp]).as_numpy("scores").shape == (1, 14)
        uid = subprocess.run([cli, "exec", cid, "id", "-u"], capture_output=True, text=True).stdout.strip()
        assert uid == "10001"
        if is_podman:
            assert subprocess.run([cli, "healthcheck", "run", cid], capture_output=True).returncode == 0
    finally:
        subprocess.run([cli, "rm", "-f", cid], capture_output=True, timeout=60)
