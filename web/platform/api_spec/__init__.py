"""The OpenAPI description of the JSON API, served at ``GET /api/openapi.json``."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, current_app

from web.platform.api_spec.builder import build_openapi, undocumented_rules
from web.platform.api_spec.registry import Operation, api_operation, operation_of

__all__ = [
    "Operation",
    "api_operation",
    "bp",
    "build_openapi",
    "openapi_document",
    "operation_of",
    "undocumented_rules",
]

bp = Blueprint("api_spec", __name__)
EXTENSION_KEY = "dealdesk_openapi"


def openapi_document(app: Flask) -> dict[str, Any]:
    """Built once per app, on first use, when every blueprint is registered."""
    document = app.extensions.get(EXTENSION_KEY)
    if document is None:
        document = app.extensions[EXTENSION_KEY] = build_openapi(app)
    return document


@bp.get("/api/openapi.json")
@api_operation(
    "This description",
    responses={200: {"type": "object", "description": "An OpenAPI 3.1 document."}},
    auth=False,
    tags=("meta",),
)
def openapi_json() -> dict[str, Any]:
    return openapi_document(current_app._get_current_object())  # type: ignore[attr-defined]
