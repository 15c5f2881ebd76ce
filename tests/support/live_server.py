"""The app served over HTTP from a thread of the test process, on loopback and a spare port."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from flask import Flask
from werkzeug.serving import WSGIRequestHandler, make_server


class NoDelayHandler(WSGIRequestHandler):
    # Werkzeug writes the headers and the body separately; with Nagle's algorithm the body
    # then waits for the client's delayed ACK (40 ms on Linux) on every kept-alive request.
    disable_nagle_algorithm = True


class ClosedBodies:
    """WSGI middleware: the body is read and the app's iterable closed before the server sends a byte.

    Werkzeug's development server closes the iterable in a ``finally`` that first drains the
    socket; when the browser resets the connection (a context closed at the end of a test), that
    read raises and the ``close`` is skipped. A static file's handle then reaches the garbage
    collector open, and its ResourceWarning fails whichever test is running at that moment.
    No DealDesk response streams, so holding each body in memory changes nothing a test sees.
    """

    def __init__(self, app: Flask) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        body = self.app(environ, start_response)
        try:
            return [b"".join(body)]
        finally:
            close = getattr(body, "close", None)
            if close is not None:
                close()


@contextmanager
def serve_in_thread(app: Flask, name: str = "live-server", quiet: bool = False) -> Iterator[str]:
    """Serve ``app`` on a threaded server at 127.0.0.1; yields its base URL; stops it in ``finally``.

    Each request runs in its own server thread, as under gunicorn's threaded workers.
    ``quiet`` drops werkzeug's access line per request, noise for tests that send hundreds.
    """
    if quiet:
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = make_server("127.0.0.1", 0, ClosedBodies(app), threaded=True, request_handler=NoDelayHandler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, name=name, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
