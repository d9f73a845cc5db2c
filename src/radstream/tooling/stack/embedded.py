"""Start, inspect and stop the embedded stack: the emulator process and the model server.

Both run as background processes of their own (own session, logs under the state dir), so
``radstream up`` returns while they keep serving, and ``radstream down`` finds them again
through the state file, which records each process's identity (pid, start time, command line):
a process is signalled only while it is still the one this manager started (``processes``).
The test suite uses the same class on free ports.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from radstream.infra.targets import DEFAULT_EMULATOR_PORT, DEFAULT_MODEL_PORT
from radstream.tooling.errors import StackError
from radstream.tooling.stack import emulator_admin, processes

DEFAULT_STATE_DIR = Path(os.environ.get("RADSTREAM_STATE_DIR", ".radstream"))


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def process_cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of a running process (all threads), from /proc; None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _get_json(url: str, timeout: float = 2.0) -> dict | None:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return json.loads(response.read() or b"{}")
    except (urllib.error.URLError, OSError, ValueError):
        return None


@dataclass
class Service:
    name: str
    port: int
    health_path: str
    command: list[str]

    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def healthy(self) -> bool:
        return _get_json(self.url() + self.health_path) is not None


class EmbeddedStack:
    def __init__(self, state_dir: Path = DEFAULT_STATE_DIR, port: int | None = None,
                 model_port: int | None = None, emulator_options: list[str] | None = None,
                 persist: bool = True) -> None:
        self.state_dir = Path(state_dir)
        saved = self._load_state()
        self.port = port or saved.get("port") or int(os.environ.get("RADSTREAM_EMULATOR_PORT", DEFAULT_EMULATOR_PORT))
        self.model_port = model_port or saved.get("model_port") or int(
            os.environ.get("RADSTREAM_MODEL_PORT", DEFAULT_MODEL_PORT))
        # Extra model-server flags (e.g. --max-batch-size 1): kept in the state file, so a restart with
        # other options (A/B experiments) is visible to `status` and can be undone.
        self.model_options: list[str] = list(saved.get("model_options", []))
        # Extra emulator flags (e.g. --async-retry-delays 1,2 in the tests); kept like model_options.
        self.emulator_options: list[str] = list(emulator_options if emulator_options is not None
                                                else saved.get("emulator_options", []))
        # Bucket contents are saved when the emulator stops and restored after the next `up` (persist_dir).
        self.persist = persist

    # -- services -------------------------------------------------------------------------
    @property
    def emulator(self) -> Service:
        return Service("emulator", self.port, emulator_admin.HEALTH_PATH,
                       [sys.executable, "-m", "radstream.emulator", "--port", str(self.port),
                        "--work-dir", str((self.state_dir / "emulator").resolve()),
                        *(["--persist-dir", str(self.persist_dir.resolve())] if self.persist else []),
                        *self.emulator_options])

    @property
    def persist_dir(self) -> Path:
        return self.state_dir / "emulator" / "saved-buckets"

    @property
    def model_server(self) -> Service:
        return Service("model-server", self.model_port, "/v2/health/ready",
                       [sys.executable, "-m", "radstream_model_server", "--host", "127.0.0.1",
                        "--port", str(self.model_port), "--fault-injection", *self.model_options])

    @property
    def endpoint_url(self) -> str:
        return self.emulator.url()

    @property
    def model_endpoint(self) -> str:
        return self.model_server.url()

    # -- state ----------------------------------------------------------------------------
    def _state_file(self) -> Path:
        return self.state_dir / "stack.json"

    def _load_state(self) -> dict:
        try:
            return json.loads(self._state_file().read_text())
        except (OSError, ValueError):
            return {}

    def _processes(self) -> dict:
        """Service name -> the identity of the process this manager started for it."""
        return dict(self._load_state().get("processes", {}))

    def _save_state(self, started: dict) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self._state_file().write_text(json.dumps(
            {"port": self.port, "model_port": self.model_port, "model_options": self.model_options,
             "emulator_options": self.emulator_options, "processes": started, "started_at": time.time()}, indent=2))

    def log_path(self, service: Service) -> Path:
        return self.state_dir / "logs" / f"{service.name}.log"

    # -- lifecycle ------------------------------------------------------------------------
    def start(self, timeout_s: float = 60.0, *, model_server: bool = True) -> list[str]:
        """Start whatever is not already running (the emulator alone without ``model_server``); returns the
        services started now. Raises StackError naming the log to read."""
        started = self._processes()
        launched = []
        for service in (self.emulator, self.model_server) if model_server else (self.emulator,):
            if not service.healthy():
                started[service.name] = self._launch(service, started, timeout_s)
                launched.append(service.name)
            elif not processes.is_same(started.get(service.name)):
                started.pop(service.name, None)  # it answers, but it is not a process we started: leave it alone
        self._save_state(started)
        return launched

    def restore_buckets(self, buckets: list[str]) -> dict[str, int]:
        """After a fresh start and deploy: put back the bucket contents saved when the emulator last stopped."""
        answer = emulator_admin.restore(self.endpoint_url, buckets) if self.persist else None
        return (answer or {}).get("restored", {})

    def _launch(self, service: Service, started: dict, timeout_s: float) -> dict:
        if not port_is_free(service.port):
            raise StackError(f"port {service.port} is taken by another program; stop it or choose another "
                             f"port (RADSTREAM_EMULATOR_PORT / RADSTREAM_MODEL_PORT)")
        log = self.log_path(service)
        log.parent.mkdir(parents=True, exist_ok=True)
        if log.exists() and log.stat().st_size:
            # a fresh log per start, so a reader sees this run's tracebacks only; the previous run's is kept
            log.replace(log.with_name(log.name + ".1"))
        with open(log, "wb") as out:
            process = subprocess.Popen(service.command, stdout=out, stderr=subprocess.STDOUT,
                                       stdin=subprocess.DEVNULL, start_new_session=True)
        self._save_state({**started, service.name: {"pid": process.pid}})
        deadline = time.monotonic() + timeout_s
        while not service.healthy():
            if process.poll() is not None:
                raise StackError(f"{service.name} exited with status {process.returncode}; see {log}")
            if time.monotonic() > deadline:
                process.kill()  # certainly ours: this call started it
                raise StackError(f"{service.name} did not become healthy in {timeout_s:.0f} s; see {log}")
            time.sleep(0.1)
        # Its identity once it serves: right after the fork the command line is still this process's.
        record = processes.identity(process.pid) or {"pid": process.pid}
        self._save_state({**started, service.name: record})
        return record

    def restart_model_server(self, options: list[str] | None = None, timeout_s: float = 60.0) -> None:
        """Stop the model server and start it again (with ``options``, extra command-line flags, if given)."""
        self.stop_model_server()
        if options is not None:
            self.model_options = list(options)
        started = self._processes()
        started[self.model_server.name] = self._launch(self.model_server, started, timeout_s)
        self._save_state(started)

    def stop_model_server(self) -> str:
        """Stop the model server this manager started (``stopped``/``gone``/``not ours``)."""
        started = self._processes()
        outcome = processes.terminate(started.pop(self.model_server.name, None))
        deadline = time.monotonic() + 10
        while outcome == processes.STOPPED and not port_is_free(self.model_port) and time.monotonic() < deadline:
            time.sleep(0.1)
        self._save_state(started)
        return outcome

    def stop(self) -> list[str]:
        """Stop the services this manager started; returns what happened to each (a process whose pid
        now belongs to another program is left alone, and said so)."""
        # The emulator saves the buckets before it exits: give it time (the model server needs none).
        outcomes = [f"{name}" if outcome == processes.STOPPED else f"{name} ({outcome}: not signalled)"
                    for name, record in self._processes().items()
                    if (outcome := processes.terminate(record, grace_s=120.0 if name == "emulator" else 5.0))
                    != processes.GONE]
        try:
            self._state_file().unlink()
        except OSError:
            pass
        return outcomes

    def status(self) -> dict:
        emulator = _get_json(self.emulator.url() + self.emulator.health_path)
        model = _get_json(self.model_server.url() + "/v2/health/ready")
        return {
            "emulator": {"url": self.emulator.url(), "running": emulator is not None, **(emulator or {})},
            "model_server": {"url": self.model_server.url(), "ready": model is not None, "options": self.model_options},
        }

    def served(self) -> dict | None:
        """The emulator's stats (requests served, CPU of the emulator and its Lambda processes) plus
        the model server's CPU, which this manager knows as the process it started; None if the
        emulator does not answer."""
        stats = emulator_admin.stats(self.emulator.url())
        if stats is None:
            return None
        record = self._processes().get(self.model_server.name)
        pid = processes.pid_of(record) if processes.is_same(record) else None
        cpu = process_cpu_seconds(pid) if pid else None
        if cpu is not None:
            stats["processes"].append({"role": "model-server", "pid": pid, "cpu_s": cpu})
        return stats

    def emulator_healthy(self) -> bool:
        return self.emulator.healthy()

    def flush_telemetry(self) -> dict:
        """Ask the emulator to deliver buffered Firehose records now (local convenience)."""
        stats = emulator_admin.flush_telemetry(self.emulator.url())
        if stats is None:
            raise StackError(f"could not flush telemetry delivery at {self.emulator.url()}; see {self.log_path(self.emulator)}")
        return stats
