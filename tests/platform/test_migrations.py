"""The migration chain builds the schema the models describe, and can be undone."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError

from tests.support.stacks import MARIADB_SQL, POSTGRES_SQL, SQLITE_SQL
from web.extensions import db
from web.platform.db import without_statement_bounds

# SQLite cannot reflect the expression index on lower(email); SQLAlchemy says so with a warning.
SQLITE_REFLECTION = pytest.mark.filterwarnings(
    "ignore:Skipped unsupported reflection of expression-based index",
    "ignore:autogenerate skipping metadata-specified expression-based index",
)


@SQLITE_REFLECTION
@pytest.mark.parametrize("stack", [SQLITE_SQL, POSTGRES_SQL, MARIADB_SQL], indirect=True)
def test_models_match_the_migrated_schema(app):
    with app.app_context(), db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        differences = [
            diff
            for diff in compare_metadata(context, db.metadata)
            # SQLite cannot reflect expression indexes; the email index is checked below instead.
            if not (diff[0] in ("add_index", "remove_index") and diff[1].name == "uq_users_email_lower")
        ]
    assert differences == []


@pytest.mark.parametrize("stack", [SQLITE_SQL, POSTGRES_SQL, MARIADB_SQL], indirect=True)
def test_email_uniqueness_ignores_case(app, demo):
    from sqlalchemy.exc import IntegrityError

    from web.identity.models import User

    with app.app_context():
        db.session.add(User(organization_id=demo["acme"], email="ALICE@acme.test", password_hash="x"))
        with pytest.raises(IntegrityError):
            db.session.commit()
        db.session.rollback()
        db.session.remove()


@SQLITE_REFLECTION
@pytest.mark.parametrize("stack", [SQLITE_SQL, POSTGRES_SQL, MARIADB_SQL], indirect=True)
def test_downgrade_to_base_and_upgrade_again(app):
    with app.app_context():
        downgrade(revision="base")
        assert application_columns(db.engine) == {}
        upgrade()
        assert application_columns(db.engine) == model_columns()


def model_columns() -> dict[str, set[str]]:
    return {table.name: {column.name for column in table.columns} for table in db.metadata.sorted_tables}


def application_columns(engine: Engine) -> dict[str, set[str]]:
    """Column names of the models' tables present in the database.

    Only the models' tables: other tests on this worker's database may leave tables of
    their own (a stock Flask-Session table, a job store), which no migration owns.
    """
    inspector = inspect(engine)
    present = set(inspector.get_table_names()) & set(model_columns())
    return {table: {column["name"] for column in inspector.get_columns(table)} for table in present}


@pytest.mark.parametrize("stack", [POSTGRES_SQL], indirect=True)
def test_migrations_run_without_the_statement_bounds_and_put_them_back(app):
    """A long ALTER is work, not an outage: migrations/env.py lifts both bounds (web.platform.db)."""
    slower_than_the_bound = float(app.config["DATABASE_STATEMENT_TIMEOUT_SECONDS"]) + 0.5
    with app.app_context(), db.engine.connect() as connection:
        bound = connection.exec_driver_sql("SHOW statement_timeout").scalar()
        assert bound != "0"
        with pytest.raises(OperationalError):
            connection.exec_driver_sql(f"SELECT pg_sleep({slower_than_the_bound})")
        connection.rollback()
        with without_statement_bounds(connection):
            connection.exec_driver_sql(f"SELECT pg_sleep({slower_than_the_bound})")
            connection.commit()
        assert connection.exec_driver_sql("SHOW statement_timeout").scalar() == bound


@pytest.mark.parametrize("stack", [MARIADB_SQL], indirect=True)
def test_mariadb_migrations_run_without_the_statement_bounds_and_put_them_back(app):
    """MariaDB's bounds (max_statement_time, innodb_lock_wait_timeout, PyMySQL's read timeout) are lifted alike."""
    slower_than_the_bound = float(app.config["DATABASE_STATEMENT_TIMEOUT_SECONDS"]) + 0.5
    with app.app_context(), db.engine.connect() as connection:
        bounds = connection.exec_driver_sql("SELECT @@max_statement_time, @@innodb_lock_wait_timeout").one()
        assert float(bounds[0]) > 0
        with pytest.raises(OperationalError):
            connection.exec_driver_sql(f"SELECT SLEEP({slower_than_the_bound}) FROM DUAL WHERE 1 = 1")
        connection.rollback()
        with without_statement_bounds(connection):
            assert connection.exec_driver_sql(f"SELECT SLEEP({slower_than_the_bound})").scalar() == 0
            connection.commit()
        after = connection.exec_driver_sql("SELECT @@max_statement_time, @@innodb_lock_wait_timeout").one()
        assert tuple(after) == tuple(bounds)


@pytest.mark.parametrize("stack", [SQLITE_SQL, POSTGRES_SQL, MARIADB_SQL], indirect=True)
def test_datetimes_come_back_as_the_same_utc_instant_with_microseconds(app, demo):
    """Naive UTC in the column (MariaDB: DATETIME(6), whatever the server's time zone), aware UTC on read."""
    from datetime import UTC, datetime, timedelta, timezone

    from sqlalchemy import select, update

    from web.identity.models import Organization

    written = datetime(2026, 3, 29, 1, 30, 15, 123456, tzinfo=timezone(timedelta(hours=2)))
    with app.app_context():
        db.session.execute(update(Organization).where(Organization.id == demo["acme"]).values(created_at=written))
        db.session.commit()
        read = db.session.scalar(select(Organization.created_at).where(Organization.id == demo["acme"]))
        db.session.remove()
    assert read == written and read.tzinfo == UTC and read.microsecond == 123456


@SQLITE_REFLECTION
@pytest.mark.parametrize("stack", [SQLITE_SQL, POSTGRES_SQL, MARIADB_SQL], indirect=True)
def test_organizations_existing_before_0004_get_usd_and_0004_undoes_cleanly(app):
    """0004_organization_currency: a column with a server default, so rows already there read "USD"."""
    with app.app_context():
        downgrade(revision="0003_pending_session_changes")
        assert "currency" not in application_columns(db.engine)["organizations"]
        with db.engine.begin() as connection:
            connection.exec_driver_sql(
                "INSERT INTO organizations (name, created_at) VALUES ('Before', CURRENT_TIMESTAMP)"
            )
        upgrade()
        with db.engine.connect() as connection:
            currencies = connection.exec_driver_sql("SELECT name, currency FROM organizations").all()
        assert [tuple(row) for row in currencies] == [("Before", "USD")]
        downgrade(revision="0003_pending_session_changes")
        assert "currency" not in application_columns(db.engine)["organizations"]
        with db.engine.connect() as connection:
            assert connection.exec_driver_sql("SELECT name FROM organizations").scalar() == "Before"
        upgrade()
        assert application_columns(db.engine) == model_columns()
