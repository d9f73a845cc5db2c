"""The emulator's HTTP server: keep-alive connections served by a pool of reused threads.

moto's own server is werkzeug's development server, which closes every connection after one
response (werkzeug 3 always sends ``Connection: close``) and starts a thread per connection: every
AWS call then pays a TCP handshake and a thread start. Measured here, one HeadObject cost the
emulator 1.2-1.8 ms of CPU that way and 0.6-0.9 ms on cheroot (CherryPy's WSGI server), which keeps
connections open and hands requests to pooled worker threads.

The pool grows whenever more requests wait than workers are idle: a request can block for long (an S3 upload whose
notification runs the upload trigger synchronously, and that Lambda's own calls back into the
emulator; ``executions/wait``), so a fixed-size pool could deadlock on itself. Threads are
reused, never retired.

moto expects the WSGI environ werkzeug's server builds; the one difference that matters is the
original spelling of S3 user-metadata headers with underscores, which ``moto_patches`` restores.
"""

from __future__ import annotations

import threading

from cheroot import wsgi
from cheroot.workers.threadpool import ThreadPool

MIN_THREADS = 32


class _GrowingPool(ThreadPool):
    def put(self, connection) -> None:
        super().put(connection)
        shortfall = self.qsize - self.idle  # requests queued beyond the workers free to take them
        if shortfall > 0:
            self.grow(shortfall)


def _gateway(preserve_header_names):
    class Gateway(wsgi.Gateway_10):
        def get_environ(self):
            environ = super().get_environ()
            preserve_header_names(environ, [name.decode("latin-1") for name in self.req.inheaders])
            return environ

    return Gateway


class EmulatorHTTPServer:
    """``start()`` serves ``app`` on (host, port) in background threads; ``stop()`` ends it."""

    def __init__(self, host: str, port: int, app, preserve_header_names, min_threads: int = MIN_THREADS) -> None:
        self._server = wsgi.Server((host, port), app, numthreads=min_threads, max=-1,
                                   request_queue_size=128, timeout=60, shutdown_timeout=5)
        self._server.gateway = _gateway(preserve_header_names)
        self._server.requests = _GrowingPool(self._server, min=min_threads, max=-1)
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._server.prepare()  # binds now: a taken port fails here, in the caller
        self._thread = threading.Thread(target=self._server.serve, daemon=True, name="emulator-http")
        self._thread.start()

    def stop(self) -> None:
        self._server.stop()
