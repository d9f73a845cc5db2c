"""The embedded emulator (moto + our patches + Lambda runtime) in its own process, without a model server,
for functional tests of what the emulator adds to moto."""

import contextlib
from pathlib import Path

from radstream.tooling.stack.embedded import EmbeddedStack, free_port


@contextlib.contextmanager
def running_emulator(state_dir: Path):
    """Yields ``client(service)``: a boto3 client for the emulator."""
    import boto3

    stack = EmbeddedStack(state_dir, port=free_port(), model_port=free_port())
    service = stack.emulator
    try:
        stack.start(model_server=False)
        session = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing",
                                        region_name="us-east-1")
        yield lambda name: session.client(name, endpoint_url=service.url())
    finally:
        stack.stop()


@contextlib.contextmanager
def emulator_process(work: Path, *args: str, env: dict[str, str] | None = None):
    """A bare ``python -m radstream.emulator`` process (nothing deployed) with extra command-line ``args``
    and environment ``env``; yields its endpoint URL. Its log is ``work/emulator.log``."""
    import os
    import subprocess
    import sys
    import time

    from radstream.tooling.stack import emulator_admin

    port = free_port()
    environment = dict(os.environ, AWS_DEFAULT_REGION="us-east-1", **(env or {}))
    with open(work / "emulator.log", "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "radstream.emulator", "--port", str(port), "--work-dir",
                                 str(work), *args], env=environment, stdout=subprocess.DEVNULL, stderr=log)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 60
        while emulator_admin.health(url) is None:
            if proc.poll() is not None or time.time() > deadline:
                raise RuntimeError(f"emulator did not start; see {work / 'emulator.log'}")
            time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def one_attempt_clients(url: str, **config: object):
    """``client(service)`` for ``url`` whose calls are tried once (a test sees each error as it is)."""
    import boto3
    from botocore.config import Config

    session = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing",
                                    region_name="us-east-1")
    settings = Config(retries={"total_max_attempts": 1, "mode": "standard"}, **config)
    return lambda service: session.client(service, endpoint_url=url, config=settings)


PROBE_ROLE = "arn:aws:iam::123456789012:role/test"


def create_probe_functions(client, source: str, handlers: list[str], prefix: str, **settings) -> dict[str, str]:
    """One Lambda function per handler of ``source`` (written as ``probe.py``), named ``<prefix>-<handler>-<random>``
    with role ``test`` (created if missing) and ``settings`` (e.g. Timeout, Environment); returns their ARNs."""
    import io
    import json
    import uuid
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("probe.py", source)
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                     "Principal": {"Service": "lambda.amazonaws.com"}}]}
    iam = client("iam")
    if not any(role["RoleName"] == "test" for role in iam.list_roles()["Roles"]):
        iam.create_role(RoleName="test", AssumeRolePolicyDocument=json.dumps(trust))
    return {handler: client("lambda").create_function(
                FunctionName=f"{prefix}-{handler}-{uuid.uuid4().hex[:6]}", Runtime="python3.11", Role=PROBE_ROLE,
                Handler=f"probe.{handler}", Code={"ZipFile": buffer.getvalue()}, **settings)["FunctionArn"]
            for handler in handlers}
