"""The cluster's instances run the worker class they are asked for, over ``gunicorn.conf.py``'s.

``bench.faults --worker-class sync`` and ``bench.mix`` compare worker classes by passing
``--worker-class`` beside ``--config gunicorn.conf.py``. That rests on gunicorn letting the
command line win over the config file, and on one more rule of gunicorn's, found by this
test: "sync" with more than one thread (the config file's 4) runs as gthread, so a sync
instance also needs ``--threads 1``. Checked with gunicorn's own parser.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from gunicorn.app.wsgiapp import WSGIApplication

from bench.cluster import Cluster, ClusterSpec


def worker_settings(argv: list[str], monkeypatch: pytest.MonkeyPatch, metrics_dir: Path) -> tuple[str, int]:
    """The worker class and thread count gunicorn would run with for this command line."""
    # gunicorn.conf.py makes a metrics directory of its own unless it is given one.
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(metrics_dir))
    monkeypatch.setattr(sys, "argv", argv)
    config = WSGIApplication("%(prog)s [OPTIONS] [APP_MODULE]").cfg
    return config.worker_class_str, config.threads


@pytest.mark.parametrize("worker_class", ["sync", "gthread"])
def test_the_worker_class_asked_for_wins_over_the_config_file(
    worker_class: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    argv = Cluster(ClusterSpec(worker_class=worker_class)).gunicorn_argv(8000)
    assert argv[-1] == "wsgi:app"
    # "sync" with gunicorn.conf.py's 4 threads would silently run as gthread.
    expected_threads = 1 if worker_class == "sync" else 4
    assert worker_settings(argv, monkeypatch, tmp_path) == (worker_class, expected_threads)


def test_without_a_worker_class_the_config_file_decides(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    argv = Cluster(ClusterSpec()).gunicorn_argv(8000)
    assert "--worker-class" not in argv
    assert worker_settings(argv, monkeypatch, tmp_path) == ("gthread", 4)
