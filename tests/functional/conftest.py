"""Functional-tier fixtures: one moto server in its own process, and real model-server processes.

There is one way to get moto here: ``support.moto_server.running_moto_server`` (the session's server is
``moto_endpoint``; a test that needs an empty account starts its own with the same helper).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from support.containers import start_model_server_container
from support.model_server import RunningServer, build_user_model, start_server
from support.moto_server import client_factory, running_moto_server


@pytest.fixture(scope="session")
def moto_endpoint():
    """A bare moto server in its own process, shared by the session (use unique resource names)."""
    with running_moto_server() as url:
        yield url


@pytest.fixture
def aws(moto_endpoint, monkeypatch):
    """``aws("s3")`` -> a boto3 client for the session's moto server."""
    return client_factory(moto_endpoint, monkeypatch)


@pytest.fixture(scope="session", params=["process", pytest.param("container", marks=pytest.mark.container)])
def model_server(request, tmp_path_factory) -> RunningServer:
    """The packaged stub model, default settings (dynamic batching on): as a process, and as the
    container image built from model_server/Dockerfile (run like the Kubernetes Deployment runs it).
    Every test that takes this fixture runs against both."""
    if request.param == "process":
        srv = start_server(tmp_path_factory.mktemp("model_server"), "--max-queue-delay-ms", "2")
    else:
        srv = start_model_server_container(request.getfixturevalue("model_server_image"),
                                           RADSTREAM_MAX_QUEUE_DELAY_MS="2")
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def user_model_dir(tmp_path_factory) -> Path:
    """A 'user' ONNX model in a Triton-style layout, no sidecar: other names, other image size."""
    return build_user_model(tmp_path_factory.mktemp("repo"))


@pytest.fixture(scope="session")
def user_model_server(tmp_path_factory, user_model_dir) -> RunningServer:
    srv = start_server(tmp_path_factory.mktemp("user_server"), "--model-path", str(user_model_dir),
                       "--max-batch-size", "1")
    yield srv
    srv.stop()
