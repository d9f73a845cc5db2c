"""The `radstream` command line (also `python -m radstream`).

Run `radstream COMMAND --help` for each command's options.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path

from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError
from rich.console import Console
from rich.table import Table

from radstream.infra.errors import TargetError
from radstream.tooling.errors import StackError
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


def _print_steps(steps, dry_run: bool) -> None:
    if not steps:
        console.print("[green]deploy: everything is up to date (nothing to change)[/green]")
        return
    verb = "would" if dry_run else "did"
    for step in steps:
        console.print(f"  {verb} {step.describe()}")


def _deploy(target, dry_run: bool = False) -> list:
    from radstream.infra.deploy import deploy

    with console.status(f"deploying to {target.name} ..."):
        return deploy(target, dry_run=dry_run)


def _start(args):
    """Start the target's local stack (embedded or localstack) and deploy; return the target."""
    name = selected_target(args)
    if name == "aws":
        raise TargetError("there is nothing to start on aws: deploy with `radstream deploy --target aws`")
    if name == "localstack":
        from radstream.tooling.stack import localstack

        target = target_from_args(args)
        with console.status("starting LocalStack and the model server (docker compose) ..."):
            localstack.up(target.endpoint_url)
    else:
        stack = embedded_stack(args)
        with console.status("starting the embedded stack ..."):
            stack.start()
        target = target_from_args(args, stack)
    _print_steps(_deploy(target), dry_run=False)
    return target


def _reachable_target(args):
    target = target_from_args(args)
    require_reachable(target)
    return target


# -- commands ---------------------------------------------------------------------------------
def cmd_up(args) -> int:
    target = _start(args)
    if target.name == "localstack":
        console.print(f"[green]up[/green]: LocalStack at {target.endpoint_url} (docker compose)")
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

        localstack.down()
        console.print("stopped: localstack, model-server")
        return 0
    stopped = embedded_stack(args).stop()
    console.print("stopped: " + (", ".join(stopped) if stopped else "nothing was running"))
    return 0


def cmd_status(args) -> int:
    from radstream.infra.deploy import plan

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
        pending = plan(target)
        status["deployment"] = {"up_to_date": not pending, "pending": [s.describe() for s in pending]}
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
    if name == "embedded":
        return 0 if status["emulator"]["running"] and status["model_server"]["ready"] else 1
    return 0


def cmd_deploy(args) -> int:
    target = target_from_args(args)
    if not args.dry_run:
        require_reachable(target)
    steps = _deploy(target, dry_run=args.dry_run)
    _print_steps(steps, dry_run=args.dry_run)
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
        table.add_row(r["study_id"], f"[{style}]{r['status']}[/{style}]", str(findings), confidence, latency)
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
    return run_checks(target, comprehensive=args.comprehensive, study_id=args.study_id, console=console,
                      only=tuple(args.check) if args.check else None)


def cmd_upload(args) -> int:
    from radstream.tooling.bench.benchmark import load_studies
    from radstream.tooling.client import PipelineClient

    target = _reachable_target(args)
    studies = load_studies(Path(args.image_dir) if args.image_dir else None, args.num_images,
                           datetime.now(timezone.utc).strftime("%H%M%S"))
    client = PipelineClient(target)
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=args.concurrent) as pool:
        list(pool.map(client.upload, studies))
    elapsed = time.perf_counter() - started
    console.print(f"uploaded {len(studies)} studies in {elapsed:.1f} s ({len(studies) / elapsed:.1f}/s); "
                  f"follow them with `radstream query` or the Step Functions API")
    return 0


def cmd_bench(args) -> int:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from radstream.tooling.bench.benchmark import as_dicts, run_benchmark
    from radstream.tooling.bench.usage import StackProbe

    target = _reachable_target(args)
    try:
        levels = [int(x) for x in str(args.concurrent).split(",")]
    except ValueError:
        console.print(f"[red]--concurrent takes numbers separated by commas, got {args.concurrent!r}[/red]")
        return 2
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), console=console,
                  transient=True) as progress:
        def factory(level: int, total: int):
            task = progress.add_task(f"concurrency {level}", total=total)
            return lambda: progress.advance(task)

        probe = StackProbe(embedded_stack(args)) if target.name == "embedded" else None
        results = run_benchmark(target, Path(args.image_dir) if args.image_dir else None, args.num_studies,
                                levels, factory, probe)
    if args.json:
        print(json.dumps(as_dicts(results), indent=2))
        return 0
    base = results[0]
    table = Table(title=f"RadStream end to end, {args.num_studies} studies per level (baseline: concurrency {base.concurrency})")
    for column in ("in flight", "studies/min", "vs base", "p50 ms", "p95 ms", "p99 ms", "p95 vs base", "errors",
                   "Lambda GB-s", "cost/image USD"):
        table.add_column(column, justify="right")
    for r in results:
        table.add_row(str(r.concurrency), f"{r.studies_per_min:.1f}", f"{r.studies_per_min / base.studies_per_min:.2f}x",
                      f"{r.p50_ms:.0f}", f"{r.p95_ms:.0f}", f"{r.p99_ms:.0f}",
                      f"{r.p95_ms / base.p95_ms:.2f}x" if base.p95_ms else "",
                      ", ".join(f"{k}: {v}" for k, v in r.errors.items()) or "0",
                      f"{r.lambda_gb_seconds:.2f}", f"{r.cost_per_image_usd:.7f}")
    _stdout_console().print(table)
    console.print("cost: Lambda (billed duration x memory, from REPORT lines) + requests + Step Functions "
                  "transitions at us-east-1 list prices; the model server (EKS) and storage excluded")
    if all(r.cpu_s_per_study for r in results):
        _stdout_console().print(_usage_table(results))
    else:
        console.print(f"CPU and requests per study: measured on the embedded target only (this is {target.name})")
    return 0 if all(not r.errors for r in results) else 1


def _usage_table(results) -> Table:
    """CPU milliseconds per study by process and AWS requests per study by operation, per level."""
    table = Table(title="per study, measured (CPU ms by process; AWS requests by operation, all origins)")
    table.add_column("")
    for r in results:
        table.add_column(f"{r.concurrency} in flight", justify="right")
    roles = sorted({role for r in results for role in r.cpu_s_per_study} - {"total"}) + ["total"]
    for role in roles:
        table.add_row(f"CPU ms {role}", *(f"{1000 * r.cpu_s_per_study.get(role, 0.0):.1f}" for r in results))
    ops = sorted({op for r in results for op in r.requests_per_study} - {"total"},
                 key=lambda op: -results[-1].requests_per_study.get(op, 0.0)) + ["total"]
    for op in ops:
        table.add_row(f"requests {op}", *(f"{r.requests_per_study.get(op, 0.0):.2f}" for r in results))
    return table


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

    p = sub.add_parser("down", help="stop the stack")
    add_target_argument(p)
    p.set_defaults(func=cmd_down)

    p = sub.add_parser("status", help="report whether the stack runs and the deployment is up to date")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    add_target_argument(p)
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("deploy", help="deploy the same definition to any target (idempotent)")
    add_target_argument(p)
    p.add_argument("--dry-run", action="store_true", help="show what would change, change nothing")
    p.add_argument("--model-endpoint", help="model server URL as Lambda reaches it (required for aws)")
    p.set_defaults(func=cmd_deploy)

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

    p = sub.add_parser("upload", help="batch upload of studies (load generation; does not wait)")
    p.add_argument("--image-dir", help="images to upload, with optional same-name .json sidecars "
                   "(default: synthetic 2048x2048 JPEGs)")
    p.add_argument("--num-images", type=int, default=20, help="studies to upload (images are cycled; default 20)")
    p.add_argument("--concurrent", type=int, default=4, help="parallel uploads (default 4)")
    add_target_argument(p)
    p.set_defaults(func=cmd_upload)

    p = sub.add_parser("bench", help="end-to-end latency percentiles, throughput, errors and cost per image")
    p.add_argument("--image-dir", help="images to submit, with optional same-name .json sidecars "
                   "(default: synthetic 2048x2048 JPEGs)")
    p.add_argument("--num-studies", type=int, default=40, help="studies per concurrency level (default 40)")
    p.add_argument("--concurrent", default="1,4,8",
                   help="studies in flight; a comma list runs each level, the first is the baseline (default 1,4,8)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    add_target_argument(p)
    p.set_defaults(func=cmd_bench)

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
    except (StackError, TargetError) as exc:
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
