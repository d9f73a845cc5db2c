"""The README's "Error codes" table lists exactly the codes a failure record can carry.

A failure record's ``error.code`` is the Step Functions error name that a task state's Catch
hands to RecordFailure. The codes are derived here from the code, never copied:

* our exception classes: every ``RadStreamError`` subclass that code reachable from the handlers
  of those task states can raise (a static call graph over ``radstream.deployed``, starting at each
  handler and at the module code its cold start runs; calls inside ``try`` blocks that swallow every
  exception, as telemetry's do, raise nothing);
* what the Lambda runtime reports when the handler cannot run or finish (the names the embedded
  target's runtime produces, read from the emulator's source without importing it);
* the error names the workflow definition retries on those states (after the last retry they are
  caught like any other error);
* what the upload trigger refuses before starting anything and records itself: every
  ``UploadRefusedError`` its handler can raise (stage ``UploadTrigger``);
* Step Functions' own names for a task that failed without an error type, and the record
  builder's fallback when the Catch output has no name at all.
"""

from __future__ import annotations

import ast
import importlib
import json
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import pytest

import radstream
from radstream.definition import stack
from radstream.definition.workflow import FUNCTION_PLACEHOLDERS, raw_definition
from radstream.deployed.errors import RadStreamError
from radstream.deployed.intake.errors import UploadRefusedError
from radstream.deployed.records import parse_step_error

SRC = Path(radstream.__file__).parent
DEPLOYED = "radstream.deployed"
README = SRC.parents[1] / "README.md"

# Not named anywhere in our code, so nothing to derive them from: what Step Functions calls a Lambda
# task that failed without an error type ("States.TaskFailed") and an Invoke Lambda refused because the
# function is gone (Lambda.<code>, as on AWS; the emulator names it so: install_lambda_service_error_names).
STEP_FUNCTIONS_CODES = {"States.TaskFailed", "Lambda.ResourceNotFoundException"}
TRIGGER_STAGE = "UploadTrigger"
RUNTIME_CODE = re.compile(r"(?:Runtime|Sandbox)\.[A-Z][A-Za-z]+")


# --------------------------------------------------------------------------- the workflow

def _states() -> dict:
    return json.loads(raw_definition())["States"]


def _handler_of(state: dict) -> str | None:
    """``radstream.deployed.handlers.x.handler`` for a task that runs one of our functions."""
    placeholder = re.fullmatch(r"\$\{(\w+)\}", state.get("Resource", ""))
    short = FUNCTION_PLACEHOLDERS.get(placeholder.group(1)) if placeholder else None
    return next((f.handler for f in stack.FUNCTIONS if f.short == short), None)


def failure_path_tasks() -> dict[str, str]:
    """Task state -> handler, for every state whose Catch writes the error RecordFailure records."""
    states = _states()
    recorder = next(s for s in states.values() if (_handler_of(s) or "").endswith(".record_failure.handler"))
    error_path = recorder["Parameters"]["error.$"]
    return {name: _handler_of(s) for name, s in states.items()
            if s.get("Type") == "Task" and any(c.get("ResultPath") == error_path for c in s.get("Catch", []))}


def workflow_codes() -> set[str]:
    states = _states()
    return {code for name in failure_path_tasks()
            for rule in states[name].get("Retry", []) + states[name].get("Catch", [])
            for code in rule["ErrorEquals"] if code != "States.ALL"}


def lambda_runtime_codes() -> set[str]:
    codes = set()
    for path in (SRC / "emulator").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and RUNTIME_CODE.fullmatch(node.value):
                codes.add(node.value)
    return codes


# --------------------------------------------------------------------------- our exception classes

def error_classes() -> dict[str, type]:
    """Every RadStreamError subclass defined in a deployed ``errors`` module, by name."""
    found: dict[str, type] = {}
    for path in sorted((SRC / "deployed").rglob("errors.py")):
        module = importlib.import_module(_module_name(path))
        for name, obj in vars(module).items():
            if isinstance(obj, type) and issubclass(obj, RadStreamError) and obj.__module__ == module.__name__:
                assert name not in found, f"two error classes named {name}: the name is the error code"
                found[name] = obj
    return found


def _module_name(path: Path) -> str:
    parts = ["radstream", *path.relative_to(SRC).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@dataclass
class _Body:
    """What running one function (or a module's top level) can do: call names, raise names."""

    calls: set[str] = field(default_factory=set)
    raises: set[str] = field(default_factory=set)


def _swallows_everything(handler: ast.ExceptHandler) -> bool:
    types = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
    catches_all = handler.type is None or any(isinstance(t, ast.Name) and t.id in ("Exception", "BaseException")
                                              for t in types)
    return catches_all and not any(isinstance(n, ast.Raise) for stmt in handler.body for n in ast.walk(stmt))


class _BodyVisitor(ast.NodeVisitor):
    """Collects calls and raises in code that runs, skipping try bodies whose handlers swallow every
    exception. A nested function counts as called by the function that defines it (it is called there
    or returned to be called: a decorator's wrapper runs on every call of what it decorates)."""

    def __init__(self, in_function: bool) -> None:
        self.in_function = in_function
        self.body = _Body()

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        if self.in_function:
            self.body.calls.add(node.name)
        for expr in [*node.decorator_list, *node.args.defaults, *node.args.kw_defaults]:
            if expr is not None:
                self.visit(expr)

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        for expr in node.decorator_list:
            self.visit(expr)

    def visit_Try(self, node: ast.Try) -> None:
        if not any(_swallows_everything(h) for h in node.handlers):
            for stmt in node.body:
                self.visit(stmt)
        for part in (*node.handlers, *node.orelse, *node.finalbody):
            self.visit(part)

    def visit_Raise(self, node: ast.Raise) -> None:
        target = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
        if isinstance(target, (ast.Name, ast.Attribute)):
            self.body.raises.add(target.id if isinstance(target, ast.Name) else target.attr)
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        if isinstance(node.func, (ast.Name, ast.Attribute)):
            self.body.calls.add(node.func.id if isinstance(node.func, ast.Name) else node.func.attr)
        self.generic_visit(node)


@dataclass
class _Module:
    imports: set[str]
    top_level: _Body
    functions: dict[str, list[_Body]]


def _imports(module: str, tree: ast.Module) -> set[str]:
    """Deployed modules this one imports anywhere (function-level imports included), with their packages."""
    package = module if _module_path(module).name == "__init__.py" else module.rsplit(".", 1)[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            found.add(base)
            found |= {f"{base}.{alias.name}" for alias in node.names}
    closed = set()
    for name in found:
        parts = name.split(".")
        closed |= {".".join(parts[:i]) for i in range(1, len(parts) + 1)}
    return {m for m in closed if m.startswith(DEPLOYED) and _module_path(m) is not None}


def _module_path(module: str) -> Path | None:
    base = SRC.joinpath(*module.split(".")[1:])
    for candidate in (base / "__init__.py", base.with_suffix(".py")):
        if candidate.exists():
            return candidate
    return None


def _load(module: str) -> _Module:
    tree = ast.parse(_module_path(module).read_text())
    top = _BodyVisitor(in_function=False)
    top.visit(tree)
    functions: dict[str, list[_Body]] = defaultdict(list)
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            visitor = _BodyVisitor(in_function=True)
            for stmt in node.body:
                visitor.visit(stmt)
            functions[node.name].append(visitor.body)
        elif isinstance(node, ast.ClassDef):  # calling a class runs its __init__
            inits = [n for n in node.body if isinstance(n, ast.FunctionDef) and n.name == "__init__"]
            for init in inits:
                visitor = _BodyVisitor(in_function=True)
                for stmt in init.body:
                    visitor.visit(stmt)
                functions[node.name].append(visitor.body)
    return _Module(_imports(module, tree), top.body, functions)


def raisable_by(handler: str, classes: dict[str, type]) -> set[str]:
    """Names of the error classes an invocation of ``handler`` (cold start included) can raise."""
    module_name, function = handler.rsplit(".", 1)
    modules: dict[str, _Module] = {}
    parts = module_name.split(".")
    pending = [".".join(parts[:i]) for i in range(2, len(parts) + 1)]  # importing it imports its packages
    while pending:
        name = pending.pop()
        if name not in modules:
            modules[name] = _load(name)
            pending += modules[name].imports
    functions: dict[str, list[_Body]] = defaultdict(list)
    for module in modules.values():
        for name, bodies in module.functions.items():
            functions[name] += bodies

    # A cold start runs every imported module's top level, then the handler.
    reached: list[_Body] = [m.top_level for m in modules.values()]
    reached += modules[module_name].functions[function]
    seen_calls: set[str] = set()
    names: set[str] = set()
    while reached:
        body = reached.pop()
        # Constructing an error class counts as raising it: ``raise _decode_error(...)`` builds its
        # exception in a helper.
        names |= body.raises | (body.calls & classes.keys())
        for call in body.calls - seen_calls:
            seen_calls.add(call)
            reached += functions.get(call, [])
    return {n for n in names if n in classes}


def trigger_handler() -> str:
    return next(f.handler for f in stack.FUNCTIONS if f.handler.endswith(".upload_trigger.handler"))


def raising_stages() -> dict[str, set[str]]:
    """Error class name -> the task states (or the upload trigger) whose failure record can carry it."""
    classes = error_classes()
    stages: dict[str, set[str]] = defaultdict(set)
    for state, handler in failure_path_tasks().items():
        for name in raisable_by(handler, classes):
            stages[name].add(state)
    for name in raisable_by(trigger_handler(), classes):
        if issubclass(classes[name], UploadRefusedError):
            stages[name].add(TRIGGER_STAGE)
    return dict(stages)


# --------------------------------------------------------------------------- the README

def readme_table() -> dict[str, str]:
    """Code -> stage cell of the README's "Error codes" table."""
    text = README.read_text()
    section = re.search(r"^## Error codes\n(.*?)(?=^## )", text, re.S | re.M)
    assert section, "README has no '## Error codes' section"
    rows = [line for line in section.group(1).splitlines() if line.startswith("|")]
    header, rule, *body = rows
    assert [c.strip() for c in header.strip("|").split("|")] == ["code", "stage", "meaning", "what to do"]
    table: dict[str, str] = {}
    for row in body:
        cells = [c.strip() for c in row.strip().strip("|").split("|")]
        code = re.fullmatch(r"`([^`]+)`", cells[0])
        assert code and len(cells) == 4, f"malformed error-code row: {row}"
        assert code.group(1) not in table, f"{code.group(1)} is listed twice"
        table[code.group(1)] = cells[1]
    return table


# --------------------------------------------------------------------------- the tests

def expected_codes() -> set[str]:
    return (set(raising_stages()) | lambda_runtime_codes() | workflow_codes() | STEP_FUNCTIONS_CODES
            | {parse_step_error({})["code"]})


def test_readme_lists_exactly_the_codes_a_failure_record_can_carry():
    listed, expected = set(readme_table()), expected_codes()
    assert not expected - listed, f"add to the README's Error codes table: {sorted(expected - listed)}"
    assert not listed - expected, f"no longer produced, remove from the README: {sorted(listed - expected)}"


def test_readme_names_the_stages_that_raise_each_of_our_errors():
    tasks = set(failure_path_tasks())
    table = readme_table()
    for name, stages in raising_stages().items():
        cell = table[name]
        named = tasks if cell.startswith("any step") else set(re.findall(r"\b[A-Z][A-Za-z]+\b", cell)) & (
            tasks | {TRIGGER_STAGE})
        assert named == stages, f"{name}: the README says {sorted(named)}, the code raises it in {sorted(stages)}"


# The analysis must see what we know by construction, and must not see what cannot happen.

def test_analysis_finds_the_failure_path():
    assert failure_path_tasks() == {
        "ValidateMetadata": "radstream.deployed.handlers.validate_metadata.handler",
        "PrepareTensors": "radstream.deployed.handlers.prepare_tensors.handler",
        "RunInference": "radstream.deployed.handlers.run_inference.handler",
        "StoreResults": "radstream.deployed.handlers.store_results.handler",
    }


@pytest.mark.parametrize("name, state", [
    ("MetadataValidationError", "ValidateMetadata"),      # also how upload problems are reported
    ("StudyNotFoundError", "PrepareTensors"),
    ("TruncatedImageError", "PrepareTensors"),
    ("NotChestImageError", "PrepareTensors"),
    ("MetadataMismatchError", "PrepareTensors"),
    ("ModelServerUnavailableError", "RunInference"),
    ("InvalidTensorError", "RunInference"),
    ("ConfigurationError", "StoreResults"),               # a function's cold start
])
def test_analysis_sees_known_raises(name, state):
    assert state in raising_stages().get(name, set())


@pytest.mark.parametrize("name, stage", [
    ("UploadKeyError", TRIGGER_STAGE),
    ("SidecarTooLargeError", TRIGGER_STAGE),
    ("WorkflowStartError", TRIGGER_STAGE),
    ("ImageTooLargeError", TRIGGER_STAGE),
    ("ImageTooLargeError", "PrepareTensors"),   # checked again from the object's size before download
    ("ImageChangedError", "PrepareTensors"),
])
def test_analysis_sees_what_the_trigger_and_preprocessing_refuse(name, stage):
    assert stage in raising_stages().get(name, set())


@pytest.mark.parametrize("name", [
    "UploadRefusedError",            # a base, never raised itself
    "TelemetryDeliveryError",        # telemetry never fails a handler (instrument swallows it)
    "TelemetryRecordTooLargeError",
    "BurnedInAnnotationError",       # only deidentify_dicom raises it, and no handler calls that
    "ImageError", "TransientError", "RadStreamError",   # bases, never raised themselves
])
def test_analysis_excludes_what_cannot_reach_a_record(name):
    assert name in error_classes()
    assert name not in raising_stages()


def test_runtime_and_workflow_codes_are_found():
    assert {"Sandbox.Timedout", "Runtime.OutOfMemory", "Runtime.ImportModuleError"} <= lambda_runtime_codes()
    assert {"ModelServerUnavailableError", "Lambda.ServiceException"} <= workflow_codes()
