"""Shared fixtures. ``embedded_stack`` starts the real embedded target once per test session.

It runs the emulator and the model server as background processes on free ports with a
private state directory, deploys the pipeline exactly as `radstream up` does, and stops
everything at the end, so the suite never touches a stack a developer has running.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from radstream.tooling.client import PipelineClient, Study
from radstream.tooling.stack.embedded import EmbeddedStack, free_port
from radstream.infra.deploy import deploy
from radstream.infra.targets import Target, resolve


@dataclass
class RunningStack:
    embedded: EmbeddedStack
    target: Target

    @property
    def endpoint_url(self) -> str:
        return self.target.endpoint_url

    @property
    def names(self):
        return self.target.names

    @property
    def session(self):
        return self.target.session()

    def client(self, service: str):
        return self.target.client(service)

    def submit(self, image: bytes | Path, metadata: dict | None, filename: str | None = None,
               study_id: str | None = None, timeout_s: float = 180.0) -> dict:
        """Upload through the S3 trigger and wait for the study's terminal record."""
        if isinstance(image, Path):
            filename = filename or image.name
            image = image.read_bytes()
        study_id = study_id or (metadata or {}).get("study_id")
        return PipelineClient(self.target).submit(Study(image, filename or "image.bin", metadata, study_id),
                                                  timeout_s=timeout_s)

    def invoke(self, short_name: str, event: dict) -> tuple[dict, str | None]:
        response = self.client("lambda").invoke(FunctionName=self.names.function(short_name),
                                                Payload=json.dumps(event))
        return json.loads(response["Payload"].read()), response.get("FunctionError")


@pytest.fixture(scope="session")
def embedded_stack(tmp_path_factory) -> RunningStack:
    state_dir = tmp_path_factory.mktemp("radstream-state")
    embedded = EmbeddedStack(state_dir, port=free_port(), model_port=free_port())
    try:
        embedded.start(timeout_s=120)
        target = resolve("embedded", port=embedded.port, model_endpoint=embedded.model_endpoint)
        deploy(target)
        yield RunningStack(embedded, target)
    finally:
        embedded.stop()


@pytest.fixture(scope="session")
def moto_endpoint():
    """A bare moto server in its own process, for tests of AWS I/O that need no pipeline."""
    from moto_process import running_moto_server

    with running_moto_server() as url:
        yield url


@pytest.fixture
def aws(moto_endpoint, monkeypatch):
    """``aws("s3")`` -> a boto3 client for the bare moto server."""
    from moto_process import client_factory

    return client_factory(moto_endpoint, monkeypatch)
