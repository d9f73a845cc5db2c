"""One Lambda execution environment: a warm worker process for one function version.

It sets the variables Lambda's runtime sets (``_HANDLER``, ``AWS_LAMBDA_*``, ``LAMBDA_TASK_ROOT``)
on top of the function's own, starts the worker through a launcher (``lambda_launchers``), waits
for it to initialise, then runs one event at a time over the worker's line protocol. While an event
runs it enforces the function's timeout (the process is killed) and memory size (resident memory
polled from /proc; the process is killed when it exceeds the limit), and it collects what the
handler wrote to its log file. Turning those outcomes into Lambda's errors and log lines is the
pool's job (``lambda_runtime``, ``lambda_reports``).
"""

from __future__ import annotations

import json
import select
import subprocess
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

from radstream.emulator.lambda_types import FunctionSpec
from radstream.emulator.stats import cpu_seconds

# How often a running invocation's resident memory is read while it runs: each wake-up costs the
# emulator a /proc read and a GIL hand-off per in-flight invocation; a function exceeding its memory
# size is still stopped within this interval (Lambda, too, notices with some delay).
MEMORY_POLL_S = 0.1


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
        self.last_cpu_s = 0.0

    def cpu_seconds(self) -> float:
        """CPU time the environment's process has used; its last reading once the process is gone."""
        now = cpu_seconds(self.process.pid)
        if now is not None:
            self.last_cpu_s = now
        return self.last_cpu_s

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

    def invoke(self, payload: str, request_id: str, fault: str | None = None) -> tuple[dict, float]:
        """Run one event; returns (reply, wall duration ms). Kills the process on timeout or OOM.
        ``fault`` (fault injection): ``crash`` kills the process as the event is handed over, as a crashing
        handler dies; ``oom`` stops it as the memory check below stops one over its limit."""
        deadline_wall_ms = time.time() * 1000 + self.spec.timeout_s * 1000
        request = {"request_id": request_id, "event": payload, "deadline_ms": deadline_wall_ms,
                   "function_arn": self.spec.arn}
        started = time.perf_counter()
        if fault in ("crash", "oom"):  # the process dies as the event is handed over (before it can answer)
            self.kill()
            return {"ok": False, "crashed" if fault == "crash" else "oom": True}, (time.perf_counter() - started) * 1000
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
        self.cpu_seconds()  # keep a reading: a process killed later cannot be read any more
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
