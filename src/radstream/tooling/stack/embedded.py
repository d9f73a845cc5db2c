"""Start, inspect and stop the embedded stack: the emulator process and the model server.

Both run as background processes of their own (own session, logs under the state dir), so
``radstream up`` returns while they keep serving, and ``radstream down`` finds them again
through the pid files. The test suite uses the same class on free ports.
"""

from __future__ import annotations

import json
import os
import signal
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
from radstream.tooling.stack import emulator_admin

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
                 model_port: int | None = None) -> None:
        self.state_dir = Path(state_dir)
        saved = self._load_state()
        self.port = port or saved.get("port") or int(os.environ.get("RADSTREAM_EMULATOR_PORT", DEFAULT_EMULATOR_PORT))
        self.model_port = model_port or saved.get("model_port") or int(
            os.environ.get("RADSTREAM_MODEL_PORT", DEFAULT_MODEL_PORT))
        # Extra model-server flags (e.g. --max-batch-size 1): kept in the state file, so a restart with
        # other options (A/B experiments) is visible to `status` and can be undone.
        self.model_options: list[str] = list(saved.get("model_options", []))

    # -- services -------------------------------------------------------------------------
    @property
    def emulator(self) -> Service:
        return Service("emulator", self.port, emulator_admin.HEALTH_PATH,
                       [sys.executable, "-m", "radstream.emulator", "--port", str(self.port),
                        "--work-dir", str((self.state_dir / "emulator").resolve())])

    @property
    def model_server(self) -> Service:
        return Service("model-server", self.model_port, "/v2/health/ready",
                       [sys.executable, "-m", "radstream_model_server", "--host", "127.0.0.1",
                        "--port", str(self.model_port), *self.model_options])

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

    def _save_state(self, pids: dict) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self._state_file().write_text(json.dumps(
            {"port": self.port, "model_port": self.model_port, "model_options": self.model_options, "pids": pids,
             "started_at": time.time()}, indent=2))

    def log_path(self, service: Service) -> Path:
        return self.state_dir / "logs" / f"{service.name}.log"

    # -- lifecycle ------------------------------------------------------------------------
    def start(self, timeout_s: float = 60.0, *, model_server: bool = True) -> None:
        """Start whatever is not already running (the emulator alone without ``model_server``); raise
        StackError naming the log to read."""
        pids = self._load_state().get("pids", {})
        for service in (self.emulator, self.model_server) if model_server else (self.emulator,):
            if not service.healthy():
                pids[service.name] = self._launch(service, pids, timeout_s)
        self._save_state(pids)

    def _launch(self, service: Service, pids: dict, timeout_s: float) -> int:
        if not port_is_free(service.port):
            raise StackError(f"port {service.port} is taken by another program; stop it or choose another "
                             f"port (RADSTREAM_EMULATOR_PORT / RADSTREAM_MODEL_PORT)")
        log = self.log_path(service)
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "ab") as out:
            process = subprocess.Popen(service.command, stdout=out, stderr=subprocess.STDOUT,
                                       stdin=subprocess.DEVNULL, start_new_session=True)
        self._save_state({**pids, service.name: process.pid})
        deadline = time.monotonic() + timeout_s
        while not service.healthy():
            if process.poll() is not None:
                raise StackError(f"{service.name} exited with status {process.returncode}; see {log}")
            if time.monotonic() > deadline:
                raise StackError(f"{service.name} did not become healthy in {timeout_s:.0f} s; see {log}")
            time.sleep(0.1)
        return process.pid

    def restart_model_server(self, options: list[str], timeout_s: float = 60.0) -> None:
        """Stop the model server and start it again with ``options`` (extra command-line flags)."""
        pids = self._load_state().get("pids", {})
        pid = pids.pop(self.model_server.name, None)
        if pid is not None:
            _terminate(pid)
        deadline = time.monotonic() + 10
        while not port_is_free(self.model_port) and time.monotonic() < deadline:
            time.sleep(0.1)
        self.model_options = list(options)
        pids[self.model_server.name] = self._launch(self.model_server, pids, timeout_s)
        self._save_state(pids)

    def stop(self) -> list[str]:
        stopped = [name for name, pid in self._load_state().get("pids", {}).items() if _terminate(pid)]
        try:
            self._state_file().unlink()
        except OSError:
            pass
        return stopped

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
        pid = self._load_state().get("pids", {}).get(self.model_server.name)
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


def _terminate(pid: int) -> bool:
    """SIGTERM a service's process group, SIGKILL after 5 s; False if it was not running."""
    try:
        os.killpg(pid, signal.SIGTERM)
    except (ProcessLookupError, PermissionError):
        return False
    for _ in range(50):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.1)
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    return True
