"""Deploy template.yaml with CloudFormation on any target: change set, executed, waited on, outputs.

The same steps on every target (the embedded emulator's CloudFormation, LocalStack's, AWS's):

1. the bootstrap stack ``radstream-bootstrap`` (bootstrap.yaml: the artifacts bucket), like ``cdk bootstrap``;
2. the artifacts (``radstream.infra.package``) uploaded under content-hash keys, only those missing;
3. the stack ``radstream``: a change set with every parameter, shown, executed, its events streamed
   until the stack settles; CloudFormation rolls back a failed change by itself (``--dry-run`` shows the
   change set and deletes it).

A stack whose template and parameters are already what would be deployed is left alone without a
change set, so re-running is a no-op (``pending_changes`` is that comparison: `radstream status` and
the e2e check ``deployment_is_current`` use it).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from botocore.exceptions import ClientError

from radstream.definition import names as naming
from radstream.definition import template as cfn
from radstream.infra import package
from radstream.infra.errors import DeployError
from radstream.infra.targets import Target

PACKAGING = {"embedded": "provided", "localstack": "bundled", "aws": "layers"}
# Parameters deploy always sets itself; every other one keeps its deployed value unless given.
MANAGED = {"ArtifactsBucket", "CoreCodeKey", "ImagingCodeKey", "InferenceCodeKey", "CoreLayerKey", "ImagingLayerKey",
           "InferenceLayerKey", "StateMachineDefinitionKey", "DependencyPackaging", "CreateAnalyticsCatalog"}
CAPABILITIES = ["CAPABILITY_NAMED_IAM"]
STACK_TAGS = [{"Key": "project", "Value": "radstream"}]
NO_CHANGES = ("didn't contain changes", "No updates are to be performed")
SETTLED_OK = {"CREATE_COMPLETE", "UPDATE_COMPLETE", "IMPORT_COMPLETE"}
SETTLED_FAILED = {"CREATE_FAILED", "ROLLBACK_COMPLETE", "ROLLBACK_FAILED", "UPDATE_ROLLBACK_COMPLETE",
                  "UPDATE_ROLLBACK_FAILED", "UPDATE_FAILED", "DELETE_FAILED", "IMPORT_ROLLBACK_COMPLETE"}
RECREATE = {"ROLLBACK_COMPLETE", "ROLLBACK_FAILED", "REVIEW_IN_PROGRESS"}  # a first create that never finished

Report = Callable[[str], None]


@dataclass
class StackResult:
    name: str
    action: str                      # created | updated | unchanged | would create | would update
    changes: list[str] = field(default_factory=list)
    outputs: dict[str, str] = field(default_factory=dict)


@dataclass
class DeployResult:
    stacks: list[StackResult]
    uploaded: list[str]
    parameters: dict[str, str]

    @property
    def changed(self) -> bool:
        return bool(self.uploaded) or any(s.action != "unchanged" for s in self.stacks)

    @property
    def outputs(self) -> dict[str, str]:
        return self.stacks[-1].outputs if self.stacks else {}


# -- parameters --------------------------------------------------------------------------------
def site_parameters(target: Target, overrides: dict[str, str] | None = None) -> dict[str, str]:
    """What the target itself decides (packaging, model endpoint, catalog), then the caller's overrides."""
    params = {"DependencyPackaging": PACKAGING[target.name],
              # LocalStack's free edition has neither Glue nor Athena
              "CreateAnalyticsCatalog": "false" if target.name == "localstack" else "true",
              "ModelName": naming.model_name(), "PipelineVersion": naming.pipeline_version()}
    if target.model_endpoint:
        params["ModelEndpoint"] = target.model_endpoint
    unknown = set(overrides or {}) - set(cfn.parameter_defaults())
    if unknown:
        raise DeployError(f"template.yaml has no parameter {', '.join(sorted(unknown))} "
                          f"(see `radstream template --summary`)")
    params.update(overrides or {})
    return params


def wanted_parameters(names: naming.Names, site: dict[str, str], previous: dict[str, str],
                      artifacts: dict[str, package.Artifact]) -> dict[str, str]:
    """Every parameter of the template: defaults, then what is deployed now (a site's choices stay),
    then the site's, then the artifact keys."""
    params = {k: v for k, v in cfn.parameter_defaults().items() if v is not None}
    params.update({k: v for k, v in previous.items() if k not in MANAGED})
    params.update(site)
    params["ArtifactsBucket"] = names.artifacts_bucket()
    params.update({k: a.key for k, a in artifacts.items() if k != "TemplateKey"})
    missing = [k for k in cfn.parameter_defaults() if k not in params]
    if missing:
        raise DeployError(f"parameters without a value: {', '.join(missing)} "
                          f"(ModelEndpoint: --model-endpoint or RADSTREAM_MODEL_ENDPOINT)")
    return params


def template_url(target: Target, bucket: str, key: str) -> str:
    # CloudFormation reads templates from S3 by URL; the emulator and LocalStack read this form too.
    return f"https://{bucket}.s3.{target.region}.amazonaws.com/{key}"


# -- the stack API -----------------------------------------------------------------------------
def describe(cf: Any, name: str) -> dict | None:
    try:
        return cf.describe_stacks(StackName=name)["Stacks"][0]
    except ClientError as exc:
        if "does not exist" in str(exc) or exc.response.get("Error", {}).get("Code") == "ValidationError":
            return None
        raise


def deployed_parameters(stack: dict | None) -> dict[str, str]:
    return {p["ParameterKey"]: str(p.get("ParameterValue", "")) for p in (stack or {}).get("Parameters", [])}


def deployed_template(cf: Any, name: str) -> str:
    body = cf.get_template(StackName=name, TemplateStage="Original")["TemplateBody"]
    return body if isinstance(body, str) else json.dumps(body)  # boto3 parses JSON bodies into dicts


def differences(cf: Any, name: str, template_text: str, params: dict[str, str]) -> list[str]:
    """Why the stack is not what would be deployed (empty: it is)."""
    stack = describe(cf, name)
    if stack is None:
        return [f"stack {name} does not exist"]
    if stack["StackStatus"] not in SETTLED_OK:
        return [f"stack {name} is {stack['StackStatus']}"]
    out = []
    if deployed_template(cf, name) != template_text:
        out.append(f"stack {name}: template differs")
    current = deployed_parameters(stack)
    for key in sorted(set(params) | set(current)):
        if current.get(key) != params.get(key):
            out.append(f"stack {name}: parameter {key} {current.get(key)!r} -> {params.get(key)!r}")
    return out


def outputs_of(stack: dict | None) -> dict[str, str]:
    return {o["OutputKey"]: o.get("OutputValue", "") for o in (stack or {}).get("Outputs", []) or []}


def stack_outputs(target: Target) -> dict[str, str]:
    """The deployed stack's outputs (empty when there is none)."""
    return outputs_of(describe(target.client("cloudformation"), cfn.STACK_NAME))


@dataclass(frozen=True)
class DeployedWorkflow:
    """The state machine a deployment runs and its type (WorkflowType: each type has its own name)."""

    state_machine_arn: str
    type: str  # STANDARD | EXPRESS

    @property
    def express(self) -> bool:
        return self.type == "EXPRESS"


def deployed_workflow(target: Target) -> DeployedWorkflow:
    """Read from the stack (its WorkflowType parameter and StateMachineArn output); the Standard
    workflow's name when no stack is deployed yet."""
    stack = describe(target.client("cloudformation"), cfn.STACK_NAME)
    kind = deployed_parameters(stack).get("WorkflowType") or "STANDARD"
    arn = outputs_of(stack).get("StateMachineArn") or target.names.state_machine_arn_for(kind)
    return DeployedWorkflow(arn, kind)


def _events_since(cf: Any, name: str, seen: set[str]) -> list[dict]:
    try:
        events = cf.describe_stack_events(StackName=name)["StackEvents"]
    except ClientError:
        return []
    fresh = [e for e in events if e["EventId"] not in seen]
    seen.update(e["EventId"] for e in fresh)
    return list(reversed(fresh))  # oldest first


def _describe_event(event: dict) -> str:
    reason = f"  {event['ResourceStatusReason']}" if event.get("ResourceStatusReason") else ""
    return f"  {event['ResourceStatus']:<22} {event['ResourceType']:<38} {event['LogicalResourceId']}{reason}"


def wait_settled(cf: Any, name: str, report: Report, seen: set[str], *, deleting: bool = False,
                 timeout_s: float = 3600) -> str:
    deadline = time.monotonic() + timeout_s
    delay = 0.2
    while True:
        for event in _events_since(cf, name, seen):
            report(_describe_event(event))
        stack = describe(cf, name)
        if stack is None or stack.get("StackStatus") == "DELETE_COMPLETE":
            return "DELETE_COMPLETE"
        status = stack["StackStatus"]
        if not status.endswith("_IN_PROGRESS") or (status == "REVIEW_IN_PROGRESS" and not deleting):
            for event in _events_since(cf, name, seen):
                report(_describe_event(event))
            return status
        if time.monotonic() > deadline:
            raise DeployError(f"stack {name} still {status} after {timeout_s:.0f} s")
        time.sleep(delay)
        delay = min(delay * 2, 5.0)


def _failure_reasons(cf: Any, name: str) -> str:
    try:
        events = cf.describe_stack_events(StackName=name)["StackEvents"]
    except ClientError:
        return ""
    reasons = [f"{e['LogicalResourceId']}: {e['ResourceStatusReason']}" for e in events
               if e["ResourceStatus"].endswith("_FAILED") and e.get("ResourceStatusReason")]
    return "; ".join(reasons[:5])


def ensure_stack(cf: Any, name: str, *, template_text: str, source: dict[str, str], params: dict[str, str],
                 dry_run: bool, report: Report) -> StackResult:
    """Bring stack ``name`` to ``template_text`` + ``params`` through a change set (``source`` is
    ``{"TemplateBody": ...}`` or ``{"TemplateURL": ...}``)."""
    stack = describe(cf, name)
    if stack is not None and stack["StackStatus"] in RECREATE:
        if dry_run:
            report(f"{name}: {stack['StackStatus']} (a create that did not finish); a deploy deletes and recreates it")
        else:
            report(f"{name}: {stack['StackStatus']} (a create that did not finish): deleting it first")
            cf.delete_stack(StackName=name)
            wait_settled(cf, name, report, set(), deleting=True)
        stack = None
    elif stack is not None and stack["StackStatus"].endswith("_IN_PROGRESS"):
        raise DeployError(f"stack {name} is {stack['StackStatus']}: wait for it to finish and deploy again")
    if stack is not None and not differences(cf, name, template_text, params):
        return StackResult(name, "unchanged", outputs=outputs_of(stack))

    kind = "UPDATE" if stack is not None else "CREATE"
    change_set = f"radstream-{time.strftime('%Y%m%d%H%M%S')}-{time.monotonic_ns() % 100000}"
    cf.create_change_set(StackName=name, ChangeSetName=change_set, ChangeSetType=kind, **source,
                         Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in sorted(params.items())],
                         Capabilities=CAPABILITIES, Tags=STACK_TAGS,
                         Description="radstream deploy")
    described = _wait_change_set(cf, name, change_set)
    if described["Status"] == "FAILED":
        cf.delete_change_set(StackName=name, ChangeSetName=change_set)
        if any(marker in described.get("StatusReason", "") for marker in NO_CHANGES):
            return StackResult(name, "unchanged", outputs=outputs_of(describe(cf, name)))
        raise DeployError(f"CloudFormation refused the change set for {name}: {described.get('StatusReason')}")
    changes = [_describe_change(c) for c in described.get("Changes", [])]
    if dry_run:
        cf.delete_change_set(StackName=name, ChangeSetName=change_set)
        if kind == "CREATE":  # the change set made an empty stack in REVIEW_IN_PROGRESS: leave nothing behind
            cf.delete_stack(StackName=name)
        return StackResult(name, f"would {kind.lower()}", changes)
    for change in changes:
        report(f"  {change}")
    seen = {e["EventId"] for e in (cf.describe_stack_events(StackName=name)["StackEvents"] if kind == "UPDATE" else [])}
    try:
        cf.execute_change_set(StackName=name, ChangeSetName=change_set)
    except ClientError as exc:
        raise DeployError(f"executing the change set of {name} failed: {exc}") from None
    status = wait_settled(cf, name, report, seen)
    if status not in SETTLED_OK:
        raise DeployError(f"stack {name} ended {status} (CloudFormation rolled back what it could): "
                          f"{_failure_reasons(cf, name) or 'see its events'}")
    return StackResult(name, "created" if kind == "CREATE" else "updated", changes, outputs_of(describe(cf, name)))


def _wait_change_set(cf: Any, name: str, change_set: str, timeout_s: float = 600) -> dict:
    deadline, delay = time.monotonic() + timeout_s, 0.1
    while True:
        described = cf.describe_change_set(StackName=name, ChangeSetName=change_set)
        if described["Status"] in ("CREATE_COMPLETE", "FAILED"):
            return described
        if time.monotonic() > deadline:
            raise DeployError(f"change set {change_set} of {name} still {described['Status']}")
        time.sleep(delay)
        delay = min(delay * 2, 3.0)


def _describe_change(change: dict) -> str:
    rc = change.get("ResourceChange", change)
    replacement = f" (replacement: {rc['Replacement']})" if rc.get("Replacement") in ("True", "Conditional") else ""
    return f"{rc.get('Action', '?'):<7} {rc.get('ResourceType', '?'):<38} {rc.get('LogicalResourceId', '?')}{replacement}"


# -- the whole deployment ----------------------------------------------------------------------
def _bootstrap(target: Target, cf: Any, dry_run: bool, report: Report) -> StackResult:
    text = cfn.bootstrap_template_text()
    return ensure_stack(cf, cfn.BOOTSTRAP_STACK_NAME, template_text=text, source={"TemplateBody": text}, params={},
                        dry_run=dry_run, report=report)


def _upload(target: Target, bucket: str, artifacts: dict[str, package.Artifact], dry_run: bool,
            report: Report) -> list[str]:
    s3, uploaded = target.client("s3"), []
    for artifact in artifacts.values():
        if not artifact.key:
            continue
        try:
            s3.head_object(Bucket=bucket, Key=artifact.key)
            continue
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in ("404", "NoSuchKey", "NoSuchBucket", "NotFound"):
                raise
        uploaded.append(artifact.key)
        if dry_run:
            continue
        report(f"  upload  s3://{bucket}/{artifact.key}  ({artifact.description})")
        s3.put_object(Bucket=bucket, Key=artifact.key, Body=artifact.build())
    return uploaded


def _refuse_retained_buckets(target: Target) -> None:
    """A new stack cannot create buckets an earlier one kept (DeletionPolicy Retain): say what to do."""
    s3, names = target.client("s3"), target.names
    existing = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
    kept = [b for b in names.deployed_buckets if b in existing]
    if kept:
        raise DeployError(f"the buckets of an earlier deployment still exist ({', '.join(kept)}): CloudFormation "
                          f"cannot create them again. Delete them with `radstream destroy --target {target.name} "
                          f"--delete-data`, or import them into the stack (README, Deploying to AWS)")


def deploy(target: Target, *, dry_run: bool = False, overrides: dict[str, str] | None = None,
           report: Report = lambda line: None) -> DeployResult:
    cf, names = target.client("cloudformation"), target.names
    site = site_parameters(target, overrides)
    artifacts = package.artifacts(site["DependencyPackaging"])
    stacks = [_bootstrap(target, cf, dry_run, report)]
    bucket = names.artifacts_bucket()
    uploaded = _upload(target, bucket, artifacts, dry_run or stacks[0].action.startswith("would"), report)
    current = describe(cf, cfn.STACK_NAME)
    params = wanted_parameters(names, site, deployed_parameters(current), artifacts)
    if (current is None or current["StackStatus"] in RECREATE) and not dry_run:
        _refuse_retained_buckets(target)
    if dry_run and stacks[0].action.startswith("would"):
        # no artifacts bucket yet, so no template to point a change set at
        stacks.append(StackResult(cfn.STACK_NAME, "would create" if current is None else "would update",
                                  ["(the change set needs the artifacts bucket: deploy creates it first)"]))
        return DeployResult(stacks, uploaded, params)
    text = cfn.stack_template_text()
    url = template_url(target, bucket, artifacts["TemplateKey"].key)
    if dry_run and artifacts["TemplateKey"].key in uploaded:
        # the template is not in the bucket yet: a change set needs it there; upload just that (content-addressed)
        target.client("s3").put_object(Bucket=bucket, Key=artifacts["TemplateKey"].key, Body=text.encode())
    stacks.append(ensure_stack(cf, cfn.STACK_NAME, template_text=text, source={"TemplateURL": url}, params=params,
                               dry_run=dry_run, report=report))
    return DeployResult(stacks, uploaded, params)


def pending_changes(target: Target, overrides: dict[str, str] | None = None) -> list[str]:
    """What a deploy would change, without changing anything (empty: the deployment is current)."""
    cf, names = target.client("cloudformation"), target.names
    site = site_parameters(target, overrides)
    artifacts = package.artifacts(site["DependencyPackaging"])
    pending = differences(cf, cfn.BOOTSTRAP_STACK_NAME, cfn.bootstrap_template_text(), {})
    current = describe(cf, cfn.STACK_NAME)
    params = wanted_parameters(names, site, deployed_parameters(current), artifacts)
    return pending + differences(cf, cfn.STACK_NAME, cfn.stack_template_text(), params)


def offline_plan(target_name: str, account_id: str, region: str, model_endpoint: str | None,
                 overrides: dict[str, str] | None = None) -> dict[str, Any]:
    """The template summary and the parameters a deploy would pass, computed without any AWS call
    (``deploy --target aws --dry-run`` without credentials)."""
    names = naming.Names(account_id=account_id, region=region)
    site = {"DependencyPackaging": PACKAGING[target_name],
            "CreateAnalyticsCatalog": "false" if target_name == "localstack" else "true",
            "ModelName": naming.model_name(), "PipelineVersion": naming.pipeline_version(),
            **({"ModelEndpoint": model_endpoint} if model_endpoint else {}), **(overrides or {})}
    artifacts = package.artifacts(site["DependencyPackaging"])
    params = {k: v for k, v in cfn.parameter_defaults().items() if v is not None}
    params.update(site)
    params["ArtifactsBucket"] = names.artifacts_bucket()
    params.update({k: a.key for k, a in artifacts.items() if k != "TemplateKey"})
    missing = sorted(k for k in cfn.parameter_defaults() if k not in params)
    return {"summary": cfn.summary(), "parameters": params, "missing": missing,
            "artifacts": {a.key: a.description for a in artifacts.values() if a.key}}


# -- destroy -------------------------------------------------------------------------------------
def destroy(target: Target, *, delete_data: bool = False, report: Report = lambda line: None) -> list[str]:
    """Delete the stack; its buckets (and the de-identification salt) stay unless ``delete_data``.
    The bootstrap stack stays (like `cdk bootstrap`'s). Returns what was deleted."""
    cf, names, deleted = target.client("cloudformation"), target.names, []
    stack = describe(cf, cfn.STACK_NAME)
    if stack is not None:
        seen = {e["EventId"] for e in cf.describe_stack_events(StackName=cfn.STACK_NAME)["StackEvents"]}
        cf.delete_stack(StackName=cfn.STACK_NAME)
        status = wait_settled(cf, cfn.STACK_NAME, report, seen, deleting=True)
        if status != "DELETE_COMPLETE":
            raise DeployError(f"deleting stack {cfn.STACK_NAME} ended {status}: {_failure_reasons(cf, cfn.STACK_NAME)}")
        deleted.append(f"stack {cfn.STACK_NAME}")
    if delete_data:
        for bucket in names.deployed_buckets:
            if _delete_bucket(target.client("s3"), bucket):
                report(f"  deleted bucket {bucket} and everything in it")
                deleted.append(f"bucket {bucket}")
        try:
            target.client("secretsmanager").delete_secret(SecretId=names.deid_salt_secret,
                                                          ForceDeleteWithoutRecovery=True)
            deleted.append(f"secret {names.deid_salt_secret}")
        except ClientError:
            pass  # none (another salt was given, or it is gone already)
    return deleted


def _delete_bucket(s3: Any, bucket: str) -> bool:
    try:
        for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
            doomed = [{"Key": v["Key"], "VersionId": v["VersionId"]}
                      for v in page.get("Versions", []) + page.get("DeleteMarkers", [])]
            for start in range(0, len(doomed), 1000):
                s3.delete_objects(Bucket=bucket, Delete={"Objects": doomed[start:start + 1000], "Quiet": True})
        s3.delete_bucket(Bucket=bucket)
        return True
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "NoSuchBucket":
            return False
        raise
