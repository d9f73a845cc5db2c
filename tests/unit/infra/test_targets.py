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
