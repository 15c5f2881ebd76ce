"""gunicorn settings for DealDesk: ``gunicorn -c gunicorn.conf.py`` (docs/DEPLOYMENT.md).

Everything an operator tunes comes from the environment:

* ``GUNICORN_BIND`` (default ``127.0.0.1:8000``), ``WEB_CONCURRENCY`` (workers, default 2),
  ``GUNICORN_THREADS`` (threads per worker, default 4), ``GUNICORN_TIMEOUT`` (default 30 s),
  ``GUNICORN_GRACEFUL_TIMEOUT`` (default 30 s), ``GUNICORN_CONTROL_SOCKET`` (off by default),
  ``FORWARDED_ALLOW_IPS`` (read by gunicorn itself).
* ``PROMETHEUS_MULTIPROC_DIR``: where the workers' metric files live; one directory per
  gunicorn instance. When unset, a fresh temporary directory is made for this instance.
* ``SCHEDULER_ENABLED=1``: each worker starts the job scheduler once it has loaded the
  app (never at import, never in the master); the cluster lock makes each tick run once.

Logs: JSON lines to stdout for gunicorn's own and the access log, with the request
id (the response's ``X-Request-ID``) on every access line.
"""

from __future__ import annotations

import glob
import os
import shutil
import tempfile

from web.config import log_format, scheduler_enabled
from web.platform.logging_setup import gunicorn_logconfig

# Workers must see the metrics directory before they import prometheus_client.
_own_metrics_dir = None
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    _own_metrics_dir = os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="dealdesk-metrics-")

wsgi_app = "wsgi:app"
bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
worker_class = "gthread"
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
# SIGTERM: stop accepting, let in-flight requests (and a running job) finish for this long.
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "30"))
keepalive = 5
# gunicorn 27's control socket defaults to one path per user: several instances on a host would
# collide. Off unless an operator names one.
control_socket = os.environ.get("GUNICORN_CONTROL_SOCKET") or None
control_socket_disable = control_socket is None
# Each worker builds its own app (and its own connection pools) after the fork.
preload_app = False

accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
logconfig_dict = gunicorn_logconfig(log_format(os.environ))
# With LOG_FORMAT=text this is the line (the request id is in the prefix); with JSON the formatter
# picks the same atoms as fields.
access_log_format = '%(h)s "%(r)s" %(s)s %(B)s %(M)sms'


def on_starting(server):  # type: ignore[no-untyped-def]
    """Fresh metric files for this instance: counters restart with the master."""
    directory = os.environ["PROMETHEUS_MULTIPROC_DIR"]
    os.makedirs(directory, exist_ok=True)
    for path in glob.glob(os.path.join(directory, "*.db")):
        os.remove(path)


def post_worker_init(worker):  # type: ignore[no-untyped-def]
    """After the fork and the app load: start this worker's scheduler when SCHEDULER_ENABLED=1."""
    from flask import Flask

    from web.jobs.scheduler import start_embedded_scheduler

    app = worker.wsgi
    if isinstance(app, Flask):
        start_embedded_scheduler(app)
    elif scheduler_enabled(os.environ):
        worker.log.warning("SCHEDULER_ENABLED is set but %r is not the Flask app; scheduler not started", app)


def worker_exit(server, worker):  # type: ignore[no-untyped-def]
    """Graceful shutdown: let a running job finish (bounded by graceful_timeout), then stop the scheduler."""
    from flask import Flask

    from web.jobs.scheduler import stop_embedded_scheduler

    app = getattr(worker, "wsgi", None)
    if isinstance(app, Flask):
        stop_embedded_scheduler(app)


def child_exit(server, worker):  # type: ignore[no-untyped-def]
    """A worker is gone: drop its live gauges from the merged metrics."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):  # type: ignore[no-untyped-def]
    """Remove the metrics directory this instance made for itself (an operator's own is left alone)."""
    if _own_metrics_dir:
        shutil.rmtree(_own_metrics_dir, ignore_errors=True)
