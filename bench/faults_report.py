"""What the fault run saw, checked against the issue's promises, and printed as counts."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bench.faults import Call, Plan, SimUser

HEALTH_UNHEALTHY_WITHIN = 2.0
FULL_SERVICE_WITHIN = 5.0
USER_KINDS = ("select", "read")
KILL_GRACE_SECONDS = 0.5


def _between(calls: Iterable[Call], start: float, end: float, kinds: Sequence[str]) -> list[Call]:
    """Calls of those kinds sent at or after ``start`` and answered by ``end``."""
    return [c for c in calls if c.kind in kinds and c.started >= start and c.ended <= end]


def _statuses(calls: Iterable[Call]) -> dict[str, int]:
    return dict(sorted(Counter(str(c.status) for c in calls).items()))


def redis_outage(calls: Sequence[Call], events: Mapping[str, float]) -> dict[str, Any]:
    # Down from the moment its port refused connections until it was started again; while it
    # starts (until its first PONG, "redis_started") either a 503 or a 200 is a right answer.
    stopped, started = events["redis_stopped"], events["redis_started"]
    starting = events.get("redis_starting", started)
    # Users' requests; the health check is judged by how soon it turns unhealthy (it may cache its verdict).
    during = _between(calls, stopped, starting, USER_KINDS)
    health_during = _between(calls, stopped, starting, ("health",))
    unhealthy = [c for c in calls if c.kind == "health" and c.started >= stopped and c.status != 200]
    unhealthy_after = (unhealthy[0].ended - stopped) if unhealthy else None
    # Up to the next fault: requests failing while PostgreSQL shuts down are not Redis's.
    after_end = events.get("postgres_stopping", events["load_stopped"])
    failed_after = [c for c in _between(calls, started, after_end, USER_KINDS) if c.status != 200]
    full_service_after = max((c.ended for c in failed_after), default=started) - started
    healthy = [c for c in calls if c.kind == "health" and c.started >= started and c.status == 200]
    statuses = _statuses(during)
    return {
        "down_seconds": round(starting - stopped, 2),
        "statuses_while_down": statuses,
        "only_503_while_down": bool(during) and set(statuses) == {"503"},
        "not_503_while_down": [
            (round(c.started, 3), round(c.ended, 3), c.kind, c.status) for c in during if c.status != 503
        ][:20],
        "health_statuses_while_down": _statuses(health_during),
        "health_unhealthy_after_s": None if unhealthy_after is None else round(unhealthy_after, 2),
        "health_unhealthy_within_2s": unhealthy_after is not None and unhealthy_after <= HEALTH_UNHEALTHY_WITHIN,
        "user_failures_after_return": len(failed_after),
        "statuses_of_failures_after_return": _statuses(failed_after),
        "full_service_after_return_s": round(full_service_after, 2),
        "full_service_within_5s": full_service_after <= FULL_SERVICE_WITHIN,
        "health_healthy_after_return_s": round(healthy[0].ended - started, 2) if healthy else None,
    }


def postgres_restart(calls: Sequence[Call], events: Mapping[str, float]) -> dict[str, Any]:
    stopped, started = events["postgres_stopped"], events["postgres_started"]
    after_end = events.get("instance_killing", events["load_stopped"])
    during = _between(calls, stopped, started, USER_KINDS)
    after = _between(calls, started, after_end, USER_KINDS)
    errors_after = [c for c in after if c.status != 200]
    return {
        "down_seconds": round(started - stopped, 2),
        "statuses_while_down": _statuses(during),
        "requests_after_return": len(after),
        "errors_after_return": len(errors_after),
        "statuses_after_return": _statuses(after),
        "no_errors_after_return": bool(after) and not errors_after,
    }


def instance_kill(calls: Sequence[Call], events: Mapping[str, float]) -> dict[str, Any]:
    killed, started = events["instance_killing"], events["instance_started"]
    end = events["load_stopped"]
    touched = [c for c in calls if c.kind in USER_KINDS and c.ended >= killed and c.started <= end]
    # nginx may have forwarded a request sent just before SIGKILL landed (the signal is sent from
    # another thread of this process): those count as in flight, later ones must all succeed.
    cut_off = killed + KILL_GRACE_SECONDS
    in_flight = [c for c in touched if c.started < cut_off and c.status != 200]
    after = [c for c in touched if c.started >= cut_off and c.status != 200]
    return {
        "down_seconds": round(started - killed, 2),
        "failed_in_flight_at_kill": len(in_flight),
        "in_flight_means_sent_before_s_after_kill": KILL_GRACE_SECONDS,
        "in_flight_statuses": _statuses(in_flight),
        "failed_after_kill": len(after),
        "statuses_after_kill": _statuses(after),
        "routed_around": not after,
    }


def final_state(users: Sequence[SimUser], in_database: Mapping[int, int | None]) -> dict[str, Any]:
    mismatches = []
    for user in users:
        seen = {"session": user.final_deal, "database": in_database.get(user.account.id), "last_ok": user.last_ok}
        if user.pending is not None or len(set(seen.values())) != 1:
            mismatches.append({"user": user.account.email, **seen, "pending": user.pending})
    return {
        "users": len(users),
        "consistent_users": len(users) - len(mismatches),
        "lost_selections": len(mismatches),
        "mismatches": mismatches,
        "stale_reads_during_load": sum(user.stale_reads for user in users),
    }


def analyse(
    plan: Plan,
    calls: Sequence[Call],
    events: Mapping[str, float],
    users: Sequence[SimUser],
    in_database: Mapping[int, int | None],
) -> dict[str, Any]:
    user_calls = [c for c in calls if c.kind in USER_KINDS]
    report: dict[str, Any] = {
        "events": {name: round(at, 2) for name, at in events.items()},
        "requests": {
            "selects": sum(1 for c in user_calls if c.kind == "select"),
            "reads": sum(1 for c in user_calls if c.kind == "read"),
            "health_polls": sum(1 for c in calls if c.kind == "health"),
            "user_statuses": _statuses(user_calls),
            "successful_selects": sum(1 for c in user_calls if c.kind == "select" and c.status == 200),
        },
        "signed_out_responses": sum(1 for c in calls if c.status == 401),
        "server_errors_500": sum(1 for c in calls if c.status == 500),
    }
    checks: dict[str, bool] = {"nobody_signed_out": report["signed_out_responses"] == 0}
    if "redis_started" in events:
        report["redis"] = redis_outage(calls, events)
        checks["redis_only_503"] = report["redis"]["only_503_while_down"]
        checks["redis_health_within_2s"] = report["redis"]["health_unhealthy_within_2s"]
        checks["redis_full_service_within_5s"] = report["redis"]["full_service_within_5s"]
    if "postgres_started" in events:
        report["postgres"] = postgres_restart(calls, events)
        checks["postgres_no_errors_after_return"] = report["postgres"]["no_errors_after_return"]
    if "instance_started" in events:
        report["instance"] = instance_kill(calls, events)
        checks["instance_routed_around"] = report["instance"]["routed_around"]
    report["final"] = final_state(users, in_database)
    checks["zero_lost_selections"] = report["final"]["lost_selections"] == 0
    checks["no_stale_reads"] = report["final"]["stale_reads_during_load"] == 0
    checks["every_fault_injected"] = all(
        name in events for name in ("redis_started", "postgres_started", "instance_started")
    )
    report["checks"] = checks
    report["passed"] = all(checks.values())
    return report


def render(report: dict[str, Any]) -> str:
    """The counts, one line each, for the console and the docs."""
    lines = [f"fault run: {'PASSED' if report['passed'] else 'FAILED'}", f"events (s): {report['events']}"]
    lines.append(f"requests: {report['requests']}")
    for key in ("redis", "postgres", "instance", "final"):
        if key in report:
            lines.append(f"{key}: {report[key]}")
    lines.append(f"401 responses: {report['signed_out_responses']}; 500 responses: {report['server_errors_500']}")
    lines.append(f"scheduler: {report.get('scheduler')}; alive at end: {report.get('processes_alive_at_end')}")
    if report.get("fault_injection_error"):
        lines.append(f"fault injection error: {report['fault_injection_error']}")
    lines.append(f"checks: {report['checks']}")
    return "\n".join(lines)


def render_markdown(report: dict[str, Any], command: str, loadavg: tuple[float, float]) -> str:
    """The fault run for docs/PERFORMANCE.md: the plan's events, each promise with its figure, the counts."""
    redis, postgres = report.get("redis", {}), report.get("postgres", {})
    instance, final, requests = report.get("instance", {}), report["final"], report["requests"]

    def mark(ok: bool) -> str:
        return "passed" if ok else "**FAILED**"

    checks = report["checks"]
    rows = [
        (
            "Redis stopped 10 s: only 503 while down (users' requests)",
            f"{redis.get('statuses_while_down')}; health polls: {redis.get('health_statuses_while_down')}",
            checks.get("redis_only_503"),
        ),
        (
            "health unhealthy within 2 s",
            f"{redis.get('health_unhealthy_after_s')} s after the stop",
            checks.get("redis_health_within_2s"),
        ),
        (
            "full service within 5 s of Redis's return",
            f"{redis.get('full_service_after_return_s')} s ({redis.get('user_failures_after_return')} failures after)",
            checks.get("redis_full_service_within_5s"),
        ),
        (
            "PostgreSQL restarted: no errors once back",
            f"{postgres.get('errors_after_return')} errors in {postgres.get('requests_after_return')} requests;"
            f" while down: {postgres.get('statuses_while_down')}",
            checks.get("postgres_no_errors_after_return"),
        ),
        (
            "instance SIGKILLed: nginx routes around it",
            f"{instance.get('failed_after_kill')} failures sent later than {KILL_GRACE_SECONDS} s after the kill;"
            f" {instance.get('failed_in_flight_at_kill')} in flight at the kill: {instance.get('in_flight_statuses')}",
            checks.get("instance_routed_around"),
        ),
        ("nobody signed out (no 401)", f"{report['signed_out_responses']} responses 401", checks["nobody_signed_out"]),
        (
            "session == users.last_deal_id == last successful selection",
            f"{final['consistent_users']}/{final['users']} users consistent;"
            f" {final['lost_selections']} lost selections; {final['stale_reads_during_load']} stale reads",
            checks["zero_lost_selections"] and checks["no_stale_reads"],
        ),
    ]
    lines = [
        f"Command: `{command}` — {'PASSED' if report['passed'] else '**FAILED**'}."
        f" Load average (1 min) before {loadavg[0]:.2f}, after {loadavg[1]:.2f}.",
        f"Events (s from the start of the load): {report['events']}.",
        f"Requests: {requests['selects']:,} selects ({requests['successful_selects']:,} succeeded),"
        f" {requests['reads']:,} reads, {requests['health_polls']:,} health polls;"
        f" user statuses {requests['user_statuses']}.",
        "",
        "| promise | measured | |",
        "|---|---|---|",
    ]
    lines += [f"| {title} | {figure} | {mark(bool(ok))} |" for title, figure, ok in rows]
    return "\n".join(lines) + "\n"
