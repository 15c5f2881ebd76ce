"""The cluster's nginx configuration: loopback only, round robin over the DealDesk instances."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from bench.procs import LOOPBACK


def nginx_config(nginx_dir: Path, listen_port: int, upstream_ports: Sequence[int]) -> str:
    """A complete nginx.conf whose pid file, logs and temp files all live in ``nginx_dir``."""
    servers = "\n".join(f"        server {LOOPBACK}:{port} max_fails=1 fail_timeout=2s;" for port in upstream_ports)
    temp = nginx_dir / "tmp"
    return f"""# Written by bench/cluster.py; loopback only.
worker_processes 2;
pid {nginx_dir / "nginx.pid"};
error_log {nginx_dir / "error.log"} warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {temp / "body"};
    proxy_temp_path {temp / "proxy"};
    fastcgi_temp_path {temp / "fastcgi"};
    uwsgi_temp_path {temp / "uwsgi"};
    scgi_temp_path {temp / "scgi"};
    upstream dealdesk {{
{servers}
    }}
    server {{
        listen {LOOPBACK}:{listen_port};
        location / {{
            proxy_pass http://dealdesk;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_connect_timeout 1s;
            proxy_read_timeout 30s;
            # A refused connection (a dead instance) goes to the next one; a request already
            # sent is never replayed for POST (nginx's default for non-idempotent methods).
            proxy_next_upstream error timeout;
            proxy_next_upstream_tries 3;
        }}
    }}
}}
"""
