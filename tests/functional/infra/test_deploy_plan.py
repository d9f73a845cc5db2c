"""Deploy planning against an empty account (its own moto server; nothing executes)."""

import pytest

from radstream.infra.deploy import deploy
from radstream.infra.targets import Target
from support.moto_server import running_moto_server


@pytest.fixture(scope="module")
def empty_account():
    # Not the session's shared server: other tests create buckets and streams there.
    with running_moto_server() as url:
        yield Target("embedded", url, "us-east-1", "123456789012", "http://127.0.0.1:1")


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
