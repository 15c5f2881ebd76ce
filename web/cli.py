"""Command-line entry points: ``flask --app web <command>``."""

from __future__ import annotations

import json
import signal
import sys
import threading
from datetime import UTC, datetime
from typing import Any, NoReturn

import click
from flask import Flask, current_app
from flask.cli import AppGroup, with_appcontext
from sqlalchemy import select

from web.demo import DEMO_PASSWORD, database_is_empty, seed_demo_data
from web.extensions import db
from web.identity.models import User, email_is
from web.identity.session_index import list_user_sessions
from web.identity.session_sync import revoke_all_sessions, revoke_session
from web.jobs.registry import JOBS, get_job
from web.jobs.runner import run_job
from web.jobs.scheduler import job_cron, job_period, run_scheduler_forever
from web.jobs.status import job_statuses
from web.platform.health import health_document


@click.command("seed-demo")
@click.option("--force", is_flag=True, help="Seed even when the database already has data.")
def seed_demo(force: bool) -> None:
    """Create the demo organizations, users and deals when the database is empty."""
    if not force and not database_is_empty(db.session):
        click.echo("Database already has data; demo data not added (use --force to add it anyway).")
        return
    counts = seed_demo_data(db.session)
    click.echo(
        "Demo data created: "
        + ", ".join(f"{count} {name}" for name, count in counts.items())
        + f". Every demo password is {DEMO_PASSWORD!r}."
    )


# --- Operations (docs/QUICKREF.md) ------------------------------------------------------------
#
# Exit codes scripts can rely on: 0 done; 1 failed (a job failed, the instance is
# unhealthy, a job is overdue); 2 bad usage (unknown user, unknown job: click's
# code for usage errors); 75 (EX_TEMPFAIL) another process holds the job's lock, try later.

EXIT_FAILED = 1
EXIT_LOCKED = 75

sessions_cli = AppGroup("sessions", help="Expired-session cleanup; list and revoke a user's sessions.")
deals_cli = AppGroup("deals", help="Deal maintenance.")
jobs_cli = AppGroup("jobs", help="Scheduled jobs: status and manual runs.")
scheduler_cli = AppGroup("scheduler", help="Run the job scheduler as its own process.")


def _app() -> Flask:
    return current_app._get_current_object()  # type: ignore[attr-defined]


def _user_by_email(email: str) -> User:
    user = db.session.scalar(select(User).where(email_is(email)))
    if user is None:
        raise click.BadParameter(f"no user with email {email!r}", param_hint="--user")
    return user


def _when(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S UTC") if value else "-"


def _run_job_command(job_id: str) -> NoReturn:
    """Run a job now, under its cluster lock and recorded in job_runs, with progress on stderr."""
    try:
        spec = get_job(job_id)
    except KeyError as exc:
        raise click.BadParameter(str(exc.args[0]), param_hint="JOB") from exc
    click.echo(f"{job_id}: running ({spec.description.lower()})")
    result = run_job(_app(), spec, progress=lambda rows: click.echo(f"{job_id}: {rows} rows so far", err=True))
    if result.status == "success":
        click.echo(f"{job_id}: done, {result.rows_affected} rows affected")
        sys.exit(0)
    if result.status == "skipped":
        click.echo(f"{job_id}: not run: {result.reason}", err=True)
        sys.exit(EXIT_LOCKED)
    click.echo(f"{job_id}: FAILED: {result.reason}", err=True)
    sys.exit(EXIT_FAILED)


@sessions_cli.command("cleanup")
def sessions_cleanup() -> NoReturn:
    """Delete expired SQL sessions and stale session-index rows now (the daily job, run by hand)."""
    _run_job_command("session_cleanup")


@sessions_cli.command("list")
@click.option("--user", "email", required=True, help="The user's email address.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def sessions_list(email: str, as_json: bool) -> None:
    """List a user's live sessions, most recently seen first."""
    user = _user_by_email(email)
    rows = list_user_sessions(db.session, user.id)
    if as_json:
        fields = ("public_id", "created_at", "last_seen_at", "expires_at", "ip", "user_agent")
        click.echo(json.dumps([{f: getattr(row, f) for f in fields} for row in rows], default=str, indent=2))
        return
    click.echo(f"{len(rows)} live session(s) for {user.email}")
    for row in rows:
        click.echo(
            f"  {row.public_id}  created {_when(row.created_at)}  last seen {_when(row.last_seen_at)}"
            f"  expires {_when(row.expires_at)}  ip {row.ip or '-'}  {(row.user_agent or '-')[:60]}"
        )


@sessions_cli.command("revoke")
@click.option("--user", "email", required=True, help="The user's email address.")
@click.option("--session", "public_id", help="Revoke only this session (its id from `sessions list`).")
def sessions_revoke(email: str, public_id: str | None) -> None:
    """Sign a user out everywhere (or out of one session): the sessions are destroyed now."""
    user = _user_by_email(email)
    if public_id is None:
        count = revoke_all_sessions(db.session, user_id=user.id)
        click.echo(f"revoked {count} session(s) of {user.email}")
        return
    if revoke_session(db.session, public_id=public_id, user_id=user.id) is None:
        raise click.BadParameter(f"{user.email} has no session {public_id!r}", param_hint="--session")
    click.echo(f"revoked session {public_id} of {user.email}")


@deals_cli.command("clear-stale")
def deals_clear_stale() -> NoReturn:
    """Clear users' last deal where that deal is deleted or no longer visible (the weekly job, by hand)."""
    _run_job_command("stale_deal_cleanup")


@jobs_cli.command("run")
@click.argument("job_id", metavar="JOB")
def jobs_run(job_id: str) -> NoReturn:
    """Run one job now (see `jobs status` for the ids)."""
    _run_job_command(job_id)


@jobs_cli.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def jobs_status(as_json: bool) -> None:
    """Each job's schedule, last run and last success; exit 1 when a job's last run failed or it is overdue."""
    now = datetime.now(UTC)
    with db.engine.connect() as conn:
        statuses = job_statuses(conn)
    report = []
    for spec in JOBS:
        status = statuses[spec.id]
        overdue = status.overdue(job_period(_app(), spec, now), now)
        report.append({**status.__dict__, "schedule": job_cron(_app(), spec), "overdue": overdue})
    if as_json:
        click.echo(json.dumps(report, default=str, indent=2))
    else:
        for item in report:
            click.echo(_status_line(item))
            if item["last_status"] == "failed" and item["last_error"]:
                click.echo(f"{'':<20} error: {item['last_error']}")
    if any(item["overdue"] or item["last_status"] == "failed" for item in report):
        sys.exit(EXIT_FAILED)


def _status_line(item: dict[str, Any]) -> str:
    rows = "-" if item["last_rows"] is None else item["last_rows"]
    return (
        f"{item['job']:<20} schedule {item['schedule']!r:<14} last run {_when(item['last_started_at'])}"
        f" {item['last_status'] or 'never':<8} rows {rows}  last success {_when(item['last_success_at'])}"
        + (" OVERDUE" if item["overdue"] else "")
    )


@scheduler_cli.command("run")
def scheduler_run() -> None:
    """Run the scheduler in the foreground until SIGTERM or Ctrl-C (instead of SCHEDULER_ENABLED in gunicorn)."""
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    click.echo("scheduler running; SIGTERM or Ctrl-C stops it", err=True)
    run_scheduler_forever(_app(), stop)


@click.command("health")
@with_appcontext
def health_command() -> None:
    """Print this instance's session health document; exit 1 when unhealthy."""
    document, status = health_document(_app())
    click.echo(json.dumps(document, indent=2))
    if status != 200:
        sys.exit(EXIT_FAILED)


def register_commands(app: Flask) -> None:
    app.cli.add_command(seed_demo)
    for group in (sessions_cli, deals_cli, jobs_cli, scheduler_cli):
        app.cli.add_command(group)
    app.cli.add_command(health_command)
