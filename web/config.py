"""Configuration: defaults per environment, read from the process environment once."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from limits import parse_many
from sqlalchemy.pool import StaticPool

from web.platform.db import (
    DATABASE_POOLERS,
    bounded_connection_class,
    mysql_session_settings,
    server_statement_timeout_ms,
)

INSTANCE_DIR = Path(__file__).resolve().parent.parent / "instance"
DEFAULT_SQLITE_URL = f"sqlite:///{INSTANCE_DIR / 'dealdesk.db'}"
ENVIRONMENTS = ("development", "test", "production")
SESSION_BACKENDS = ("sqlalchemy", "redis")
# Flask-Limiter limit strings for the sign-in throttle (web.identity.throttle), with their defaults.
SIGNIN_LIMITS = {
    "SIGNIN_LIMIT_PER_ACCOUNT": "10 per 15 minutes",
    "SIGNIN_LIMIT_PER_IP": "50 per 15 minutes",
}
LOG_FORMATS = ("json", "text")
# JSON bodies nest at most this deep (web.platform.security.reject_too_deep_json). The API's bodies
# are flat; the ceiling keeps the recursive steps that follow (the JSON parser, the NUL scan) far
# from Python's recursion limit whatever an operator sets.
DEFAULT_MAX_JSON_DEPTH = 32
MAX_JSON_DEPTH_CEILING = 200

# How long anything waits on PostgreSQL (web.config.engine_options, web.platform.db). A database that
# stops answering (frozen, partitioned) must be a 503 within 2 s: the worst request meets it in the
# pool's pre-ping of an idle connection (statement bound plus grace) and then in one reconnect
# (connect bound), 1.25 + 0.5 s. Every statement of a request is a few milliseconds; the cleanup
# jobs' batches are sized to stay well under a second.
DEFAULT_DATABASE_STATEMENT_TIMEOUT_SECONDS = 1.0
# Opening a connection on a LAN (TCP, TLS, SCRAM, a forked backend) takes milliseconds.
DEFAULT_DATABASE_CONNECT_TIMEOUT_SECONDS = 0.5
# A server cancels a statement at statement_timeout and says so; the client waits this much longer
# for that answer before it gives up on the connection (so a slow statement costs a 503, not a reconnect).
STATEMENT_TIMEOUT_GRACE_SECONDS = 0.25
# Waiting for a free pooled connection: with the default threads per worker (4) below the pool's
# size (10) nobody waits; when all are busy, each is itself bounded as above.
DEFAULT_DATABASE_POOL_TIMEOUT_SECONDS = 1.0
# A restart of PostgreSQL or MariaDB takes longer: a connection returned to the pool before the
# server went down has sat idle at least that long when it is next checked out, so it is pinged.
DEFAULT_DATABASE_PING_AFTER_IDLE_SECONDS = 1.0
# TCP keepalives and TCP_USER_TIMEOUT (libpq socket parameters, never sent to the server, so
# PgBouncer does not see them): a peer that vanished (host down, partition) is noticed on an idle
# pooled connection within 5 + 3 x 2 = 11 s, and data unacknowledged for 11 s ends the connection.
# They do not notice a frozen server (its kernel still answers): the client's own bound does.
TCP_KEEPALIVES_IDLE_SECONDS = 5
TCP_KEEPALIVES_INTERVAL_SECONDS = 2
TCP_KEEPALIVES_COUNT = 3
TCP_USER_TIMEOUT_MS = 11_000


class ConfigError(RuntimeError):
    """The configuration cannot work; raised at start-up, never at request time."""


def normalize_database_url(url: str) -> str:
    """Name the installed driver explicitly.

    SQLAlchemy 2.1 maps a bare ``postgresql://`` URL to psycopg 3 and a bare ``mysql://``
    to mysqlclient, neither installed; operators write the ordinary forms, so accept them
    (MariaDB and MySQL through PyMySQL, docs/DEPLOYMENT.md "MariaDB / MySQL").
    """
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg2://" + url[len(prefix) :]
    for prefix in ("mysql://", "mariadb://", "mariadb+pymysql://"):
        if url.startswith(prefix):
            return "mysql+pymysql://" + url[len(prefix) :]
    return url


def _is_mysql_url(url: str) -> bool:
    return normalize_database_url(url).startswith("mysql")


def redis_url_options(url: str) -> dict[str, Any]:
    """The database number, user name and password of a ``redis://`` URL (Sentinel mode reads them from REDIS_URL)."""
    parts = urlsplit(url)
    path = parts.path.strip("/")
    options: dict[str, Any] = {"db": int(path) if path.isdigit() else 0}
    if parts.username:
        options["username"] = unquote(parts.username)
    if parts.password:
        options["password"] = unquote(parts.password)
    return options


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
        **database_config_from_env(env),
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
        "MAX_JSON_DEPTH": max_json_depth(env),
        **signin_limits_from_env(env),
    }


def max_json_depth(env: Mapping[str, str]) -> int:
    """``MAX_JSON_DEPTH``: how deep a JSON body may nest, a whole number from 1 to ``MAX_JSON_DEPTH_CEILING``."""
    depth = _whole_number(env, "MAX_JSON_DEPTH", DEFAULT_MAX_JSON_DEPTH)
    if depth > MAX_JSON_DEPTH_CEILING:
        raise ConfigError(f"MAX_JSON_DEPTH must be at most {MAX_JSON_DEPTH_CEILING}, got {depth}")
    return depth


def signin_limits_from_env(env: Mapping[str, str]) -> dict[str, str]:
    """The sign-in throttle's limits, from the environment or by default, checked as Flask-Limiter parses them."""
    found: dict[str, str] = {}
    for name, default in SIGNIN_LIMITS.items():
        raw = (env.get(name) or "").strip()
        if not raw:
            found[name] = default
            continue
        try:
            parse_many(raw)
        except ValueError as exc:
            raise ConfigError(f"{name} must be a rate limit such as '10 per 15 minutes', got {raw!r}") from exc
        found[name] = raw
    return found


def _seconds_or_off(env: Mapping[str, str], name: str, default: float) -> float:
    """A positive number of seconds, or 0 for "no bound"."""
    try:
        if float(env.get(name) or "nan") == 0:
            return 0.0
    except ValueError:
        pass  # _positive_number names the bad value
    return _positive_number(env, name, default)


def database_config_from_env(env: Mapping[str, str]) -> dict[str, Any]:
    """How long anything waits on PostgreSQL (docs/DEPLOYMENT.md, "Database timeouts"); unused on SQLite."""
    return {
        # 0: no statement timeout, neither on the server nor in the client (a long migration).
        "DATABASE_STATEMENT_TIMEOUT_SECONDS": _seconds_or_off(
            env, "DATABASE_STATEMENT_TIMEOUT_SECONDS", DEFAULT_DATABASE_STATEMENT_TIMEOUT_SECONDS
        ),
        "DATABASE_CONNECT_TIMEOUT_SECONDS": _positive_number(
            env, "DATABASE_CONNECT_TIMEOUT_SECONDS", DEFAULT_DATABASE_CONNECT_TIMEOUT_SECONDS
        ),
        "DATABASE_POOL_TIMEOUT_SECONDS": _positive_number(
            env, "DATABASE_POOL_TIMEOUT_SECONDS", DEFAULT_DATABASE_POOL_TIMEOUT_SECONDS
        ),
        # A pooled connection idle this long is pinged before use (web.platform.db.ping_after_idle).
        "DATABASE_PING_AFTER_IDLE_SECONDS": _seconds_or_off(
            env, "DATABASE_PING_AFTER_IDLE_SECONDS", DEFAULT_DATABASE_PING_AFTER_IDLE_SECONDS
        ),
        "DATABASE_POOLER": database_pooler(env),
    }


def database_pooler(env: Mapping[str, str]) -> str:
    """``DATABASE_POOLER``: "none", or "pgbouncer" (transaction pooling: no session-level SET is sent)."""
    value = (env.get("DATABASE_POOLER") or "none").strip().lower()
    if value not in DATABASE_POOLERS:
        raise ConfigError(f"DATABASE_POOLER must be one of {', '.join(DATABASE_POOLERS)}, got {value!r}")
    return value


def _whole_number(env: Mapping[str, str], name: str, default: int) -> int:
    value = _positive_number(env, name, default)
    if value != int(value):
        raise ConfigError(f"{name} must be a whole number, got {env.get(name)!r}")
    return int(value)


def scheduler_enabled(env: Mapping[str, str]) -> bool:
    """``SCHEDULER_ENABLED``; off by default: exactly one place should decide to run the scheduler
    (gunicorn, which reads this too, or ``scheduler run``)."""
    return _flag(env.get("SCHEDULER_ENABLED"), False)


def log_format(env: Mapping[str, str]) -> str:
    """``LOG_FORMAT``: ``json`` (the default) or ``text``; gunicorn.conf.py reads it for its own loggers too."""
    value = env.get("LOG_FORMAT", "json")
    if value not in LOG_FORMATS:
        raise ConfigError(f"LOG_FORMAT must be json or text, got {value!r}")
    return value


def operations_config_from_env(env: Mapping[str, str]) -> dict[str, Any]:
    """Scheduler, job locks, health check, logging and version (docs/DEPLOYMENT.md, docs/QUICKREF.md)."""
    lock_backend = env.get("JOB_LOCK_BACKEND", "auto")
    if lock_backend not in ("auto", "postgresql", "redis", "database", "mysql"):
        raise ConfigError(f"JOB_LOCK_BACKEND must be auto, postgresql, redis, database or mysql, got {lock_backend!r}")
    return {
        "SCHEDULER_ENABLED": scheduler_enabled(env),
        "SCHEDULER_TIMEZONE": env.get("SCHEDULER_TIMEZONE", "UTC"),
        "SCHEDULER_MISFIRE_GRACE_SECONDS": _whole_number(env, "SCHEDULER_MISFIRE_GRACE_SECONDS", 300),
        # Crontab syntax, five fields; days of the week as in crontab (0 or 7 = Sunday) or by name.
        "SESSION_CLEANUP_CRON": env.get("SESSION_CLEANUP_CRON", "0 3 * * *"),
        "STALE_DEAL_CLEANUP_CRON": env.get("STALE_DEAL_CLEANUP_CRON", "0 2 * * sun"),
        # Every minute: the backstop for processes that never saw the store fail (web.identity.session_sync).
        "SESSION_SYNC_CRON": env.get("SESSION_SYNC_CRON", "* * * * *"),
        # Expired sessions per DELETE. MariaDB's DELETE by a list of ids (each row also leaves two secondary
        # indexes) took up to 1.02 s per 5000 rows over a million sessions, 0.64 s per 1000 (bench.scale
        # --database mariadb, docs/PERFORMANCE.md): under the 1 s statement bound only with the smaller batch.
        "SESSION_CLEANUP_BATCH_SIZE": _whole_number(
            env, "SESSION_CLEANUP_BATCH_SIZE", 1000 if _is_mysql_url(env.get("DATABASE_URL") or "") else 5000
        ),
        # Users per UPDATE: 2000 kept each statement at 0.03 s over a million users; 5000 took 0.56 s.
        "STALE_DEAL_CLEANUP_BATCH_SIZE": _whole_number(env, "STALE_DEAL_CLEANUP_BATCH_SIZE", 2000),
        "JOB_RUNS_KEPT": _whole_number(env, "JOB_RUNS_KEPT", 300),
        "JOB_LOCK_BACKEND": lock_backend,
        "JOB_LOCK_KEY_PREFIX": env.get("JOB_LOCK_KEY_PREFIX", "dealdesk:joblock:"),
        # Every database wait of one health call, in all (web.platform.health.checks.health_document):
        # a database that stops answering makes the health check a 503 in about this long.
        "HEALTH_DB_TIMEOUT_SECONDS": _positive_number(env, "HEALTH_DB_TIMEOUT_SECONDS", 1.0),
        "HEALTH_SLOW_STORE_MS": _positive_number(env, "HEALTH_SLOW_STORE_MS", 250),
        "LOG_FORMAT": log_format(env),
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
    "RATELIMIT_HEADERS_ENABLED": True,
    # A sign-in throttle that cannot reach its storage answers 503 rather than letting guesses
    # through uncounted (web.identity.throttle); swallowing would also log a traceback per request.
    "RATELIMIT_SWALLOW_ERRORS": False,
    # How often an open, visible page asks GET /api/context whether its deal changed (web/static/announce.js).
    "ANNOUNCE_POLL_SECONDS": 5,
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
        **engine_options(config["SQLALCHEMY_DATABASE_URI"], config),
        **config.get("SQLALCHEMY_ENGINE_OPTIONS", {}),
    }
    # Derived from the settings above once overrides are in; an explicit value is kept.
    for key, value in throttle_storage_config(config).items():
        config.setdefault(key, value)
    config.update(csrf_key_config(config))
    return config


def csrf_signing_keys(config: Mapping[str, Any]) -> list[str] | None:
    """Keys for Flask-WTF's CSRF serializer: oldest first, the current ``SECRET_KEY`` last.

    Flask-WTF 1.3 signs and checks tokens with one key and ignores
    ``SECRET_KEY_FALLBACKS`` (pallets-eco/flask-wtf issue 675). itsdangerous takes a
    list of keys, signs with the last and accepts any, so the list is handed to it
    as ``WTF_CSRF_SECRET_KEY``. None when there is nothing to rotate from.
    """
    fallbacks = [key for key in config.get("SECRET_KEY_FALLBACKS") or [] if key]
    if not fallbacks:
        return None
    return [*reversed(fallbacks), config["SECRET_KEY"]]


def csrf_key_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """Let CSRF tokens signed with a previous ``SECRET_KEY`` keep working after a rotation (docs/SECURITY.md).

    The session cookie holds only a random server-side session id (not signed), so
    signed-in browsers are unaffected by the key; the CSRF tokens they hold are signed.
    """
    if isinstance(config.get("SECRET_KEY_FALLBACKS"), str):
        # Flask would extend its key list with the string's characters.
        raise TypeError("SECRET_KEY_FALLBACKS must be a list of keys, not a string")
    keys = csrf_signing_keys(config)
    # An explicit WTF_CSRF_SECRET_KEY is left alone; an empty one means "use SECRET_KEY" to Flask-WTF.
    return {"WTF_CSRF_SECRET_KEY": keys} if keys and not config.get("WTF_CSRF_SECRET_KEY") else {}


def throttle_storage_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """Where the sign-in throttle counts: Redis when the sessions are in Redis (with the same short
    timeouts, shared by every instance), process memory otherwise."""
    if config["SESSION_BACKEND"] != "redis":
        return {"RATELIMIT_STORAGE_URI": "memory://"}
    timeout = float(config["REDIS_SOCKET_TIMEOUT"])
    timeouts = {"socket_timeout": timeout, "socket_connect_timeout": timeout}
    if not config.get("REDIS_SENTINELS"):
        return {"RATELIMIT_STORAGE_URI": config["REDIS_URL"], "RATELIMIT_STORAGE_OPTIONS": timeouts}
    # The same counters through Sentinel discovery (limits' ``redis+sentinel://``), on the primary only.
    return {
        "RATELIMIT_STORAGE_URI": f"redis+sentinel://{','.join(config['REDIS_SENTINELS'])}/{config['REDIS_SENTINEL_SERVICE']}",
        "RATELIMIT_STORAGE_OPTIONS": {
            **timeouts,
            **redis_url_options(config["REDIS_URL"]),
            "sentinel_kwargs": timeouts,
            "use_replicas": False,  # a replica may lag: count on the primary
        },
    }


def engine_options(url: str, settings: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Engine options per dialect: pooled, pre-pinged and bounded for PostgreSQL, shared for in-memory SQLite.

    ``settings`` holds the ``DATABASE_*_SECONDS`` values (the defaults above when absent);
    SQLite ignores them: it has no server that could stop answering.
    """
    if url.startswith("sqlite"):
        if url in ("sqlite://", "sqlite:///:memory:"):
            return {"poolclass": StaticPool, "connect_args": {"check_same_thread": False}}
        # Writers wait for each other instead of failing at once with "database is locked".
        return {"connect_args": {"timeout": 30, "check_same_thread": False}}
    settings = settings or {}
    statement = float(settings.get("DATABASE_STATEMENT_TIMEOUT_SECONDS", DEFAULT_DATABASE_STATEMENT_TIMEOUT_SECONDS))
    connect = float(settings.get("DATABASE_CONNECT_TIMEOUT_SECONDS", DEFAULT_DATABASE_CONNECT_TIMEOUT_SECONDS))
    isolation: dict[str, Any] = {}
    if url.startswith("mysql"):
        # InnoDB's default, REPEATABLE READ, reads a transaction's first snapshot again in every
        # statement; DealDesk relies on PostgreSQL's READ COMMITTED, where each statement sees what
        # was committed before it (web.deal_context.service.select_deal: the visibility check after
        # the row lock). docs/DEPLOYMENT.md, "MariaDB / MySQL".
        isolation = {
            "isolation_level": "READ COMMITTED",
            # SQLAlchemy's MySQL compiler records a nested join as one unconnected FROM, so its cartesian-
            # product check misfires on a join ON a constant (web.deals.read_models._overview_statement);
            # the same statements are checked on PostgreSQL and SQLite.
            "enable_from_linting": False,
        }
    return {
        **isolation,
        # Not at every checkout: web.platform.db.ping_after_idle pings only a connection that sat idle.
        "pool_pre_ping": False,
        "pool_recycle": 1800,
        "pool_size": 10,
        "max_overflow": 10,
        "pool_timeout": float(settings.get("DATABASE_POOL_TIMEOUT_SECONDS", DEFAULT_DATABASE_POOL_TIMEOUT_SECONDS)),
        "connect_args": server_connect_args(
            url,
            connect_seconds=connect,
            statement_seconds=statement,
            pooler=str(settings.get("DATABASE_POOLER", "none")),
        ),
    }


def server_connect_args(
    url: Any, *, connect_seconds: float, statement_seconds: float, pooler: str = "none"
) -> dict[str, Any]:
    """The driver's connect arguments for a database server (``url``: a URL or its string), bounded alike
    (``pooler``: PostgreSQL's ``DATABASE_POOLER``)."""
    if str(url).startswith("mysql"):
        return mysql_connect_args(connect_seconds=connect_seconds, statement_seconds=statement_seconds)
    return postgres_connect_args(connect_seconds=connect_seconds, statement_seconds=statement_seconds, pooler=pooler)


def mysql_connect_args(*, connect_seconds: float, statement_seconds: float) -> dict[str, Any]:
    """PyMySQL's connect arguments for MariaDB/MySQL (``statement_seconds`` 0: no bound).

    utf8mb4 (MySQL's ``utf8`` holds no 4-byte characters), a UTC session time zone, and the
    same bounds as on PostgreSQL: the server ends a statement after ``statement_seconds``
    (MariaDB's ``max_statement_time``) and a row lock wait after as long (``innodb_lock_wait_timeout``,
    whole seconds), and the client gives up on a read or write that long plus the grace
    (PyMySQL's socket timeouts: a frozen server). All set at connect (``init_command``), so every
    engine built from these arguments has them (web.platform.db.mysql_session_settings).
    """
    args: dict[str, Any] = {
        "charset": "utf8mb4",
        "connect_timeout": connect_seconds,
        "init_command": mysql_session_settings(statement_seconds or None),
    }
    if statement_seconds:
        args["read_timeout"] = args["write_timeout"] = statement_seconds + STATEMENT_TIMEOUT_GRACE_SECONDS
    return args


def postgres_connect_args(*, connect_seconds: float, statement_seconds: float, pooler: str = "none") -> dict[str, Any]:
    """psycopg2's connect arguments: libpq's socket parameters and the client-side bounds (``statement_seconds``
    0: none). Also what the health check's and the session store's own engines are built with. ``pooler``
    "pgbouncer": no session-level SET of the server's statement timeout (web.platform.db.server_statement_timeout_ms).
    """
    return {
        # libpq's own bound, for a connection made while the wait callback is not installed
        # (libpq rounds values below 2 s up to 2 s); the callback applies connect_seconds.
        "connect_timeout": max(2, math.ceil(connect_seconds)),
        "keepalives": 1,
        "keepalives_idle": TCP_KEEPALIVES_IDLE_SECONDS,
        "keepalives_interval": TCP_KEEPALIVES_INTERVAL_SECONDS,
        "keepalives_count": TCP_KEEPALIVES_COUNT,
        "tcp_user_timeout": TCP_USER_TIMEOUT_MS,
        "connection_factory": bounded_connection_class(
            connect_seconds=connect_seconds,
            statement_seconds=statement_seconds + STATEMENT_TIMEOUT_GRACE_SECONDS if statement_seconds else None,
            server_statement_timeout_ms=server_statement_timeout_ms(statement_seconds, pooler=pooler),
            pooled=pooler == "pgbouncer",
        ),
    }
