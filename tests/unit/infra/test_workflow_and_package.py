import io
import json
import zipfile
from pathlib import Path

import pytest

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
        assert catch[0]["ErrorEquals"] == ["States.ALL"] and catch[0]["Next"] == "RecordFailure"
        retry = states[name]["Retry"]
        assert all(r["BackoffRate"] > 1 for r in retry)
    assert any("ModelServerUnavailableError" in r["ErrorEquals"] for r in states["RunInference"]["Retry"])
    # failure path: record -> SNS (the record's notification) -> telemetry -> Fail, each step continuing
    # even if it fails; a record-failure function failing through its retries still leaves a record,
    # written by the workflow itself (no Lambda)
    assert states["RecordFailure"]["Next"] == "NotifyFailure"
    assert states["RecordFailure"]["Catch"][0]["Next"] == "DescribeFailureDirectly"
    assert states["DescribeFailureDirectly"]["Next"] == "RecordFailureDirectly"
    direct = states["RecordFailureDirectly"]
    assert direct["Resource"] == "arn:aws:states:::aws-sdk:s3:putObject"
    assert direct["Parameters"]["Bucket"] == Names().results_bucket
    assert direct["Next"] == direct["Catch"][0]["Next"] == "NotifyFailure"
    assert states["NotifyFailure"]["Resource"] == "arn:aws:states:::sns:publish"
    assert states["NotifyFailure"]["Parameters"]["Message.$"] == "States.JsonToString($.failure.notification)"
    assert states["NotifyFailure"]["Next"] == states["NotifyFailure"]["Catch"][0]["Next"] == "SendFailureTelemetry"
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


# -- artifacts: content-hash keys, per-site packaging, hashed lock files ---------------------------
def test_artifact_keys_are_content_hashes_known_before_building():
    layers = package.artifacts("layers")
    assert layers["CoreCodeKey"].key == layers["ImagingCodeKey"].key == layers["InferenceCodeKey"].key
    assert layers["CoreCodeKey"].key.startswith("functions/code-")
    assert layers["ImagingLayerKey"].key == f"layers/imaging-{package.lock_hash('imaging')}.zip"
    assert len({layers[f"{s}LayerKey"].key for s in ("Core", "Imaging", "Inference")}) == 3
    assert [a.key for a in package.artifacts("layers").values()] == [a.key for a in layers.values()]  # reproducible
    provided = package.artifacts("provided")
    assert provided["ImagingLayerKey"].key == "" and provided["CoreCodeKey"].key == layers["CoreCodeKey"].key
    bundled = package.artifacts("bundled")
    assert bundled["CoreCodeKey"].key.startswith("functions/core-")  # Powertools is bundled with the code
    assert bundled["ImagingCodeKey"].key.startswith("functions/imaging-")
    assert bundled["ImagingCodeKey"].key != bundled["InferenceCodeKey"].key
    with pytest.raises(ValueError, match="DependencyPackaging"):
        package.artifacts("docker")


def test_lock_files_pin_every_requirement_with_hashes_for_the_lambda_platform():
    for dependency_set in ("core", "imaging", "inference"):
        lock = package.lock_file(dependency_set)
        pinned = [line.split("==")[0] for line in lock.splitlines() if "==" in line]
        assert pinned and all("--hash=sha256:" in block for block in lock.split("==")[1:])
    assert "numpy" in package.lock_file("inference") and "pydicom" not in package.lock_file("inference")
    assert [line.split("==")[0] for line in package.lock_file("core").splitlines() if "==" in line] == \
        ["aws-lambda-powertools", "jmespath", "typing-extensions"]  # no numpy for the validator and friends
    assert all("aws-lambda-powertools==" in package.lock_file(s) for s in ("imaging", "inference"))
    command = package.pip_install_command(Path("req.txt"), Path("out"))
    assert "--require-hashes" in command and "--only-binary=:all:" in command
    assert command[command.index("--python-version") + 1] == "3.12"
    assert "manylinux_2_28_x86_64" in command and "manylinux_2_34_x86_64" in command


def test_lock_hash_changes_with_the_lock_file(monkeypatch):
    before = package.lock_hash("imaging")
    real = package.lock_file
    monkeypatch.setattr(package, "lock_file", lambda s: real(s) + "\n# changed")
    assert package.lock_hash("imaging") != before
