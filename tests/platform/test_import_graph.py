"""No import cycle in ``web``, counting every import: module level, inside functions, under ``TYPE_CHECKING``.

An import moved inside a function to dodge a cycle is still one (STYLE.md, point 13): such
things are wired in the factory instead. Edges go from a module to the module it names:
``from pkg import name`` points at ``pkg.name`` when that is a submodule, else at ``pkg``.
An edge to one's own ancestor package is left out (Python runs it first anyway).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

WEB = Path(__file__).resolve().parents[2] / "web"

# The services and permissions: they speak the domain (web.domain_errors), never HTTP.
SERVICES = (
    "web.audit.service",
    "web.deal_context.service",
    "web.deals.notes",
    "web.deals.permissions",
    "web.deals.service",
    "web.identity.accounts",
)


def module_name(path: Path) -> str:
    parts = list(path.relative_to(WEB.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def web_modules() -> dict[str, Path]:
    """Every module under web/, by dotted name."""
    return {module_name(path): path for path in sorted(WEB.rglob("*.py"))}


def is_package(path: Path) -> bool:
    return path.name == "__init__.py"


def imported_names(module: str, path: Path) -> Iterator[str]:
    """The dotted names every import statement in the file brings in, wherever the statement stands."""
    package = module if is_package(path) else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                yield f"{base}.{alias.name}"
            yield base


def resolve(name: str, modules: dict[str, Path]) -> str | None:
    """The longest prefix of ``name`` that is a web module (``pkg.name`` when a submodule, else ``pkg``)."""
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        candidate = ".".join(parts[:end])
        if candidate in modules:
            return candidate
    return None


def is_ancestor(package: str, module: str) -> bool:
    return module.startswith(package + ".")


def import_graph() -> dict[str, set[str]]:
    modules = web_modules()
    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        targets = {resolve(name, modules) for name in imported_names(module, path)}
        graph[module] = {
            target for target in targets if target and target != module and not is_ancestor(target, module)
        }
    return graph


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative: every component of more than one module."""
    index: dict[str, int] = {}
    lowlink: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [(root, iter(sorted(graph[root])))]
        index[root] = lowlink[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = lowlink[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    lowlink[node] = min(lowlink[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                lowlink[parent] = min(lowlink[parent], lowlink[node])
            if lowlink[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    components.append(sorted(component))
    return components


def describe(component: list[str], graph: dict[str, set[str]]) -> str:
    members = set(component)
    edges = [f"    {source} -> {target}" for source in component for target in sorted(graph[source] & members)]
    return "\n".join([" <-> ".join(component), *edges])


def test_web_has_no_import_cycle() -> None:
    graph = import_graph()
    cycles = strongly_connected(graph)
    assert not cycles, "import cycles (function-level imports counted):\n" + "\n".join(
        describe(component, graph) for component in cycles
    )


def test_factory_imports_only_at_module_level() -> None:
    tree = ast.parse((WEB / "app.py").read_text())
    nested = [
        f"line {node.lineno}"
        for function in ast.walk(tree)
        if isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef)
        for node in ast.walk(function)
        if isinstance(node, ast.Import | ast.ImportFrom)
    ]
    assert not nested, f"web/app.py imports inside functions: {', '.join(nested)}"


def test_services_import_neither_flask_nor_http_errors() -> None:
    modules = web_modules()
    offending = {
        service: sorted(
            name
            for name in imported_names(service, modules[service])
            if name.split(".")[0] in ("flask", "werkzeug") or name.startswith("web.errors")
        )
        for service in SERVICES
    }
    assert not {service: names for service, names in offending.items() if names}


DOMAINS = ("web.identity", "web.deals", "web.deal_context", "web.audit", "web.jobs")


def test_platform_imports_no_domain() -> None:
    """Shared plumbing knows no domain: the factory wires domains into it (web.app)."""
    graph = import_graph()
    offending = {
        module: sorted(target for target in targets if target.startswith(DOMAINS))
        for module, targets in graph.items()
        if module.startswith("web.platform")
    }
    assert not {module: targets for module, targets in offending.items() if targets}


def test_the_cycle_finder_finds_a_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert strongly_connected(graph) == [["a", "b", "c"]]


def test_the_gunicorn_master_imports_neither_the_app_nor_prometheus_client() -> None:
    """gunicorn.conf.py imports these in the master before it sets PROMETHEUS_MULTIPROC_DIR: had they imported
    the app, prometheus_client would be loaded single-process and the workers would each count alone."""
    probe = (
        "import sys, web.config, web.platform.logging_setup; "
        "print(sorted(name for name in ('prometheus_client', 'web.app') if name in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", probe], cwd=WEB.parent, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
