"""Configuration: defaults per environment, read from the process environment once."""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

from limits import parse_many

INSTANCE_DIR = Path(__file__).resolve().parent.parent / "instance"
DEFAULT_SQLITE_URL = f"sqlite:///{INSTANCE_DIR / 'dealdesk.db'}"
ENVIRONMENTS = ("development", "test", "production")
SESSION_BACKENDS = ("sqlalchemy", "redis")
# Flask-Limiter limit strings; unset, the defaults in web.accounts.throttle.DEFAULTS apply.
SIGNIN_LIMITS = ("SIGNIN_LIMIT_PER_ACCOUNT", "SIGNIN_LIMIT_PER_IP")


class ConfigError(RuntimeError):
    """The configuration cannot work; raised at start-up, never at request time."""


def normalize_database_url(url: str) -> str:
    """Name the psycopg2 driver explicitly.

    SQLAlchemy 2.1 maps a bare ``postgresql://`` URL to psycopg 3, which is not
    installed; operators write the ordinary form, so accept it.
    """
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg2://" + url[len(prefix) :]
    return url


def _flag(value: str | None, default: bool) -> bool:
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _positive_number(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from exc
    if value <= 0:
        raise ConfigError(f"{name} must be positive, got {raw!r}")
    return value


def config_from_env(env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Build the Flask config from environment variables (documented in README.md)."""
    env = os.environ if env is None else env
    app_env = env.get("APP_ENV", "development")
    if app_env not in ENVIRONMENTS:
        raise ConfigError(f"APP_ENV must be one of {', '.join(ENVIRONMENTS)}, got {app_env!r}")
    backend = env.get("SESSION_BACKEND", "sqlalchemy")
    if backend not in SESSION_BACKENDS:
        raise ConfigError(f"SESSION_BACKEND must be one of {', '.join(SESSION_BACKENDS)}, got {backend!r}")
    lifetime_hours = _positive_number(env, "SESSION_LIFETIME_HOURS", 24)
    return {
        "APP_ENV": app_env,
        "SECRET_KEY": env.get("SECRET_KEY") or None,
        "SQLALCHEMY_DATABASE_URI": normalize_database_url(env.get("DATABASE_URL") or DEFAULT_SQLITE_URL),
        "SESSION_BACKEND": backend,
        "REDIS_URL": env.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
        "REDIS_SOCKET_TIMEOUT": _positive_number(env, "REDIS_SOCKET_TIMEOUT", 0.5),
        "PERMANENT_SESSION_LIFETIME": timedelta(hours=lifetime_hours),
        "SESSION_TOUCH_INTERVAL_SECONDS": _positive_number(env, "SESSION_TOUCH_INTERVAL_SECONDS", 300),
        "DEAL_CACHE_SECONDS": _positive_number(env, "DEAL_CACHE_SECONDS", 60),
        "CURRENT_DEAL_FAST_PATH": _flag(env.get("CURRENT_DEAL_FAST_PATH"), True),
        "SESSION_COOKIE_SECURE": _flag(env.get("SESSION_COOKIE_SECURE"), app_env == "production"),
        **security_config_from_env(env),
        **operations_config_from_env(env),
    }


def _csv(value: str | None) -> list[str]:
    return [part.strip() for part in (value or "").split(",") if part.strip()]


def security_config_from_env(env: Mapping[str, str]) -> dict[str, Any]:
    """Proxies, key rotation, audit retention, Redis Sentinel, sign-in limits (docs/SECURITY.md, docs/DEPLOYMENT.md)."""
    proxies = env.get("TRUSTED_PROXIES") or "0"
    if not proxies.isdigit():
        raise ConfigError(f"TRUSTED_PROXIES must be a whole number of proxy hops, got {proxies!r}")
    sentinels = _csv(env.get("REDIS_SENTINELS"))
    for address in sentinels:
        host, _, port = address.rpartition(":")
        if not host or not port.isdigit():
            raise ConfigError(f"REDIS_SENTINELS must be host:port,host:port..., got {address!r}")
    return {
        "TRUSTED_PROXIES": int(proxies),
        # Most recent first, as Flask's SECRET_KEY_FALLBACKS expects.
        "SECRET_KEY_FALLBACKS": _csv(env.get("SECRET_KEY_FALLBACKS")),
        "AUDIT_RETENTION_DAYS": _positive_number(env, "AUDIT_RETENTION_DAYS", 365),
        "AUDIT_RETENTION_CRON": env.get("AUDIT_RETENTION_CRON", "30 3 * * *"),
        "AUDIT_PURGE_BATCH_SIZE": int(_positive_number(env, "AUDIT_PURGE_BATCH_SIZE", 1000)),
        "REDIS_SENTINELS": sentinels,
        "REDIS_SENTINEL_SERVICE": env.get("REDIS_SENTINEL_SERVICE", "mymaster"),
        **signin_limits_from_env(env),
    }


def signin_limits_from_env(env: Mapping[str, str]) -> dict[str, str]:
    """The sign-in throttle's limits that the environment sets, checked the way Flask-Limiter will parse them."""
    found: dict[str, str] = {}
    for name in SIGNIN_LIMITS:
        raw = (env.get(name) or "").strip()
        if not raw:
            continue
        try:
            parse_many(raw)
        except ValueError as exc:
            raise ConfigError(f"{name} must be a rate limit such as '10 per 15 minutes', got {raw!r}") from exc
        found[name] = raw
    return found


def _whole_number(env: Mapping[str, str], name: str, default: int) -> int:
    value = _positive_number(env, name, default)
    if value != int(value):
        raise ConfigError(f"{name} must be a whole number, got {env.get(name)!r}")
    return int(value)


def operations_config_from_env(env: Mapping[str, str]) -> dict[str, Any]:
    """Scheduler, job locks, health check, logging and version (docs/DEPLOYMENT.md, docs/QUICKREF.md)."""
    lock_backend = env.get("JOB_LOCK_BACKEND", "auto")
    if lock_backend not in ("auto", "postgresql", "redis", "database"):
        raise ConfigError(f"JOB_LOCK_BACKEND must be auto, postgresql, redis or database, got {lock_backend!r}")
    log_format = env.get("LOG_FORMAT", "json")
    if log_format not in ("json", "text"):
        raise ConfigError(f"LOG_FORMAT must be json or text, got {log_format!r}")
    return {
        # Off by default: exactly one place should decide to run the scheduler (gunicorn or `scheduler run`).
        "SCHEDULER_ENABLED": _flag(env.get("SCHEDULER_ENABLED"), False),
        "SCHEDULER_TIMEZONE": env.get("SCHEDULER_TIMEZONE", "UTC"),
        "SCHEDULER_MISFIRE_GRACE_SECONDS": _whole_number(env, "SCHEDULER_MISFIRE_GRACE_SECONDS", 300),
        # Crontab syntax, five fields; days of the week as in crontab (0 or 7 = Sunday) or by name.
        "SESSION_CLEANUP_CRON": env.get("SESSION_CLEANUP_CRON", "0 3 * * *"),
        "STALE_DEAL_CLEANUP_CRON": env.get("STALE_DEAL_CLEANUP_CRON", "0 2 * * sun"),
        "SESSION_CLEANUP_BATCH_SIZE": _whole_number(env, "SESSION_CLEANUP_BATCH_SIZE", 5000),
        # Users per UPDATE: 2000 kept each statement at 0.03 s over a million users; 5000 took 0.56 s.
        "STALE_DEAL_CLEANUP_BATCH_SIZE": _whole_number(env, "STALE_DEAL_CLEANUP_BATCH_SIZE", 2000),
        "JOB_RUNS_KEPT": _whole_number(env, "JOB_RUNS_KEPT", 300),
        "JOB_LOCK_BACKEND": lock_backend,
        "JOB_LOCK_KEY_PREFIX": env.get("JOB_LOCK_KEY_PREFIX", "dealdesk:joblock:"),
        "HEALTH_DB_TIMEOUT_SECONDS": _positive_number(env, "HEALTH_DB_TIMEOUT_SECONDS", 1.0),
        "HEALTH_SLOW_STORE_MS": _positive_number(env, "HEALTH_SLOW_STORE_MS", 250),
        "LOG_FORMAT": log_format,
        "LOG_LEVEL": env.get("LOG_LEVEL", "INFO").upper(),
        "APP_VERSION": env.get("APP_VERSION", "0.1.0"),
    }


BASE_CONFIG: dict[str, Any] = {
    "SESSION_COOKIE_NAME": "dealdesk_session",
    "SESSION_COOKIE_HTTPONLY": True,
    "SESSION_COOKIE_SAMESITE": "Lax",
    "SESSION_PERMANENT": True,
    "SESSION_KEY_PREFIX": "dealdesk:session:",
    "SQLALCHEMY_TRACK_MODIFICATIONS": False,
    "MAX_CONTENT_LENGTH": 1024 * 1024,
    "WTF_CSRF_HEADERS": ["X-CSRFToken"],
    # The token lives as long as the server-side session it is bound to.
    "WTF_CSRF_TIME_LIMIT": None,
}

DEVELOPMENT_SECRET_KEY = "dev-only-insecure-secret-key"


def build_config(overrides: Mapping[str, Any] | None = None, env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Merge defaults, the environment and explicit overrides, then check the result."""
    config = {**BASE_CONFIG, **config_from_env(env), **(overrides or {})}
    if not config.get("SECRET_KEY"):
        if config["APP_ENV"] == "production":
            raise ConfigError("SECRET_KEY must be set when APP_ENV=production (a long random string).")
        config["SECRET_KEY"] = DEVELOPMENT_SECRET_KEY
    config["SQLALCHEMY_DATABASE_URI"] = normalize_database_url(config["SQLALCHEMY_DATABASE_URI"])
    config["SQLALCHEMY_ENGINE_OPTIONS"] = {
        **engine_options(config["SQLALCHEMY_DATABASE_URI"]),
        **config.get("SQLALCHEMY_ENGINE_OPTIONS", {}),
    }
    return config


def engine_options(url: str) -> dict[str, Any]:
    """Engine options per dialect: pooled and pre-pinged for PostgreSQL, shared for in-memory SQLite."""
    if url.startswith("sqlite"):
        from sqlalchemy.pool import StaticPool

        if url in ("sqlite://", "sqlite:///:memory:"):
            return {"poolclass": StaticPool, "connect_args": {"check_same_thread": False}}
        # Writers wait for each other instead of failing at once with "database is locked".
        return {"connect_args": {"timeout": 30, "check_same_thread": False}}
    return {
        "pool_pre_ping": True,
        "pool_recycle": 1800,
        "pool_size": 10,
        "max_overflow": 10,
        "pool_timeout": 5,
        "connect_args": {"connect_timeout": 3},
    }
