"""Each function imports with only its own dependency set (definition/lambda_dependencies): what its
layer or package ships. The others' packages are made unimportable in a fresh interpreter."""

import json
import subprocess
import sys

import pytest

from radstream.definition import stack
from radstream.definition.names import Names
from radstream.infra import package

# import names of the third-party packages of every lock file
IMPORT_NAMES = {"numpy": "numpy", "pillow": "PIL", "pydicom": "pydicom", "pylibjpeg": "pylibjpeg",
                "pylibjpeg-libjpeg": "libjpeg", "pylibjpeg-openjpeg": "openjpeg", "urllib3": "urllib3",
                "aws-lambda-powertools": "aws_lambda_powertools", "jmespath": "jmespath",
                "typing-extensions": "typing_extensions"}

# The Lambda Python runtime has boto3, hence botocore's urllib3 and jmespath (the sets pin their own anyway).
RUNTIME_PROVIDED = {"urllib3", "jmespath"}

PROBE = """
import importlib, importlib.abc, json, os, sys
blocked = set(json.loads(sys.argv[1]))
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in blocked:
            raise ImportError(f"{name} is not in this function's dependency set")
sys.meta_path.insert(0, Block())
os.environ.update(json.loads(sys.argv[2]))
module = importlib.import_module(sys.argv[3])
print("ok", callable(getattr(module, sys.argv[4])))
"""


def pinned(dependency_set: str) -> set[str]:
    lines = package.lock_file(dependency_set).splitlines()
    return {IMPORT_NAMES[line.split("==")[0].lower()] for line in lines if "==" in line}


@pytest.mark.parametrize("fn", stack.FUNCTIONS, ids=lambda fn: fn.short)
def test_function_imports_with_only_its_dependency_set(fn):
    allowed = pinned(fn.dependency_set)
    blocked = sorted(set(IMPORT_NAMES.values()) - allowed - RUNTIME_PROVIDED)
    env = stack.function_environment(fn, Names(), "http://127.0.0.1:9")
    env.update(AWS_DEFAULT_REGION="us-east-1", AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing")
    module, handler = fn.handler.rsplit(".", 1)
    run = subprocess.run([sys.executable, "-c", PROBE, json.dumps(blocked), json.dumps(env), module, handler],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0 and run.stdout.strip() == "ok True", run.stderr[-2000:]


def test_the_validator_needs_no_numpy():
    assert stack.function("validate-metadata").dependency_set == "core"
    assert "numpy" not in pinned("core")
