"""Configuration from the environment, and the checks made at start-up."""

from __future__ import annotations

from datetime import timedelta

import pytest

from web import create_app
from web.config import SIGNIN_LIMITS, ConfigError, build_config, normalize_database_url


def test_production_refuses_to_start_without_secret_key():
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        build_config(env={"APP_ENV": "production"})


def test_production_cookies_are_secure_by_default():
    config = build_config(env={"APP_ENV": "production", "SECRET_KEY": "k" * 40})
    assert config["SESSION_COOKIE_SECURE"] is True
    assert build_config(env={})["SESSION_COOKIE_SECURE"] is False


@pytest.mark.parametrize(
    "url,expected",
    [
        ("postgresql://u:p@db:5432/deals", "postgresql+psycopg2://u:p@db:5432/deals"),
        ("postgres://db/deals", "postgresql+psycopg2://db/deals"),
        ("postgresql+psycopg2://db/deals", "postgresql+psycopg2://db/deals"),
        ("sqlite:////tmp/x.db", "sqlite:////tmp/x.db"),
        ("mysql://u:p@db:3306/deals", "mysql+pymysql://u:p@db:3306/deals"),
        ("mariadb://db/deals", "mysql+pymysql://db/deals"),
        ("mariadb+pymysql://db/deals", "mysql+pymysql://db/deals"),
        ("mysql+pymysql://db/deals", "mysql+pymysql://db/deals"),
    ],
)
def test_database_url_names_the_installed_driver(url, expected):
    assert normalize_database_url(url) == expected
    assert build_config(env={"DATABASE_URL": url})["SQLALCHEMY_DATABASE_URI"] == expected


@pytest.mark.parametrize(
    "env,message",
    [
        ({"SESSION_BACKEND": "memcached"}, "SESSION_BACKEND"),
        ({"APP_ENV": "staging"}, "APP_ENV"),
        ({"SESSION_LIFETIME_HOURS": "soon"}, "SESSION_LIFETIME_HOURS"),
        ({"SESSION_LIFETIME_HOURS": "-1"}, "SESSION_LIFETIME_HOURS"),
        ({"SIGNIN_LIMIT_PER_ACCOUNT": "ten per minute"}, "SIGNIN_LIMIT_PER_ACCOUNT"),
        ({"SIGNIN_LIMIT_PER_IP": "50 per fortnight"}, "SIGNIN_LIMIT_PER_IP"),
    ],
)
def test_bad_settings_fail_at_start_up_with_a_clear_message(env, message):
    with pytest.raises(ConfigError, match=message):
        build_config(env=env)


def test_session_lifetime_from_hours():
    assert build_config(env={"SESSION_LIFETIME_HOURS": "1.5"})["PERMANENT_SESSION_LIFETIME"] == timedelta(minutes=90)


def test_signin_limits_from_the_environment_reach_the_app(tmp_path, monkeypatch):
    monkeypatch.setenv("SIGNIN_LIMIT_PER_ACCOUNT", "3 per 5 minutes")
    monkeypatch.setenv("SIGNIN_LIMIT_PER_IP", "20/hour;100/day")
    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'absent.db'}", "APP_ENV": "test"})
    assert app.config["SIGNIN_LIMIT_PER_ACCOUNT"] == "3 per 5 minutes"
    assert app.config["SIGNIN_LIMIT_PER_IP"] == "20/hour;100/day"


def test_signin_limits_default_when_unset(tmp_path, monkeypatch):
    for name in ("SIGNIN_LIMIT_PER_ACCOUNT", "SIGNIN_LIMIT_PER_IP"):
        monkeypatch.delenv(name, raising=False)
    assert build_config(env={})["SIGNIN_LIMIT_PER_ACCOUNT"] == "10 per 15 minutes"
    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'absent.db'}", "APP_ENV": "test"})
    assert app.config["SIGNIN_LIMIT_PER_ACCOUNT"] == SIGNIN_LIMITS["SIGNIN_LIMIT_PER_ACCOUNT"] == "10 per 15 minutes"
    assert app.config["SIGNIN_LIMIT_PER_IP"] == SIGNIN_LIMITS["SIGNIN_LIMIT_PER_IP"] == "50 per 15 minutes"


def test_engine_options_per_dialect():
    postgres = build_config(env={"DATABASE_URL": "postgresql://db/x"})["SQLALCHEMY_ENGINE_OPTIONS"]
    # No ping at every checkout: web.platform.db.ping_after_idle pings a connection that sat idle.
    assert postgres["pool_pre_ping"] is False and postgres["pool_recycle"] > 0 and postgres["pool_size"] > 0
    memory = build_config(env={"DATABASE_URL": "sqlite://"})["SQLALCHEMY_ENGINE_OPTIONS"]
    assert memory["poolclass"].__name__ == "StaticPool"


def test_mariadb_engine_options_bound_every_wait_and_read_committed():
    options = build_config(env={"DATABASE_URL": "mysql://db/x"})["SQLALCHEMY_ENGINE_OPTIONS"]
    assert options["isolation_level"] == "READ COMMITTED" and options["pool_pre_ping"] is False
    args = options["connect_args"]
    assert args["charset"] == "utf8mb4" and args["connect_timeout"] == 0.5
    assert args["read_timeout"] == args["write_timeout"] == 1.25
    assert args["init_command"] == (
        "SET time_zone = '+00:00', innodb_lock_wait_timeout = 1 /*M!100108 , max_statement_time = 1 */"
    )
    assert build_config(env={"DATABASE_URL": "mariadb://db/x"})["SESSION_CLEANUP_BATCH_SIZE"] == 1000
    unbounded = build_config(env={"DATABASE_URL": "mysql://db/x", "DATABASE_STATEMENT_TIMEOUT_SECONDS": "0"})
    args = unbounded["SQLALCHEMY_ENGINE_OPTIONS"]["connect_args"]
    assert "read_timeout" not in args and args["init_command"] == "SET time_zone = '+00:00'"


def test_app_builds_without_connecting(tmp_path):
    # Nothing connects while the app is built: a database that does not exist yet is fine.
    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'absent.db'}", "APP_ENV": "test"})
    assert app.config["SESSION_BACKEND"] == "sqlalchemy"
    assert not (tmp_path / "absent.db").exists()
