"""A PgBouncer of our own in transaction pooling mode, in front of the test PostgreSQL.

Debian's ``pgbouncer`` binary (scripts/install-pgbouncer.sh), never its system service:
a config and auth file of its own in a temporary directory, a spare loopback port, run
in the foreground and stopped by pid. Used by tests/platform/test_pgbouncer.py and by
the fault run's ``--pgbouncer`` option (bench/faults.py).
"""

from __future__ import annotations

import getpass
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url

from tests.support.stacks import require_server

# Debian installs it in /usr/sbin, which a non-root PATH may lack.
PGBOUNCER_PATHS = ("/usr/sbin/pgbouncer", "/usr/bin/pgbouncer")
START_SECONDS = 10.0  # bound on waiting for the listener; it takes milliseconds
STOP_SECONDS = 10.0
# PgBouncer refuses to run as root; when we are root it switches to this user (-u).
UNPRIVILEGED_USER = "postgres"


def pgbouncer_binary() -> str | None:
    found = shutil.which("pgbouncer")
    if found:
        return found
    return next((path for path in PGBOUNCER_PATHS if os.access(path, os.X_OK)), None)


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def pgbouncer_ini(
    *, port: int, auth_file: str, server_host: str, server_port: int, pool_size: int, statement_timeout_ms: int
) -> str:
    """The config the tests run with (docs/DEPLOYMENT.md, "PgBouncer (transaction mode)", shows it).

    ``connect_query`` sets the server-side statement timeout once per *server* connection:
    under transaction pooling the app sends no ``SET`` of its own (``DATABASE_POOLER=pgbouncer``),
    since a session setting would stay on a server connection other clients then use.
    """
    return f"""\
[databases]
* = host={server_host} port={server_port} connect_query='SET statement_timeout = {statement_timeout_ms}'

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
auth_type = trust
auth_file = {auth_file}
pool_mode = transaction
default_pool_size = {pool_size}
min_pool_size = 0
reserve_pool_size = 0
max_client_conn = 200
max_db_connections = {pool_size}
query_wait_timeout = 10
server_connect_timeout = 2
server_login_retry = 1
"""


@dataclass
class PgBouncer:
    """A running pgbouncer: ``url_for(database_url)`` is that URL routed through it."""

    port: int
    workdir: str
    process: subprocess.Popen[bytes]

    def url_for(self, database_url: str) -> str:
        url = make_url(database_url).set(host="127.0.0.1", port=self.port)
        return url.render_as_string(hide_password=False)

    def log(self) -> str:
        return Path(self.workdir, "pgbouncer.log").read_text(errors="replace")

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
    database_url: str, workdir: str, *, pool_size: int = 2, statement_timeout_ms: int = 1000
) -> PgBouncer:
    """Start pgbouncer in front of ``database_url``'s server (the caller stops it: ``PgBouncer.stop``)."""
    binary = pgbouncer_binary()
    if binary is None:
        raise FileNotFoundError("pgbouncer is not installed (scripts/install-pgbouncer.sh)")
    url = make_url(database_url)
    user = url.username or getpass.getuser()
    port = free_port()
    auth_file = Path(workdir, "userlist.txt")
    auth_file.write_text(f'"{user}" ""\n')  # trust: the name must be listed, the password is not checked
    ini = Path(workdir, "pgbouncer.ini")
    ini.write_text(
        pgbouncer_ini(
            port=port,
            auth_file=str(auth_file),
            server_host=url.host or "127.0.0.1",
            server_port=url.port or 5432,
            pool_size=pool_size,
            statement_timeout_ms=statement_timeout_ms,
        )
    )
    argv = [binary, "-q", str(ini)]
    if os.geteuid() == 0:
        argv[1:1] = ["-u", UNPRIVILEGED_USER]
    log = open(Path(workdir, "pgbouncer.log"), "wb")  # noqa: SIM115 - the process owns it
    try:
        process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, cwd=workdir)
    finally:
        log.close()
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
    workdir = tempfile.mkdtemp(prefix="dealdesk-pgbouncer-")
    os.chmod(workdir, 0o755)  # readable by the unprivileged user pgbouncer switches to
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
