"""The CloudFormation templates, read as data: the pipeline stack (template.yaml) and its bootstrap.

``template.yaml`` is the one definition of RadStream's infrastructure; CloudFormation deploys it on
every target (``radstream.infra.deploy``). This module reads it the way CloudFormation does (YAML with
the short intrinsic tags ``!Ref``, ``!Sub``, ``!GetAtt``...) and evaluates the few intrinsics the
tooling needs to know what was deployed: a resource's physical name, a function's environment. It
does no AWS calls.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from importlib.resources import files
from typing import Any

import yaml

STACK_TEMPLATE = "template.yaml"
BOOTSTRAP_TEMPLATE = "bootstrap.yaml"
STACK_NAME = "radstream"
BOOTSTRAP_STACK_NAME = "radstream-bootstrap"

# Which property holds a resource's physical name, for the types whose Ref is that name.
NAME_PROPERTIES = {
    "AWS::S3::Bucket": "BucketName",
    "AWS::S3Express::DirectoryBucket": "BucketName",
    "AWS::Lambda::Function": "FunctionName",
    "AWS::Kinesis::Stream": "Name",
    "AWS::KinesisFirehose::DeliveryStream": "DeliveryStreamName",
    "AWS::StepFunctions::StateMachine": "StateMachineName",
    "AWS::SNS::Topic": "TopicName",
    "AWS::SQS::Queue": "QueueName",
    "AWS::IAM::Role": "RoleName",
    "AWS::Logs::LogGroup": "LogGroupName",
    "AWS::Logs::LogStream": "LogStreamName",
    "AWS::Athena::WorkGroup": "Name",
    "AWS::SecretsManager::Secret": "Name",
    "AWS::CloudWatch::Alarm": "AlarmName",
    "AWS::CloudWatch::Dashboard": "DashboardName",
}


class _CfnLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short tags: ``!Ref X`` -> ``{"Ref": "X"}``, ``!GetAtt A.B`` ->
    ``{"Fn::GetAtt": ["A", "B"]}``, ``!Sub s`` -> ``{"Fn::Sub": s}`` and so on."""


def _construct_tag(loader: yaml.SafeLoader, tag_suffix: str, node: yaml.Node) -> dict:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if tag_suffix == "Ref":
        return {"Ref": value}
    if tag_suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    if tag_suffix == "Condition":
        return {"Condition": value}
    return {f"Fn::{tag_suffix}": value}


_CfnLoader.add_multi_constructor("!", _construct_tag)


def load_text(text: str) -> dict[str, Any]:
    return yaml.load(text, Loader=_CfnLoader)  # noqa: S506 - SafeLoader plus the CloudFormation tags


def stack_template_text() -> str:
    return files(__package__).joinpath(STACK_TEMPLATE).read_text()


def bootstrap_template_text() -> str:
    return files(__package__).joinpath(BOOTSTRAP_TEMPLATE).read_text()


@functools.cache
def stack_template() -> dict[str, Any]:
    return load_text(stack_template_text())


@functools.cache
def bootstrap_template() -> dict[str, Any]:
    return load_text(bootstrap_template_text())


def parameter_defaults(template: dict[str, Any] | None = None) -> dict[str, str | None]:
    """``{parameter: default}`` (None for a parameter without a default: it must be given)."""
    template = template or stack_template()
    return {name: (None if "Default" not in spec else str(spec["Default"]))
            for name, spec in template.get("Parameters", {}).items()}


# -- evaluating the intrinsics the tooling needs ----------------------------------------------
@dataclass(frozen=True)
class Context:
    """What CloudFormation's pseudo parameters and the stack's parameters are for one deployment."""

    account_id: str
    region: str
    parameters: dict[str, str]

    @property
    def partition(self) -> str:
        return partition_of(self.region)

    def pseudo(self, name: str) -> str:
        return {"AWS::AccountId": self.account_id, "AWS::Region": self.region, "AWS::Partition": self.partition,
                "AWS::StackName": STACK_NAME, "AWS::URLSuffix": "amazonaws.com"}[name]


def partition_of(region: str) -> str:
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


_SUB = re.compile(r"\$\{([^}!][^}]*)\}")


def evaluate(value: Any, ctx: Context, template: dict[str, Any] | None = None) -> Any:
    """Evaluate Ref/Sub/GetAtt(Arn)/Join/Split/Select/If over ``value`` as CloudFormation would for the
    resources whose names the template fixes. Raises ValueError for what cannot be known offline."""
    template = template or stack_template()
    if isinstance(value, list):
        return [evaluate(v, ctx, template) for v in value]
    if not isinstance(value, dict):
        return value
    if len(value) != 1:
        return {k: evaluate(v, ctx, template) for k, v in value.items()}
    (fn, arg), = value.items()
    if fn == "Ref":
        return _ref(arg, ctx, template)
    if fn == "Fn::Sub":
        text, extra = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])
        extra = {k: evaluate(v, ctx, template) for k, v in extra.items()}

        def sub(match: re.Match) -> str:
            key = match.group(1)
            if key in extra:
                return str(extra[key])
            if "." in key:
                return str(_get_att(*key.split(".", 1), ctx, template))
            return str(_ref(key, ctx, template))

        return _SUB.sub(sub, text).replace("${!", "${")
    if fn == "Fn::GetAtt":
        return _get_att(arg[0], arg[1], ctx, template)
    if fn == "Fn::Join":
        return arg[0].join(str(v) for v in evaluate(arg[1], ctx, template))
    if fn == "Fn::Split":
        return str(evaluate(arg[1], ctx, template)).split(arg[0])
    if fn == "Fn::Select":
        return evaluate(arg[1], ctx, template)[int(arg[0])]
    if fn == "Fn::If":
        branch = arg[1] if condition(arg[0], ctx, template) else arg[2]
        return evaluate(branch, ctx, template)
    return {k: evaluate(v, ctx, template) for k, v in value.items()}


def condition(name: str, ctx: Context, template: dict[str, Any] | None = None) -> bool:
    template = template or stack_template()
    return _condition(template["Conditions"][name], ctx, template)


def _condition(expr: Any, ctx: Context, template: dict[str, Any]) -> bool:
    (fn, arg), = expr.items()
    if fn == "Condition":
        return condition(arg, ctx, template)
    if fn == "Fn::Equals":
        return str(evaluate(arg[0], ctx, template)) == str(evaluate(arg[1], ctx, template))
    if fn == "Fn::Not":
        return not _condition(arg[0], ctx, template)
    if fn == "Fn::And":
        return all(_condition(a, ctx, template) for a in arg)
    if fn == "Fn::Or":
        return any(_condition(a, ctx, template) for a in arg)
    raise ValueError(f"condition function {fn} is not supported offline")


def _ref(name: str, ctx: Context, template: dict[str, Any]) -> Any:
    if name.startswith("AWS::"):
        return ctx.pseudo(name)
    if name in template.get("Parameters", {}):
        if name in ctx.parameters:
            return ctx.parameters[name]
        default = template["Parameters"][name].get("Default")
        if default is None:
            raise ValueError(f"parameter {name} has no value and no default")
        return str(default)
    resource = template["Resources"].get(name)
    if resource is None:
        raise ValueError(f"!Ref {name}: no such parameter or resource")
    kind = resource["Type"]
    physical = physical_name(name, ctx, template)
    if kind == "AWS::StepFunctions::StateMachine":
        return f"arn:{ctx.partition}:states:{ctx.region}:{ctx.account_id}:stateMachine:{physical}"
    if kind == "AWS::SNS::Topic":
        return f"arn:{ctx.partition}:sns:{ctx.region}:{ctx.account_id}:{physical}"
    return physical


def physical_name(logical_id: str, ctx: Context, template: dict[str, Any] | None = None) -> str:
    """The name the template gives a resource (its BucketName, FunctionName...)."""
    template = template or stack_template()
    resource = template["Resources"][logical_id]
    prop = NAME_PROPERTIES.get(resource["Type"])
    if resource["Type"] == "AWS::Glue::Database":
        return evaluate(resource["Properties"]["DatabaseInput"]["Name"], ctx, template)
    if prop is None or prop not in resource.get("Properties", {}):
        raise ValueError(f"{logical_id} ({resource['Type']}) has no fixed name in the template")
    return evaluate(resource["Properties"][prop], ctx, template)


def _get_att(logical_id: str, attribute: str, ctx: Context, template: dict[str, Any]) -> str:
    resource = template["Resources"][logical_id]
    kind, name = resource["Type"], physical_name(logical_id, ctx, template)
    p, r, a = ctx.partition, ctx.region, ctx.account_id
    arns = {
        "AWS::S3::Bucket": f"arn:{p}:s3:::{name}",
        "AWS::S3Express::DirectoryBucket": f"arn:{p}:s3express:{r}:{a}:bucket/{name}",
        "AWS::Lambda::Function": f"arn:{p}:lambda:{r}:{a}:function:{name}",
        "AWS::Kinesis::Stream": f"arn:{p}:kinesis:{r}:{a}:stream/{name}",
        "AWS::KinesisFirehose::DeliveryStream": f"arn:{p}:firehose:{r}:{a}:deliverystream/{name}",
        "AWS::IAM::Role": f"arn:{p}:iam::{a}:role/{name}",
        "AWS::SQS::Queue": f"arn:{p}:sqs:{r}:{a}:{name}",
        "AWS::Logs::LogGroup": f"arn:{p}:logs:{r}:{a}:log-group:{name}:*",
        "AWS::CloudWatch::Alarm": f"arn:{p}:cloudwatch:{r}:{a}:alarm:{name}",
    }
    if attribute == "Arn" and kind in arns:
        return arns[kind]
    raise ValueError(f"!GetAtt {logical_id}.{attribute} cannot be known before deployment")


def resources_of_type(kind: str, template: dict[str, Any] | None = None) -> dict[str, dict[str, Any]]:
    template = template or stack_template()
    return {lid: r for lid, r in template["Resources"].items() if r["Type"] == kind}


def summary(template: dict[str, Any] | None = None) -> dict[str, Any]:
    """Resources by type, conditions, parameters and outputs: what `radstream template --summary` prints."""
    template = template or stack_template()
    by_type: dict[str, list[str]] = {}
    for logical_id, resource in template["Resources"].items():
        label = logical_id + (f" (if {resource['Condition']})" if "Condition" in resource else "")
        by_type.setdefault(resource["Type"], []).append(label)
    return {"description": " ".join(str(template.get("Description", "")).split()),
            "resources": dict(sorted(by_type.items())),
            "parameters": {name: spec.get("Description", "") for name, spec in template.get("Parameters", {}).items()},
            "outputs": list(template.get("Outputs", {}))}
