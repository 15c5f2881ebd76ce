"""What the fault run saw, checked against the issue's promises, and printed as counts."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bench.faults import Call, Plan, SimUser

HEALTH_UNHEALTHY_WITHIN = 2.0
HEALTHY_AGAIN_WITHIN = 5.0
FULL_SERVICE_WITHIN = 5.0
USER_KINDS = ("select", "read")
KILL_GRACE_SECONDS = 0.5
# Each fault, from the event that begins it to the event that ends it: a 503 is a right answer to a
# user's request that overlapped that window or the FULL_SERVICE_WITHIN seconds after it, and only then.
FAULT_WINDOWS = (
    ("redis_stop", "redis_stopping", "redis_started"),
    ("postgres_restart", "postgres_stopping", "postgres_started"),
    ("postgres_freeze", "postgres_freezing", "postgres_thawed"),
    ("redis_oom", "redis_oom_started", "redis_oom_ended"),
    ("instance_kill", "instance_killing", "instance_started"),
)


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


def _first_after(calls: Iterable[Call], start: float, ok: bool) -> float | None:
    """Seconds from ``start`` until the first health poll sent after it answered 200 (``ok``) or not."""
    for call in calls:
        if call.kind == "health" and call.started >= start and (call.status == 200) == ok:
            return round(call.ended - start, 2)
    return None


def _full_service_after(calls: Sequence[Call], back: float, until: float) -> tuple[list[Call], float]:
    """The users' failed requests sent between ``back`` and ``until``, and when the last of them ended."""
    failed = [c for c in _between(calls, back, until, USER_KINDS) if c.status != 200]
    return failed, max((c.ended for c in failed), default=back) - back


def postgres_restart(calls: Sequence[Call], events: Mapping[str, float]) -> dict[str, Any]:
    stopped, started = events["postgres_stopped"], events["postgres_started"]
    after_end = events.get("postgres_freezing", events.get("instance_killing", events["load_stopped"]))
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


def postgres_freeze(calls: Sequence[Call], events: Mapping[str, float]) -> dict[str, Any]:
    """PostgreSQL SIGSTOPped: 503s (warm reads answer 200 from the session), health unhealthy within 2 s,
    healthy within 5 s of SIGCONT, full service within 5 s."""
    frozen, thawing, thawed = events["postgres_frozen"], events["postgres_thawing"], events["postgres_thawed"]
    during = _between(calls, frozen, thawing, USER_KINDS)
    seconds_503 = sorted(c.ended - c.started for c in during if c.status == 503)
    unhealthy_after = _first_after(calls, frozen, ok=False)
    healthy_after = _first_after(calls, thawed, ok=True)
    failed_after, full_service_after = _full_service_after(
        calls, thawed, events.get("redis_oom_started", events["load_stopped"])
    )
    statuses = _statuses(during)
    return {
        "frozen_seconds": round(thawing - frozen, 2),
        "statuses_while_frozen": statuses,
        "only_200_or_503_while_frozen": bool(during) and set(statuses) <= {"200", "503"},
        # How long a 503 took, queueing in gunicorn included (the bounds: 1.75 s for the first
        # request of a pool, 0.5 s after it).
        "seconds_to_503_median": round(seconds_503[len(seconds_503) // 2], 2) if seconds_503 else None,
        "seconds_to_503_max": round(seconds_503[-1], 2) if seconds_503 else None,
        "answers_503_later_than_2s": sum(1 for seconds in seconds_503 if seconds > 2.0),
        "health_statuses_while_frozen": _statuses(_between(calls, frozen, thawing, ("health",))),
        "health_unhealthy_after_s": unhealthy_after,
        "health_unhealthy_within_2s": unhealthy_after is not None and unhealthy_after <= HEALTH_UNHEALTHY_WITHIN,
        "health_healthy_after_thaw_s": healthy_after,
        "health_healthy_within_5s": healthy_after is not None and healthy_after <= HEALTHY_AGAIN_WITHIN,
        "user_failures_after_thaw": len(failed_after),
        "statuses_of_failures_after_thaw": _statuses(failed_after),
        "full_service_after_thaw_s": round(full_service_after, 2),
        "full_service_within_5s": full_service_after <= FULL_SERVICE_WITHIN,
    }


def redis_oom(calls: Sequence[Call], events: Mapping[str, float]) -> dict[str, Any]:
    """Redis refusing writes (OOM): 503s, never 500s, while it lasts; full service within 5 s of the end."""
    started, ending, ended = events["redis_oom_started"], events["redis_oom_ending"], events["redis_oom_ended"]
    during = _between(calls, started, ending, USER_KINDS)
    failed_after, full_service_after = _full_service_after(
        calls, ended, events.get("instance_killing", events["load_stopped"])
    )
    statuses = _statuses(during)
    return {
        "oom_seconds": round(ending - started, 2),
        "statuses_while_oom": statuses,
        "answers_500_while_oom": statuses.get("500", 0),
        "only_200_or_503_while_oom": bool(during) and set(statuses) <= {"200", "503"},
        "health_statuses_while_oom": _statuses(_between(calls, started, ending, ("health",))),
        "user_failures_after_end": len(failed_after),
        "statuses_of_failures_after_end": _statuses(failed_after),
        "full_service_after_end_s": round(full_service_after, 2),
        "full_service_within_5s": full_service_after <= FULL_SERVICE_WITHIN,
    }


def fault_of(call: Call, events: Mapping[str, float]) -> str | None:
    """The fault whose window the call overlapped, else the one whose FULL_SERVICE_WITHIN seconds after it
    the call overlapped, if any (a fault that begins within 5 s of the previous one's end claims its calls)."""
    for grace in (0.0, FULL_SERVICE_WITHIN):
        for name, begins, ends in FAULT_WINDOWS:
            if begins not in events:
                continue
            window_end = events.get(ends, events["load_stopped"]) + grace
            if call.ended >= events[begins] and call.started <= window_end:
                return name
    return None


def errors_by_fault(calls: Sequence[Call], events: Mapping[str, float]) -> dict[str, Any]:
    """Every 500 by the fault it was sent in ("none": outside every fault), and the users' 503s sent outside."""
    server_errors = Counter(fault_of(c, events) or "none" for c in calls if c.status == 500)
    stray_503 = [c for c in calls if c.kind in USER_KINDS and c.status == 503 and fault_of(c, events) is None]
    return {
        "answers_500_by_fault": dict(sorted(server_errors.items())),
        "answers_503_outside_faults": len(stray_503),
        "first_503s_outside_faults": [(round(c.started, 3), c.kind) for c in stray_503][:20],
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
    if "postgres_thawed" in events and "postgres_frozen" in events:
        report["freeze"] = postgres_freeze(calls, events)
        checks["freeze_only_503"] = report["freeze"]["only_200_or_503_while_frozen"]
        checks["freeze_health_unhealthy_within_2s"] = report["freeze"]["health_unhealthy_within_2s"]
        checks["freeze_health_healthy_within_5s"] = report["freeze"]["health_healthy_within_5s"]
        checks["freeze_full_service_within_5s"] = report["freeze"]["full_service_within_5s"]
    if "redis_oom_ended" in events and "redis_oom_started" in events:
        report["redis_oom"] = redis_oom(calls, events)
        checks["redis_oom_only_503"] = report["redis_oom"]["only_200_or_503_while_oom"]
        checks["redis_oom_full_service_within_5s"] = report["redis_oom"]["full_service_within_5s"]
    if "instance_started" in events:
        report["instance"] = instance_kill(calls, events)
        checks["instance_routed_around"] = report["instance"]["routed_around"]
    report["errors"] = errors_by_fault(calls, events)
    checks["no_500"] = report["server_errors_500"] == 0
    checks["503_only_during_faults"] = report["errors"]["answers_503_outside_faults"] == 0
    report["final"] = final_state(users, in_database)
    checks["zero_lost_selections"] = report["final"]["lost_selections"] == 0
    checks["no_stale_reads"] = report["final"]["stale_reads_during_load"] == 0
    checks["every_fault_injected"] = all(
        name in events
        for name in ("redis_started", "postgres_started", "postgres_thawed", "redis_oom_ended", "instance_started")
    )
    report["checks"] = checks
    report["passed"] = all(checks.values())
    return report


def render(report: dict[str, Any]) -> str:
    """The counts, one line each, for the console and the docs."""
    lines = [f"fault run: {'PASSED' if report['passed'] else 'FAILED'}", f"events (s): {report['events']}"]
    lines.append(f"requests: {report['requests']}")
    for key in ("redis", "postgres", "freeze", "redis_oom", "instance", "errors", "final", "revocations"):
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
    freeze, oom, errors = report.get("freeze", {}), report.get("redis_oom", {}), report.get("errors", {})
    instance, final, requests = report.get("instance", {}), report["final"], report["requests"]
    revocations = report.get("revocations", {})

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
            "PostgreSQL frozen 8 s (SIGSTOP): only 503 while frozen (users' requests; warm reads 200)",
            f"{freeze.get('statuses_while_frozen')}; a 503 took {freeze.get('seconds_to_503_median')} s median,"
            f" {freeze.get('seconds_to_503_max')} s at most ({freeze.get('answers_503_later_than_2s')} later than"
            f" 2 s); health polls: {freeze.get('health_statuses_while_frozen')}",
            checks.get("freeze_only_503"),
        ),
        (
            "health unhealthy within 2 s of the freeze, healthy within 5 s of SIGCONT",
            f"{freeze.get('health_unhealthy_after_s')} s after the freeze;"
            f" {freeze.get('health_healthy_after_thaw_s')} s after SIGCONT",
            checks.get("freeze_health_unhealthy_within_2s") and checks.get("freeze_health_healthy_within_5s"),
        ),
        (
            "full service within 5 s of SIGCONT",
            f"{freeze.get('full_service_after_thaw_s')} s ({freeze.get('user_failures_after_thaw')} failures after)",
            checks.get("freeze_full_service_within_5s"),
        ),
        (
            "Redis out of memory 8 s: only 503 (users' requests)",
            f"{oom.get('statuses_while_oom')}; health polls: {oom.get('health_statuses_while_oom')};"
            f" full service {oom.get('full_service_after_end_s')} s after the limit was lifted",
            checks.get("redis_oom_only_503") and checks.get("redis_oom_full_service_within_5s"),
        ),
        (
            "instance SIGKILLed: nginx routes around it",
            f"{instance.get('failed_after_kill')} failures sent later than {KILL_GRACE_SECONDS} s after the kill;"
            f" {instance.get('failed_in_flight_at_kill')} in flight at the kill: {instance.get('in_flight_statuses')}",
            checks.get("instance_routed_around"),
        ),
        (
            "no session outlives a revocation (one made during each fault and one without)",
            f"{revocations.get('taken')} of {revocations.get('made')} revocations taken after"
            f" {revocations.get('attempts')} attempts; {revocations.get('outlived')} revoked browsers still signed in",
            checks.get("no_session_outlived_a_revocation"),
        ),
        ("nobody signed out (no 401)", f"{report['signed_out_responses']} responses 401", checks["nobody_signed_out"]),
        (
            "no 500 at any time",
            f"{report['server_errors_500']} responses 500, by fault: {errors.get('answers_500_by_fault')}",
            checks.get("no_500"),
        ),
        (
            "503 only during a fault and the 5 s after it",
            f"{errors.get('answers_503_outside_faults')} users' 503s outside",
            checks.get("503_only_during_faults"),
        ),
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
