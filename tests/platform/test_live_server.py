"""The test servers close every response body, even when the client resets the connection."""

from __future__ import annotations

import socket
import struct
import time
from urllib.parse import urlsplit

import pytest
from flask import Flask

from tests.support.live_server import serve_in_thread
from tests.support.stacks import SQLITE_SQL


def _send_and_reset(url: str, path: str) -> None:
    """Send a request, and reset the connection (RST, not FIN) as soon as the answer begins.

    The server is then draining the socket for leftover request bytes, and that read fails.
    """
    address = urlsplit(url)
    with socket.create_connection((address.hostname, address.port), timeout=5) as client:
        client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        client.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        client.recv(1)


# The harness, not the stores, is under test: one stack is enough.
@pytest.mark.parametrize("stack", [SQLITE_SQL], indirect=True)
def test_a_static_file_is_closed_when_the_browser_resets_the_connection(app: Flask) -> None:
    # Werkzeug alone skips ``close`` here (its drain of the reset socket raises first); the file
    # handle then reaches the garbage collector open and, with warnings as errors, the
    # ResourceWarning fails this test.
    with serve_in_thread(app, quiet=True) as url:
        for _ in range(20):
            _send_and_reset(url, "/static/favicon.svg")
        time.sleep(0.3)  # the server threads finish their requests
