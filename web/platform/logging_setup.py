"""One logging configuration, to stdout: JSON lines with a request id on every line.

The request id comes from the client's (or the load balancer's) ``X-Request-ID``
when it looks sane, else a new one; it is returned as ``X-Request-ID``, stamped
on every log line written while the request runs, and on gunicorn's access line
(gunicorn.conf.py uses ``JsonFormatter`` and ``gunicorn_logconfig`` from here).
``LOG_FORMAT=text`` gives plain lines for a developer's terminal.
"""

from __future__ import annotations

import json
import logging
import logging.config
import re
import uuid
from datetime import UTC, datetime
from typing import Any

from flask import Flask, Response, g, has_request_context, request

REQUEST_ID_HEADER = "X-Request-ID"
_SANE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s]: %(message)s"

# The gunicorn access-log atoms we keep (never all of them: they include request headers such as Cookie).
ACCESS_FIELDS = {
    "h": "remote_addr",
    "m": "method",
    "U": "path",
    "s": "status",
    "B": "bytes",
    "M": "duration_ms",
    "a": "user_agent",
    "{x-request-id}o": "request_id",
}


def current_request_id() -> str | None:
    """This request's id (taken from ``X-Request-ID`` or made up), or None outside a request."""
    if not has_request_context():
        return None
    request_id = g.get("request_id")
    if request_id is None:
        request_id = g.request_id = request_id_from(request.headers.get(REQUEST_ID_HEADER, ""))
    return request_id


def request_id_from(incoming: str) -> str:
    """The caller's ``X-Request-ID`` when it is sane, else a new one."""
    return incoming if _SANE_REQUEST_ID.match(incoming) else uuid.uuid4().hex


class RequestIdFilter(logging.Filter):
    """Stamps ``record.request_id`` ("-" outside a request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None):
            return True
        if record.name == "gunicorn.access" and isinstance(record.args, dict):
            # Written after the response, outside the request: the id is the response's header.
            record.request_id = record.args.get("{x-request-id}o", "-")
        else:
            record.request_id = current_request_id() or "-"
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line; gunicorn's access records become fields, not a formatted string."""

    def format(self, record: logging.LogRecord) -> str:
        document: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "request_id": getattr(record, "request_id", None) or "-",
        }
        if record.name == "gunicorn.access" and isinstance(record.args, dict):
            atoms = record.args
            document.update({field: atoms.get(atom, "-") for atom, field in ACCESS_FIELDS.items()})
            document["message"] = f"{document['method']} {document['path']} {document['status']}"
        else:
            document["message"] = record.getMessage()
        if record.exc_info:
            document["exception"] = self.formatException(record.exc_info)
        return json.dumps(document, default=str)


def logging_dict(level: str, log_format: str) -> dict[str, Any]:
    formatter = {"()": JsonFormatter} if log_format == "json" else {"format": TEXT_FORMAT}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_id": {"()": RequestIdFilter}},
        "formatters": {"default": formatter},
        "handlers": {
            "stdout": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stdout",
                "formatter": "default",
                "filters": ["request_id"],
            }
        },
        "loggers": {
            "web": {"level": level, "handlers": ["stdout"], "propagate": False},
            "apscheduler": {"level": "WARNING", "handlers": ["stdout"], "propagate": False},
        },
    }


def gunicorn_logconfig(log_format: str) -> dict[str, Any]:
    """gunicorn's own loggers (error and access) on the same stdout handler and format."""
    config = logging_dict("INFO", log_format)
    config["loggers"] = {
        "gunicorn.error": {"level": "INFO", "handlers": ["stdout"], "propagate": False},
        "gunicorn.access": {"level": "INFO", "handlers": ["stdout"], "propagate": False},
    }
    config["root"] = {"level": "WARNING", "handlers": ["stdout"]}
    return config


def configure_logging(app: Flask) -> None:
    level = "DEBUG" if app.debug else str(app.config["LOG_LEVEL"]).upper()
    logging.config.dictConfig(logging_dict(level, str(app.config["LOG_FORMAT"])))


def add_request_id_header(response: Response) -> Response:
    request_id = current_request_id()
    if request_id:
        response.headers[REQUEST_ID_HEADER] = request_id
    return response


def register_request_id(app: Flask) -> None:
    """Every response carries the request's id."""
    app.after_request(add_request_id_header)
