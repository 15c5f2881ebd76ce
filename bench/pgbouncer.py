"""A PgBouncer of our own in transaction pooling mode: its config, its command line, its address.

Debian's ``pgbouncer`` binary (scripts/install-pgbouncer.sh), never its system service: a
config and auth file of its own in a directory of the caller's, a spare loopback port, run
in the foreground and stopped by pid. The fault run (``bench.faults --pgbouncer``) starts
it as a process of its cluster; the tests start it through tests/support/pgbouncer.py.
docs/DEPLOYMENT.md, "PgBouncer (transaction mode)", shows the same config.
"""

from __future__ import annotations

import getpass
import os
import shutil
from pathlib import Path

from sqlalchemy.engine import make_url

# Debian installs it in /usr/sbin, which a non-root PATH may lack.
PGBOUNCER_PATHS = ("/usr/sbin/pgbouncer", "/usr/bin/pgbouncer")
# PgBouncer refuses to run as root; started by root it switches to this user (-u).
UNPRIVILEGED_USER = "postgres"


def pgbouncer_binary() -> str | None:
    found = shutil.which("pgbouncer")
    if found:
        return found
    return next((path for path in PGBOUNCER_PATHS if os.access(path, os.X_OK)), None)


def pgbouncer_ini(
    *, port: int, auth_file: str, server_host: str, server_port: int, pool_size: int, statement_timeout_ms: int
) -> str:
    """The config: transaction pooling, ``pool_size`` server connections per database and user.

    ``connect_query`` sets the server-side statement timeout once per *server* connection:
    behind transaction pooling the app sends no ``SET`` of its own (``DATABASE_POOLER=pgbouncer``),
    since a session setting would stay on a server connection other clients then use.
    ``server_login_retry`` 0.05 s (default 15 s): after a failed server login PgBouncer fails every client at
    once for this long and only then tries PostgreSQL again, so this is how long a restarted PostgreSQL goes
    unused (measured with the app's engine and a PostgreSQL restarted behind it: 0.25 s left 19 failures in
    the first 0.15 s after the return, 0.05 s none). A refused connect on a LAN costs next to nothing.
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
max_db_connections = {pool_size}
max_client_conn = 400
query_wait_timeout = 10
server_connect_timeout = 2
server_login_retry = 0.05
"""


def write_config(workdir: Path, database_url: str, *, port: int, pool_size: int, statement_timeout_ms: int) -> Path:
    """pgbouncer.ini and its auth file in ``workdir`` (made readable by the user pgbouncer runs as)."""
    workdir.mkdir(parents=True, exist_ok=True)
    workdir.chmod(0o755)
    url = make_url(database_url)
    auth_file = workdir / "userlist.txt"
    # auth_type trust: the user name must be listed, the password is not checked.
    auth_file.write_text(f'"{url.username or getpass.getuser()}" ""\n')
    ini = workdir / "pgbouncer.ini"
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
    return ini


def pgbouncer_argv(binary: str, ini: Path) -> list[str]:
    """Run in the foreground (the caller holds the pid), as ``postgres`` when started by root."""
    if os.geteuid() == 0:
        return [binary, "-u", UNPRIVILEGED_USER, "-q", str(ini)]
    return [binary, "-q", str(ini)]


def url_through(database_url: str, port: int) -> str:
    """``database_url`` routed through the pgbouncer on loopback ``port`` (same database and user)."""
    return make_url(database_url).set(host="127.0.0.1", port=port).render_as_string(hide_password=False)
