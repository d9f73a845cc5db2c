import io
import json
import zipfile

from radstream.definition.names import Names
from radstream.definition import stack
from radstream.infra import package
from radstream.definition.workflow import FUNCTION_PLACEHOLDERS, raw_definition, render_definition


def _states():
    return json.loads(render_definition(Names()))["States"]


def test_definition_renders_with_every_placeholder_filled():
    rendered = render_definition(Names(account_id="111122223333", region="eu-west-1"))
    assert "${" not in rendered
    assert "arn:aws:lambda:eu-west-1:111122223333:function:radstream-validate-metadata" in rendered
    assert "arn:aws:sns:eu-west-1:111122223333:radstream-pipeline-errors" in rendered


def test_jsonpath_linear_happy_path():
    definition = json.loads(render_definition(Names()))
    assert definition.get("QueryLanguage") == "JSONPath"
    order, state = [], definition["StartAt"]
    while definition["States"][state].get("Next"):
        order.append(state)
        state = definition["States"][state]["Next"]
    assert order == ["ValidateMetadata", "PrepareTensors", "RunInference", "StoreResults", "SendTelemetry"]


def test_every_task_catches_into_failure_handling_and_retries():
    states = _states()
    for name in ("ValidateMetadata", "PrepareTensors", "RunInference", "StoreResults"):
        catch = states[name]["Catch"]
        assert catch[0]["ErrorEquals"] == ["States.ALL"] and catch[0]["Next"] == "NotifyFailure"
        retry = states[name]["Retry"]
        assert all(r["BackoffRate"] > 1 for r in retry)
    assert "ModelServerUnavailableError" in states["RunInference"]["Retry"][0]["ErrorEquals"]
    # failure path: SNS -> record -> telemetry -> Fail, each step continuing even if it fails
    assert states["NotifyFailure"]["Resource"] == "arn:aws:states:::sns:publish"
    assert states["NotifyFailure"]["Next"] == states["NotifyFailure"]["Catch"][0]["Next"] == "RecordFailure"
    assert states["RecordFailure"]["Next"] == "SendFailureTelemetry"
    assert states["SendFailureTelemetry"]["Next"] == "StudyFailed"
    assert states["StudyFailed"]["Type"] == "Fail"


def test_every_function_placeholder_is_a_deployed_function():
    shorts = {f.short for f in stack.FUNCTIONS}
    assert set(FUNCTION_PLACEHOLDERS.values()) <= shorts
    for key in FUNCTION_PLACEHOLDERS:
        assert "${" + key + "}" in raw_definition()


def test_function_zip_is_reproducible():
    package.function_zip.cache_clear()
    first = package.function_zip()
    package.function_zip.cache_clear()
    assert package.function_zip() == first


def test_function_zip_holds_exactly_the_deployed_tree():
    names = zipfile.ZipFile(io.BytesIO(package.function_zip())).namelist()
    assert {n.split("/")[1] for n in names} == {"__init__.py", "deployed"}
    top_level = {n.split("/")[2].removesuffix(".py") for n in names if n.startswith("radstream/deployed/")}
    assert top_level == {"__init__", "config", "errors", "s3_layout", "intake", "imaging", "inference", "records",
                         "telemetry", "handlers"}
    assert all(n.endswith(".py") and "__pycache__" not in n for n in names)


def test_every_handler_in_the_stack_exists_in_the_zip():
    names = set(zipfile.ZipFile(io.BytesIO(package.function_zip())).namelist())
    for fn in stack.FUNCTIONS:
        module = fn.handler.rsplit(".", 1)[0]
        assert module.replace(".", "/") + ".py" in names


def test_only_run_inference_knows_the_model_endpoint():
    names = Names()
    for fn in stack.FUNCTIONS:
        env = stack.function_environment(fn, names, "http://model:8080")
        assert ("RADSTREAM_MODEL_ENDPOINT" in env) == (fn.short == "run-inference")
