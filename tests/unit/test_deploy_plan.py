"""Deploy planning against an empty account (moto in-process; nothing executes)."""

import pytest
from moto.server import ThreadedMotoServer

from radstream.tooling.stack.embedded import free_port
from radstream.infra.deploy import deploy, plan
from radstream.infra.targets import Target, resolve


@pytest.fixture(scope="module")
def empty_account():
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield Target("embedded", f"http://127.0.0.1:{port}", "us-east-1", "123456789012", "http://127.0.0.1:1")
    server.stop()


def test_dry_run_lists_everything_and_changes_nothing(empty_account):
    steps = deploy(empty_account, dry_run=True)
    described = "\n".join(s.describe() for s in steps)
    for expected in ("s3://radstream-images-123456789012", "s3://radstream-results-123456789012",
                     "s3://radstream-telemetry-123456789012", "iam role radstream-lambda-role",
                     "sns topic radstream-pipeline-errors", "kinesis stream radstream-telemetry",
                     "firehose radstream-telemetry-firehose", "glue catalog radstream_analytics",
                     "athena workgroup radstream-analytics", "lambda radstream-validate-metadata",
                     "lambda radstream-upload-trigger", "state machine radstream-pipeline", "s3 trigger"):
        assert expected in described
    assert all(s.action == "create" for s in steps)
    assert empty_account.client("s3").list_buckets()["Buckets"] == []


def test_aws_target_needs_a_model_endpoint(monkeypatch):
    monkeypatch.delenv("RADSTREAM_MODEL_ENDPOINT", raising=False)
    with pytest.raises(ValueError, match="model server"):
        resolve("aws")


def test_unknown_target_is_named():
    with pytest.raises(ValueError, match="unknown target 'gcp'"):
        resolve("gcp")


def test_localstack_target_defaults():
    target = resolve("localstack")
    assert target.account_id == "000000000000" and target.model_endpoint == "http://model-server:8080"
    assert plan.__doc__  # the plan/apply split is the documented contract


def test_compose_file_describes_the_localstack_target():
    import yaml

    from radstream.tooling.stack.localstack import COMPOSE_FILE

    compose = yaml.safe_load(COMPOSE_FILE.read_text())
    services = compose["services"]
    assert services["localstack"]["environment"]["LAMBDA_DOCKER_NETWORK"] == compose["networks"]["radstream"]["name"]
    assert "/var/run/docker.sock:/var/run/docker.sock" in services["localstack"]["volumes"]
    assert services["model-server"]["build"]["context"] == "model_server"
    assert (COMPOSE_FILE.parent / "model_server" / "Dockerfile").exists()
    # the hostname run-inference is configured with on this target
    assert resolve("localstack").model_endpoint == "http://model-server:8080"
