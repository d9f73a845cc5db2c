"""How a Lambda execution environment's process comes to exist: spawned or forked from a zygote.

Both launchers start ``lambda_worker`` for one function (its extracted package, handler, log file
and environment variables) and hand back something ``subprocess.Popen``-like whose stdin/stdout
carry the worker's protocol. ``ZygoteLauncher`` forks from ``lambda_zygote``, a process that has
already imported the third-party packages (as a Lambda layer would provide them): on a 2-core
machine that turns multi-second cold starts into a fraction of a second, while the function's own
code is still imported fresh in each environment. ``SpawnLauncher`` starts a fresh interpreter; it
is the fallback when the zygote cannot start or dies.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

WORKER_SCRIPT = Path(__file__).with_name("lambda_worker.py")
ZYGOTE_SCRIPT = Path(__file__).with_name("lambda_zygote.py")


class ForkedProcess:
    """The parts of ``subprocess.Popen`` the runtime uses, for a process forked by the zygote
    (a grandchild of ours: liveness comes from /proc, and the zygote reaps it)."""

    def __init__(self, pid: int, stdin, stdout) -> None:
        self.pid, self.stdin, self.stdout = pid, stdin, stdout
        self.returncode: int | None = None

    def poll(self) -> int | None:
        try:
            with open(f"/proc/{self.pid}/stat") as stat:
                state = stat.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            state = "X"
        if state in ("Z", "X"):
            self.returncode = self.returncode if self.returncode is not None else -1
            return self.returncode
        return None

    def kill(self) -> None:
        try:
            os.kill(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def wait(self, timeout: float | None = None) -> int:
        deadline = time.monotonic() + (timeout if timeout is not None else 1e9)
        while self.poll() is None:
            if time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(f"pid {self.pid}", timeout)
            time.sleep(0.01)
        for stream in (self.stdin, self.stdout):
            try:
                stream.close()
            except OSError:
                pass
        return self.returncode


class SpawnLauncher:
    """Each execution environment is a fresh interpreter (slow to start, nothing shared)."""

    def launch(self, code_dir: Path, handler: str, log_path: Path, env: dict):
        return subprocess.Popen(
            [sys.executable, str(WORKER_SCRIPT), str(code_dir), handler, str(log_path)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, cwd=str(code_dir), text=True, bufsize=1)

    def close(self) -> None:
        pass


class ZygoteLauncher:
    """Execution environments forked from ``lambda_zygote`` (third-party packages pre-imported)."""

    def __init__(self, base_env: dict) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self._channel = ours
        self._lock = threading.Lock()
        self._process = subprocess.Popen([sys.executable, str(ZYGOTE_SCRIPT)], pass_fds=(theirs.fileno(),),
                                         stdin=subprocess.DEVNULL, env=_zygote_env(base_env, theirs.fileno()))
        theirs.close()
        self._channel.settimeout(120)
        if json.loads(self._channel.recv(4096) or b"{}").get("ready") is not True:
            raise RuntimeError("the Lambda zygote did not start")
        self.pid = self._process.pid

    def launch(self, code_dir: Path, handler: str, log_path: Path, env: dict) -> ForkedProcess:
        to_child_r, to_child_w = os.pipe()
        from_child_r, from_child_w = os.pipe()
        request = json.dumps({"code_dir": str(code_dir), "handler": handler, "log_file": str(log_path),
                              "env": env}).encode()
        try:
            with self._lock:
                socket.send_fds(self._channel, [request], [to_child_r, from_child_w])
                reply = json.loads(self._channel.recv(4096))
        finally:
            os.close(to_child_r)
            os.close(from_child_w)
        return ForkedProcess(reply["pid"], os.fdopen(to_child_w, "w", buffering=1, encoding="utf-8"),
                             os.fdopen(from_child_r, "r", buffering=1, encoding="utf-8"))

    def close(self) -> None:
        self._channel.close()
        try:
            self._process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._process.kill()


def _zygote_env(base_env: dict, fd: int) -> dict:
    env = dict(base_env)
    env["RADSTREAM_ZYGOTE_FD"] = str(fd)
    return env
