"""The end-to-end check list `radstream e2e --comprehensive` runs (radstream.tooling.e2e), one test per
check, against each target. The list is defined once, in e2e.py; add checks there.

Targets:

- ``embedded``: the session's embedded stack (the model server as a process, as `radstream up` runs it);
- ``embedded-model-container``: an embedded stack whose model endpoint is the model-server image built
  from model_server/Dockerfile, run with testcontainers and published on 127.0.0.1 (the emulator's
  Lambda runtime runs on this host);
- ``localstack``: `radstream up --target localstack` (Docker Compose: LocalStack and the model-server
  container on a private project network), then deploy. It needs the LocalStack image on the engine;
  without it (no image registry here) it skips and says so.
"""

from __future__ import annotations

import os
import uuid

import pytest

from radstream.infra.deploy import deploy
from radstream.infra.targets import resolve
from radstream.tooling.e2e import BASIC, COMPREHENSIVE, Checks
from radstream.tooling.stack import localstack
from radstream.tooling.stack.embedded import EmbeddedStack, free_port
from support.containers import compose_project, image_present, start_model_server_container

TARGETS = ("embedded", pytest.param("embedded-model-container", marks=pytest.mark.container),
           pytest.param("localstack", marks=pytest.mark.container))


@pytest.fixture(scope="module", params=TARGETS)
def target(request, tmp_path_factory):
    if request.param == "embedded":
        yield request.getfixturevalue("embedded_stack").target
    elif request.param == "embedded-model-container":
        yield from _embedded_with_model_container(request.getfixturevalue("model_server_image"),
                                                  tmp_path_factory.mktemp("radstream-state"))
    else:
        yield from _localstack(request.getfixturevalue("container_engine"))


def _embedded_with_model_container(image: str, state_dir):
    server = start_model_server_container(image)
    embedded = EmbeddedStack(state_dir, port=free_port(), model_port=free_port())
    try:
        embedded.start(timeout_s=120, model_server=False)  # the emulator alone: the container serves the model
        target = resolve("embedded", port=embedded.port, model_endpoint=server.url)
        deploy(target)
        yield target
    finally:
        embedded.stop()
        server.stop()


def _localstack(engine):
    image = os.environ.get("LOCALSTACK_IMAGE") or localstack.DEFAULT_IMAGE
    if not image_present(engine, image):
        pytest.skip(f"the LocalStack image {image} is not on this engine ({engine.name}) and no image registry "
                    f"is reachable here to pull it. Where one is: docker pull {image} (images after the 4.14 line "
                    f"also need LOCALSTACK_AUTH_TOKEN and LOCALSTACK_IMAGE)")
    with pytest.MonkeyPatch.context() as env:
        _, variables = compose_project(engine, env)  # a private project: own name, network and ports
        target = resolve("localstack", port=int(variables["LOCALSTACK_PORT"]))
        try:
            localstack.up(target.endpoint_url, model_url=f"http://127.0.0.1:{variables['RADSTREAM_MODEL_PORT']}")
            deploy(target)
            yield target
        finally:
            localstack.down()


@pytest.fixture(scope="module")
def checks(target) -> Checks:
    return Checks(target, f"pytest-{uuid.uuid4().hex[:8]}")


@pytest.mark.parametrize("name", BASIC + COMPREHENSIVE)
def test_check(checks, name):
    getattr(checks, name)()  # raises CheckFailed saying what it saw
