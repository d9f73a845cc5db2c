"""Restarting the embedded stack with studies in flight, on a stack of its own (the session's keeps running):

- `radstream down` refuses while executions run, and says how many; `--force` stops anyway;
- a client waiting on a study reports it "lost in an emulator restart", not a traceback;
- bucket contents survive the restart (saved when the emulator stops, restored by `radstream up`), so
  `radstream reconcile` finds the lost study and `radstream redrive` runs it to its one terminal record;
- the stack manager never signals a process it did not start, even at the pid it recorded.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
import uuid

import pytest

from radstream.infra.deploy import deploy
from radstream.infra.targets import resolve
from radstream.tooling import synthetic_images as synthetic
from radstream.tooling.cli import main
from radstream.tooling.client import PipelineClient, Study
from radstream.tooling.stack import processes
from radstream.tooling.stack.embedded import EmbeddedStack, free_port


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    state_dir = tmp_path_factory.mktemp("restart-state")
    embedded = EmbeddedStack(state_dir, port=free_port(), model_port=free_port(),
                             emulator_options=["--async-retry-delays", "1,2"])
    try:
        embedded.start(timeout_s=120)
        deploy(resolve("embedded", port=embedded.port, model_endpoint=embedded.model_endpoint))
        yield embedded
    finally:
        embedded.stop()


def cli(stack: EmbeddedStack, *args: str) -> int:
    return main(["--state-dir", str(stack.state_dir), *args])


def target_of(stack: EmbeddedStack):
    return resolve("embedded", port=stack.port, model_endpoint=stack.model_endpoint)


def test_a_restart_loses_no_study(stack, capsys, monkeypatch):
    monkeypatch.setenv("RADSTREAM_EMULATOR_PORT", str(stack.port))
    monkeypatch.setenv("RADSTREAM_MODEL_PORT", str(stack.model_port))
    study_id = f"restart-{uuid.uuid4().hex[:8]}"
    study = Study(synthetic.chest_jpeg(3, (512, 512)), "chest.jpg",
                  {"study_id": study_id, "view": "PA", "timestamp": "2024-01-15T10:00:00Z"}, study_id)
    stack.stop_model_server()  # the study stays in RunInference's retries
    client = PipelineClient(target_of(stack))
    assert client.upload(study)
    waited: dict = {}
    waiter = threading.Thread(target=lambda: waited.update(client.wait(study_id, timeout_s=240)))
    waiter.start()
    time.sleep(4)

    capsys.readouterr()
    assert cli(stack, "down") == 1
    assert "1 execution(s) are running" in capsys.readouterr().err.replace("\n", " ")
    assert cli(stack, "down", "--force") == 0
    assert cli(stack, "up") == 0
    assert "restored" in capsys.readouterr().err

    waiter.join(120)
    assert waited["status"] == "LOST" and waited["error"]["code"] == "EmulatorRestarted", waited
    assert "lost in an emulator restart" in waited["error"]["message"]

    # the upload survived: reconcile finds the study, redrive runs it
    assert cli(stack, "reconcile", "--json") == 1
    assert study_id in capsys.readouterr().out
    assert cli(stack, "redrive", study_id, "--wait") == 0
    record = PipelineClient(target_of(stack)).wait(study_id, timeout_s=120)
    assert record["status"] == "SUCCEEDED", record
    assert cli(stack, "reconcile") == 0


def test_the_stack_never_signals_a_process_it_did_not_start(stack):
    """A model server restarted by hand: the recorded pid is gone (or someone else's); `down` leaves the
    one running now alone."""
    record = stack._processes()[stack.model_server.name]
    assert processes.is_same(record)
    processes.terminate(record)  # "restarted by hand": ours stops...
    for _ in range(100):
        if not stack.model_server.healthy():
            break
        time.sleep(0.1)
    manual = subprocess.Popen([sys.executable, "-m", "radstream_model_server", "--host", "127.0.0.1",
                               "--port", str(stack.model_port)], start_new_session=True,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(300):
            if stack.model_server.healthy():
                break
            time.sleep(0.1)
        assert stack.model_server.healthy()
        # ... and someone else's answers on its port: stopping the model server leaves it alone
        assert stack.stop_model_server() == processes.GONE
        assert manual.poll() is None and stack.model_server.healthy()
        stack.start()  # healthy, not ours: not recorded as ours
        assert stack.model_server.name not in stack._processes()
    finally:
        manual.terminate()
        manual.wait(10)
    stack.start()  # ours again, for the module's teardown
