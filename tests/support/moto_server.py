"""A moto server in its own process on a free port, for tests of AWS I/O that need no pipeline.

FACTS: keep moto out of the test process (pyarrow/DuckDB readers hang against an in-process
moto thread). This is the only way the tests get moto: the session shares one server (the
``moto_endpoint`` fixture in tests/functional/conftest.py); a test that needs an empty account starts
its own with ``running_moto_server()``.
"""

import contextlib
import os
import subprocess
import sys
import time
import urllib.request

from radstream.tooling.stack.embedded import free_port


@contextlib.contextmanager
def running_moto_server():
    port = free_port()
    env = dict(os.environ, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", MOTO_PORT=str(port))
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 30
    while True:
        try:
            urllib.request.urlopen(url + "/moto-api/", timeout=1)
            break
        except Exception:
            if proc.poll() is not None or time.time() > deadline:
                proc.kill()
                raise RuntimeError("moto server did not start")
            time.sleep(0.1)
    try:
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def client_factory(endpoint: str, monkeypatch):
    import boto3

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    session = boto3.session.Session(region_name="us-east-1")
    return lambda service: session.client(service, endpoint_url=endpoint)
