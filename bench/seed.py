"""Bulk bench data in set-based SQL (generate_series), fast enough for a million users.

Bench users are ``bench-<n>@bench.test`` in one organization, all with the demo
password; each owns ``deals_per_user`` deals and starts with its first deal as
``last_deal_id``, so a cold session has something to restore.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, text

from web.demo import DEMO_PASSWORD

NOW_UTC = "(now() AT TIME ZONE 'utc')"


@dataclass(frozen=True)
class BenchUser:
    id: int
    email: str
    deal_ids: tuple[int, ...]


def bench_email(number: int, prefix: str = "bench") -> str:
    return f"{prefix}-{number}@bench.test"


def seed_bench_users(
    conn: Connection,
    *,
    users: int,
    deals_per_user: int,
    password_hash: str,
    prefix: str = "bench",
    organization: str = "Bench Capital",
) -> int:
    """Create an organization with ``users`` members and their deals; returns the organization id."""
    org_id = conn.execute(
        text(f"INSERT INTO organizations (name, created_at) VALUES (:name, {NOW_UTC}) RETURNING id"),
        {"name": organization},
    ).scalar_one()
    conn.execute(
        text(
            "INSERT INTO users (organization_id, email, password_hash, role, is_active, deal_context_version,"
            " created_at, updated_at)"
            f" SELECT :org, :prefix || '-' || g || '@bench.test', :hash, 'member', true, 0, {NOW_UTC}, {NOW_UTC}"
            " FROM generate_series(1, :users) AS g"
        ),
        {"org": org_id, "prefix": prefix, "hash": password_hash, "users": users},
    )
    conn.execute(
        text(
            "INSERT INTO deals (organization_id, owner_id, name, stage, value, created_at, updated_at)"
            f" SELECT :org, u.id, 'Bench deal ' || u.id || '-' || k, 'sourcing', 1000, {NOW_UTC}, {NOW_UTC}"
            " FROM users AS u CROSS JOIN generate_series(1, :deals) AS k WHERE u.organization_id = :org"
            " ORDER BY u.id, k"
        ),
        {"org": org_id, "deals": deals_per_user},
    )
    conn.execute(
        text(
            "UPDATE users SET last_deal_id = first.deal_id FROM"
            " (SELECT owner_id, min(id) AS deal_id FROM deals WHERE organization_id = :org GROUP BY owner_id) AS first"
            " WHERE users.id = first.owner_id"
        ),
        {"org": org_id},
    )
    return int(org_id)


def load_bench_users(conn: Connection, *, prefix: str = "bench", limit: int | None = None) -> list[BenchUser]:
    """The bench users (in creation order) with the ids of the deals they own."""
    rows = conn.execute(
        text(
            "SELECT u.id, u.email, array_agg(d.id ORDER BY d.id) AS deal_ids FROM users AS u"
            " JOIN deals AS d ON d.owner_id = u.id AND d.deleted_at IS NULL"
            " WHERE u.email LIKE :pattern GROUP BY u.id, u.email ORDER BY u.id LIMIT :limit"
        ),
        {"pattern": f"{prefix}-%@bench.test", "limit": limit},
    )
    return [BenchUser(id=row.id, email=row.email, deal_ids=tuple(row.deal_ids)) for row in rows]


def demo_password_hash() -> str:
    """One argon2 hash of the demo password, shared by every bench user (hashing a million would take hours)."""
    from web.identity.auth import hash_password

    return hash_password(DEMO_PASSWORD)
