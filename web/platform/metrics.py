"""Prometheus metrics: the named series, request counts and latencies, and ``GET /metrics``.

Under gunicorn each worker is its own process, so the values live in
prometheus-client's multiprocess files (``PROMETHEUS_MULTIPROC_DIR``, set by
gunicorn.conf.py before any worker imports this module) and ``/metrics`` merges
them: whichever worker answers the scrape reports the whole instance.

Declaring a metric touches no server; nothing here connects at import time.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from flask import Flask, Response, current_app, g, request, request_finished, request_started
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics, generate_latest
from prometheus_client import multiprocess as prometheus_multiprocess
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.registry import REGISTRY, Collector

from web.domain_errors import DomainError, NotFound

log = logging.getLogger(__name__)

# app.extensions key: the collectors read at each scrape (add_scrape_collector).
SCRAPE_COLLECTORS_KEY = "dealdesk_scrape_collectors"

FAST_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)

AUTO_RESTORE = Counter(
    "auto_restore_total",
    "Cold sessions whose deal context was restored from users.last_deal_id, by result.",
    ["result"],
)
AUTO_RESTORE_DURATION = Histogram(
    "auto_restore_duration_seconds",
    "Time spent restoring a cold session's deal context (the one restore statement and the session write).",
    buckets=FAST_BUCKETS,
)
AUTO_RESTORE_WARM = Counter(
    "auto_restore_warm_total",
    "Signed-in requests whose session already held a deal context: the restore hook exited with no query.",
)
FAST_PATH_OUTCOMES = (
    "answered",
    "no_session",
    "store_error",
    "signed_out",
    "no_context",
    "cache_due",
    "extension_due",
    "changes_owed",
)
FAST_PATH = Counter(
    "current_deal_fast_path_total",
    "GET /api/deals/current before Flask (web/deal_context/fast_path.py): "
    "answered from the session, or why it went to Flask.",
    ["outcome"],
)
DEAL_SELECT = Counter("deal_select_total", "Deal selections through the API, by result.", ["result"])
SESSION_STORE_ERRORS = Counter(
    "session_store_errors_total",
    "Session store operations that failed because the store was unreachable or failing, by operation.",
    ["operation"],
)
JOB_RUNS = Counter(
    "job_runs_total",
    "Scheduled job executions in this process, by job and status (success, failed, skipped).",
    ["job", "status"],
)
HTTP_REQUESTS = Counter(
    "http_requests_total", "HTTP requests by Flask endpoint, method and status.", ["endpoint", "method", "status"]
)
HTTP_LATENCY = Histogram(
    "http_request_duration_seconds",
    "Time from the start of request dispatch to the finished response, by Flask endpoint.",
    ["endpoint", "method"],
)
# Set by the process that ran the job; /metrics also reports the cluster-wide value
# from job_runs (see JobStatusCollector), which survives restarts.
JOB_LAST_SUCCESS_LOCAL = Gauge(
    "job_last_success_local_timestamp_seconds",
    "Unix time of the last successful execution of a job in this instance.",
    ["job"],
    multiprocess_mode="max",
)


def multiprocess_dir() -> str | None:
    """The directory of prometheus-client's multiprocess files, when running under gunicorn."""
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


@contextmanager
def timed_restore() -> Iterator[None]:
    """Time one auto-restore; an exception counts as ``result="error"`` and propagates."""
    started = time.perf_counter()
    try:
        yield
    except Exception:
        AUTO_RESTORE.labels(result="error").inc()
        raise
    finally:
        AUTO_RESTORE_DURATION.observe(time.perf_counter() - started)


@contextmanager
def counted_deal_select() -> Iterator[None]:
    """Count one deal selection: ``selected``, ``not_found`` (missing or not visible), ``rejected`` or ``error``."""
    try:
        yield
    except NotFound:
        DEAL_SELECT.labels(result="not_found").inc()
        raise
    except DomainError:
        DEAL_SELECT.labels(result="rejected").inc()
        raise
    except Exception:
        DEAL_SELECT.labels(result="error").inc()
        raise
    DEAL_SELECT.labels(result="selected").inc()


def record_job_run(job: str, status: str, finished_at: float | None = None) -> None:
    JOB_RUNS.labels(job=job, status=status).inc()
    if status == "success":
        JOB_LAST_SUCCESS_LOCAL.labels(job=job).set(finished_at or time.time())


def _request_started(sender: Flask, **_extra: object) -> None:
    g.metrics_started = time.perf_counter()


def _request_finished(sender: Flask, response: Response, **_extra: object) -> None:
    endpoint = request.endpoint or "none"  # unknown URLs share one label: no cardinality blow-up
    HTTP_REQUESTS.labels(endpoint=endpoint, method=request.method, status=str(response.status_code)).inc()
    started = g.get("metrics_started")
    if started is not None:
        HTTP_LATENCY.labels(endpoint=endpoint, method=request.method).observe(time.perf_counter() - started)


def add_scrape_collector(app: Flask, collector: Collector) -> None:
    """Report ``collector`` on this app's ``/metrics``: for values read when scraped (the jobs' status)."""
    app.extensions.setdefault(SCRAPE_COLLECTORS_KEY, []).append(collector)


def scrape(collectors: Iterable[Collector] = ()) -> bytes:
    """The exposition text: this process (or, under gunicorn, every worker) plus ``collectors``, read now."""
    path = multiprocess_dir()
    if path:
        registry = CollectorRegistry()
        prometheus_multiprocess.MultiProcessCollector(registry, path=path)
        text = generate_latest(registry)
    else:
        text = generate_latest(REGISTRY)
    extra = CollectorRegistry(auto_describe=False)
    for collector in collectors:
        extra.register(collector)
    return text + generate_latest(extra)


def metrics_view() -> Response:
    # The classic text format: what generate_latest writes and every Prometheus version reads.
    collectors = current_app.extensions.get(SCRAPE_COLLECTORS_KEY, ())
    return Response(scrape(collectors), content_type=CONTENT_TYPE_PLAIN_0_0_4, headers={"Cache-Control": "no-store"})


def register_metrics(app: Flask) -> None:
    """Count every request by endpoint, and serve ``GET /metrics``."""
    disable_created_metrics()  # the *_created series only double the output
    request_started.connect(_request_started, app)
    request_finished.connect(_request_finished, app)
    app.add_url_rule("/metrics", endpoint="metrics", view_func=metrics_view, methods=["GET"])
