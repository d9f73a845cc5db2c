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
