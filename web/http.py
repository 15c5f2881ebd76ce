"""Small request-side helpers shared by the blueprints."""

from __future__ import annotations

from typing import cast

from flask import Flask, request
from flask_login import current_user
from werkzeug.routing import IntegerConverter

from web.services.audit import ClientInfo
from web.services.identity import SessionUser

MAX_ID = 2**31 - 1


class IdConverter(IntegerConverter):
    """Positive ids that fit the database's integer column; anything else is simply not found."""

    def __init__(self, map, *args, **kwargs):  # type: ignore[no-untyped-def]
        super().__init__(map, min=1, max=MAX_ID)


def register_converters(app: Flask) -> None:
    app.url_map.converters["id"] = IdConverter


def client_info() -> ClientInfo:
    return ClientInfo(ip=request.remote_addr, user_agent=request.user_agent.string or None)


def signed_in_user() -> SessionUser:
    """The current user inside a ``login_required`` view."""
    return cast(SessionUser, current_user._get_current_object())
