"""One error shape: ``{"error": {"code", "message", ...}}`` under /api, an HTML page elsewhere."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, jsonify, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)

HTTP_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
    500: "internal_error",
    503: "service_unavailable",
}


class APIError(Exception):
    """An error the client should see, with its HTTP status and a stable code."""

    def __init__(self, status: int, code: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.extra = extra


def wants_json() -> bool:
    return request.path.startswith("/api/") or request.path == "/api"


def error_response(status: int, code: str, message: str, **extra: Any) -> Response | tuple[str, int]:
    if wants_json():
        response = jsonify(error={"code": code, "message": message, **extra})
        response.status_code = status
        return response
    return render_template("error.html", status=status, message=message), status


def handle_api_error(error: APIError) -> Response | tuple[str, int]:
    return error_response(error.status, error.code, error.message, **error.extra)


def handle_csrf_error(error: CSRFError) -> Response | tuple[str, int]:
    return error_response(400, "csrf_failed", error.description or "The CSRF token is missing or invalid.")


def handle_http_exception(error: HTTPException) -> Response | tuple[str, int]:
    status = error.code or 500
    response = error_response(status, HTTP_CODES.get(status, "http_error"), error.description or error.name)
    if isinstance(response, Response):
        for header, value in error.get_headers():
            if header.lower() not in ("content-type", "content-length"):
                response.headers[header] = value
    return response


def handle_unexpected_error(error: Exception) -> Response | tuple[str, int]:
    from web.extensions import db

    db.session.rollback()
    log.exception("unhandled error on %s %s", request.method, request.path)
    return error_response(500, "internal_error", "Something went wrong on our side.")


def register_error_handlers(app: Flask) -> None:
    app.register_error_handler(APIError, handle_api_error)
    app.register_error_handler(CSRFError, handle_csrf_error)
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_error_handler(Exception, handle_unexpected_error)
