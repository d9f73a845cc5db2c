"""The container and Kubernetes artifacts agree with the server they deploy."""

from __future__ import annotations

import ast
import json
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

from .conftest import free_port, http

REPO = Path(__file__).resolve().parents[2]
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


def _engine_problem() -> str | None:
    docker = shutil.which("docker") or shutil.which("podman")
    if not docker:
        return "no docker or podman CLI on PATH"
    p = subprocess.run([docker, "info"], capture_output=True, text=True, timeout=30)
    if p.returncode != 0:
        return f"no Docker-compatible engine reachable ({docker} info: {(p.stderr or p.stdout).strip()[:160]})"
    return None


@pytest.mark.container
def test_container_builds_and_serves(tmp_path):
    problem = _engine_problem()
    if problem:
        pytest.skip(problem)
    docker = shutil.which("docker") or shutil.which("podman")
    tag = "radstream-model-server:test"
    subprocess.run([docker, "build", "-t", tag, str(MS)], check=True, timeout=1200)
    port = free_port()
    cid = subprocess.run([docker, "run", "-d", "--rm", "-p", f"127.0.0.1:{port}:8080", tag],
                         check=True, capture_output=True, text=True).stdout.strip()
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/models/chestxray14-stub", timeout=2) as r:
                    meta = json.loads(r.read())
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(1)
        assert meta["parameters"]["stub"] is True
    finally:
        subprocess.run([docker, "rm", "-f", cid], capture_output=True)
