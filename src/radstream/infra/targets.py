"""Where a deployment goes: the embedded emulator, LocalStack, or real AWS — resolved in one place.

Only endpoints and the account differ between targets; the definition deployed is the same.
Every command that talks to a stack takes ``--target`` (default ``RADSTREAM_TARGET``, else
``embedded``) and resolves it here.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import boto3
from botocore.config import Config

from radstream.definition.names import DEFAULT_REGION, Names

from .errors import TargetError

TARGETS = ("embedded", "localstack", "aws")
TARGET_HELP = ("where the stack runs: embedded (the emulator on this machine), localstack or aws "
               "(default: $RADSTREAM_TARGET, else embedded)")
EMBEDDED_ACCOUNT_ID = "123456789012"  # moto's default account
LOCALSTACK_ACCOUNT_ID = "000000000000"
DEFAULT_EMULATOR_PORT = 4566
DEFAULT_MODEL_PORT = 8080


@dataclass(frozen=True)
class Target:
    name: str
    endpoint_url: str | None  # None means real AWS
    region: str
    account_id: str
    model_endpoint: str  # as the run-inference function must reach it

    @property
    def names(self) -> Names:
        return Names(account_id=self.account_id, region=self.region)

    @property
    def is_local(self) -> bool:
        return self.endpoint_url is not None

    def session(self) -> boto3.session.Session:
        if self.endpoint_url is None:
            return boto3.session.Session(region_name=self.region)
        return boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing",
                                     region_name=self.region)

    def client(self, service: str):
        return self.session().client(service, endpoint_url=self.endpoint_url,
                                     config=Config(retries={"max_attempts": 5, "mode": "standard"}))


def region() -> str:
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or DEFAULT_REGION


def target_name(name: str | None = None) -> str:
    """``name``, else ``RADSTREAM_TARGET``, else ``embedded``; TargetError for anything unknown."""
    name = name or os.environ.get("RADSTREAM_TARGET") or "embedded"
    if name not in TARGETS:
        raise TargetError(f"unknown target {name!r}: choose one of {', '.join(TARGETS)} "
                          f"(from --target or RADSTREAM_TARGET)")
    return name


def resolve(name: str | None = None, *, port: int | None = None, model_endpoint: str | None = None) -> Target:
    """The target named ``name`` (default: ``RADSTREAM_TARGET`` or ``embedded``).

    ``port`` is the embedded emulator's (the stack manager knows which one `radstream up` chose).
    """
    name = target_name(name)
    if name == "embedded":
        port = port or int(os.environ.get("RADSTREAM_EMULATOR_PORT", DEFAULT_EMULATOR_PORT))
        model_port = int(os.environ.get("RADSTREAM_MODEL_PORT", DEFAULT_MODEL_PORT))
        return Target(name, f"http://127.0.0.1:{port}", region(), EMBEDDED_ACCOUNT_ID,
                      model_endpoint or os.environ.get("RADSTREAM_MODEL_ENDPOINT") or f"http://127.0.0.1:{model_port}")
    if name == "localstack":
        port = port or int(os.environ.get("LOCALSTACK_PORT", 4566))
        # Functions run in containers on the compose network, where the model server is `model-server`.
        return Target(name, os.environ.get("LOCALSTACK_ENDPOINT", f"http://localhost:{port}"), region(),
                      LOCALSTACK_ACCOUNT_ID, model_endpoint or "http://model-server:8080")
    endpoint = model_endpoint or os.environ.get("RADSTREAM_MODEL_ENDPOINT")
    if not endpoint:
        raise TargetError("the aws target needs the model server's URL: pass --model-endpoint or set "
                          "RADSTREAM_MODEL_ENDPOINT (e.g. the EKS service behind an internal load balancer)")
    account = os.environ.get("RADSTREAM_ACCOUNT_ID") or _aws_account_id(region())
    return Target(name, None, region(), account, endpoint)


def _aws_account_id(region_name: str) -> str:
    try:
        return boto3.client("sts", region_name=region_name).get_caller_identity()["Account"]
    except Exception as exc:  # no credentials: say what to do
        raise TargetError(f"cannot determine the AWS account ({type(exc).__name__}); configure AWS credentials "
                          "or set RADSTREAM_ACCOUNT_ID") from None
