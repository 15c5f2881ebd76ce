"""The application factory: configuration, extensions, blueprints, hooks, error handlers and CLI, in short steps."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from flask import Flask

from web.audit import api as audit_api
from web.cli import register_commands
from web.config import build_config
from web.deal_context import announcements
from web.deal_context.fast_path import install_fast_path
from web.deal_context.request import register_deal_context
from web.deals import api as deals_api
from web.deals import notes_api
from web.errors import register_error_handlers
from web.extensions import csrf, db, login_manager, migrate, server_sessions
from web.identity import accounts_api, auth_api, session_index_api
from web.identity.auth import configure_password_hashing
from web.identity.login import configure_login
from web.identity.session_index import record_activity
from web.identity.session_sync import PendingSessionChangesCollector, register_session_sync
from web.identity.throttle import init_signin_throttle
from web.jobs.health import register_job_health
from web.platform import api_spec, health, pages
from web.platform.db import configure_engine
from web.platform.http import register_converters
from web.platform.logging_setup import configure_logging, register_request_id
from web.platform.metrics import add_scrape_collector, register_metrics
from web.platform.read_requests import register_read_requests
from web.platform.security import register_security as register_security_headers

# The page modules add their routes to the one "pages" blueprint (web.platform.pages) when imported.
from web.deals import pages as deal_pages  # noqa: F401  isort: skip
from web.deal_context import pages as context_pages  # noqa: F401  isort: skip
from web.identity import pages as identity_pages  # noqa: F401  isort: skip
from web.audit import pages as audit_pages  # noqa: F401  isort: skip

__all__ = ["create_app"]

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"

# In registration order; sign-in throttling wraps views of auth_api and pages once all are registered.
BLUEPRINTS = (
    auth_api.bp,
    deals_api.bp,
    announcements.bp,
    notes_api.bp,
    pages.bp,
    session_index_api.bp,
    accounts_api.bp,
    audit_api.bp,
    api_spec.bp,
    health.bp,
)


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app from the environment, with ``config`` overriding it (tests pass one)."""
    # Named "web", as the package: the root path (templates, static) and the logger name follow it.
    app = Flask("web", instance_relative_config=False)
    app.config.from_mapping(build_config(config))
    register_logging(app)
    register_extensions(app)
    register_blueprints(app)
    register_deal_context(app)
    register_security_headers(app)
    register_operations(app)
    register_error_handlers(app)
    register_commands(app)
    # Last: it wraps the finished WSGI app.
    install_fast_path(app)
    return app


def register_logging(app: Flask) -> None:
    configure_logging(app)
    register_request_id(app)


def register_extensions(app: Flask) -> None:
    register_converters(app)
    db.init_app(app)
    configure_engine(app, db)
    register_read_requests(app, db)  # first of the hooks: any of them may read
    migrate.init_app(app, db, directory=str(MIGRATIONS_DIR))
    server_sessions.init_app(app, engine=lambda: db.engine, expiry_listeners=[record_session_activity])
    register_session_sync(app)  # before the CSRF and sign-in checks read the session
    csrf.init_app(app)
    login_manager.init_app(app)
    configure_login(login_manager)
    configure_password_hashing(cheap=app.config["APP_ENV"] == "test")


def record_session_activity(sid_hash: str, expires_at: datetime) -> None:
    """The store moved a session's expiry: the session index's "last seen" and expiry follow it."""
    record_activity(db.engine, sid_hash, expires_at)


def register_blueprints(app: Flask) -> None:
    for blueprint in BLUEPRINTS:
        app.register_blueprint(blueprint)
    init_signin_throttle(app)


def register_operations(app: Flask) -> None:
    """Metrics; the jobs on /metrics and in the health document (the scheduler starts in gunicorn.conf.py)."""
    register_metrics(app)
    register_job_health(app)
    add_scrape_collector(app, PendingSessionChangesCollector())
    app.session_interface.sessionless_paths = health.SESSIONLESS_PATHS  # type: ignore[attr-defined]
