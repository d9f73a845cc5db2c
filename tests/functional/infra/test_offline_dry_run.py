"""`radstream deploy --target aws --dry-run` without credentials: the template summary and parameters,
with no AWS call (the credential chain finds nothing and the instance metadata service is off)."""

import pytest

from radstream.tooling.cli import main


@pytest.fixture
def no_credentials(monkeypatch, tmp_path):
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
                "AWS_ENDPOINT_URL", "RADSTREAM_ACCOUNT_ID", "RADSTREAM_MODEL_ENDPOINT"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def test_prints_the_template_summary_and_parameters(no_credentials, capsys):
    assert main(["deploy", "--target", "aws", "--dry-run", "--model-endpoint", "http://model.internal:8080",
                 "--parameter", "SubnetIds=subnet-1,subnet-2"]) == 0
    out = capsys.readouterr().out
    assert "nothing was asked of AWS" in out
    for expected in ("AWS::Lambda::Function", "RunInferenceFunction", "AWS::KinesisFirehose::DeliveryStream",
                     "ModelEndpoint", "http://model.internal:8080", "subnet-1,subnet-2", "DependencyPackaging",
                     "layers", "layers/imaging-", "functions/code-"):
        assert expected in out, expected
    assert "to deploy, also give" not in out


def test_names_the_parameters_still_missing(no_credentials, capsys):
    assert main(["deploy", "--target", "aws", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "<required>" in out and "to deploy, also give: ModelEndpoint" in out
