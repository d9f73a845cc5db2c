"""The `localstack` target's stack: Docker Compose with LocalStack and the model server.

A thin wrapper over `docker compose` so `radstream up --target localstack` works like the
embedded target: start in the background, wait until healthy, then deploy.
"""

from __future__ import annotations

import shutil
import subprocess
import time
import urllib.request
from pathlib import Path

from radstream.tooling.errors import StackError

COMPOSE_FILE = Path(__file__).resolve().parents[4] / "docker-compose.yml"  # the repository root


def _compose(*args: str) -> None:
    if shutil.which("docker") is None:
        raise StackError("the localstack target needs Docker with the compose plugin; none found on PATH "
                         "(use the embedded target: `radstream up`)")
    if subprocess.run(["docker", "compose", "version"], capture_output=True).returncode != 0:
        raise StackError("the localstack target needs the Docker Compose v2 plugin (`docker compose`), "
                         "which is not installed")
    if subprocess.run(["docker", "info"], capture_output=True).returncode != 0:
        raise StackError("no Docker engine is reachable (`docker info` fails); start one, or use the "
                         "embedded target: `radstream up`")
    if not COMPOSE_FILE.exists():
        raise StackError(f"{COMPOSE_FILE} not found: run from a checkout of the RadStream repository")
    result = subprocess.run(["docker", "compose", "-f", str(COMPOSE_FILE), *args], capture_output=True, text=True)
    if result.returncode != 0:
        raise StackError(f"docker compose {' '.join(args)} failed: {result.stderr.strip() or result.stdout.strip()}")


def up(endpoint: str, timeout_s: float = 180.0) -> None:
    _compose("up", "-d")
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"{endpoint}/_localstack/health", timeout=2).read()
            return
        except OSError:
            time.sleep(1)
    raise StackError(f"LocalStack did not answer at {endpoint} within {timeout_s:.0f} s; see `docker compose logs`")


def down() -> None:
    _compose("down")
