"""The `radstream` command line (also `python -m radstream`).

Run `radstream COMMAND --help` for each command's options.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from datetime import datetime, timezone
from pathlib import Path

from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError
from rich.console import Console
from rich.table import Table

from radstream.infra.errors import DeployError, TargetError
from radstream.tooling.errors import ExperimentError, StackError
from radstream.tooling.stack.embedded import DEFAULT_STATE_DIR
from radstream.tooling.targeting import (add_target_argument, embedded_stack, require_reachable, selected_target,
                                        target_from_args)

console = Console(stderr=True)
EPILOG = """\
typical first session:
  radstream up            start the embedded stack (127.0.0.1:4566) and deploy the pipeline
  radstream run           process the sample studies end to end and summarise
  radstream query --all   the analytics queries over the telemetry just produced
  radstream down          stop the stack
"""


# -- helpers ----------------------------------------------------------------------------------
def _stdout_console() -> Console:
    # Piped output has no terminal width; keep reasons readable instead of folding them at 80 columns.
    return Console() if sys.stdout.isatty() else Console(width=160)


def _print_deploy(result, dry_run: bool) -> None:
    for stack in result.stacks:
        if stack.action == "unchanged":
            console.print(f"[green]{stack.name}: up to date (nothing to change)[/green]")
            continue
        console.print(f"[yellow]{stack.name}: {stack.action}[/yellow]")
        if dry_run:
            for change in stack.changes:
                console.print(f"  {change}")
    if dry_run and result.uploaded:
        console.print("would upload: " + ", ".join(result.uploaded))
    if not dry_run and result.outputs:
        table = Table(title="outputs", show_header=False)
        table.add_column("output")
        table.add_column("value", overflow="fold")
        for key, value in result.outputs.items():
            table.add_row(key, value)
        console.print(table)


def _overrides(args) -> dict:
    """``--parameters-file`` (a JSON object) then each ``--parameter KEY=VALUE``."""
    overrides = {}
    if getattr(args, "parameters_file", None):
        try:
            overrides.update({k: str(v) for k, v in json.loads(Path(args.parameters_file).read_text()).items()})
        except (OSError, ValueError, AttributeError) as exc:
            raise TargetError(f"cannot read --parameters-file {args.parameters_file}: a JSON object is expected ({exc})")
    for item in getattr(args, "parameter", None) or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise TargetError(f"--parameter takes KEY=VALUE, got {item!r}")
        overrides[key] = value
    return overrides


def _deploy(target, dry_run: bool = False, overrides: dict | None = None):
    from radstream.infra.deploy import deploy

    console.print(f"deploying to {target.name} ({target.endpoint_url or 'AWS account ' + target.account_id})"
                  + (" [dry run: nothing changes]" if dry_run else ""))
    if target.name == "localstack":
        console.print("localstack: Glue and Athena skipped (not in LocalStack's free edition: "
                      "CreateAnalyticsCatalog=false); `radstream query --target localstack` reads the telemetry "
                      "from LocalStack's S3 with DuckDB. Functions carry their dependencies (no layers: "
                      "DependencyPackaging=bundled)")
    return deploy(target, dry_run=dry_run, overrides=overrides,
                  report=lambda line: console.print(line, soft_wrap=True, highlight=False))


def _start(args):
    """Start the target's local stack (embedded or localstack) and deploy; return the target."""
    name = selected_target(args)
    if name == "aws":
        raise TargetError("there is nothing to start on aws: deploy with `radstream deploy --target aws`")
    if name == "localstack":
        from radstream.tooling.stack import localstack

        target = target_from_args(args)
        model_port = os.environ.get("RADSTREAM_MODEL_PORT", "8080")
        console.print(f"localstack: Docker Compose: {' '.join(localstack.compose_command('up', '-d'))}")
        with console.status("starting LocalStack and the model server with Docker Compose ..."):
            engine = localstack.up(target.endpoint_url, model_url=f"http://127.0.0.1:{model_port}")
        console.print(f"localstack: LocalStack and the model server are healthy ({engine.name})")
    else:
        stack = embedded_stack(args)
        with console.status("starting the embedded stack ..."):
            launched = stack.start()
        target = target_from_args(args, stack)
    _print_deploy(_deploy(target), dry_run=False)
    if target.name == "embedded" and "emulator" in launched:
        restored = stack.restore_buckets(target.names.deployed_buckets)
        if restored:
            console.print(f"restored {sum(restored.values())} objects saved by the last `radstream down` "
                          f"({', '.join(f'{b}: {n}' for b, n in restored.items())}); executions and queues start "
                          f"empty: `radstream reconcile` lists studies that were running")
    return target


def _reachable_target(args):
    target = target_from_args(args)
    require_reachable(target)
    return target


# -- commands ---------------------------------------------------------------------------------
def cmd_up(args) -> int:
    target = _start(args)
    if target.name == "localstack":
        console.print(f"[green]up[/green]: LocalStack at {target.endpoint_url}, model server on 127.0.0.1:"
                      f"{os.environ.get('RADSTREAM_MODEL_PORT', '8080')} (Docker Compose; "
                      f"stop with `radstream down --target localstack`)")
        return 0
    stack = embedded_stack(args)
    console.print(f"[green]up[/green]: AWS endpoint {stack.endpoint_url}, model server {stack.model_endpoint} "
                  f"(logs in {stack.state_dir / 'logs'})")
    return 0


def cmd_down(args) -> int:
    name = selected_target(args)
    if name == "aws":
        raise TargetError("there is nothing to stop on aws (`radstream destroy --target aws` deletes the stack)")
    if name == "localstack":
        from radstream.tooling.stack import localstack

        console.print(f"localstack: Docker Compose: {' '.join(localstack.compose_command('down'))}")
        localstack.down()
        console.print("stopped: localstack, model-server")
        return 0
    stack = embedded_stack(args)
    if not args.force:
        running = _running_executions(args, stack)
        if running:
            console.print(f"[red]error:[/red] {running} execution(s) are running; stopping the stack now would lose "
                          f"them (its state is in memory). Wait for them (`radstream reconcile` shows what runs), or "
                          f"`radstream down --force` and `radstream redrive --all-failed` after the next `radstream up`")
            return 1
    stopped = stack.stop()
    console.print("stopped: " + (", ".join(stopped) if stopped else "nothing was running"))
    return 0


def _running_executions(args, stack) -> int:
    """Running executions of the pipeline on the embedded stack (0 when it does not answer)."""
    if not stack.emulator_healthy():
        return 0
    from radstream.infra.deploy import deployed_workflow

    target = target_from_args(args, stack)
    try:  # the emulator lists Express executions too (AWS does not)
        pages = target.client("stepfunctions").get_paginator("list_executions").paginate(
            stateMachineArn=deployed_workflow(target).state_machine_arn, statusFilter="RUNNING")
        return sum(len(page["executions"]) for page in pages)
    except ClientError:
        return 0  # nothing deployed


def cmd_status(args) -> int:
    from radstream.infra.deploy import pending_changes

    name = selected_target(args)
    status: dict = {"target": name}
    reachable = True
    if name == "embedded":
        stack = embedded_stack(args)
        status.update(stack.status())
        reachable = stack.emulator_healthy()
        target = target_from_args(args, stack)
    else:
        target = target_from_args(args)
    if reachable:
        pending = pending_changes(target)
        status["deployment"] = {"up_to_date": not pending, "pending": pending}
        status["alarms"] = _alarms_or_reason(target)
    if args.json:
        print(json.dumps(status, indent=2, default=str))
        return 0
    console.print(f"target        {name} ({target.endpoint_url or 'AWS account ' + target.account_id})")
    if name == "embedded":
        emulator, model = status["emulator"], status["model_server"]
        console.print(f"emulator      {emulator['url']}  {'[green]running[/green]' if emulator['running'] else '[red]stopped[/red]'}")
        console.print(f"model server  {model['url']}  {'[green]ready[/green]' if model['ready'] else '[red]not ready[/red]'}")
    if "deployment" in status:
        dep = status["deployment"]
        console.print("deployment    " + ("[green]up to date[/green]" if dep["up_to_date"]
                                         else f"[yellow]{len(dep['pending'])} pending change(s)[/yellow]"))
        for line in dep["pending"]:
            console.print(f"  {line}")
    if isinstance(status.get("alarms"), list):
        firing = [a for a in status["alarms"] if a["state"] == "ALARM"]
        others = ", ".join(f"{a['name']} {a['state']}" for a in status["alarms"] if a["state"] != "ALARM")
        console.print("alarms        " + (f"[red]{len(firing)} in ALARM[/red]" if firing else "[green]none in ALARM[/green]")
                      + (f" ({others})" if others else ""), soft_wrap=True)
        for alarm in firing:
            console.print(f"  [red]{alarm['name']}[/red]: {alarm['reason']}", soft_wrap=True, highlight=False)
    elif status.get("alarms"):
        console.print(f"alarms        [yellow]{status['alarms']}[/yellow]")
    if name == "embedded":
        return 0 if status["emulator"]["running"] and status["model_server"]["ready"] else 1
    return 0


def _alarms_or_reason(target) -> list[dict] | str:
    from radstream.tooling.monitoring import alarm_states

    try:
        return alarm_states(target)
    except ClientError as exc:
        return f"cannot read the alarms: {exc}"


def cmd_metrics(args) -> int:
    from radstream.tooling.monitoring import metrics_summary, print_metrics

    if args.minutes < 1:
        console.print("[red]--minutes takes a positive number of minutes[/red]")
        return 2
    target = _reachable_target(args)
    doc = metrics_summary(target, args.minutes)
    if args.json:
        print(json.dumps(doc, indent=2, default=str))
    else:
        print_metrics(doc, _stdout_console())
    return 0


def cmd_telemetry(args) -> int:
    from radstream.tooling import telemetry_probe as probe

    state_dir = Path(args.state_dir)
    if args.action == "send-test":
        if args.count < 1:
            console.print("[red]--count takes a positive number of events[/red]")
            return 2
        target = _reachable_target(args)
        run = probe.send_test(target, args.count, state_dir)
        if args.json:
            print(json.dumps(run, indent=2))
        else:
            console.print(f"sent {run['sent']} of {run['count']} test events to Kinesis {run['stream']} "
                          f"({target.name}) in {run['send_s']:.2f} s: {run['put_calls']} PutRecords call(s), "
                          f"{run['retries']} retried; run {run['run_id']}" +
                          (f"; [red]{run['failed']} failed ({', '.join(run['errors'])})[/red]" if run["failed"] else ""),
                          soft_wrap=True)
            console.print("follow them into the lake with `radstream telemetry check`")
        return 0 if not run["failed"] else 1
    run = probe.last_run(state_dir)
    target = _reachable_target(args)
    if run["target"] != target.name:
        console.print(f"[red]the last test events went to {run['target']}, not {target.name}: "
                      f"pass --target {run['target']} or send new ones[/red]")
        return 2
    wait_s = args.wait if args.wait is not None else (15.0 if target.name == "embedded" else 180.0)
    with console.status(f"looking for run {run['run_id']} in s3://{target.names.telemetry_bucket} ...") as status:
        found = probe.check(target, run, wait_s, on_poll=lambda f: status.update(
            f"run {run['run_id']}: {f['records']} of {f['expected']} records in the lake, waiting up to {wait_s:.0f} s ..."))
    if args.json:
        print(json.dumps(found, indent=2))
        return 0 if found["complete"] else 1
    out = _stdout_console()
    table = Table(title=f"telemetry run {run['run_id']}: {found['records']} of {found['expected']} records in the lake "
                        f"({target.name})")
    for column in ("object", "records", "bytes", "delivered after (s)"):
        table.add_column(column, overflow="fold", justify="left" if column == "object" else "right")
    for obj in found["objects"]:
        table.add_row(obj["key"], str(obj["records"]), f"{obj['bytes']:,}", f"{obj['lag_s']:.0f}")
    out.print(table)
    if found["complete"]:
        out.print(f"[green]all {found['expected']} records delivered[/green] in {len(found['objects'])} object(s); "
                  f"delivered {found['first_delivery_lag_s']:.0f}-{found['last_delivery_lag_s']:.0f} s after sending "
                  f"(S3 times objects to the second)"
                  + (f"; {found['duplicates']} duplicate(s)" if found["duplicates"] else ""))
    else:
        out.print(f"[red]{found['expected'] - found['records']} of {found['expected']} records not in the lake after "
                  f"{wait_s:.0f} s[/red] (Firehose buffers up to its interval; `--wait` to wait longer)")
    return 0 if found["complete"] else 1


def cmd_deploy(args) -> int:
    try:
        target = target_from_args(args)
    except TargetError as exc:
        if not (args.dry_run and selected_target(args) == "aws"):
            raise
        return _offline_plan(args, str(exc))
    if not args.dry_run:
        require_reachable(target)
    try:
        result = _deploy(target, dry_run=args.dry_run, overrides=_overrides(args))
    except NoCredentialsError:
        if not args.dry_run:
            raise
        return _offline_plan(args, "no AWS credentials")
    _print_deploy(result, dry_run=args.dry_run)
    return 0


def _offline_plan(args, why: str) -> int:
    """`deploy --target aws --dry-run` without credentials: what would be deployed, from the template alone."""
    from radstream.infra.deploy import offline_plan
    from radstream.infra.targets import region

    endpoint = getattr(args, "model_endpoint", None) or os.environ.get("RADSTREAM_MODEL_ENDPOINT")
    plan = offline_plan("aws", os.environ.get("RADSTREAM_ACCOUNT_ID") or "<account>", region(), endpoint,
                        _overrides(args))
    out = _stdout_console()
    out.print(f"[yellow]{why}: nothing was asked of AWS. The template and the parameters a deploy would pass:[/yellow]")
    out.print(plan["summary"]["description"])
    resources = Table(title="resources (src/radstream/definition/template.yaml)")
    resources.add_column("type")
    resources.add_column("logical ids")
    for kind, ids in plan["summary"]["resources"].items():
        resources.add_row(kind, ", ".join(ids))
    out.print(resources)
    parameters = Table(title="parameters")
    parameters.add_column("parameter")
    parameters.add_column("value")
    for key in plan["summary"]["parameters"]:
        parameters.add_row(key, "[red]<required>[/red]" if key in plan["missing"] else plan["parameters"][key] or '""')
    out.print(parameters)
    out.print("artifacts (uploaded to the artifacts bucket when missing): " + ", ".join(plan["artifacts"]))
    if plan["missing"]:
        out.print(f"[red]to deploy, also give: {', '.join(plan['missing'])}[/red]")
    return 0


def cmd_destroy(args) -> int:
    from radstream.infra.deploy import destroy

    target = target_from_args(args)
    require_reachable(target)
    console.print(f"deleting stack radstream on {target.name}"
                  + (" and its data (buckets, de-identification salt)" if args.delete_data else " (data buckets kept)"))
    deleted = destroy(target, delete_data=args.delete_data,
                      report=lambda line: console.print(line, soft_wrap=True, highlight=False))
    console.print("deleted: " + (", ".join(deleted) if deleted else "nothing (no stack)"))
    if not args.delete_data:
        console.print(f"kept: {', '.join(target.names.deployed_buckets)} (`--delete-data` deletes them)")
    return 0


def cmd_template(args) -> int:
    from radstream.definition import template as cfn

    if not args.summary:
        sys.stdout.write(cfn.stack_template_text() if not args.bootstrap else cfn.bootstrap_template_text())
        return 0
    print(json.dumps(cfn.summary(cfn.bootstrap_template() if args.bootstrap else cfn.stack_template()), indent=2))
    return 0


def cmd_submit(args) -> int:
    from radstream.tooling.client import PipelineClient, Study

    target = _reachable_target(args)
    image = Path(args.image)
    if not image.is_file():
        console.print(f"[red]no such image file: {image}[/red]")
        return 2
    metadata = None
    if args.metadata:
        try:
            metadata = json.loads(Path(args.metadata).read_text())
        except (OSError, ValueError) as exc:
            console.print(f"[red]cannot read sidecar {args.metadata}: {exc}[/red]")
            return 2
    study = Study.from_path(image, metadata, args.study_id)
    with console.status(f"study {study.study_id}: submitted, waiting ..." if args.wait else "uploading ..."):
        record = PipelineClient(target).submit(study, wait=args.wait, timeout_s=args.timeout)
    if args.json:
        print(json.dumps(record, indent=2, default=str))
    else:
        _print_records([record])
    return 0 if record["status"] in ("SUCCEEDED", "SUBMITTED") else 1


def _print_records(records: list[dict]) -> None:
    table = Table(title="RadStream studies")
    for column in ("study", "status", "findings", "confidence", "latency ms"):
        table.add_column(column, overflow="fold")
    for r in records:
        ok = r["status"] == "SUCCEEDED"
        findings = r.get("findings") if ok else f"{r.get('error', {}).get('code')}: {r.get('error', {}).get('message')}"
        confidence = f"{r['confidence']:.2f}" if ok and r.get("confidence") is not None else ""
        latency = f"{r['latency_ms']:.0f}" if r.get("latency_ms") is not None else ""
        style = "green" if ok else "red"
        status = r["status"] + (" (already submitted)" if r.get("duplicate") else "")
        table.add_row(r["study_id"], f"[{style}]{status}[/{style}]", str(findings), confidence, latency)
    _stdout_console().print(table)


def cmd_run(args) -> int:
    from radstream.tooling.runner import run_samples

    target = _start(args) if selected_target(args) != "aws" else target_from_args(args)
    return run_samples(target, Path(args.state_dir) / "samples", concurrency=args.concurrent,
                       print_records=_print_records, console=console)


def cmd_e2e(args) -> int:
    from radstream.tooling.e2e import BASIC, COMPREHENSIVE, run_checks

    unknown = [name for name in args.check or () if name not in BASIC + COMPREHENSIVE]
    if unknown:
        console.print(f"[red]no check named {', '.join(unknown)}; the checks are: {', '.join(BASIC + COMPREHENSIVE)}[/red]")
        return 2
    target = _reachable_target(args)
    from radstream.infra.deploy import deployed_workflow

    if deployed_workflow(target).express:
        # the checks start and describe executions of the Standard machine by name (DescribeExecution and
        # name deduplication do not exist for Express on AWS)
        console.print("[red]this deployment runs the Express workflow (WorkflowType=EXPRESS); the check list "
                      "needs the Standard one: deploy `--parameter WorkflowType=STANDARD` first[/red]")
        return 2
    return run_checks(target, comprehensive=args.comprehensive, study_id=args.study_id, console=console,
                      only=tuple(args.check) if args.check else None)


def cmd_upload(args) -> int:
    from radstream.tooling.bench.load import upload_studies
    from radstream.tooling.bench.benchmark import load_studies

    if args.rate is not None and args.rate <= 0:
        console.print("[red]--rate takes a positive number of studies per second[/red]")
        return 2
    if args.concurrent < 1:
        console.print("[red]--concurrent takes a positive number[/red]")
        return 2
    target = _reachable_target(args)
    studies = load_studies(Path(args.image_dir) if args.image_dir else None, args.num_images,
                           datetime.now(timezone.utc).strftime("%H%M%S"))
    summary = upload_studies(target, studies, concurrent=args.concurrent, rate=args.rate, console=console)
    pace = f"{args.rate:g}/s" if args.rate else f"{args.concurrent} at a time"
    console.print(f"uploaded {summary.uploaded} of {len(studies)} studies ({pace}) in {summary.elapsed_s:.1f} s; "
                  f"executions started: {summary.started}; uploads refused: {summary.refused}"
                  + (f" ({', '.join(f'{k} {v}' for k, v in summary.refusals.items())})" if summary.refused else "")
                  + (f"; not started after {summary.wait_s:.0f} s: {summary.not_started}" if summary.not_started else ""),
                  soft_wrap=True)
    console.print("follow them with `radstream query` or the Step Functions API")
    return 0 if not summary.refused and not summary.not_started else 1


def cmd_bench(args) -> int:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from radstream.tooling.bench.benchmark import run_benchmark
    from radstream.tooling.bench.pricing import load_pricing
    from radstream.tooling.bench.render import print_bench
    from radstream.tooling.bench.usage import StackProbe

    try:
        levels = [int(x) for x in str(args.concurrent).split(",")]
    except ValueError:
        console.print(f"[red]--concurrent takes numbers separated by commas, got {args.concurrent!r}[/red]")
        return 2
    if args.num_studies < 2 or min(levels) < 1:
        console.print("[red]--num-studies must be at least 2 and every --concurrent level at least 1[/red]")
        return 2
    pricing = load_pricing(args.pricing)
    target = _reachable_target(args)
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), console=console,
                  transient=True) as progress:
        def factory(level: int, total: int):
            task = progress.add_task(f"concurrency {level}", total=total)
            return lambda: progress.advance(task)

        probe = StackProbe(embedded_stack(args)) if target.name == "embedded" else None
        doc = run_benchmark(target, Path(args.image_dir) if args.image_dir else None, args.num_studies, levels,
                            pricing, factory, floor=not args.no_floor, probe=probe)
    if args.out:
        _write_json(args.out, doc)
    if args.json:
        print(json.dumps(doc, indent=2, default=str))
    else:
        print_bench(doc, _stdout_console())
    return 0 if all(not lv["errors"]["count"] for lv in doc["levels"]) else 1


def _write_json(path: str, doc: dict) -> None:
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, indent=2, default=str))
    console.print(f"results written to {out} (`radstream report {out}` draws them)")


def cmd_ab(args) -> int:
    from radstream.tooling.bench.ab import SCENARIOS, Arms, run_ab, scenario
    from radstream.tooling.bench.pricing import load_pricing
    from radstream.tooling.bench.render import print_ab

    if args.list or not args.scenario:
        for s in SCENARIOS.values():
            where = ", ".join(t for t in ("embedded", "localstack", "aws") if t not in s.refused) or "nowhere yet"
            print(f"{s.name:16s} {' vs '.join(a.name for a in s.arms):28s} runs on: {where}")
        return 0 if args.list else 2
    chosen = scenario(args.scenario, selected_target(args))
    pricing = load_pricing(args.pricing)
    target = _reachable_target(args)
    stack = embedded_stack(args)
    arms = Arms(target, stack, chosen)
    total = args.blocks * len(chosen.arms)
    with console.status(f"{chosen.name}: block 1 of {total} ...") as status:
        done = []

        def on_block(arm, round_no, level):
            done.append(arm.name)
            status.update(f"{chosen.name}: {len(done)} of {total} blocks done (last: {arm.name}, round {round_no + 1}, "
                          f"p50 {level['latency_ms']['p50']} ms) ...")

        try:
            doc = run_ab(target, stack, chosen, blocks=args.blocks, studies_per_block=args.studies_per_block,
                         concurrency=args.concurrent, pricing=pricing,
                         image_dir=Path(args.image_dir) if args.image_dir else None, confidence=args.confidence,
                         resamples=args.resamples, seed=args.seed, on_block=on_block, arms=arms)
        except KeyboardInterrupt:
            console.print(f"interrupted; the original configuration is back ({arms.describe_original()})")
            return 130
    console.print(f"restored the original configuration ({arms.describe_original()})")
    if args.out:
        _write_json(args.out, doc)
    if args.json:
        print(json.dumps(doc, indent=2, default=str))
    else:
        print_ab(doc, _stdout_console())
    return 0


def cmd_report(args) -> int:
    from radstream.tooling.bench.benchmark import describe_workflow
    from radstream.tooling.report.build import ReportError, build_report

    definition = None
    if args.target:  # draw the pipeline from this deployment when the results carry no definition
        target = _reachable_target(args)
        workflow = describe_workflow(target)
        definition = workflow if workflow["available"] else None
    try:
        path = build_report(args.results, args.out_dir, definition)
    except ReportError as exc:
        console.print(f"[red]error:[/red] {exc}")
        return 2
    console.print(f"report: {path.resolve()} (self-contained; PNG charts beside it in {path.parent})")
    return 0


def cmd_failures(args) -> int:
    from radstream.tooling.recovery.checks import failed_studies
    from radstream.tooling.recovery.durations import parse_since
    from radstream.tooling.recovery.inventory import read_inventory

    since = parse_since(args.since)
    target = _reachable_target(args)
    rows = failed_studies(read_inventory(target), since)
    if args.json:
        print(json.dumps([r.as_dict() for r in rows], indent=2, default=str))
        return 0
    table = Table(title=f"failed studies ({len(rows)})" + (f" since {since:%Y-%m-%d %H:%M} UTC" if since else ""))
    for column in ("study", "code", "reason", "when", "stage", "attempt"):
        table.add_column(column, overflow="fold")
    for r in rows:
        table.add_row(r.study_id, f"[red]{r.code}[/red]", r.message, (r.when or "")[:19], r.stage or "",
                      r.execution or "")
    _stdout_console().print(table)
    if rows:
        console.print("run them again once the cause is fixed: `radstream redrive STUDY...` or `--all-failed`")
    return 0


def cmd_reconcile(args) -> int:
    from radstream.tooling.recovery.checks import FINDING_KINDS, reconcile
    from radstream.tooling.recovery.durations import parse_duration, parse_since
    from radstream.tooling.recovery.inventory import read_inventory

    since, stuck_after, grace = parse_since(args.since), parse_duration(args.stuck_after), parse_duration(args.grace)
    target = _reachable_target(args)
    report = reconcile(read_inventory(target), since=since, stuck_after=stuck_after, grace=grace)
    if args.json:
        print(json.dumps(report.as_dict(), indent=2, default=str))
    else:
        out = _stdout_console()
        out.print(f"{report.studies} uploads: {report.succeeded} succeeded, {report.failed} failed, "
                  f"{report.running} running; " + ", ".join(f"{len(report.of_kind(k))} {k}" for k in FINDING_KINDS))
        if report.findings:
            table = Table(title="reconcile: what does not add up")
            for column in ("study", "finding", "detail"):
                table.add_column(column, overflow="fold")
            for f in report.findings:
                table.add_row(f.study_id, f"[yellow]{f.kind}[/yellow]", f.detail)
            out.print(table)
    return 1 if report.findings else 0


def cmd_redrive(args) -> int:
    from radstream.tooling.client import PipelineClient
    from radstream.tooling.recovery import redrive
    from radstream.tooling.recovery.inventory import read_inventory

    if not args.studies and not args.all_failed:
        console.print("[red]error:[/red] name the studies to redrive, or --all-failed")
        return 2
    target = _reachable_target(args)
    inventory = read_inventory(target)
    plans = redrive.plan(inventory, args.studies, all_failed=args.all_failed)
    if not args.dry_run:
        plans = redrive.apply(target, inventory, plans)
    records = {}
    if args.wait and not args.dry_run:
        client = PipelineClient(target)
        for item in plans:
            if item.started:
                records[item.study_id] = client.wait(item.study_id, timeout_s=args.timeout)
    if args.json:
        print(json.dumps([dict(p.as_dict(), record=records.get(p.study_id)) for p in plans], indent=2, default=str))
    else:
        table = Table(title="redrive" + (" (dry run: nothing changed)" if args.dry_run else ""))
        for column in ("study", "action", "why", "new attempt", "outcome"):
            table.add_column(column, overflow="fold")
        for p in plans:
            outcome = (f"[red]{p.error}[/red]" if p.error else records[p.study_id]["status"] if p.study_id in records
                       else "started" if p.started else "")
            table.add_row(p.study_id, p.action, p.reason, p.execution_name or ("trigger" if p.action == "trigger" else ""),
                          outcome)
        _stdout_console().print(table)
    failed = [p for p in plans if p.error or (p.study_id in records and records[p.study_id]["status"] != "SUCCEEDED")]
    return 1 if failed else 0


def cmd_fault(args) -> int:
    from radstream.tooling import faults

    if selected_target(args) != "embedded":
        raise TargetError("fault injection exists on the embedded target only")
    stack = embedded_stack(args)
    if args.action != "list" and not stack.emulator_healthy():
        raise StackError(f"the embedded stack is not running on {stack.endpoint_url}: `radstream up` first")
    if args.action == "set":
        if not args.name:
            console.print(f"[red]error:[/red] name the fault: {', '.join(faults.KINDS)}")
            return 2
        origins = args.origins.split(",") if args.origins else None
        console.print("injected " + faults.inject(stack, args.name, rate=args.rate, count=args.count,
                                                  function=args.function, seconds=args.seconds, origins=origins))
        return 0
    if args.action == "clear":
        cleared = faults.clear(stack, args.name)
        console.print("cleared: " + (", ".join(cleared) if cleared else "nothing was set"))
        return 0
    if not stack.emulator_healthy():
        for kind in faults.KINDS.values():
            print(f"{kind.name:20s} {kind.what}")
        return 0
    found = faults.active(stack)
    if args.json:
        print(json.dumps(found, indent=2))
    elif found:
        for fault in found:
            print(json.dumps(fault))
    else:
        print("no fault is set (the faults: " + ", ".join(faults.KINDS) + ")")
    return 0


def cmd_soak(args) -> int:
    from radstream.tooling.soak import run_soak

    if selected_target(args) != "embedded":
        raise TargetError("the soak kills and restarts the model server: it runs on the embedded target only")
    stack = embedded_stack(args)
    target = _reachable_target(args)
    console.print(f"soak: {args.studies} studies, {args.concurrent} in flight; the model server is killed after "
                  f"{args.kill_at:.0%} of them for {args.outage:g} s; {args.races} duplicate-upload races")
    report = run_soak(target, stack, studies=args.studies, concurrent=args.concurrent, kill_at=args.kill_at,
                      outage_s=args.outage, races=args.races, resubmits=args.resubmits, size=args.size,
                      progress=lambda line: console.print(f"  {line}"))
    if args.json:
        print(json.dumps(report.as_dict(), indent=2, default=str))
    else:
        out = _stdout_console()
        table = Table(title="soak")
        table.add_column("measure")
        table.add_column("value", overflow="fold")
        rows = [("studies", report.studies), ("succeeded", report.succeeded),
                ("failed (by code)", ", ".join(f"{c} {n}" for c, n in report.failed.items()) or "0"),
                ("lost", len(report.lost)), ("duplicated", len(report.duplicated)), ("mixed up", len(report.mixed_up)),
                ("success rate", f"{report.success_rate:.2%}"),
                ("duplicate-upload races", f"{report.races} (refused sides: {report.races_refused})"),
                ("unchanged resubmissions", f"{report.resubmits} ({report.resubmits_same_record} got the same record)"),
                ("model server outage", f"{report.outage_s} s" if report.outage_s is not None else "none"),
                ("recovery: first success after restart", _seconds(report.first_success_after_restart_s)),
                ("recovery: outage backlog finished after restart", _seconds(report.outage_backlog_cleared_after_s)),
                ("wall time", f"{report.wall_s:.0f} s"),
                ("reconcile (this run)", ", ".join(f"{k} {len(v)}" for k, v in report.reconcile.items()))]
        for name, value in rows:
            table.add_row(name, str(value))
        out.print(table)
        for problem in report.lost + report.duplicated + report.mixed_up:
            console.print(f"[red]{problem}[/red]")
    console.print("[green]no study lost, duplicated or mixed up[/green]" if report.ok
                  else "[red]studies were lost, duplicated or mixed up[/red]")
    return 0 if report.ok else 1


def _seconds(value: float | None) -> str:
    return f"{value:.1f} s" if value is not None else "n/a"


def cmd_query(args) -> int:
    from radstream.tooling.query_command import run

    return run(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="radstream", description="RadStream: a local-first streaming inference "
                                     "pipeline for chest X-rays on AWS.", epilog=EPILOG,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--state-dir", default=str(DEFAULT_STATE_DIR),
                        help="where the embedded stack keeps pids, logs and samples (default .radstream)")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("up", help="start the stack (embedded: in the background; localstack: docker compose) and deploy")
    add_target_argument(p)
    p.add_argument("--port", type=int, help="emulator port (default 4566, or RADSTREAM_EMULATOR_PORT)")
    p.set_defaults(func=cmd_up)

    p = sub.add_parser("down", help="stop the stack (refuses while executions run, unless --force)")
    p.add_argument("--force", action="store_true",
                   help="stop even while executions run (they are lost; `radstream redrive --all-failed` after `up`)")
    add_target_argument(p)
    p.set_defaults(func=cmd_down)

    p = sub.add_parser("status", help="report whether the stack runs and the deployment is up to date")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    add_target_argument(p)
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("metrics", help="the key CloudWatch figures of the last minutes: per function duration "
                                      "p50/p95, memory, errors, throttles; executions by status; cost per image")
    p.add_argument("--minutes", type=int, default=15, help="how far back (default 15)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    add_target_argument(p)
    p.set_defaults(func=cmd_metrics)

    p = sub.add_parser("telemetry", help="the telemetry producer on its own: send-test puts test events through "
                                        "Kinesis, check finds them in the lake")
    p.add_argument("action", choices=("send-test", "check"))
    p.add_argument("--count", type=int, default=100, help="send-test: events to send (default 100)")
    p.add_argument("--wait", type=float, help="check: seconds to wait for delivery (default 15 embedded, 180 elsewhere)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    add_target_argument(p)
    p.set_defaults(func=cmd_telemetry)

    p = sub.add_parser("deploy", help="deploy template.yaml with CloudFormation to any target (idempotent)")
    add_target_argument(p)
    p.add_argument("--dry-run", action="store_true",
                   help="show the change set, change nothing (aws without credentials: the template and parameters)")
    p.add_argument("--model-endpoint", help="model server URL as Lambda reaches it (required for aws)")
    p.add_argument("--parameter", action="append", metavar="KEY=VALUE",
                   help="a template parameter (repeatable), e.g. SubnetIds=subnet-1,subnet-2; others keep their "
                        "deployed value or default (`radstream template --summary` lists them)")
    p.add_argument("--parameters-file", metavar="FILE", help="template parameters as a JSON object")
    p.set_defaults(func=cmd_deploy)

    p = sub.add_parser("destroy", help="delete the stack (data buckets are kept unless --delete-data)")
    add_target_argument(p)
    p.add_argument("--delete-data", action="store_true",
                   help="also delete the buckets and everything in them, and the de-identification salt")
    p.set_defaults(func=cmd_destroy)

    p = sub.add_parser("template", help="print the CloudFormation template every target deploys")
    p.add_argument("--summary", action="store_true", help="resources by type, parameters and outputs (JSON)")
    p.add_argument("--bootstrap", action="store_true", help="the bootstrap stack's template (artifacts bucket)")
    p.set_defaults(func=cmd_template)

    p = sub.add_parser("submit", help="submit one study (image + sidecar) to the pipeline")
    p.add_argument("image", help="DICOM, JPEG or PNG file")
    p.add_argument("--metadata", help="JSON sidecar (default: derived from the DICOM header when possible)")
    p.add_argument("--study-id", help="study id (default: the sidecar's study_id)")
    p.add_argument("--wait", action="store_true", help="wait for the terminal record")
    p.add_argument("--json", action="store_true", help="print the record as JSON")
    p.add_argument("--timeout", type=float, default=300.0, help="seconds to wait (default 300)")
    add_target_argument(p)
    p.set_defaults(func=cmd_submit)

    p = sub.add_parser("run", help="the main job: process the sample studies end to end and summarise")
    p.add_argument("--concurrent", type=int, default=4, help="studies in flight at once (default 4)")
    add_target_argument(p)
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("e2e", help="run the end-to-end check list against the running stack")
    p.add_argument("--comprehensive", action="store_true", help="also DICOM, hostile files and analytics")
    p.add_argument("--study-id", help="prefix for the study ids the checks create")
    p.add_argument("--check", action="append", metavar="NAME",
                   help="run only this check (repeatable; a wrong name lists them all)")
    add_target_argument(p)
    p.set_defaults(func=cmd_e2e)

    p = sub.add_parser("upload", help="batch upload of studies (load generation; does not wait for results)")
    p.add_argument("--image-dir", "--image_dir", dest="image_dir",
                   help="images to upload, with optional same-name .json sidecars (default: synthetic 2048x2048 JPEGs)")
    p.add_argument("--num-images", "--num_images", dest="num_images", type=int, default=20,
                   help="studies to upload (images are cycled; default 20)")
    pace = p.add_mutually_exclusive_group()
    pace.add_argument("--concurrent", type=int, default=4, help="parallel uploads (default 4)")
    pace.add_argument("--rate", type=float, help="studies per second, paced (instead of --concurrent)")
    add_target_argument(p)
    p.set_defaults(func=cmd_upload)

    p = sub.add_parser("bench", help="end-to-end latency, throughput, stages, requests, cost per image, targets")
    p.add_argument("--image-dir", "--image_dir", dest="image_dir",
                   help="images to submit, with optional same-name .json sidecars (default: synthetic 2048x2048 JPEGs)")
    p.add_argument("--num-studies", type=int, default=40, help="measured studies per concurrency level (default 40)")
    p.add_argument("--concurrent", default="1,4,8",
                   help="studies in flight; a comma list runs each level, the first is the baseline (default 1,4,8)")
    p.add_argument("--pricing", help="pricing file overriding the packaged us-east-1 prices (or RADSTREAM_PRICING_FILE)")
    p.add_argument("--no-floor", action="store_true", help="skip the compute floor")
    p.add_argument("--json", action="store_true", help="print the result document as JSON")
    p.add_argument("--out", metavar="FILE", help="also save the result document (input of `radstream report`)")
    add_target_argument(p)
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser("ab", help="A/B experiment: one workload under two configurations in interleaved blocks, "
                                  "with bootstrap confidence intervals")
    p.add_argument("scenario", nargs="?", help="model-batching, model-capacity, lambda-memory, workflow-type, s3-express")
    p.add_argument("--list", action="store_true", help="list the scenarios and where each runs")
    p.add_argument("--blocks", type=int, default=5, help="rounds; every arm runs one block per round (default 5, at least 3)")
    p.add_argument("--studies-per-block", type=int, default=10, help="measured studies per block (default 10)")
    p.add_argument("--concurrent", type=int, default=4, help="studies in flight (default 4)")
    p.add_argument("--image-dir", "--image_dir", dest="image_dir", help="images (default: synthetic 2048x2048 JPEGs)")
    p.add_argument("--confidence", type=float, default=0.95, help="confidence level of the intervals (default 0.95)")
    p.add_argument("--resamples", type=int, default=2000, help="bootstrap resamples (default 2000)")
    p.add_argument("--seed", type=int, default=0, help="bootstrap random seed (default 0)")
    p.add_argument("--pricing", help="pricing file overriding the packaged us-east-1 prices")
    p.add_argument("--json", action="store_true", help="print the result document as JSON")
    p.add_argument("--out", metavar="FILE", help="also save the result document (input of `radstream report`)")
    add_target_argument(p)
    p.set_defaults(func=cmd_ab)

    p = sub.add_parser("report", help="an HTML report (charts embedded) and PNG charts from saved bench/ab results")
    p.add_argument("results", nargs="+", metavar="FILE", help="files written by `radstream bench --out` / `ab --out`")
    p.add_argument("--out-dir", default="radstream-report", help="where report.html and the PNGs go "
                   "(default radstream-report/)")
    add_target_argument(p)
    p.set_defaults(func=cmd_report)

    since_help = "only what happened since: a duration back from now (30m, 2h, 1d) or an ISO 8601 time"
    p = sub.add_parser("failures", help="list failed studies with their error code and reason",
                       description="Every study whose current state is a failure: a failure record (the workflow's, "
                                   "or the upload trigger's refusal), an upload event the trigger failed on through "
                                   "its retries (its failure queue), or an execution that ended without a record.")
    p.add_argument("--since", help=since_help)
    p.add_argument("--json", action="store_true", help="machine-readable output")
    add_target_argument(p)
    p.set_defaults(func=cmd_failures)

    p = sub.add_parser("redrive", help="run failed or lost studies again once the cause is fixed",
                       description="Runs each study again: a new execution of its input as <study>.attempt-<n> (its "
                                   "failure record moves to attempts/<study>/ in the results bucket), or, when its "
                                   "execution never started or was lost, the upload trigger again. Never touches a "
                                   "study that succeeded, one still running, or an upload refused for good.")
    p.add_argument("studies", nargs="*", metavar="STUDY", help="study ids")
    p.add_argument("--all-failed", action="store_true", help="every study `radstream failures` lists")
    p.add_argument("--dry-run", action="store_true", help="say what would be done, change nothing")
    p.add_argument("--wait", action="store_true", help="wait for each redriven study's terminal record")
    p.add_argument("--timeout", type=float, default=600.0, help="seconds to wait per study with --wait (default 600)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    add_target_argument(p)
    p.set_defaults(func=cmd_redrive)

    p = sub.add_parser("reconcile", help="compare uploads with terminal records: missing, stuck, orphaned, duplicated",
                       description="Exit status 1 when anything does not add up. missing: a complete upload with no "
                                   "terminal record and nothing running; stuck: an execution running too long; "
                                   "orphaned: an image without a sidecar (or the reverse) past the grace period; "
                                   "duplicated: a result and a failure for one study, an overwritten upload, or "
                                   "several images in one study.")
    p.add_argument("--since", help=since_help)
    p.add_argument("--stuck-after", default="20m", help="a running execution older than this is stuck (default 20m)")
    p.add_argument("--grace", default="10m", help="a half-uploaded study older than this is orphaned (default 10m)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    add_target_argument(p)
    p.set_defaults(func=cmd_reconcile)

    p = sub.add_parser("soak", help="many studies under faults: is any lost, duplicated or mixed up? (embedded)",
                       description="Submits distinct studies with N in flight, kills the model server part-way and "
                                   "restarts it, races duplicate uploads and resubmits finished studies; then checks "
                                   "every study's records. Prints studies, lost, duplicated, mixed up, success rate "
                                   "and recovery time; exit 1 if any study was lost, duplicated or mixed up.")
    p.add_argument("--studies", type=int, default=500, help="studies to submit (default 500)")
    p.add_argument("--concurrent", type=int, default=16, help="studies in flight (default 16)")
    p.add_argument("--kill-at", type=float, default=0.3, help="kill the model server after this fraction (default 0.3)")
    p.add_argument("--outage", type=float, default=30.0, help="seconds the model server stays down (default 30; 0: none)")
    p.add_argument("--races", type=int, default=10, help="duplicate-upload races (default 10)")
    p.add_argument("--resubmits", type=int, default=10, help="unchanged resubmissions of finished studies (default 10)")
    p.add_argument("--size", type=int, default=512, help="side of the synthetic JPEGs in pixels (default 512)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    add_target_argument(p)
    p.set_defaults(func=cmd_soak)

    from radstream.tooling.faults import KINDS as FAULT_KINDS

    p = sub.add_parser("fault", help="inject a fault into the embedded stack, or clear it (off by default)",
                       description="Fault injection on the embedded target, to watch RadStream survive it:\n"
                                   + "\n".join(f"  {k.name:19s} {k.what}" for k in FAULT_KINDS.values()),
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("action", choices=("set", "clear", "list"), help="set a fault, clear one (or all), list them")
    p.add_argument("name", nargs="?", choices=list(FAULT_KINDS), metavar="FAULT", help="the fault")
    p.add_argument("--rate", type=float, help="fraction of requests or invocations that fail (default 1)")
    p.add_argument("--count", type=int, help="fail only this many times")
    p.add_argument("--function", help="lambda-crash/lambda-oom: the function (e.g. radstream-run-inference)")
    p.add_argument("--seconds", type=float, help="model-server-slow: how late inference answers (default 90)")
    p.add_argument("--origins", help="s3-slowdown/kinesis-throughput: whose requests (lambda,client; default lambda)")
    p.add_argument("--json", action="store_true", help="list: machine-readable output")
    add_target_argument(p)
    p.set_defaults(func=cmd_fault)

    from radstream.tooling.query_command import add_arguments as add_query_arguments

    p = sub.add_parser("query", help="analytics over the telemetry (DuckDB locally, Athena on aws)")
    add_query_arguments(p)
    p.set_defaults(func=cmd_query)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        return args.func(args)
    except (StackError, TargetError, ExperimentError, DeployError) as exc:
        console.print(f"[red]error:[/red] {exc}")
        return 1
    except EndpointConnectionError as exc:
        console.print(f"[red]error:[/red] {exc}: is the target running? (embedded: `radstream up`; "
                      f"localstack: `radstream up --target localstack`)")
        return 1
    except (NoCredentialsError, ClientError) as exc:
        console.print(f"[red]error:[/red] {exc}")
        return 1
    except ValueError as exc:  # configuration problems, e.g. a target without credentials
        console.print(f"[red]error:[/red] {exc}")
        return 2
    except KeyboardInterrupt:
        return 130
