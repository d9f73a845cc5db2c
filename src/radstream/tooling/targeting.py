"""The one way a command finds its target: ``--target`` / ``RADSTREAM_TARGET`` -> a resolved Target.

Every command that talks to a stack adds the same ``--target`` option with
:func:`add_target_argument` and resolves it with :func:`target_from_args`. On the embedded
target the emulator's port comes from the stack manager (the port `radstream up` chose).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from radstream.infra.errors import TargetError
from radstream.infra.targets import TARGET_HELP, TARGETS, Target, resolve, target_name
from radstream.tooling.stack.embedded import DEFAULT_STATE_DIR, EmbeddedStack


def add_target_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--target", choices=TARGETS, default=None, help=TARGET_HELP)


def embedded_stack(args: argparse.Namespace) -> EmbeddedStack:
    return EmbeddedStack(Path(getattr(args, "state_dir", None) or DEFAULT_STATE_DIR), port=getattr(args, "port", None))


def selected_target(args: argparse.Namespace) -> str:
    return target_name(getattr(args, "target", None))


def target_from_args(args: argparse.Namespace, stack: EmbeddedStack | None = None) -> Target:
    name = selected_target(args)
    if name == "embedded":
        stack = stack or embedded_stack(args)
        return resolve("embedded", port=stack.port, model_endpoint=stack.model_endpoint)
    return resolve(name, model_endpoint=getattr(args, "model_endpoint", None))


def require_reachable(target: Target, stack: EmbeddedStack | None = None) -> None:
    """On the embedded target, a one-line error unless the emulator answers."""
    if target.name == "embedded" and not (stack or EmbeddedStack(port=_port(target))).emulator_healthy():
        raise TargetError(f"the embedded stack is not running on {target.endpoint_url}: start it with `radstream up`")


def _port(target: Target) -> int:
    return int(str(target.endpoint_url).rsplit(":", 1)[-1])
