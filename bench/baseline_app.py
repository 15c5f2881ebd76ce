"""The baselines DealDesk is measured against: bare Flask + Flask-Session 0.8, and a raw WSGI hello.

Same request shape as DealDesk's warm ``GET /api/deals/current``: a sign-in
endpoint stores a user id and a deal id in the server-side session, and the GET
reads them back and answers JSON. Nothing else: no database query, no CSRF.

Pick the variant with ``BASELINE_VARIANT`` (gunicorn ``'bench.baseline_app:create_app()'``):

* ``hello``            raw WSGI callable, no Flask: the ceiling of the server and load generator
* ``flask``            bare Flask, no session at all (the GET answers a constant)
* ``redis``            Flask-Session on Redis with its defaults (refresh on every request)
* ``redis-readonly``   the same with ``SESSION_REFRESH_EACH_REQUEST=False``
* ``sqlalchemy``       Flask-Session's SQLAlchemy backend on ``BASELINE_DATABASE_URL``
                       (PostgreSQL or SQLite), table ``baseline_sessions``

``BASELINE_REDIS_URL`` names the Redis server. Run ``python -m bench.baseline_app create-table``
once before starting several workers on the SQL variant: Flask-Session creates its table at
start-up, and two workers doing so at once race.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable
from typing import Any

VARIANTS = ("hello", "flask", "redis", "redis-readonly", "sqlalchemy")
SQL_TABLE = "baseline_sessions"


def hello_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    """The ceiling: the smallest WSGI answer, with a JSON body of similar size."""
    body = b'{"current_deal": null}\n'
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


def _session_config(variant: str) -> dict[str, Any]:
    if variant in ("redis", "redis-readonly"):
        import redis

        url = os.environ.get("BASELINE_REDIS_URL", "redis://127.0.0.1:6379/14")
        config: dict[str, Any] = {"SESSION_TYPE": "redis", "SESSION_REDIS": redis.Redis.from_url(url)}
        if variant == "redis-readonly":
            config["SESSION_REFRESH_EACH_REQUEST"] = False
        return config
    from flask_sqlalchemy import SQLAlchemy

    url = os.environ.get("BASELINE_DATABASE_URL", "sqlite:///instance/baseline.db")
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg2://" + url[len("postgresql://") :]
    return {
        "SESSION_TYPE": "sqlalchemy",
        "SESSION_SQLALCHEMY": SQLAlchemy(),
        "SESSION_SQLALCHEMY_TABLE": SQL_TABLE,
        "SQLALCHEMY_DATABASE_URI": url,
        "SQLALCHEMY_TRACK_MODIFICATIONS": False,
    }


def create_flask_app(variant: str) -> Any:
    """Bare Flask, with Flask-Session configured for ``variant`` unless it is ``flask``."""
    from flask import Flask, request, session

    app = Flask(__name__)
    app.config["SECRET_KEY"] = "baseline-bench-secret"
    if variant != "flask":
        from flask_session import Session

        config = _session_config(variant)
        sql = config.get("SESSION_SQLALCHEMY")
        app.config.update(config)
        if sql is not None:
            sql.init_app(app)
        Session(app)

    @app.post("/api/auth/login")
    def login() -> dict[str, Any]:
        body = request.get_json(silent=True) or {}
        session["user_id"] = int(body.get("user_id", 1))
        session["deal_id"] = int(body.get("deal_id", 1))
        return {"user_id": session["user_id"], "deal_id": session["deal_id"]}

    @app.get("/api/deals/current")
    def current() -> Any:
        if variant == "flask":
            return {"current_deal": {"id": 1}, "user_id": 1}
        if "user_id" not in session:
            return {"error": {"code": "unauthenticated"}}, 401
        return {"current_deal": {"id": session["deal_id"]}, "user_id": session["user_id"]}

    return app


def create_app(variant: str | None = None) -> Any:
    """The WSGI callable for ``variant`` (default: ``BASELINE_VARIANT``)."""
    variant = variant or os.environ.get("BASELINE_VARIANT", "redis")
    if variant not in VARIANTS:
        raise SystemExit(f"BASELINE_VARIANT must be one of {', '.join(VARIANTS)}, got {variant!r}")
    if variant == "hello":
        return hello_app
    return create_flask_app(variant)


def create_table() -> None:
    """Create the SQL variant's table once (creating the app does it), then let go of the engine."""
    app = create_app("sqlalchemy")
    with app.app_context():
        app.config["SESSION_SQLALCHEMY"].engine.dispose()


if __name__ == "__main__":
    if sys.argv[1:] == ["create-table"]:
        create_table()
    else:
        raise SystemExit("usage: python -m bench.baseline_app create-table")
