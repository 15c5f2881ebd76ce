"""A PgBouncer of our own in transaction pooling mode, in front of the test PostgreSQL.

The config and command line are bench.pgbouncer's (shared with the fault run's
``--pgbouncer``); here it runs in a temporary directory on a spare loopback port, with a
bounded start, and is stopped by pid at the end. Used by tests/platform/test_pgbouncer.py.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from bench.pgbouncer import pgbouncer_argv, pgbouncer_binary, url_through, write_config
from tests.support.servers import free_port
from tests.support.stacks import require_server

START_SECONDS = 10.0  # bound on waiting for the listener; it takes milliseconds
STOP_SECONDS = 10.0


@dataclass
class PgBouncer:
    """A running pgbouncer: ``url_for(database_url)`` is that URL routed through it."""

    port: int
    workdir: Path
    process: subprocess.Popen[bytes]

    def url_for(self, database_url: str) -> str:
        return url_through(database_url, self.port)

    def log(self) -> str:
        return (self.workdir / "pgbouncer.log").read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()  # SIGTERM: immediate shutdown
            try:
                self.process.wait(timeout=STOP_SECONDS)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=STOP_SECONDS)


def _wait_listening(server: PgBouncer, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if server.process.poll() is not None:
            raise RuntimeError(f"pgbouncer exited with {server.process.returncode}: {server.log()[-2000:]}")
        try:
            with socket.create_connection(("127.0.0.1", server.port), timeout=0.2):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"pgbouncer did not listen within {timeout:g} s: {server.log()[-2000:]}") from None
            time.sleep(0.05)


def start_pgbouncer(
    database_url: str, workdir: Path, *, pool_size: int = 2, statement_timeout_ms: int = 1000
) -> PgBouncer:
    """Start pgbouncer in front of ``database_url``'s server (the caller stops it: ``PgBouncer.stop``)."""
    binary = pgbouncer_binary()
    if binary is None:
        raise FileNotFoundError("pgbouncer is not installed (scripts/install-pgbouncer.sh)")
    port = free_port()
    ini = write_config(workdir, database_url, port=port, pool_size=pool_size, statement_timeout_ms=statement_timeout_ms)
    with open(workdir / "pgbouncer.log", "wb") as log:
        process = subprocess.Popen(pgbouncer_argv(binary, ini), stdout=log, stderr=subprocess.STDOUT, cwd=workdir)
    server = PgBouncer(port=port, workdir=workdir, process=process)
    try:
        _wait_listening(server, START_SECONDS)
    except Exception:
        server.stop()
        raise
    return server


@contextmanager
def running_pgbouncer(
    database_url: str, *, pool_size: int = 2, statement_timeout_ms: int = 1000
) -> Iterator[PgBouncer]:
    """A started pgbouncer in its own temporary directory, always stopped at the end.

    No pgbouncer binary, or one that does not start: the test skips with the reason (fails under CI=true).
    """
    workdir = Path(tempfile.mkdtemp(prefix="dealdesk-pgbouncer-"))
    server: PgBouncer | None = None
    try:
        try:
            server = start_pgbouncer(
                database_url, workdir, pool_size=pool_size, statement_timeout_ms=statement_timeout_ms
            )
        except (FileNotFoundError, RuntimeError) as exc:
            require_server("pgbouncer", str(exc))
        yield server  # type: ignore[misc]
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(workdir, ignore_errors=True)
