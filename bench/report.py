"""The benchmark's table, ratios and target checks as Markdown, and their place in docs/PERFORMANCE.md."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.procs import REPO

DOC = REPO / "docs" / "PERFORMANCE.md"

# (name, DealDesk target, baseline target, minimum ratio of req/s)
RATIO_TARGETS = [
    ("warm GET, Redis: DealDesk / Flask-Session defaults", "dealdesk-redis-warm", "fs-redis", 1.2),
    ("warm GET, Redis: DealDesk / Flask-Session read-only", "dealdesk-redis-warm", "fs-redis-readonly", 0.9),
    ("warm GET, SQL on PostgreSQL: DealDesk / Flask-Session SQLAlchemy", "dealdesk-sql-warm", "fs-sql-postgresql", 3.0),
    ("warm GET, Redis, no fast path: DealDesk / Flask-Session defaults", "dealdesk-redis-warm-flask", "fs-redis", None),
    ("warm GET, Redis: DealDesk / bare Flask (no session)", "dealdesk-redis-warm", "flask", None),
    ("warm GET, Redis: DealDesk / raw WSGI hello", "dealdesk-redis-warm", "hello", None),
]
# (name, target, maximum p99 in ms)
LATENCY_TARGETS = [
    ("select p99 at 32 connections", "dealdesk-redis-select", 10.0),
    ("select p99 at 1 connection", "dealdesk-redis-select-c1", 10.0),
    ("health p99 at 32 connections", "dealdesk-health", 5.0),
    ("health p99 at 1 connection", "dealdesk-health-c1", 5.0),
]


def _ratio(targets: dict[str, Any], ours: str, theirs: str) -> float | None:
    a, b = targets.get(ours, {}), targets.get(theirs, {})
    if "req_per_s" not in a or not b.get("req_per_s"):
        return None
    return float(a["req_per_s"]) / float(b["req_per_s"])


def ratios(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Each DealDesk/baseline ratio of requests per second: the median over the rounds (each from one round)."""
    rounds = report.get("rounds") or [report["targets"]]
    rows = []
    for title, ours, theirs, minimum in RATIO_TARGETS:
        values = sorted(v for v in (_ratio(r, ours, theirs) for r in rounds) if v is not None)
        if not values:
            continue
        value = values[(len(values) - 1) // 2]
        rows.append(
            {
                "title": title,
                "ratio": round(value, 2),
                "rounds": [round(v, 2) for v in values],
                "target": minimum,
                "met": None if minimum is None else value >= minimum,
            }
        )
    return rows


def latency_checks(report: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for title, name, maximum in LATENCY_TARGETS:
        result = report["targets"].get(name, {})
        if "p99_ms" in result:
            rows.append(
                {"title": title, "p99_ms": result["p99_ms"], "target": maximum, "met": result["p99_ms"] < maximum}
            )
    return rows


def _mark(met: bool | None) -> str:
    return "" if met is None else ("met" if met else "**not met**")


def render_markdown(report: dict[str, Any], results_path: Path | str) -> str:
    env = report["environment"]
    load = env["load"]
    lines = [
        f"Run of {report['started_at']} — `{results_path}`. Command: `.venv/bin/{report['command']}`.",
        f"Load average (1 min) before the run {report['loadavg_before'][0]:.2f},"
        f" after {report['loadavg_after'][0]:.2f};"
        f" {env['cpus']} CPUs; {env['wrk']}; gunicorn {env['gunicorn']};"
        f" wrk {load['threads']} threads x {load['connections']} connections, {load['duration_s']:g} s per target"
        f" after a {load['warmup_s']:g} s warm-up; {len(report.get('rounds') or [0])} round(s), each row the"
        " round with the median req/s (every round's req/s beside it).",
        "",
        "| target | conns | req/s | req/s each round | p50 ms | p99 ms | errors | Redis commands / request"
        " | PostgreSQL transactions / request | load avg after |",
        "|---|---:|---:|---|---:|---:|---:|---|---:|---:|",
    ]
    for name, result in report["targets"].items():
        if "skipped" in result:
            lines.append(f"| {result['title']} (`{name}`) | | skipped: {result['skipped']} | | | | | | | |")
            continue
        commands = ", ".join(f"{cmd} {n:g}" for cmd, n in result.get("redis_commands_per_request", {}).items())
        each = ", ".join(f"{v:,.0f}" for v in result.get("req_per_s_rounds", []))
        lines.append(
            f"| {result['title']} (`{name}`) | {result.get('connections', '')} | {result['req_per_s']:,.0f} |"
            f" {each} | {result['p50_ms']:.2f} |"
            f" {result['p99_ms']:.2f} | {result['errors']} | {commands or '—'} |"
            f" {result.get('pg_transactions_per_request', 0):g} | {result['loadavg_after']:.2f} |"
        )
    lines += ["", "| ratio of req/s (median round) | value | every round | target | |", "|---|---:|---|---:|---|"]
    for row in ratios(report):
        target = "" if row["target"] is None else f"≥ {row['target']:g}x"
        every = ", ".join(f"{v:.2f}" for v in row["rounds"])
        lines.append(f"| {row['title']} | {row['ratio']:.2f}x | {every} | {target} | {_mark(row['met'])} |")
    lines += ["", "| latency | p99 ms | target | |", "|---|---:|---:|---|"]
    for row in latency_checks(report):
        lines.append(f"| {row['title']} | {row['p99_ms']:.2f} | < {row['target']:g} ms | {_mark(row['met'])} |")
    return "\n".join(lines) + "\n"


def write_block(block: str, markdown: str) -> None:
    """Replace the generated block ``block`` of docs/PERFORMANCE.md (between its markers) with ``markdown``."""
    begin = f"<!-- bench:{block}:begin (generated; do not edit by hand) -->"
    end = f"<!-- bench:{block}:end -->"
    text = DOC.read_text() if DOC.exists() else "# Performance\n"
    if begin not in text or end not in text:
        text = text.rstrip("\n") + f"\n\n{begin}\n{end}\n"
    head, rest = text.split(begin, 1)
    _, tail = rest.split(end, 1)
    DOC.parent.mkdir(parents=True, exist_ok=True)
    DOC.write_text(f"{head}{begin}\n{markdown}{end}{tail}")


def write_doc(report: dict[str, Any], results_path: Path | str) -> None:
    """The benchmark run's table into docs/PERFORMANCE.md."""
    write_block("run", render_markdown(report, results_path))
