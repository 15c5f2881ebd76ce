"""Where a request came from: what the audit trail and the session index record of a client."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ClientInfo:
    """Where a request came from, as the audit trail records it (plain values: services never read the request)."""

    ip: str | None = None
    user_agent: str | None = None
