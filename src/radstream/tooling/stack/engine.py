"""Find the Docker-compatible container engine with the docker SDK.

Docker, or podman's Docker API service (``podman system service``, which ``.ci/container-engine.sh``
starts on machines without Docker). The first of these that answers a ping is the engine:
``$DOCKER_HOST``, ``/var/run/docker.sock``, ``/run/podman/podman.sock`` (rootful podman),
``$XDG_RUNTIME_DIR/podman/podman.sock`` (rootless podman). Tools that are not the SDK (``docker
compose``) get the same engine through :meth:`Engine.cli_env`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import docker
import docker.errors

from radstream.tooling.errors import StackError

PODMAN_ROOTFUL_SOCKET = "/run/podman/podman.sock"


class EngineUnavailable(StackError):
    """No Docker-compatible engine answers; the message lists what was tried and why it failed."""


def candidates() -> list[str]:
    found = [os.environ["DOCKER_HOST"]] if os.environ.get("DOCKER_HOST") else []
    found += ["unix:///var/run/docker.sock", f"unix://{PODMAN_ROOTFUL_SOCKET}"]
    if os.environ.get("XDG_RUNTIME_DIR"):
        found.append(f"unix://{os.environ['XDG_RUNTIME_DIR']}/podman/podman.sock")
    return list(dict.fromkeys(found))


@dataclass(frozen=True)
class Engine:
    base_url: str
    version: dict = field(repr=False)

    @property
    def is_podman(self) -> bool:
        components = " ".join(c.get("Name", "") for c in self.version.get("Components") or [])
        return "podman" in (self.version.get("Platform", {}).get("Name", "") + components).lower()

    @property
    def name(self) -> str:
        return f"{'Podman' if self.is_podman else 'Docker'} {self.version.get('Version', '?')} at {self.base_url}"

    @property
    def socket_path(self) -> str | None:
        """The host path of the API socket (what LocalStack mounts to start Lambda containers)."""
        return self.base_url.removeprefix("unix://") if self.base_url.startswith("unix://") else None

    def client(self, timeout: int = 300) -> docker.DockerClient:
        return docker.DockerClient(base_url=self.base_url, timeout=timeout)

    def cli_env(self) -> dict[str, str]:
        """The environment for the docker CLI and ``docker compose``, pointed at this engine."""
        env = dict(os.environ, DOCKER_HOST=self.base_url)
        if self.is_podman:
            env.setdefault("DOCKER_BUILDKIT", "0")  # podman's Docker API has no BuildKit: the classic builder
        return env


def find_engine() -> Engine:
    """The first candidate that answers; EngineUnavailable saying what each one answered otherwise."""
    tried = []
    for url in candidates():
        if url.startswith("unix://") and not os.path.exists(url.removeprefix("unix://")):
            tried.append(f"{url}: no such socket")
            continue
        try:
            client = docker.DockerClient(base_url=url, timeout=10)
            try:
                client.ping()
                return Engine(url, client.version())
            finally:
                client.close()
        except (docker.errors.DockerException, OSError) as exc:
            tried.append(f"{url}: {str(exc).splitlines()[0][:120]}")
    raise EngineUnavailable("no Docker-compatible engine answers (" + "; ".join(tried) + "). Start Docker, or "
                            "on Debian as root: eval \"$(bash .ci/container-engine.sh)\" (podman)")
