"""The Starlette application: Open Inference Protocol (KServe v2 REST) endpoints.

    GET  /v2/health/live            200 {"live": true}
    GET  /v2/health/ready           200 {"ready": true} once the model is loaded, else 503
    GET  /v2                        server metadata {"name","version","extensions"}
    GET  /v2/models/{name}[/versions/{v}]           model metadata
    GET  /v2/models/{name}[/versions/{v}]/ready     200 {"name","ready": true}
    POST /v2/models/{name}[/versions/{v}]/infer     inference (JSON or binary tensor extension)
    GET  /metrics                   Prometheus text format
    GET|POST|DELETE /_faults        fault injection, only when started with --fault-injection (the
                                    embedded stack's model server): {"mode": "slow", "seconds": S}
                                    answers inference S seconds late, {"mode": "status", "status": 500|503}
                                    answers it with that error; DELETE clears

Errors: ``{"error": "..."}`` with 400 (bad request: shape, datatype, JSON), 404 (unknown
model/version/route), 405, 413, 415, 500 (model failure) or 503 (not ready, or more than
``max_queue_size`` requests waiting; sent with ``Retry-After``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from . import __version__
from .batcher import DynamicBatcher
from .errors import ModelExecutionError, ProtocolError, QueueFullError
from .metrics import Metrics
from .model import OnnxModel
from .protocol import encode_infer_response, parse_infer_request

log = logging.getLogger("radstream_model_server.app")
SERVER_NAME = "radstream-model-server"
EXTENSIONS = ["binary_tensor_data"]


@dataclass
class Settings:
    model_path: str | None = None
    model_name: str | None = None
    model_version: str | None = None
    max_batch_size: int = 8
    max_queue_delay_ms: float = 5.0
    intra_op_threads: int = 0
    instances: int = 1
    max_queue_size: int = 0
    max_request_bytes: int = 64 * 1024 * 1024
    access_log: bool = True
    fault_injection: bool = False


def error(message: str, status: int) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


class Server:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.metrics = Metrics()
        self.model: OnnxModel | None = None
        self.batcher: DynamicBatcher | None = None
        self.ready = False
        self.fault: dict | None = None  # an injected fault (only with settings.fault_injection)

    # ---- lifecycle -------------------------------------------------------------------
    @contextlib.asynccontextmanager
    async def lifespan(self, app):
        s = self.settings
        self.model = OnnxModel(s.model_path, name=s.model_name, version=s.model_version,
                               intra_op_threads=s.intra_op_threads)
        self.batcher = DynamicBatcher(self.model, max_batch_size=s.max_batch_size,
                                      max_queue_delay_ms=s.max_queue_delay_ms, metrics=self.metrics,
                                      instances=s.instances, max_queue_size=s.max_queue_size)
        await self.batcher.start()
        try:  # warm-up: the first ONNX Runtime call allocates
            await self.batcher._run(self.model.example_input())
        except Exception as exc:  # a model that rejects zeros is still servable
            log.warning("warm-up inference failed", extra={"fields": {"error": str(exc)}})
        self.ready = True
        log.info("server ready", extra={"fields": {
            "model": self.model.name, "version": self.model.version, "stub": self.model.stub,
            "batching": self.batcher.enabled, "max_batch_size": self.batcher.max_batch_size,
            "max_queue_delay_ms": s.max_queue_delay_ms, "instances": s.instances}})
        try:
            yield
        finally:
            self.ready = False
            await self.batcher.stop()

    # ---- helpers ---------------------------------------------------------------------
    def _find_model(self, request: Request) -> OnnxModel:
        name = request.path_params["name"]
        version = request.path_params.get("version")
        m = self.model
        if m is None or not self.ready:
            raise ProtocolError("model server is starting; the model is not loaded yet", 503)
        if name != m.name:
            raise ProtocolError(f"unknown model '{name}'; this server serves '{m.name}'", 404)
        if version is not None and version != m.version:
            raise ProtocolError(
                f"unknown version '{version}' of model '{name}'; available versions: ['{m.version}']", 404)
        return m

    # ---- endpoints -------------------------------------------------------------------
    async def live(self, request: Request) -> Response:
        return JSONResponse({"live": True})

    async def ready_(self, request: Request) -> Response:
        if self.ready:
            return JSONResponse({"ready": True})
        return JSONResponse({"ready": False, "error": "model not loaded yet"}, status_code=503)

    async def server_metadata(self, request: Request) -> Response:
        return JSONResponse({"name": SERVER_NAME, "version": __version__, "extensions": EXTENSIONS})

    async def model_metadata(self, request: Request) -> Response:
        try:
            m = self._find_model(request)
        except ProtocolError as exc:
            return error(exc.message, exc.status)
        return JSONResponse(m.metadata(self.batcher.max_batch_size if self.batcher.enabled else 1))

    async def model_ready(self, request: Request) -> Response:
        try:
            m = self._find_model(request)
        except ProtocolError as exc:
            return error(exc.message, exc.status)
        return JSONResponse({"name": m.name, "ready": True})

    async def infer(self, request: Request) -> Response:
        t0 = time.perf_counter()
        name = request.path_params["name"]
        status, req_id, version = 200, None, request.path_params.get("version") or ""
        model_label = name if self.model is not None and name == self.model.name else "_unknown"
        self.metrics.in_flight.labels(model_label).inc()
        try:
            clen = request.headers.get("content-length")
            if clen and clen.isdigit() and int(clen) > self.settings.max_request_bytes:
                raise ProtocolError(f"request body of {clen} bytes exceeds the limit of "
                                    f"{self.settings.max_request_bytes}", 413)
            # Read the body before any other check: answering early and closing the connection
            # while the client is still sending makes it see a broken pipe instead of our error.
            body = await request.body()
            if self.fault is not None:
                await self._injected(self.fault)
            m = self._find_model(request)
            version = m.version
            req = parse_infer_request(body, request.headers)
            req_id = req.id
            try:
                m.validate_inputs(req.inputs, req.input_datatypes)
            except ValueError as exc:
                raise ProtocolError(str(exc), 400) from None
            if req.outputs is not None:
                unknown = [o.name for o in req.outputs if o.name not in m.output_names]
                if unknown:
                    raise ProtocolError(f"unknown output(s) {unknown}; model '{m.name}' has {m.output_names}")
                wanted = [(o.name, o.binary if o.binary is not None else req.binary_data_output)
                          for o in req.outputs]
            else:
                wanted = [(n, req.binary_data_output) for n in m.output_names]
            try:
                results = await self.batcher.infer(req.inputs)
            except ModelExecutionError as exc:
                raise ProtocolError(str(exc), 500) from None
            except QueueFullError as exc:
                raise ProtocolError(str(exc), 503) from None
            body_out, headers = encode_infer_response(
                model_name=m.name, model_version=m.version, request_id=req.id,
                outputs=[(n, results[n], b) for n, b in wanted],
                parameters={"stub": True} if m.stub else None,
            )
            return Response(body_out, status_code=200, headers=headers)
        except ProtocolError as exc:
            status = exc.status
            resp = error(exc.message, status)
            if req_id is not None:
                resp = JSONResponse({"error": exc.message, "id": req_id}, status_code=status)
            if status == 503:
                resp.headers["Retry-After"] = "1"
            return resp
        except Exception as exc:  # pragma: no cover - last resort, still a protocol-shaped answer
            status = 500
            log.exception("inference failed")
            return error(f"internal error: {exc}", 500)
        finally:
            dt = time.perf_counter() - t0
            self.metrics.in_flight.labels(model_label).dec()
            self.metrics.requests.labels(model_label, version, str(status)).inc()
            self.metrics.request_seconds.labels(model_label).observe(dt)
            if self.settings.access_log or status >= 500:
                log.log(logging.ERROR if status >= 500 else logging.INFO, "infer", extra={"fields": {
                    "model": name, "version": version, "status": status, "id": req_id,
                    "duration_ms": round(dt * 1000, 3)}})

    async def _injected(self, fault: dict) -> None:
        if fault["mode"] == "slow":
            await asyncio.sleep(fault["seconds"])
        elif fault["mode"] == "status":
            raise ProtocolError(f"injected fault: answering {fault['status']}", fault["status"])

    async def faults(self, request: Request) -> Response:
        if request.method == "DELETE":
            self.fault = None
        elif request.method == "POST":
            try:
                wanted = await request.json()
                mode = wanted["mode"]
                if mode == "slow":
                    fault = {"mode": mode, "seconds": float(wanted["seconds"])}
                elif mode == "status" and int(wanted["status"]) in (500, 502, 503, 504):
                    fault = {"mode": mode, "status": int(wanted["status"])}
                else:
                    raise ValueError(mode)
            except (ValueError, KeyError, TypeError):
                return error('a fault is {"mode": "slow", "seconds": S} or {"mode": "status", "status": 500|503}', 400)
            self.fault = fault
        log.warning("fault injection", extra={"fields": {"fault": self.fault}})
        return JSONResponse({"fault": self.fault})

    async def metrics_endpoint(self, request: Request) -> Response:
        return Response(generate_latest(self.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    # ---- app -------------------------------------------------------------------------
    def app(self) -> Starlette:
        infer_routes = []
        for prefix in ("/v2/models/{name}", "/v2/models/{name}/versions/{version}"):
            infer_routes += [
                Route(prefix, self.model_metadata, methods=["GET"]),
                Route(prefix + "/ready", self.model_ready, methods=["GET"]),
                Route(prefix + "/infer", self.infer, methods=["POST"]),
            ]
        routes = [
            Route("/v2/health/live", self.live, methods=["GET"]),
            Route("/v2/health/ready", self.ready_, methods=["GET"]),
            Route("/v2", self.server_metadata, methods=["GET"]),
            *infer_routes,
            Route("/metrics", self.metrics_endpoint, methods=["GET"]),
        ]
        if self.settings.fault_injection:
            routes.append(Route("/_faults", self.faults, methods=["GET", "POST", "DELETE"]))

        async def http_error(request: Request, exc: HTTPException) -> Response:
            msg = {404: f"no such endpoint: {request.method} {request.url.path}",
                   405: f"method {request.method} not allowed on {request.url.path}"}.get(exc.status_code, exc.detail)
            return error(msg, exc.status_code)

        async def server_error(request: Request, exc: Exception) -> Response:
            log.exception("unhandled error")
            return error(f"internal error: {exc}", 500)

        app = Starlette(routes=routes, lifespan=self.lifespan,
                        exception_handlers={HTTPException: http_error, 500: server_error})
        app.state.server = self
        return app


def create_app(settings: Settings | None = None) -> Starlette:
    return Server(settings or Settings()).app()
