"""A model server that has become slow: an HTTP proxy in front of the real one that holds every POST
(an inference) for ``delay_s`` before passing it on. Deploying ``ModelEndpoint`` at it makes a
deliberately slow run without touching the pipeline."""

from __future__ import annotations

import contextlib
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@contextlib.contextmanager
def slow_proxy(upstream: str, delay_s: float):
    """Yields the proxy's URL (127.0.0.1, a free port)."""

    class Handler(BaseHTTPRequestHandler):
        def _forward(self, body: bytes | None) -> None:
            request = urllib.request.Request(upstream.rstrip("/") + self.path, data=body, method=self.command,
                                             headers={k: v for k, v in self.headers.items()
                                                      if k.lower() in ("content-type", "inference-header-content-length")})
            try:
                with urllib.request.urlopen(request, timeout=60) as response:
                    status, headers, payload = response.status, response.headers, response.read()
            except urllib.error.HTTPError as exc:
                status, headers, payload = exc.code, exc.headers, exc.read()
            self.send_response(status)
            for key, value in headers.items():
                if key.lower() not in ("transfer-encoding", "connection", "content-length"):
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def do_GET(self) -> None:  # noqa: N802 - health checks pass at once
            self._forward(None)

        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            time.sleep(delay_s)
            self._forward(body)

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
