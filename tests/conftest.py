"""Test tiers and the fixtures every tier shares.

Every test module lives in exactly one tier, and the tier is its top folder:

- ``tests/unit/``: pure code; no network, no moto, no processes (tests/unit/conftest.py refuses them);
- ``tests/functional/``: code doing AWS I/O, called in-process against a moto server in its own process,
  and the model server over HTTP against a server process;
- ``tests/e2e/``: the embedded stack (``embedded_stack`` below), driven the way a user or AWS would.

Each test is marked with its tier, so ``pytest -m unit|functional|e2e`` selects one. Helpers shared
across tiers live in ``tests/support/``.

``embedded_stack`` starts the real embedded target once per test session. It runs the emulator and
the model server as background processes on free ports with a private state directory, deploys the
pipeline exactly as `radstream up` does (template.yaml through the emulator's CloudFormation), and stops everything at the end, so the suite never touches
a stack a developer has running.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from radstream.infra.deploy import deploy
from radstream.infra.targets import Target, resolve
from radstream.tooling.client import PipelineClient, Study
from radstream.tooling.stack.embedded import EmbeddedStack, free_port
from support.containers import build_model_server_image, engine_or_skip
from support.dicom_samples import planted_rg1, read_sample

TESTS = Path(__file__).parent
TIERS = ("unit", "functional", "e2e")


def pytest_collection_modifyitems(config, items):
    for item in items:
        try:
            tier = item.path.relative_to(TESTS).parts[0]
        except ValueError:  # collected from outside tests/ (a path given on the command line)
            continue
        if tier not in TIERS:
            raise pytest.UsageError(f"{item.nodeid}: every test module belongs in one tier: "
                                    f"tests/{{{','.join(TIERS)}}}/")
        item.add_marker(getattr(pytest.mark, tier))


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
    # Lambda's async retries wait 1 and 2 minutes; 1 and 2 seconds keep the trigger's fault tests short.
    embedded = EmbeddedStack(state_dir, port=free_port(), model_port=free_port(),
                             emulator_options=["--async-retry-delays", "1,2"], persist=False)
    try:
        embedded.start(timeout_s=120)
        target = resolve("embedded", port=embedded.port, model_endpoint=embedded.model_endpoint)
        deploy(target)
        yield RunningStack(embedded, target)
    finally:
        embedded.stop()


@pytest.fixture(scope="session")
def container_engine():
    """The Docker-compatible engine (skip without one, or fail under RADSTREAM_REQUIRE_ENGINE=1)."""
    return engine_or_skip()


@pytest.fixture(scope="session")
def model_server_image(container_engine) -> str:
    """model_server/ built FROM $RADSTREAM_BASE_IMAGE with testcontainers, once per session."""
    return build_model_server_image(container_engine)


@pytest.fixture(scope="session")
def rg1_bytes() -> bytes:
    """The real PA chest radiograph RG1_UNCR.dcm (pydicom-data)."""
    return read_sample("RG1_UNCR.dcm")


@pytest.fixture(scope="session")
def rg1_planted(rg1_bytes) -> tuple[bytes, dict[str, str]]:
    """RG1_UNCR.dcm with known identifiers planted, and those identifiers."""
    return planted_rg1(rg1_bytes)
