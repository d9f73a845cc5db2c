"""Runs deployed Lambda functions in local worker processes, the way Lambda runs them.

The public API of the emulator's Lambda runtime: ``invoke`` and ``invoke_async`` take a
``FunctionSpec`` and return an ``Invocation``. Each function gets its own pool of execution
environments (``lambda_environment``), keyed by function version and configuration: kept warm
and reused, several at once so invocations of one function run in parallel across cores, and
reaped when idle. Each invocation's outcome becomes Lambda's error payload and START/END/REPORT
lines (``lambda_reports``). Environments are forked from a zygote when it is available, spawned
otherwise (``lambda_launchers``).

Nothing here knows about moto: ``moto_patches`` translates moto's function objects into
``FunctionSpec`` and ships the returned log lines to CloudWatch Logs.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import shutil
import threading
import time
import uuid
import zipfile
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path

from radstream.emulator import lambda_reports as reports
from radstream.emulator.lambda_environment import ExecutionEnvironment
from radstream.emulator.lambda_types import FunctionSpec, Invocation
from radstream.emulator.lambda_launchers import SpawnLauncher, ZygoteLauncher
from radstream.emulator.stats import cpu_seconds

logger = logging.getLogger(__name__)

DEFAULT_IDLE_TIMEOUT_S = 600.0


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
        self._live: set[ExecutionEnvironment] = set()
        self._retired_cpu_s: dict[str, float] = {}  # function name -> CPU of its closed environments
        self._async = ThreadPoolExecutor(max_workers=8, thread_name_prefix="lambda-async")
        self._closed = False
        self.faults = None  # a faults.FaultSwitch: injected crashes and out-of-memory stops (off by default)
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
                    self._retire(env)
                if self._busy.get(key, 0) < self.max_per_function:
                    self._busy[key] = self._busy.get(key, 0) + 1
                    break
                self._lock.wait(timeout=1.0)
        try:
            try:
                env = ExecutionEnvironment(spec, self._code_dir(spec), self.log_dir, self.base_env, self.launcher)
            except (OSError, ValueError, KeyError) as exc:
                if isinstance(self.launcher, SpawnLauncher):
                    raise
                # The zygote died or answered nonsense: keep serving, just with slower cold starts.
                logger.error("Lambda zygote failed (%s); spawning environments from now on", exc)
                self.launcher.close()
                self.launcher = SpawnLauncher()
                env = ExecutionEnvironment(spec, self._code_dir(spec), self.log_dir, self.base_env, self.launcher)
            with self._lock:
                self._live.add(env)
            return env
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
                self._retire(env)
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
                        self._retire(env)

    def _retire(self, env: ExecutionEnvironment) -> None:
        """Close an environment, keeping the CPU it used (caller holds the lock)."""
        self._retired_cpu_s[env.spec.name] = self._retired_cpu_s.get(env.spec.name, 0.0) + env.cpu_seconds()
        self._live.discard(env)
        env.close()

    def process_cpu(self) -> list[dict]:
        """CPU seconds of every process the runtime started: the zygote, each live execution
        environment, and per function the total of its closed environments."""
        with self._lock:
            live = list(self._live)
            retired = dict(self._retired_cpu_s)
        processes = []
        zygote_pid = getattr(self.launcher, "pid", None)
        if zygote_pid is not None:
            processes.append({"role": "lambda-zygote", "pid": zygote_pid, "cpu_s": cpu_seconds(zygote_pid) or 0.0})
        for env in live:
            processes.append({"role": f"lambda:{env.spec.name}", "pid": env.process.pid, "cpu_s": env.cpu_seconds()})
        for name, cpu_s in sorted(retired.items()):
            processes.append({"role": f"lambda:{name}", "pid": None, "cpu_s": cpu_s, "exited": True})
        return processes

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
        lines = [reports.start_line(request_id, spec.version)]
        if env.init_error is not None:
            lines += env.take_log_lines()
            error = dict(env.init_error, requestId=request_id)
            reply, duration_ms = {"ok": False, "payload": json.dumps(error)}, 0.0
        else:
            reply, duration_ms = env.invoke(payload, request_id, fault=self._injected_fault(spec))
            lines += env.take_log_lines()
        now = datetime.now(timezone.utc)
        failure = None
        if reply.get("timeout"):
            failure = reports.timed_out(request_id, spec.timeout_s, now)
            duration_ms = min(duration_ms, spec.timeout_s * 1000)
        elif reply.get("oom"):
            failure = reports.out_of_memory(request_id, spec.memory_mb, now)
        elif reply.get("crashed"):
            failure = reports.exited(request_id, env.process.poll(), now)
        if failure is not None:
            log_line, reply["payload"] = failure
            lines.append(log_line)
        _, peak_mb = env.rss_mb()
        max_memory = reports.max_memory_used_mb(peak_mb, spec.memory_mb)
        billed_ms = reports.billed_duration_ms(duration_ms)
        lines += [reports.end_line(request_id),
                  reports.report_line(request_id, duration_ms, billed_ms, spec.memory_mb, max_memory, init_ms)]
        return Invocation(
            payload=(reply.get("payload") or "null").encode("utf-8"),
            function_error=None if reply.get("ok") else "Unhandled",
            log_lines=lines, log_stream=env.log_stream, duration_ms=duration_ms, billed_ms=billed_ms,
            max_memory_mb=max_memory, init_ms=init_ms,
        )

    def _injected_fault(self, spec: FunctionSpec) -> str | None:
        if self.faults is None:
            return None
        if self.faults.fires("lambda-crash", function=spec.name):
            return "crash"
        if self.faults.fires("lambda-oom", function=spec.name):
            return "oom"
        return None

    def shutdown(self) -> None:
        self._closed = True
        with self._lock:
            for idle in self._idle.values():
                for env in idle:
                    self._retire(env)
            self._idle.clear()
        self._async.shutdown(wait=False, cancel_futures=True)
        self.launcher.close()
