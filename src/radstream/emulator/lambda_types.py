"""What the Lambda runtime is told about a function and what it hands back for one invocation.

These two records are the runtime's whole vocabulary with the outside: ``moto_patches`` builds a
``FunctionSpec`` from moto's function object and ships an ``Invocation``'s log lines to CloudWatch
Logs. They live apart from the runtime so the execution environment, the pool and moto_patches can
all use them without importing each other. (Not named ``lambda_function``, the default handler
module of AWS's examples: the worker scripts start with this directory on ``sys.path``.)
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field


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
