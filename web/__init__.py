"""DealDesk: deals with a persistent working-deal context."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask

from web.config import build_config

__all__ = ["create_app"]

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app from the environment, with ``config`` overriding it (tests pass one)."""
    app = Flask(__name__, instance_relative_config=False)
    app.config.from_mapping(build_config(config))
    register_logging(app)
    register_extensions(app)
    register_blueprints(app)
    register_request_hooks(app)
    register_security(app)
    register_operations(app)
    register_error_handlers(app)
    register_cli(app)
    register_fast_path(app)
    return app


def register_logging(app: Flask) -> None:
    from web.logging_setup import configure_logging, register_request_id

    configure_logging(app)
    register_request_id(app)


def register_extensions(app: Flask) -> None:
    from web.db import configure_engine
    from web.extensions import csrf, db, login_manager, migrate, server_sessions
    from web.http import register_converters
    from web.login import configure_login
    from web.services.auth import configure_password_hashing

    register_converters(app)
    db.init_app(app)
    configure_engine(app)
    migrate.init_app(app, db, directory=str(MIGRATIONS_DIR))
    server_sessions.init_app(app)
    csrf.init_app(app)
    login_manager.init_app(app)
    configure_login(login_manager)
    configure_password_hashing(cheap=app.config["APP_ENV"] == "test")


def register_blueprints(app: Flask) -> None:
    from web import auth, deals, notes, pages

    app.register_blueprint(auth.bp)
    app.register_blueprint(deals.bp)
    app.register_blueprint(notes.bp)
    app.register_blueprint(pages.bp)
    register_accounts(app)
    register_audit(app)
    register_api_spec(app)


def register_accounts(app: Flask) -> None:
    """The sessions and accounts APIs, and sign-in throttling (which wraps views registered above)."""
    from web import accounts, user_sessions
    from web.accounts.throttle import init_signin_throttle

    app.register_blueprint(user_sessions.bp)
    app.register_blueprint(accounts.bp)
    init_signin_throttle(app)


def register_audit(app: Flask) -> None:
    from web import audit

    app.register_blueprint(audit.bp)


def register_api_spec(app: Flask) -> None:
    from web import api_spec

    app.register_blueprint(api_spec.bp)


def register_request_hooks(app: Flask) -> None:
    from web.deal_context import register_deal_context

    register_deal_context(app)


def register_security(app: Flask) -> None:
    from web.security import register_security as register

    register(app)


def register_operations(app: Flask) -> None:
    """Health endpoint, Prometheus metrics, database outages as 503s (the scheduler starts in gunicorn.conf.py)."""
    from web import health
    from web.metrics import register_metrics
    from web.outages import register_outage_handlers

    app.register_blueprint(health.bp)
    register_metrics(app)
    register_outage_handlers(app)
    app.session_interface.sessionless_paths = health.SESSIONLESS_PATHS  # type: ignore[attr-defined]


def register_error_handlers(app: Flask) -> None:
    from web.errors import register_error_handlers as register

    register(app)


def register_fast_path(app: Flask) -> None:
    """Last: it wraps the finished WSGI app (web/fast_path.py)."""
    from web.fast_path import install_fast_path

    install_fast_path(app)


def register_cli(app: Flask) -> None:
    from web.cli import register_commands

    register_commands(app)
