"""The container and Kubernetes artifacts agree with the server they deploy."""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

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


@pytest.mark.parametrize("model_server", ["container"], indirect=True)
def test_container_runs_nonroot_and_passes_its_healthcheck(model_server, container_engine):
    """The image built from model_server/Dockerfile (the session's container) runs as uid 10001, and the
    HEALTHCHECK it declares passes. The check's command is run here in the container: podman without
    systemd (CI) does not schedule health checks itself, Docker does."""
    client = container_engine.client()
    try:
        container = client.containers.get(model_server.container_id)
        healthcheck = container.attrs["Config"].get("Healthcheck") or {}
        test = healthcheck.get("Test") or []
        assert test[:1] == ["CMD"] and "/v2/health/ready" in " ".join(test), healthcheck
        result = container.exec_run(test[1:])
        assert result.exit_code == 0, result.output
        assert container.exec_run(["id", "-u"]).output.strip() == b"10001"
        assert container.attrs["HostConfig"]["ReadonlyRootfs"] is True
    finally:
        client.close()
