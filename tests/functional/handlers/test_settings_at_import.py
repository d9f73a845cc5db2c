"""Every handler imports with exactly the environment deploy gives it, and fails its cold start naming
any required variable that is missing (no silent laptop defaults)."""

import pytest

from radstream.definition import stack
from radstream.deployed import config
from radstream.deployed.errors import ConfigurationError

from .conftest import function_def, import_handler_module

# What each function's code requires at import (the handlers package itself requires the stream).
REQUIRED = {
    "validate-metadata": {config.TELEMETRY_STREAM},
    "prepare-tensors": {config.TELEMETRY_STREAM, config.TENSORS_BUCKET},
    "run-inference": {config.TELEMETRY_STREAM, config.MODEL_ENDPOINT, config.MODEL_NAME},
    "store-results": {config.TELEMETRY_STREAM, config.RESULTS_BUCKET},
    "record-failure": {config.TELEMETRY_STREAM, config.RESULTS_BUCKET},
    "send-telemetry": {config.TELEMETRY_STREAM},
    "upload-trigger": {config.TELEMETRY_STREAM, config.STATE_MACHINE_ARN, config.WORKFLOW_TYPE},
}
CASES = [(short, variable) for short, variables in REQUIRED.items() for variable in sorted(variables)]


def test_every_deployed_function_is_covered():
    assert set(REQUIRED) == {fn.short for fn in stack.FUNCTIONS}


@pytest.mark.parametrize("short", sorted(REQUIRED))
def test_deployed_environment_is_enough(short, deployed_env):
    env = deployed_env(short)
    assert REQUIRED[short] <= set(env)
    assert callable(import_handler_module(function_def(short)).handler)


@pytest.mark.parametrize("short,variable", CASES, ids=[f"{s}-without-{v}" for s, v in CASES])
def test_missing_variable_fails_the_import_naming_it(short, variable, deployed_env):
    deployed_env(short, **{variable: None})
    with pytest.raises(ConfigurationError, match=f"environment variable {variable} is not set"):
        import_handler_module(function_def(short))
