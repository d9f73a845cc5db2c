"""Target resolution: named targets, their defaults, and the errors for missing settings."""

import pytest

from radstream.infra.targets import resolve


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
