"""Finding the container engine: what it reports without one, and how it tells podman from Docker."""

import pytest

from radstream.tooling.stack import engine as engine_module
from radstream.tooling.stack.engine import Engine, EngineUnavailable, find_engine


def test_no_engine_names_every_socket_tried_and_the_way_out(monkeypatch, tmp_path):
    missing = [f"unix://{tmp_path}/docker.sock", f"unix://{tmp_path}/podman.sock"]
    monkeypatch.setattr(engine_module, "candidates", lambda: missing)
    with pytest.raises(EngineUnavailable) as error:
        find_engine()
    message = str(error.value)
    assert all(f"{url}: no such socket" in message for url in missing)
    assert ".ci/container-engine.sh" in message


def test_candidates_start_with_docker_host_and_include_podman(monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", "tcp://127.0.0.1:2375")
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    assert engine_module.candidates() == ["tcp://127.0.0.1:2375", "unix:///var/run/docker.sock",
                                          "unix:///run/podman/podman.sock"]


@pytest.mark.parametrize("version, podman", [
    ({"Version": "4.3.1", "Components": [{"Name": "Podman Engine"}]}, True),
    ({"Version": "5.2.0", "Platform": {"Name": "Podman Engine"}}, True),
    ({"Version": "28.2.2", "Platform": {"Name": "Docker Engine - Community"},
      "Components": [{"Name": "Engine"}, {"Name": "containerd"}]}, False),
])
def test_podman_is_told_from_docker(version, podman, monkeypatch):
    monkeypatch.delenv("DOCKER_BUILDKIT", raising=False)
    found = Engine("unix:///run/podman/podman.sock", version)
    assert found.is_podman is podman
    assert found.socket_path == "/run/podman/podman.sock"
    env = found.cli_env()
    assert env["DOCKER_HOST"] == "unix:///run/podman/podman.sock"
    assert env.get("DOCKER_BUILDKIT") == ("0" if podman else None)  # podman's API has no BuildKit
