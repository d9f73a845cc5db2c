"""docker-compose.yml, through Docker Compose v2 (driven by testcontainers): the file validates, the
LocalStack service is pinned and wired as the localstack target needs, and `docker compose up
model-server` builds the image, starts it and answers its health check.

Each test uses a private project (own name, network and 127.0.0.1 ports), so a developer's own
`docker compose up` is never touched."""

from __future__ import annotations

import json
import urllib.request

import numpy as np
import pytest

from radstream.deployed.inference import infer
from radstream.infra.targets import resolve
from support.containers import compose_project, wait_for
from support.model_server import STUB_NAME

pytestmark = pytest.mark.container

TOKEN_FREE_LOCALSTACK = "localstack/localstack:4.14.0"


def test_compose_config_validates_and_wires_the_localstack_target(container_engine, monkeypatch):
    compose, env = compose_project(container_engine, monkeypatch)
    config = compose.get_config()  # `docker compose config`: fails on an invalid file
    localstack, model = config["services"]["localstack"], config["services"]["model-server"]
    network = config["networks"]["radstream"]["name"]
    assert network == env["RADSTREAM_NETWORK"]

    assert localstack["image"] == TOKEN_FREE_LOCALSTACK  # not a moving tag: later images need a token
    assert localstack["environment"]["LAMBDA_DOCKER_NETWORK"] == network  # Lambda containers reach model-server
    assert localstack["environment"]["LOCALSTACK_AUTH_TOKEN"] == ""
    assert "cloudformation" in localstack["environment"]["SERVICES"].split(",")
    assert any(v["target"] == "/var/run/docker.sock" and v["source"] == env["RADSTREAM_DOCKER_SOCKET"]
               for v in localstack["volumes"])
    assert [(p["host_ip"], p["published"], p["target"]) for p in localstack["ports"]] == [
        ("127.0.0.1", env["LOCALSTACK_PORT"], 4566)]
    assert "_localstack/health" in " ".join(localstack["healthcheck"]["test"])

    assert model["build"]["args"]["BASE_IMAGE"] == env["RADSTREAM_BASE_IMAGE"]
    assert [(p["host_ip"], p["published"], p["target"]) for p in model["ports"]] == [
        ("127.0.0.1", env["RADSTREAM_MODEL_PORT"], 8080)]
    assert "/v2/health/ready" in " ".join(model["healthcheck"]["test"])
    assert model["read_only"] is True and "radstream" in model["networks"] and "radstream" in localstack["networks"]
    # the endpoint deploy gives run-inference on this target is the service's name on that network
    assert resolve("localstack").model_endpoint == "http://model-server:8080"


def test_compose_passes_a_token_and_a_newer_localstack_image_through(container_engine, monkeypatch):
    compose, _ = compose_project(container_engine, monkeypatch, LOCALSTACK_AUTH_TOKEN="ls-test-token",
                                 LOCALSTACK_IMAGE="localstack/localstack:2026.3.0")
    localstack = compose.get_config()["services"]["localstack"]
    assert localstack["image"] == "localstack/localstack:2026.3.0"
    assert localstack["environment"]["LOCALSTACK_AUTH_TOKEN"] == "ls-test-token"


def test_compose_up_model_server_builds_starts_and_answers_its_health_check(container_engine, monkeypatch):
    compose, env = compose_project(container_engine, monkeypatch, services=["model-server"], build=True)
    compose.start()  # docker compose up --build --detach model-server
    try:
        url = f"http://127.0.0.1:{env['RADSTREAM_MODEL_PORT']}"

        def ready() -> bool:
            try:
                with urllib.request.urlopen(url + "/v2/health/ready", timeout=2) as response:
                    return response.status == 200
            except OSError:
                return False

        wait_for(ready, 120, f"model-server from `docker compose up` not ready at {url}")
        service = compose.get_container("model-server")
        client = container_engine.client()
        try:
            container = client.containers.get(service.ID)
            # the health check compose declares, run as the engine would run it (podman without
            # systemd does not schedule it; Docker does)
            test = container.attrs["Config"]["Healthcheck"]["Test"]
            assert test[0] == "CMD-SHELL" and len(test) == 2, test
            result = container.exec_run(["/bin/sh", "-c", test[1]])
            assert result.exit_code == 0, result.output
            assert container.attrs["Config"]["Image"].endswith("radstream-model-server:0.1.0")
        finally:
            client.close()
        result = infer(np.zeros((1, 1, 224, 224), np.float32), endpoint=url, model_name=STUB_NAME)
        assert result["stub"] is True and len(result["scores"]) == 14
        assert json.dumps(result)
    finally:
        compose.stop()
    assert not [c for c in compose.get_containers(include_all=True)], "docker compose down left containers"
