"""The Lambda functions of template.yaml, as Python sees them (the template is the definition).

``FUNCTIONS`` lists each function's handler, memory (the default where a parameter sets it), timeout,
package and the environment variables the template gives it; ``function_environment`` fills those
variables for a set of ``Names`` and the default parameters (the functional tests give handlers
exactly this environment). A unit test checks that
it agrees with what the template's own expressions evaluate to.
"""

from __future__ import annotations

from dataclasses import dataclass

from radstream.definition import names as naming
from radstream.definition import template as cfn
from radstream.definition.names import Names
from radstream.deployed import config

PIPELINE_VERSION_VARIABLE = "RADSTREAM_PIPELINE_VERSION"


@dataclass(frozen=True)
class FunctionDef:
    logical_id: str
    short: str  # radstream-<short>
    handler: str
    memory_mb: int
    timeout_s: int
    description: str
    runtime: str
    code_key_parameter: str        # the parameter naming its package in the artifacts bucket
    layer: str | None              # logical id of its dependency layer (when DependencyPackaging is layers)
    environment_keys: tuple[str, ...]

    @property
    def dependency_set(self) -> str:
        """``core`` | ``imaging`` | ``inference``: from ``<Set>CodeKey``."""
        return self.code_key_parameter.removesuffix("CodeKey").lower()


def _layer_of(properties: dict) -> str | None:
    layers = properties.get("Layers")
    if not layers:
        return None
    (_, (_, chosen, _)), = layers.items()  # !If [UseLayers, [!Ref Layer], !Ref AWS::NoValue]
    return chosen[0]["Ref"]


def _default(value):
    """A literal, or the default of the parameter ``{"Ref": name}`` (e.g. a memory size radstream ab varies)."""
    return cfn.parameter_defaults()[value["Ref"]] if isinstance(value, dict) else value


def _functions() -> tuple[FunctionDef, ...]:
    out = []
    for logical_id, resource in cfn.resources_of_type("AWS::Lambda::Function").items():
        p = resource["Properties"]
        out.append(FunctionDef(
            logical_id=logical_id,
            short=p["FunctionName"].removeprefix("radstream-"),
            handler=p["Handler"], memory_mb=int(_default(p["MemorySize"])), timeout_s=int(p["Timeout"]),
            description=p.get("Description", ""), runtime=p["Runtime"],
            code_key_parameter=p["Code"]["S3Key"]["Ref"], layer=_layer_of(p),
            environment_keys=tuple(p.get("Environment", {}).get("Variables", {})),
        ))
    return tuple(out)


FUNCTIONS = _functions()
RUNTIME = FUNCTIONS[0].runtime
DEPENDENCY_SETS = tuple(sorted({fn.dependency_set for fn in FUNCTIONS}))


def function(short: str) -> FunctionDef:
    return next(fn for fn in FUNCTIONS if fn.short == short)


def function_environment(fn: FunctionDef, names: Names, model_endpoint: str) -> dict[str, str]:
    """The environment template.yaml gives ``fn``, with ``names``' resources."""
    values = {
        config.IMAGES_BUCKET: names.images_bucket,
        config.TENSORS_BUCKET: names.images_bucket,  # TensorStorage standard (the default)
        config.WORKFLOW_TYPE: "STANDARD",
        config.RESULTS_BUCKET: names.results_bucket,
        config.TELEMETRY_STREAM: names.telemetry_stream,
        config.STATE_MACHINE_ARN: names.state_machine_arn,
        config.MODEL_ENDPOINT: model_endpoint,
        config.MODEL_NAME: naming.model_name(),
        config.ERRORS_TOPIC_ARN: names.errors_topic_arn,
        PIPELINE_VERSION_VARIABLE: naming.pipeline_version(),
    }
    unknown = [key for key in fn.environment_keys if key not in values]
    if unknown:
        raise KeyError(f"template.yaml gives {fn.short} variables stack.py cannot fill: {unknown}")
    return {key: values[key] for key in fn.environment_keys}
