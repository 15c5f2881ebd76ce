"""axe-core in the browser tests: where the vendored copy lives and how to run it on a page.

axe-core comes from the npm registry through ``scripts/install-axe.sh`` (pinned in package.json
and package-lock.json); nothing is fetched at test time.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from playwright.sync_api import Page

AXE_JS = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"
# What the issue holds us to: no serious or critical violation on any page.
BLOCKING_IMPACTS = frozenset({"serious", "critical"})


@dataclass(frozen=True)
class Violation:
    page: str
    rule: str
    impact: str
    help: str
    targets: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.page}: {self.rule} ({self.impact}) {self.help} at {', '.join(self.targets[:3])}"


def axe_missing_reason() -> str | None:
    if not AXE_JS.exists():
        return f"{AXE_JS} not found: run scripts/install-axe.sh (make test does when CI=true)"
    return None


def blocking_violations(page: Page, name: str) -> list[Violation]:
    """Run axe on the page as it is now (WCAG 2.x A and AA rules and best practices); the serious and critical ones.

    The context must be opened with ``bypass_csp=True``: the page's CSP refuses the injected script.
    """
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.add_script_tag(path=str(AXE_JS))
    results = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    return [
        Violation(
            page=name,
            rule=item["id"],
            impact=item.get("impact") or "",
            help=item["help"],
            targets=tuple(str(node["target"]) for node in item["nodes"]),
        )
        for item in results["violations"]
        if item.get("impact") in BLOCKING_IMPACTS
    ]
