"""Request ids on responses and log lines; JSON log lines; gunicorn's access line without request headers."""

from __future__ import annotations

import json
import logging
import re

import pytest
from flask import current_app

from tests.support.stacks import SQLITE_SQL
from web.platform.logging_setup import JsonFormatter, RequestIdFilter

ONE_STACK = pytest.mark.parametrize("stack", [SQLITE_SQL], indirect=True)


@ONE_STACK
def test_every_response_carries_a_fresh_request_id(app):
    client = app.test_client()
    ids = [client.get(path).headers.get("X-Request-ID") for path in ("/api/health/session", "/api/me", "/nowhere")]
    assert all(request_id and re.fullmatch(r"[0-9a-f]{32}", request_id) for request_id in ids), ids
    assert len(set(ids)) == 3


@ONE_STACK
def test_a_sane_incoming_request_id_is_kept_and_a_strange_one_replaced(app):
    client = app.test_client()
    kept = client.get("/api/health/session", headers={"X-Request-ID": "lb-7f3a.42:1"})
    assert kept.headers["X-Request-ID"] == "lb-7f3a.42:1"
    for strange in ("has spaces", "x" * 129, "<script>"):
        replaced = client.get("/api/health/session", headers={"X-Request-ID": strange})
        assert re.fullmatch(r"[0-9a-f]{32}", replaced.headers["X-Request-ID"])


@ONE_STACK
def test_log_lines_written_during_a_request_carry_its_id(app):
    formatter, stamp = JsonFormatter(), RequestIdFilter()
    lines: list[str] = []

    class Capture(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            stamp.filter(record)
            lines.append(formatter.format(record))

    @app.get("/api/log-for-test")
    def log_for_test():  # type: ignore[no-untyped-def]
        current_app.logger.info("hello %s", "world")
        return {}

    handler = Capture()
    app.logger.addHandler(handler)
    try:
        app.test_client().get("/api/log-for-test", headers={"X-Request-ID": "trace-123"})
    finally:
        app.logger.removeHandler(handler)
    document = json.loads(lines[-1])
    assert document["request_id"] == "trace-123"
    assert document["message"] == "hello world"
    assert {"time", "level", "logger"} <= set(document)


def test_gunicorn_access_line_has_the_request_id_and_no_request_headers():
    atoms = {
        "h": "10.0.0.7",
        "m": "GET",
        "U": "/api/deals/current",
        "s": "200",
        "B": 231,
        "M": 4,
        "a": "curl/8",
        "{x-request-id}o": "abc123",
        "{cookie}i": "dealdesk_session=secret-session-id",
        "{authorization}i": "Bearer secret-token",
    }
    record = logging.LogRecord("gunicorn.access", logging.INFO, __file__, 1, '%(h)s "%(r)s"', (atoms,), None)
    RequestIdFilter().filter(record)
    line = JsonFormatter().format(record)
    document = json.loads(line)
    assert document["request_id"] == "abc123"
    assert (document["method"], document["path"], document["status"]) == ("GET", "/api/deals/current", "200")
    assert "secret" not in line
