"""``python -m radstream_model_server [--host H] [--port P] [--model-path PATH] ...``

Every option also reads an environment variable (the flag wins):

    --host               RADSTREAM_MODEL_SERVER_HOST        127.0.0.1
    --port               RADSTREAM_MODEL_SERVER_PORT        8080
    --model-path         RADSTREAM_MODEL_PATH               the packaged stub (chestxray14-stub)
    --model-name         RADSTREAM_MODEL_SERVER_MODEL_NAME  from model.json / directory layout
    --model-version      RADSTREAM_MODEL_SERVER_MODEL_VERSION
    --max-batch-size     RADSTREAM_MAX_BATCH_SIZE           8  (1 = dynamic batching off)
    --max-queue-delay-ms RADSTREAM_MAX_QUEUE_DELAY_MS       5
    --instances          RADSTREAM_MODEL_INSTANCES          1  (concurrent model executions)
    --max-queue-size     RADSTREAM_MAX_QUEUE_SIZE           0  (waiting requests before 503; 0 = no limit)
    --intra-op-threads   RADSTREAM_INTRA_OP_THREADS         0  (ONNX Runtime default)
    --log-level          RADSTREAM_LOG_LEVEL                info
    --no-access-log      RADSTREAM_ACCESS_LOG=0
    --fault-injection    RADSTREAM_MODEL_FAULT_INJECTION=1 (serves /_faults; the embedded stack's tests only)
"""

from __future__ import annotations

import argparse
import logging
import os
import sys


def _env(name: str, default):
    return os.environ.get(name, default)


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        prog="python -m radstream_model_server",
        description="Open Inference Protocol (KServe v2 REST) server for an ONNX model.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n\n", 1)[1],
    )
    ap.add_argument("--host", default=_env("RADSTREAM_MODEL_SERVER_HOST", "127.0.0.1"))
    ap.add_argument("--port", type=int, default=int(_env("RADSTREAM_MODEL_SERVER_PORT", "8080")))
    ap.add_argument("--model-path", default=_env("RADSTREAM_MODEL_PATH", None),
                    help=".onnx file or directory with model.onnx (default: packaged stub)")
    ap.add_argument("--model-name", default=_env("RADSTREAM_MODEL_SERVER_MODEL_NAME", None))
    ap.add_argument("--model-version", default=_env("RADSTREAM_MODEL_SERVER_MODEL_VERSION", None))
    ap.add_argument("--max-batch-size", type=int, default=int(_env("RADSTREAM_MAX_BATCH_SIZE", "8")))
    ap.add_argument("--max-queue-delay-ms", type=float, default=float(_env("RADSTREAM_MAX_QUEUE_DELAY_MS", "5")))
    ap.add_argument("--instances", type=int, default=int(_env("RADSTREAM_MODEL_INSTANCES", "1")),
                    help="model executions that may run at once (Triton's instance count)")
    ap.add_argument("--max-queue-size", type=int, default=int(_env("RADSTREAM_MAX_QUEUE_SIZE", "0")),
                    help="answer 503 (Retry-After: 1) when this many requests are already waiting; 0 = no limit")
    ap.add_argument("--intra-op-threads", type=int, default=int(_env("RADSTREAM_INTRA_OP_THREADS", "0")))
    ap.add_argument("--log-level", default=_env("RADSTREAM_LOG_LEVEL", "info"),
                    choices=["debug", "info", "warning", "error"])
    ap.add_argument("--fault-injection", action="store_true",
                    default=_env("RADSTREAM_MODEL_FAULT_INJECTION", "") not in ("", "0", "false"),
                    help="serve /_faults (slow or failing inference on request): for the embedded stack's "
                         "fault tests, never in production")
    ap.add_argument("--no-access-log", action="store_true",
                    default=_env("RADSTREAM_ACCESS_LOG", "1") in ("0", "false", "no"))
    return ap.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    from . import logs

    logs.configure(args.log_level)
    import uvicorn

    from .app import Settings, create_app
    from .errors import ModelLoadError

    settings = Settings(
        model_path=args.model_path, model_name=args.model_name, model_version=args.model_version,
        max_batch_size=args.max_batch_size, max_queue_delay_ms=args.max_queue_delay_ms,
        intra_op_threads=args.intra_op_threads, instances=args.instances,
        max_queue_size=args.max_queue_size, access_log=not args.no_access_log,
        fault_injection=args.fault_injection,
    )
    try:  # fail fast, with a clear message, before binding the port
        from .model import resolve_model_file

        resolve_model_file(settings.model_path)
    except ModelLoadError as exc:
        logging.getLogger("radstream_model_server").error(str(exc))
        return 2
    app = create_app(settings)
    config = uvicorn.Config(app, host=args.host, port=args.port, log_config=None,
                            log_level=args.log_level, access_log=False, lifespan="on",
                            timeout_keep_alive=30)
    server = uvicorn.Server(config)
    server.run()
    return 0 if server.started else 1


if __name__ == "__main__":
    sys.exit(main())
