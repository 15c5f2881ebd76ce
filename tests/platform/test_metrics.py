"""GET /metrics: the named series move with what happens, and add up across gunicorn workers."""

from __future__ import annotations

import http.cookiejar
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import delete

from tests.support.databases import migrate_database
from tests.support.stacks import POSTGRES_REDIS, SQLITE_SQL
from tests.support.state import run_sql, session_rows
from web.deals.models import DealMember
from web.jobs.registry import get_job
from web.jobs.runner import run_job

REPO = Path(__file__).resolve().parents[2]
ON_TWO_STACKS = pytest.mark.parametrize("stack", [SQLITE_SQL, POSTGRES_REDIS], indirect=True)


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


class Delta:
    """Counter changes over a block of requests (the registry is per process and shared by tests)."""

    def __init__(self, *series: tuple[str, dict[str, str]]) -> None:
        self.series = series
        self.before = [sample(name, **labels) for name, labels in series]

    def __call__(self) -> list[float]:
        return [
            sample(name, **labels) - before for (name, labels), before in zip(self.series, self.before, strict=True)
        ]


def scraped(app) -> dict[str, float]:  # type: ignore[no-untyped-def]
    response = app.test_client().get("/metrics")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    values = {}
    for family in text_string_to_metric_families(response.get_data(as_text=True)):
        for s in family.samples:
            key = s.name + ("{" + ",".join(f"{k}={v}" for k, v in sorted(s.labels.items())) + "}" if s.labels else "")
            values[key] = s.value
    return values


@ON_TWO_STACKS
def test_restores_and_warm_requests_are_counted(browser, demo, app):
    counts = Delta(
        ("auto_restore_total", {"result": "restored"}),
        ("auto_restore_total", {"result": "empty"}),
        ("auto_restore_warm_total", {}),
        ("auto_restore_duration_seconds_count", {}),
    )
    alice = browser()
    alice.login("alice@acme.test")  # nothing selected yet: "empty"
    assert alice.post(f"/api/deals/{demo['northwind']}/select").status_code == 200
    for _ in range(5):
        alice.current_deal_id()  # warm: the session holds the context
    browser().login("alice@acme.test")  # another browser: "restored"

    restored, empty, warm, timed = counts()
    assert (restored, empty, timed) == (1, 1, 2)
    assert warm >= 5


@ON_TWO_STACKS
def test_a_denied_restore_is_counted(browser, demo, app):
    dave = browser()
    dave.login("dave@acme.test")
    assert dave.post(f"/api/deals/{demo['woodgrove']}/select").status_code == 200
    run_sql(app, delete(DealMember).where(DealMember.user_id == demo["dave"]))
    counts = Delta(("auto_restore_total", {"result": "denied"}))
    browser().login("dave@acme.test")
    assert counts() == [1]


@ON_TWO_STACKS
def test_deal_selections_are_counted_by_result(api, demo):
    counts = Delta(("deal_select_total", {"result": "selected"}), ("deal_select_total", {"result": "not_found"}))
    api.login("bob@acme.test")
    assert api.post(f"/api/deals/{demo['tailspin']}/select").status_code == 200
    assert api.post(f"/api/deals/{demo['initech']}/select").status_code == 404  # another organization's
    assert counts() == [1, 1]


@ON_TWO_STACKS
def test_requests_are_counted_by_endpoint_and_status(api, app):
    counts = Delta(("http_requests_total", {"endpoint": "auth_api.me", "method": "GET", "status": "401"}))
    api.get("/api/me")
    api.get("/api/me")
    assert counts() == [2]
    assert sample("http_request_duration_seconds_count", endpoint="auth_api.me", method="GET") >= 2


@ON_TWO_STACKS
def test_job_runs_and_last_success_come_from_the_runs(app):
    counts = Delta(("job_runs_total", {"job": "session_cleanup", "status": "success"}))
    before = time.time()
    assert run_job(app, get_job("session_cleanup")).status == "success"
    assert counts() == [1]
    values = scraped(app)
    last_success = values["job_last_success_timestamp_seconds{job=session_cleanup}"]
    assert before - 1 <= last_success <= time.time() + 1
    assert "job_last_success_timestamp_seconds{job=stale_deal_cleanup}" not in values  # never ran


@ON_TWO_STACKS
def test_the_named_series_are_exposed_and_scrapes_create_no_session(app):
    text = app.test_client().get("/metrics").get_data(as_text=True)
    for name in (
        "auto_restore_total",
        "auto_restore_duration_seconds",
        "auto_restore_warm_total",
        "deal_select_total",
        "session_store_errors_total",
        "job_runs_total",
        "job_last_success_timestamp_seconds",
        "http_requests_total",
        "http_request_duration_seconds",
    ):
        assert f"# TYPE {name.removesuffix('_total')}" in text, name
    assert session_rows(app) == 0


# --- Several gunicorn workers ----------------------------------------------------------------


def spare_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_serving(url: str, process: subprocess.Popen, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"gunicorn exited with {process.returncode}")
        try:
            urllib.request.urlopen(url, timeout=2).close()
            return
        except OSError:  # refused, reset or timed out while the workers boot
            time.sleep(0.2)
    raise AssertionError(f"gunicorn did not answer {url} within {timeout} s")


def test_counts_add_up_across_gunicorn_workers(tmp_path):
    """Two workers, many connections: every scrape reports the whole instance, whichever worker answers."""
    from web import create_app
    from web.demo import seed_demo_data
    from web.extensions import db

    database_url = f"sqlite:///{tmp_path / 'gunicorn.db'}"
    migrate_database(database_url)
    seeded = create_app({"APP_ENV": "test", "SQLALCHEMY_DATABASE_URI": database_url, "SESSION_BACKEND": "sqlalchemy"})
    with seeded.app_context():
        seed_demo_data(db.session)
        db.session.remove()
        db.engine.dispose()
    port = spare_port()
    (tmp_path / "metrics").mkdir()
    env = {
        **os.environ,
        "APP_ENV": "test",
        "SECRET_KEY": "gunicorn-metrics-test",
        "DATABASE_URL": database_url,
        "SESSION_BACKEND": "sqlalchemy",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "WEB_CONCURRENCY": "2",
        "GUNICORN_THREADS": "2",
    }
    gunicorn = [str(Path(sys.executable).parent / "gunicorn"), "-c", "gunicorn.conf.py"]
    process = subprocess.Popen(gunicorn, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(f"{base}/api/health/session", process)
        jar = http.cookiejar.CookieJar()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        token = json.load(opener.open(f"{base}/api/csrf"))["csrf_token"]
        login = urllib.request.Request(
            f"{base}/api/auth/login",
            data=json.dumps({"email": "alice@acme.test", "password": "demo-password"}).encode(),
            headers={"Content-Type": "application/json", "X-CSRFToken": token},
        )
        opener.open(login).close()
        warm_requests = 30
        for _ in range(warm_requests):
            opener.open(f"{base}/api/deals/current").close()  # a new connection each time: both workers serve

        scrapes = []
        for _ in range(6):
            text = urllib.request.urlopen(f"{base}/metrics", timeout=5).read().decode()
            values = {
                s.name: s.value
                for family in text_string_to_metric_families(text)
                for s in family.samples
                if not s.labels
            }
            scrapes.append((values.get("auto_restore_warm_total"), values.get("auto_restore_duration_seconds_count")))
        assert set(scrapes) == {(float(warm_requests), 1.0)}, scrapes
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
