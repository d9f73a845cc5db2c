"""Containers in the tests: the engine (docker SDK), the model-server image and container (testcontainers).

Without a Docker-compatible engine the container tests skip and say why; with
``RADSTREAM_REQUIRE_ENGINE=1`` (set by .ci/run, which makes one reachable first) they fail instead, so
CI cannot pass by skipping them. Images build ``FROM $RADSTREAM_BASE_IMAGE`` (default
``python:3.11-slim``): on machines without a registry, .ci/container-engine.sh builds a local base and
sets it. Every container a test starts is removed by the test (Ryuk, testcontainers' reaper, is off
unless its image is already present: it cannot be pulled without a registry).
"""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path

import pytest

from radstream.tooling.stack.embedded import free_port
from radstream.tooling.stack.engine import Engine, EngineUnavailable, find_engine
from support.model_server import RunningServer

REPO = Path(__file__).resolve().parents[2]
MODEL_SERVER_DIR = REPO / "model_server"
MODEL_SERVER_IMAGE = "radstream-model-server:0.1.0"  # the tag docker-compose.yml gives it
DEFAULT_BASE_IMAGE = "python:3.11-slim"


def base_image() -> str:
    return os.environ.get("RADSTREAM_BASE_IMAGE") or DEFAULT_BASE_IMAGE


def engine_or_skip() -> Engine:
    try:
        engine = find_engine()
    except EngineUnavailable as exc:
        if os.environ.get("RADSTREAM_REQUIRE_ENGINE") == "1":
            pytest.fail(f"RADSTREAM_REQUIRE_ENGINE=1 but {exc}")
        pytest.skip(str(exc))
    _configure_testcontainers(engine)
    return engine


def _configure_testcontainers(engine: Engine) -> None:
    """Point testcontainers at this engine; ports are published on this machine's loopback.

    Environment settings (DOCKER_HOST, TESTCONTAINERS_*, TC_HOST) win. Without them, testcontainers
    guesses from /.dockerenv that it runs inside a container and would dial the default gateway
    instead of 127.0.0.1, where a local engine publishes.
    """
    from testcontainers.core.config import ConnectionMode, testcontainers_config as config

    os.environ.setdefault("DOCKER_HOST", engine.base_url)
    if engine.base_url.startswith("unix://"):
        if not os.environ.get("TESTCONTAINERS_CONNECTION_MODE"):
            config.connection_mode_override = ConnectionMode.docker_host
        if not (os.environ.get("TC_HOST") or os.environ.get("TESTCONTAINERS_HOST_OVERRIDE")):
            config.tc_host_override = "127.0.0.1"
    if not os.environ.get("TESTCONTAINERS_RYUK_DISABLED"):
        config.ryuk_disabled = not image_present(engine, config.ryuk_image)


def image_present(engine: Engine, image: str) -> bool:
    import docker.errors

    client = engine.client()
    try:
        client.images.get(image)
        return True
    except docker.errors.ImageNotFound:
        return False
    finally:
        client.close()


def build_model_server_image(engine: Engine) -> str:
    """Build model_server/ FROM the base image with testcontainers; the layers stay cached in the engine."""
    import docker.errors
    from testcontainers.core.image import DockerImage

    base = base_image()
    try:
        DockerImage(path=MODEL_SERVER_DIR, tag=MODEL_SERVER_IMAGE, clean_up=False,
                    buildargs={"BASE_IMAGE": base}, rm=True).build()
    except (docker.errors.BuildError, docker.errors.APIError) as exc:
        pytest.fail(f"building {MODEL_SERVER_IMAGE} FROM {base} on {engine.name} failed: {exc}. Without a "
                    f"registry, .ci/container-engine.sh builds a local base and sets RADSTREAM_BASE_IMAGE.")
    return MODEL_SERVER_IMAGE


def start_model_server_container(image: str, *, timeout_s: float = 120.0, **env: str) -> RunningServer:
    """Run the image as the Kubernetes Deployment does (non-root, read-only root filesystem, /tmp a
    tmpfs), published on 127.0.0.1 at a free port, and wait until /v2/health/ready answers 200."""
    from testcontainers.core.container import DockerContainer
    from testcontainers.core.wait_strategies import HttpWaitStrategy

    container = DockerContainer(image, read_only=True).with_tmpfs_mount("/tmp").with_envs(**env)
    # (address,) = that address, a free port: the docker SDK's form, which with_bind_ports cannot express
    container.ports["8080/tcp"] = ("127.0.0.1",)
    container.waiting_for(HttpWaitStrategy(8080, "/v2/health/ready").for_status_code(200)
                          .with_startup_timeout(int(timeout_s)))
    container.start()
    port = container.get_exposed_port(8080)
    host = container.get_container_host_ip()

    def log() -> str:
        out, err = container.get_logs()
        return (out + err).decode(errors="replace")

    return RunningServer(f"http://{host}:{port}", int(port), "container", log, container.stop,
                         container.get_wrapped_container().id)


def wait_for(predicate, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} within {timeout_s:.0f} s")
        time.sleep(0.5)


COMPOSE_VARIABLES = ("LOCALSTACK_IMAGE", "LOCALSTACK_AUTH_TOKEN", "LOCALSTACK_PORT", "RADSTREAM_MODEL_PORT",
                     "RADSTREAM_NETWORK", "RADSTREAM_BASE_IMAGE", "RADSTREAM_DOCKER_SOCKET")


def compose_project(engine: Engine, monkeypatch, *, services: list[str] | None = None, build: bool = False,
                    **variables: str):
    """(testcontainers DockerCompose over docker-compose.yml, the variables it runs with) for a private
    project: its own name and network, free 127.0.0.1 ports, this engine's socket and the base image.
    The variables replace the caller's environment (compose prefers the shell's over any env file)."""
    from testcontainers.compose import DockerCompose

    name = f"radstream-test-{uuid.uuid4().hex[:8]}"
    env = {"COMPOSE_PROJECT_NAME": name, "RADSTREAM_NETWORK": name, "LOCALSTACK_PORT": str(free_port()),
           "RADSTREAM_MODEL_PORT": str(free_port()), "RADSTREAM_BASE_IMAGE": base_image(),
           "RADSTREAM_DOCKER_SOCKET": engine.socket_path or "/var/run/docker.sock", **variables}
    for key in COMPOSE_VARIABLES:
        monkeypatch.delenv(key, raising=False)
    for key, value in {**env, **{k: v for k, v in engine.cli_env().items() if k.startswith("DOCKER_")}}.items():
        monkeypatch.setenv(key, value)
    compose = DockerCompose(context=REPO, compose_file_name="docker-compose.yml", services=services, build=build,
                            wait=False)  # --wait needs the engine to run health checks: podman without systemd does not
    return compose, env
