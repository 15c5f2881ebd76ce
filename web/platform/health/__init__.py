"""``GET /api/health/session``: is this instance able to serve sessions? For load balancers and operators."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify

from web.platform.api_spec import api_operation
from web.platform.health.checks import close_health_connections, health_document, health_engine

__all__ = ["SESSIONLESS_PATHS", "bp", "close_health_connections", "health_document", "health_engine"]

bp = Blueprint("health", __name__, url_prefix="/api/health")

# Paths that never load, touch or create a session, cookie or not (see MergingSessionInterface).
SESSIONLESS_PATHS = frozenset({"/api/health/session", "/metrics"})


HEALTH_DOCUMENT = {
    "type": "object",
    "required": ["status", "backend", "checks", "version"],
    "properties": {
        "status": {"enum": ["healthy", "degraded", "unhealthy"]},
        "backend": {"type": "string"},
        "checks": {"type": "object"},
        "version": {"type": "string"},
    },
}


@bp.get("/session")
@api_operation(
    "Can this instance serve sessions? For load balancers: no session, no sign-in",
    responses={200: HEALTH_DOCUMENT, 503: HEALTH_DOCUMENT},
    auth=False,
    tags=("operations",),
)
def session_health() -> Response:
    """No authentication, no session, nothing secret; 200 healthy or degraded, 503 unhealthy."""
    document, status = health_document(current_app._get_current_object())  # type: ignore[attr-defined]
    response = jsonify(document)
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    return response
