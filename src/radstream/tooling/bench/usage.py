"""What a benchmark level cost the machine: CPU seconds per study by process, AWS requests per study.

On the embedded target every process of the stack runs here: the emulator reports the requests it
served (by origin and operation) and the CPU of itself and its Lambda processes, the stack manager
adds the model server's CPU, and the benchmark adds its own (the load generator is on the same
cores). Other targets have no such view: the fields stay empty and the report says so.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from radstream.tooling.stack.emulator_admin import stats_delta

CLIENT_ROLE = "bench-client"


@dataclass
class UsageSnapshot:
    served: dict  # the stack's stats document (emulator_admin.stats + the model server)
    client_cpu_s: float


class StackProbe:
    """Snapshots of an embedded stack's work; subtract two to get a level's usage."""

    def __init__(self, stack) -> None:
        self.stack = stack

    def snapshot(self) -> UsageSnapshot | None:
        served = self.stack.served()
        return None if served is None else UsageSnapshot(served, time.process_time())


def usage_per_study(before: UsageSnapshot | None, after: UsageSnapshot | None, studies: int) -> dict | None:
    """``{"cpu_s_per_study": {role: s, ..., "total": s}, "requests_per_study": {"service:Op": n, ...,
    "total": n}, "requests_per_study_by_origin": {origin: {"service:Op": n}}}``, or None."""
    if before is None or after is None or studies <= 0:
        return None
    delta = stats_delta(before.served, after.served)
    cpu = {role: round(s / studies, 4) for role, s in delta["cpu_s"].items()}
    cpu[CLIENT_ROLE] = round((after.client_cpu_s - before.client_cpu_s) / studies, 4)
    cpu["total"] = round(sum(cpu.values()), 4)
    by_origin = {origin: {op: round(n / studies, 2) for op, n in sorted(ops.items())}
                 for origin, ops in delta["requests"].items()}
    merged: dict[str, float] = {}
    for ops in delta["requests"].values():
        for op, n in ops.items():
            merged[op] = merged.get(op, 0) + n
    requests = {op: round(n / studies, 2) for op, n in sorted(merged.items(), key=lambda kv: -kv[1])}
    requests["total"] = round(sum(merged.values()) / studies, 2)
    return {"cpu_s_per_study": cpu, "requests_per_study": requests, "requests_per_study_by_origin": by_origin}
