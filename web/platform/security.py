"""Response headers, trusted proxies and input hygiene (threat model: docs/SECURITY.md)."""

from __future__ import annotations

import json
import re
from itertools import accumulate
from typing import Any

from flask import Flask, Response, current_app, request
from werkzeug.exceptions import NotFound
from werkzeug.middleware.proxy_fix import ProxyFix

from web.errors import APIError

# No inline script or style anywhere: the pages use only files under /static.
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}
HSTS_VALUE = "max-age=31536000; includeSubDomains"
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
UNSTORABLE_MESSAGE = "Must not contain NUL characters or unpaired surrogates."
FORM_MIMETYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
# A JSON string, to its closing quote or to the end when there is none. Possessive, so any input
# is scanned in one linear pass.
_JSON_STRING = re.compile(r'"(?:[^"\\]++|\\.?)*+"?', re.DOTALL)
_NOT_A_BRACKET = re.compile(r"[^\[\]{}]++")
_NESTING_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}


def security_headers(app: Flask) -> dict[str, str]:
    """The headers every response gets under this app's configuration."""
    headers = dict(SECURITY_HEADERS)
    if app.config["APP_ENV"] == "production":
        headers["Strict-Transport-Security"] = HSTS_VALUE
    return headers


def install_security_headers(app: Flask) -> None:
    """Add the headers in ``after_request``: it also runs for error pages, 404s, 503s and static files."""
    headers = [(name.lower(), name, value) for name, value in security_headers(app).items()]

    def add_security_headers(response: Response) -> Response:
        # What ``headers.setdefault`` does, without its cost: each miss of werkzeug's Headers lookup
        # builds an exception, and this runs for every response.
        present = {name.lower() for name, _value in response.headers}
        for key, name, value in headers:
            if key not in present:
                response.headers.add(name, value)
        return response

    app.after_request(add_security_headers)


def install_proxy_fix(app: Flask) -> None:
    """Trust exactly ``TRUSTED_PROXIES`` hops of X-Forwarded-For/-Proto/-Host, and none by default.

    With 0 the headers are ignored, so ``request.remote_addr`` (audit events, the
    session index, sign-in throttling) is the peer address and cannot be spoofed.
    """
    hops = int(app.config["TRUSTED_PROXIES"])
    if hops > 0:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)  # type: ignore[method-assign]


def unstorable_text(value: Any, path: str = "") -> dict[str, str]:
    """Where a decoded JSON value holds text no database can store: NUL characters (PostgreSQL
    refuses them) or unpaired surrogates (not UTF-8). Maps each field path to the problem."""
    if isinstance(value, str):
        return {path or "body": UNSTORABLE_MESSAGE} if _UNSTORABLE.search(value) else {}
    problems: dict[str, str] = {}
    if isinstance(value, dict):
        for key, item in value.items():
            problems.update(
                unstorable_text(key, path or "body") or unstorable_text(item, f"{path}.{key}" if path else str(key))
            )
    elif isinstance(value, list):
        for index, item in enumerate(value):
            problems.update(unstorable_text(item, f"{path}.{index}" if path else str(index)))
    return problems


def json_nesting_exceeds(text: str, limit: int) -> bool:
    """Whether the JSON text opens more than ``limit`` arrays or objects inside one another.

    Counted without parsing or recursing, from the brackets outside strings, in C-speed
    passes (a megabyte of brackets takes about 0.1 s). Up to the point where a parser
    would find the text invalid, this is the depth the parser reaches, so a text it
    passes can be parsed without a ``RecursionError``.
    """
    if text.count("[") + text.count("{") <= limit:
        return False
    brackets = _NOT_A_BRACKET.sub("", _JSON_STRING.sub("", text))
    return max(accumulate(map(_NESTING_STEP.__getitem__, brackets)), default=0) > limit


def reject_too_deep_json() -> None:
    """Refuse a JSON body nested deeper than ``MAX_JSON_DEPTH`` (400), before anything parses it.

    Python's JSON parser recurses once per level: 1,000 levels raised ``RecursionError``,
    a 500 with a traceback on every route. The body is decoded the way ``json.loads``
    decodes bytes; one that does not decode is left for the parser to refuse.
    """
    if not request.is_json:
        return
    data = request.get_data(cache=True)
    try:
        text = data.decode(json.detect_encoding(data), "surrogatepass")
    except UnicodeDecodeError:
        return
    limit = int(current_app.config["MAX_JSON_DEPTH"])
    if json_nesting_exceeds(text, limit):
        raise APIError(400, "bad_request", f"The request body must not nest arrays or objects more than {limit} deep.")


def reject_unstorable_input() -> None:
    """``before_request``: refuse NUL characters in any input before it can reach SQL.

    Found by the fuzz run: psycopg2 raises ``ValueError`` for a string with NUL, so a
    sign-in, a deal name or a filter holding one was a 500 on PostgreSQL. A path value
    with one names nothing (404); a query value or a JSON field is a 422 naming the
    field; a form value is a 400. A JSON body nested too deep is a 400 first.
    """
    reject_too_deep_json()
    if request.view_args and any(
        isinstance(value, str) and _UNSTORABLE.search(value) for value in request.view_args.values()
    ):
        raise NotFound()
    fields = {name: UNSTORABLE_MESSAGE for name, value in request.args.items(multi=True) if _UNSTORABLE.search(value)}
    if request.is_json:
        fields.update(unstorable_text(request.get_json(silent=True)))
    if fields:
        raise APIError(422, "validation_error", "The request has invalid fields.", fields=fields)
    posts_form = request.method in ("POST", "PUT", "PATCH", "DELETE") and request.mimetype in FORM_MIMETYPES
    if posts_form and any(_UNSTORABLE.search(value) for _name, value in request.form.items(multi=True)):
        raise APIError(400, "bad_request", UNSTORABLE_MESSAGE)


def register_security(app: Flask) -> None:
    """Headers, proxies and input hygiene, as one step of the app factory (key rotation is in
    ``web.config.csrf_key_config``)."""
    install_security_headers(app)
    install_proxy_fix(app)
    app.before_request(reject_unstorable_input)
