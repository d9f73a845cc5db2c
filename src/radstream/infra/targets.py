"""Where a deployment goes: embedded emulator, LocalStack, or real AWS.

Only endpoints and the account differ between targets; the definition deployed is the same.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import boto3
from botocore.config import Config

from radstream import config

TARGETS = ("embedded", "localstack", "aws")
LOCALSTACK_ACCOUNT_ID = "000000000000"


@dataclass(frozen=True)
class Target:
    name: str
    endpoint_url: str | None  # None means real AWS
    region: str
    account_id: str
    model_endpoint: str  # as the run-inference function must reach it

    @property
    def names(self) -> config.Names:
        return config.Names(account_id=self.account_id, region=self.region)

    def session(self) -> boto3.session.Session:
        if self.endpoint_url is None:
            return boto3.session.Session(region_name=self.region)
        return boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing",
                                     region_name=self.region)

    def client(self, service: str):
        return self.session().client(service, endpoint_url=self.endpoint_url,
                                     config=Config(retries={"max_attempts": 5, "mode": "standard"}))


def resolve(name: str | None = None, *, port: int | None = None, model_endpoint: str | None = None) -> Target:
    """The target named ``name`` (default: ``RADSTREAM_TARGET`` or ``embedded``)."""
    name = name or os.environ.get("RADSTREAM_TARGET", "embedded")
    region = config.region()
    if name == "embedded":
        port = port or int(os.environ.get("RADSTREAM_EMULATOR_PORT", config.DEFAULT_EMULATOR_PORT))
        model_port = int(os.environ.get("RADSTREAM_MODEL_PORT", config.DEFAULT_MODEL_PORT))
        return Target(name, f"http://127.0.0.1:{port}", region, config.EMBEDDED_ACCOUNT_ID,
                      model_endpoint or os.environ.get("RADSTREAM_MODEL_ENDPOINT") or f"http://127.0.0.1:{model_port}")
    if name == "localstack":
        port = port or int(os.environ.get("LOCALSTACK_PORT", 4566))
        # Functions run in containers on the compose network, where the model server is `model-server`.
        return Target(name, os.environ.get("LOCALSTACK_ENDPOINT", f"http://localhost:{port}"), region,
                      LOCALSTACK_ACCOUNT_ID, model_endpoint or "http://model-server:8080")
    if name == "aws":
        endpoint = model_endpoint or os.environ.get("RADSTREAM_MODEL_ENDPOINT")
        if not endpoint:
            raise ValueError("deploying to aws needs the model server's URL: pass --model-endpoint "
                             "or set RADSTREAM_MODEL_ENDPOINT (e.g. the EKS service behind an internal load balancer)")
        account = os.environ.get("RADSTREAM_ACCOUNT_ID") or _aws_account_id(region)
        return Target(name, None, region, account, endpoint)
    raise ValueError(f"unknown target {name!r}: choose one of {', '.join(TARGETS)}")


def _aws_account_id(region: str) -> str:
    try:
        return boto3.client("sts", region_name=region).get_caller_identity()["Account"]
    except Exception as exc:  # no credentials: say what to do
        raise ValueError(f"cannot determine the AWS account ({exc}); configure AWS credentials "
                         "or set RADSTREAM_ACCOUNT_ID") from None
