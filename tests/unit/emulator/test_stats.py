"""The emulator names each request it serves as AWS does: what boto3 sends for an operation is
counted under that operation, by origin."""

import io
from urllib.parse import urlsplit

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from botocore.config import Config

from radstream.emulator.stats import EMULATOR_USER_AGENT, RequestStats, classify, origin_of


def environ_of(service: str, operation: str, config: Config | None = None, **params) -> dict:
    """The WSGI environ of the request boto3 would send for ``operation`` (captured before sending)."""
    captured = {}

    def capture(request, **_):
        captured["request"] = request
        return AWSResponse(request.url, 599, {}, None)  # never sent

    client = boto3.client(service, region_name="us-east-1", endpoint_url="http://127.0.0.1:4566",
                          aws_access_key_id="k", aws_secret_access_key="s",
                          config=(config or Config()).merge(Config(retries={"max_attempts": 1})))
    client.meta.events.register("before-send", capture)
    try:
        getattr(client, operation)(**params)
    except Exception:  # the 599 answer is not a valid reply; the request is what we want
        pass
    request = captured["request"]
    url = urlsplit(request.url)
    body = request.body or b""
    if isinstance(body, str):
        body = body.encode()
    elif hasattr(body, "read"):
        body = body.read()
    environ = {"REQUEST_METHOD": request.method, "PATH_INFO": url.path, "QUERY_STRING": url.query,
               "CONTENT_LENGTH": str(len(body)), "wsgi.input": io.BytesIO(body)}
    for name, value in request.headers.items():
        value = value.decode() if isinstance(value, bytes) else value
        key = name.upper().replace("-", "_")
        environ[key if key in ("CONTENT_TYPE", "CONTENT_LENGTH") else f"HTTP_{key}"] = value
    return environ


@pytest.mark.parametrize("service, operation, params, expected", [
    ("s3", "put_object", {"Bucket": "b", "Key": "incoming/s/image.jpg", "Body": b"x"}, ("s3", "PutObject")),
    ("s3", "get_object", {"Bucket": "b", "Key": "a/b/c.json"}, ("s3", "GetObject")),
    ("s3", "head_object", {"Bucket": "b", "Key": "k"}, ("s3", "HeadObject")),
    ("s3", "list_objects_v2", {"Bucket": "b", "Prefix": "incoming/s/"}, ("s3", "ListObjectsV2")),
    ("s3", "list_objects", {"Bucket": "b"}, ("s3", "ListObjects")),
    ("s3", "copy_object", {"Bucket": "b", "Key": "k2", "CopySource": "b/k"}, ("s3", "CopyObject")),
    ("s3", "delete_object", {"Bucket": "b", "Key": "k"}, ("s3", "DeleteObject")),
    ("s3", "create_bucket", {"Bucket": "b"}, ("s3", "CreateBucket")),
    ("s3", "get_bucket_notification_configuration", {"Bucket": "b"}, ("s3", "GetBucketNotificationConfiguration")),
    ("lambda", "invoke", {"FunctionName": "f", "Payload": b"{}"}, ("lambda", "Invoke")),
    ("lambda", "get_function", {"FunctionName": "f"}, ("lambda", "GetFunction")),
    ("kinesis", "put_records", {"StreamName": "s", "Records": [{"Data": b"x", "PartitionKey": "p"}]},
     ("kinesis", "PutRecords")),
    ("stepfunctions", "describe_execution", {"executionArn": "arn:aws:states:us-east-1:1:execution:m:e"},
     ("states", "DescribeExecution")),
    ("sns", "publish", {"TopicArn": "arn:aws:sns:us-east-1:1:t", "Message": "m"}, ("sns", "Publish")),
])
def test_what_boto3_sends_is_counted_as_its_operation(service, operation, params, expected):
    assert classify(environ_of(service, operation, **params)) == expected


def test_a_form_body_read_for_its_action_is_still_there_for_moto():
    environ = environ_of("sns", "publish", TopicArn="arn:aws:sns:us-east-1:1:t", Message="hello")
    classify(environ)
    assert b"Message=hello" in environ["wsgi.input"].read()


def test_origins_come_from_the_user_agent():
    lambda_ua = "Boto3/1.35 md/Botocore#1.35 ua/2.0 os/linux exec-env/AWS_Lambda_python3.11 cfg/retry-mode#standard"
    assert origin_of(lambda_ua) == "lambda"
    assert origin_of(f"Boto3/1.35 ua/2.0 {EMULATOR_USER_AGENT}") == "emulator"
    assert origin_of("Boto3/1.35 md/Botocore#1.35 ua/2.0 os/linux") == "client"
    forwarder = environ_of("kinesis", "get_records", config=Config(user_agent_extra=EMULATOR_USER_AGENT),
                           ShardIterator="it")
    assert origin_of(forwarder["HTTP_USER_AGENT"]) == "emulator"


def test_counters_grow_by_origin_and_operation():
    stats = RequestStats()
    stats.count_request(environ_of("s3", "put_object", Bucket="b", Key="k", Body=b"x"))
    stats.count_request(environ_of("s3", "put_object", Bucket="b", Key="k", Body=b"x"))
    stats.count_internal("stepfunctions", "lambda", "Invoke")
    assert stats.snapshot() == {"client": {"s3:PutObject": 2}, "stepfunctions": {"lambda:Invoke": 1}}
