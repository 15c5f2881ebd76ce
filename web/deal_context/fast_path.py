"""The warm read of the current deal, answered before Flask dispatches the request.

``GET /api/deals/current`` is the request the deal context exists for: every open
page asks it, and for a warm session the answer is already in the session (the deal,
cached by ``web.deal_context.request``). Going through Flask costs several times the one
store read the answer needs (a dozen hooks, the login manager, routing, response
objects: docs/PERFORMANCE.md), so this WSGI middleware answers that one request
itself, from the same store, with the same body and headers, counted in the same
metrics. It answers only when nothing else would happen on the Flask path; otherwise
it hands the request to Flask untouched, and Flask does everything as before:

* another method or path, a query string, no or a malformed session cookie;
* the store cannot be read (Flask answers 503), the session is gone or undecodable;
* no signed-in user in the session (Flask answers 401);
* no deal context yet (the restore hook runs), or a cached deal past ``DEAL_CACHE_SECONDS``
  (Flask checks it again);
* the session is due to have its lifetime extended (Flask extends it and records "last seen").

``current_deal_fast_path_total{outcome}`` counts what it did with each such request
(``answered``, or why it went to Flask: ``no_session``, ``store_error``, ``signed_out``,
``no_context``, ``cache_due``, ``extension_due``). ``CURRENT_DEAL_FAST_PATH=0`` turns it
off; ``tests/deal_context/test_fast_path.py`` compares its answers with Flask's, byte for byte.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

import msgspec
from flask import Flask
from werkzeug.http import parse_cookie

from web.deal_context import request as deal_context
from web.deal_context.state import DealContext
from web.identity.session_user import user_from_session
from web.platform import metrics
from web.platform.logging_setup import REQUEST_ID_HEADER, request_id_from
from web.platform.security import security_headers
from web.platform.session_store.base import (
    NO_STORE,
    PRELOADED_SESSION_KEY,
    SIGNED_IN_KEY,
    MergingSessionInterface,
    PreloadedSession,
    changes_owed,
    report_store_recovered,
    valid_sid,
)

PATH = "/api/deals/current"
ANSWERED = "answered"

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


class CurrentDealFastPath:
    def __init__(self, app: Flask, wsgi_app: WSGIApp) -> None:
        self.app = app
        self.wsgi_app = wsgi_app
        self.interface: MergingSessionInterface = app.session_interface  # type: ignore[assignment]
        self.cookie_name = self.interface.get_cookie_name(app)
        self.cache_seconds = float(app.config["DEAL_CACHE_SECONDS"])
        self.endpoint = app.url_map.bind("localhost").match(PATH, "GET")[0]
        self.requests_counter = metrics.HTTP_REQUESTS.labels(endpoint=self.endpoint, method="GET", status="200")
        self.latency = metrics.HTTP_LATENCY.labels(endpoint=self.endpoint, method="GET")
        self.outcomes = {outcome: metrics.FAST_PATH.labels(outcome=outcome) for outcome in metrics.FAST_PATH_OUTCOMES}
        self.fixed_headers = [
            ("Content-Type", app.json.mimetype),  # type: ignore[attr-defined]
            *security_headers(app).items(),
            ("Vary", "Cookie"),
            ("Cache-Control", NO_STORE),  # a signed-in answer, as the session interface marks Flask's
        ]

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD") != "GET" or environ.get("PATH_INFO") != PATH or environ.get("QUERY_STRING"):
            return self.wsgi_app(environ, start_response)
        started = time.perf_counter()
        payload, outcome = self.cached_answer(environ)
        self.outcomes[outcome].inc()
        if payload is None:
            return self.wsgi_app(environ, start_response)
        body = self.app.json.dumps(payload, indent=None, separators=(",", ":")).encode() + b"\n"
        headers = [
            *self.fixed_headers,
            ("Content-Length", str(len(body))),
            (REQUEST_ID_HEADER, request_id_from(environ.get("HTTP_X_REQUEST_ID", ""))),
        ]
        environ.pop(PRELOADED_SESSION_KEY, None)
        start_response("200 OK", headers)
        metrics.AUTO_RESTORE_WARM.inc()
        self.requests_counter.inc()
        self.latency.observe(time.perf_counter() - started)
        return [body]

    def cached_answer(self, environ: dict[str, Any]) -> tuple[dict[str, Any] | None, str]:
        """The response body when the session alone can answer (else None: Flask answers), and why."""
        sid = parse_cookie(environ.get("HTTP_COOKIE", "")).get(self.cookie_name)
        if not sid or not valid_sid(sid):
            return None, "no_session"
        data, outcome = self.load(environ, sid)
        if data is None:
            return None, outcome
        user_id = data.get(SIGNED_IN_KEY)
        if not isinstance(user_id, str) or user_from_session(user_id, data) is None:
            return None, "signed_out"
        context = DealContext.in_session(data)
        if context is None:
            return None, "no_context"
        if context.deal_id is None:
            return {"current_deal": None}, ANSWERED
        cached = context.fresh_deal(deal_context.wall_clock(), self.cache_seconds)
        return (None, "cache_due") if cached is None else ({"current_deal": cached}, ANSWERED)

    def load(self, environ: dict[str, Any], sid: str) -> tuple[dict[str, Any] | None, str]:
        """The stored session, unless it cannot be read or is due to be extended (then None, and why).

        Whatever the read gave, a failure included, is left in the environ for Flask's
        ``open_session``: a request handed over never reads the store twice.
        """
        with self.app.app_context():  # the SQL store finds its engine through the app
            try:
                loaded = self.interface.load_from_store(self.interface.store_id_for_sid(sid))
            except self.interface.store_errors() as exc:
                environ[PRELOADED_SESSION_KEY] = PreloadedSession(sid, None, exc)
                return None, "store_error"  # Flask answers 503
        environ[PRELOADED_SESSION_KEY] = PreloadedSession(sid, loaded)
        report_store_recovered()
        if changes_owed():
            # The store may still owe this session a revocation or a rewrite: Flask settles it first.
            return None, "changes_owed"
        if loaded is None:
            return None, "no_session"
        raw, remaining = loaded
        if self.interface.extension_due(remaining):
            return None, "extension_due"
        try:
            return self.interface.serializer.decode(raw), ANSWERED
        except msgspec.DecodeError:
            return None, "no_session"


def install_fast_path(app: Flask) -> None:
    """Put the fast path in front of the app (after ProxyFix and every other WSGI wrapper)."""
    if app.config["CURRENT_DEAL_FAST_PATH"]:
        app.wsgi_app = CurrentDealFastPath(app, app.wsgi_app)  # type: ignore[method-assign]
