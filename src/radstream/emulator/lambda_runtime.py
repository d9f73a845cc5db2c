"""Runs deployed Lambda functions in local worker processes, the way Lambda runs them.

Each function gets its own execution environments: processes started with the function's
environment variables and handler, importing its own deployment package, kept warm and
reused, several at once so invocations of one function run in parallel across cores.
The runtime enforces the function's timeout (the process is killed and the invocation fails
with ``Sandbox.Timedout``) and memory size (``Runtime.OutOfMemory`` when the environment's
resident memory exceeds it), and writes START/END/REPORT lines with duration, billed duration,
max memory used and init duration, like Lambda's.

New environments are forked from ``lambda_zygote`` (a process that has already imported the
third-party packages, as a Lambda layer would provide them) rather than started as fresh
interpreters: on a 2-core machine that turns multi-second cold starts into a fraction of a
second, while the function's own code is still imported fresh in each environment.

Nothing here knows about moto: ``moto_patches`` translates moto's function objects into
``FunctionSpec`` and ships the returned log lines to CloudWatch Logs.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import math
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
import zipfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

logger = logging.getLogger(__name__)

WORKER_SCRIPT = Path(__file__).with_name("lambda_worker.py")
ZYGOTE_SCRIPT = Path(__file__).with_name("lambda_zygote.py")
MEMORY_POLL_S = 0.02
DEFAULT_IDLE_TIMEOUT_S = 600.0


@dataclass(frozen=True)
class FunctionSpec:
    """What an execution environment needs to know about one function version."""

    name: str
    arn: str
    handler: str
    timeout_s: float
    memory_mb: int
    environment: dict
    code_sha256: str
    code_zip: bytes = field(repr=False, compare=False, hash=False)
    version: str = "$LATEST"
    runtime: str = "python3.11"

    @property
    def pool_key(self) -> str:
        """Environments are reused only while code and configuration are unchanged."""
        config = json.dumps([self.handler, self.timeout_s, self.memory_mb, self.environment, self.code_sha256],
                            sort_keys=True)
        return f"{self.arn}:{hashlib.sha256(config.encode()).hexdigest()[:16]}"


@dataclass
class Invocation:
    """The outcome of one invocation."""

    payload: bytes
    function_error: str | None  # "Unhandled" when the handler or runtime failed
    log_lines: list[str]
    log_stream: str
    duration_ms: float
    billed_ms: int
    max_memory_mb: int
    init_ms: float | None  # set on a cold start


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


class ExecutionEnvironment:
    """One warm worker process for one function version."""

    def __init__(self, spec: FunctionSpec, code_dir: Path, log_dir: Path, base_env: dict, launcher) -> None:
        self.spec = spec
        now = datetime.now(timezone.utc)
        self.log_stream = f"{now:%Y/%m/%d}/[{spec.version}]{uuid.uuid4().hex}"
        self.log_path = log_dir / f"{spec.name}-{uuid.uuid4().hex[:8]}.log"
        self._log_offset = 0
        env = dict(base_env)
        env.update({
            "_HANDLER": spec.handler,
            "AWS_EXECUTION_ENV": f"AWS_Lambda_{spec.runtime}",
            "AWS_LAMBDA_FUNCTION_NAME": spec.name,
            "AWS_LAMBDA_FUNCTION_VERSION": spec.version,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_mb),
            "AWS_LAMBDA_FUNCTION_TIMEOUT": str(spec.timeout_s),
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{spec.name}",
            "AWS_LAMBDA_LOG_STREAM_NAME": self.log_stream,
            "LAMBDA_TASK_ROOT": str(code_dir),
            "PYTHONUNBUFFERED": "1",
            "PYTHONDONTWRITEBYTECODE": "1",
        })
        env.update({k: str(v) for k, v in spec.environment.items()})
        started = time.perf_counter()
        self.process = launcher.launch(code_dir, spec.handler, self.log_path, env)
        self.init_error: dict | None = None
        ready = self._read_reply(deadline=time.monotonic() + max(spec.timeout_s, 10.0))
        self.init_ms = (time.perf_counter() - started) * 1000
        if ready is None:
            self.init_error = {"errorType": "Runtime.InitTimeout",
                               "errorMessage": f"initialisation did not finish within {max(spec.timeout_s, 10.0):.0f} s"}
        elif not ready.get("ready"):
            self.init_error = ready.get("error") or {"errorType": "Runtime.ExitError", "errorMessage": "runtime exited"}
        self.cold = True
        self.last_used = time.monotonic()

    def alive(self) -> bool:
        return self.process.poll() is None and self.init_error is None

    def _read_reply(self, deadline: float, on_poll=None) -> dict | None:
        """Wait for one protocol line until ``deadline``; ``on_poll`` may abort by returning an error."""
        stdout = self.process.stdout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            ready, _, _ = select.select([stdout], [], [], min(remaining, MEMORY_POLL_S))
            if ready:
                line = stdout.readline()
                if not line:  # the process died
                    return {"ready": False, "ok": False, "crashed": True}
                return json.loads(line)
            if on_poll is not None:
                abort = on_poll()
                if abort is not None:
                    return abort

    def rss_mb(self) -> tuple[float, float]:
        """(current, peak) resident memory of the environment in MB, from /proc."""
        current = peak = 0.0
        try:
            with open(f"/proc/{self.process.pid}/status") as status:
                for line in status:
                    if line.startswith("VmRSS:"):
                        current = int(line.split()[1]) / 1024
                    elif line.startswith("VmHWM:"):
                        peak = int(line.split()[1]) / 1024
        except OSError:
            pass
        return current, peak

    def take_log_lines(self) -> list[str]:
        try:
            with open(self.log_path, "rb") as handle:
                handle.seek(self._log_offset)
                data = handle.read()
        except OSError:
            return []
        self._log_offset += len(data)
        return data.decode("utf-8", "replace").splitlines()

    def invoke(self, payload: str, request_id: str) -> tuple[dict, float]:
        """Run one event; returns (reply, wall duration ms). Kills the process on timeout or OOM."""
        deadline_wall_ms = time.time() * 1000 + self.spec.timeout_s * 1000
        request = {"request_id": request_id, "event": payload, "deadline_ms": deadline_wall_ms,
                   "function_arn": self.spec.arn}
        started = time.perf_counter()
        try:
            self.process.stdin.write(json.dumps(request) + "\n")
            self.process.stdin.flush()
        except (BrokenPipeError, OSError):
            return {"ok": False, "crashed": True}, 0.0

        def check_memory() -> dict | None:
            current, _ = self.rss_mb()
            if current > self.spec.memory_mb:
                self.kill()
                return {"ok": False, "oom": True}
            return None

        reply = self._read_reply(deadline=time.monotonic() + self.spec.timeout_s, on_poll=check_memory)
        duration_ms = (time.perf_counter() - started) * 1000
        if reply is None:
            self.kill()
            reply = {"ok": False, "timeout": True}
        self.last_used = time.monotonic()
        return reply, duration_ms

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=5)

    def close(self) -> None:
        try:
            self.process.stdin.close()
        except OSError:
            pass
        try:
            self.process.wait(timeout=2)
        except subprocess.TimeoutExpired:
            self.kill()
        try:
            self.log_path.unlink()
        except OSError:
            pass


class LambdaRuntime:
    """Pools of execution environments, keyed by function version and configuration."""

    def __init__(self, work_dir: Path, base_env: dict, max_per_function: int | None = None,
                 idle_timeout_s: float = DEFAULT_IDLE_TIMEOUT_S, preload: bool = True) -> None:
        self.work_dir = Path(work_dir)
        self.code_root = self.work_dir / "code"
        self.log_dir = self.work_dir / "worker-logs"
        self.code_root.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.base_env = dict(base_env)
        # Lambda scales out per request; here the cap keeps a burst from exhausting memory.
        self.max_per_function = max_per_function or max(4, 2 * (os.cpu_count() or 2))
        self.idle_timeout_s = idle_timeout_s
        self._lock = threading.Condition()
        self._idle: dict[str, list[ExecutionEnvironment]] = {}
        self._busy: dict[str, int] = {}
        self._async = ThreadPoolExecutor(max_workers=8, thread_name_prefix="lambda-async")
        self._closed = False
        self.launcher = SpawnLauncher()
        if preload:
            try:
                self.launcher = ZygoteLauncher(self.base_env)
            except Exception:  # still correct without it, only slower to cold-start
                logger.exception("could not start the Lambda zygote; spawning each environment instead")
        self._reaper = threading.Thread(target=self._reap_idle, daemon=True, name="lambda-reaper")
        self._reaper.start()

    # -- code -----------------------------------------------------------------------------
    def _code_dir(self, spec: FunctionSpec) -> Path:
        # CodeSha256 is base64 (may contain "/"): hash it again for a directory name.
        target = self.code_root / hashlib.sha256(spec.code_sha256.encode()).hexdigest()[:32]
        if not target.exists():
            staging = self.code_root / f".staging-{uuid.uuid4().hex}"
            with zipfile.ZipFile(io.BytesIO(spec.code_zip)) as archive:
                archive.extractall(staging)
            try:
                staging.rename(target)
            except OSError:  # another thread extracted the same package first
                shutil.rmtree(staging, ignore_errors=True)
        return target

    # -- pool -----------------------------------------------------------------------------
    def _acquire(self, spec: FunctionSpec) -> ExecutionEnvironment:
        key = spec.pool_key
        with self._lock:
            while True:
                idle = self._idle.setdefault(key, [])
                while idle:
                    env = idle.pop()
                    if env.alive():
                        self._busy[key] = self._busy.get(key, 0) + 1
                        env.cold = False
                        return env
                    env.close()
                if self._busy.get(key, 0) < self.max_per_function:
                    self._busy[key] = self._busy.get(key, 0) + 1
                    break
                self._lock.wait(timeout=1.0)
        try:
            try:
                return ExecutionEnvironment(spec, self._code_dir(spec), self.log_dir, self.base_env, self.launcher)
            except (OSError, ValueError, KeyError) as exc:
                if isinstance(self.launcher, SpawnLauncher):
                    raise
                # The zygote died or answered nonsense: keep serving, just with slower cold starts.
                logger.error("Lambda zygote failed (%s); spawning environments from now on", exc)
                self.launcher.close()
                self.launcher = SpawnLauncher()
                return ExecutionEnvironment(spec, self._code_dir(spec), self.log_dir, self.base_env, self.launcher)
        except Exception:
            with self._lock:
                self._busy[key] -= 1
                self._lock.notify_all()
            raise

    def _release(self, env: ExecutionEnvironment) -> None:
        key = env.spec.pool_key
        with self._lock:
            self._busy[key] -= 1
            if env.alive() and not self._closed:
                self._idle.setdefault(key, []).append(env)
            else:
                env.close()
            self._lock.notify_all()

    def _reap_idle(self) -> None:
        while not self._closed:
            time.sleep(5)
            cutoff = time.monotonic() - self.idle_timeout_s
            with self._lock:
                for key, idle in self._idle.items():
                    stale = [env for env in idle if env.last_used < cutoff]
                    for env in stale:
                        idle.remove(env)
                        env.close()

    def environment_count(self) -> int:
        with self._lock:
            return sum(len(v) for v in self._idle.values()) + sum(self._busy.values())

    # -- invoke ---------------------------------------------------------------------------
    def invoke(self, spec: FunctionSpec, payload: str) -> Invocation:
        request_id = str(uuid.uuid4())
        env = self._acquire(spec)
        try:
            return self._invoke_in(env, spec, payload, request_id)
        finally:
            self._release(env)

    def invoke_async(self, spec: FunctionSpec, payload: str, on_done) -> None:
        """InvocationType=Event: accepted now, run in the background, like Lambda's async queue."""
        def run() -> None:
            try:
                on_done(self.invoke(spec, payload))
            except Exception:
                logger.exception("async invocation of %s failed", spec.name)
        self._async.submit(run)

    def _invoke_in(self, env: ExecutionEnvironment, spec: FunctionSpec, payload: str, request_id: str) -> Invocation:
        init_ms = env.init_ms if env.cold else None
        lines = [f"START RequestId: {request_id} Version: {spec.version}"]
        if env.init_error is not None:
            lines += env.take_log_lines()
            error = dict(env.init_error, requestId=request_id)
            reply, duration_ms = {"ok": False, "payload": json.dumps(error)}, 0.0
        else:
            reply, duration_ms = env.invoke(payload, request_id)
            lines += env.take_log_lines()
        timestamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        if reply.get("timeout"):
            message = f"Task timed out after {spec.timeout_s:.2f} seconds"
            lines.append(f"{timestamp} {request_id} {message}")
            reply["payload"] = json.dumps({"errorType": "Sandbox.Timedout",
                                           "errorMessage": f"RequestId: {request_id} Error: {message}"})
        elif reply.get("oom"):
            message = (f"Runtime exited with error: signal: killed "
                       f"(memory used exceeded the function's {spec.memory_mb} MB)")
            lines.append(f"{timestamp} {request_id} Error: {message}")
            reply["payload"] = json.dumps({"errorType": "Runtime.OutOfMemory",
                                           "errorMessage": f"RequestId: {request_id} Error: {message}"})
        elif reply.get("crashed"):
            message = f"Runtime exited with error: exit status {env.process.poll()}"
            lines.append(f"{timestamp} {request_id} Error: {message}")
            reply["payload"] = json.dumps({"errorType": "Runtime.ExitError",
                                           "errorMessage": f"RequestId: {request_id} Error: {message}"})
        duration_ms = min(duration_ms, spec.timeout_s * 1000) if reply.get("timeout") else duration_ms
        _, peak_mb = env.rss_mb()
        max_memory = min(int(math.ceil(peak_mb)), spec.memory_mb) if peak_mb else spec.memory_mb
        billed_ms = max(1, int(math.ceil(duration_ms)))
        report = (f"REPORT RequestId: {request_id}\tDuration: {duration_ms:.2f} ms\tBilled Duration: {billed_ms} ms\t"
                  f"Memory Size: {spec.memory_mb} MB\tMax Memory Used: {max_memory} MB")
        if init_ms is not None:
            report += f"\tInit Duration: {init_ms:.2f} ms"
        lines += [f"END RequestId: {request_id}", report]
        return Invocation(
            payload=(reply.get("payload") or "null").encode("utf-8"),
            function_error=None if reply.get("ok") else "Unhandled",
            log_lines=lines, log_stream=env.log_stream, duration_ms=duration_ms, billed_ms=billed_ms,
            max_memory_mb=max_memory, init_ms=init_ms,
        )

    def shutdown(self) -> None:
        self._closed = True
        with self._lock:
            for idle in self._idle.values():
                for env in idle:
                    env.close()
            self._idle.clear()
        self._async.shutdown(wait=False, cancel_futures=True)
        self.launcher.close()
