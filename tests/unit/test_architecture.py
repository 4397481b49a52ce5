"""The import rules of docs/architecture.md, enforced by walking every module's imports (top level and inside
functions), so the layout keeps showing the design."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

TOOLKIT = Path(__file__).resolve().parents[2] / "toolkit"
EDGES = ("toolkit.cli", "toolkit.tui", "toolkit.plugin")
# ``afkit tui`` is the terminal app's entry point: the CLI command only hands it the connection settings.
EDGE_ENTRY_POINTS = {("toolkit.cli.tui", "toolkit.tui.app"), ("toolkit.cli.tui", "toolkit.tui.app.create_app")}
# What the pure core may not reach: the boundaries, the services, the edges, and the libraries they wrap.
CORE_FORBIDDEN = ("toolkit.airflow", "toolkit.slack", "toolkit.state", "toolkit.services", "toolkit.devserver",
                  "toolkit.service_config", "toolkit.config", "toolkit.files", *EDGES, "click", "textual",
                  "slack_sdk", "sqlalchemy", "airflow_client", "urllib3", "requests", "httpx", "airflow", "psycopg2")


def module_name(path: Path) -> str:
    parts = path.relative_to(TOOLKIT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> set[str]:
    return imports_of_tree(ast.parse(path.read_text()))


def imports_of_tree(tree: ast.AST) -> set[str]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


MODULES = {module_name(p): imports(p) for p in sorted(TOOLKIT.rglob("*.py"))}


def within(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


@pytest.mark.parametrize("module", sorted(m for m in MODULES if within(m, ("toolkit.core",))))
def test_the_core_imports_no_boundary_service_edge_or_io_library(module):
    bad = sorted(i for i in MODULES[module] if within(i, CORE_FORBIDDEN))
    assert bad == [], f"{module} imports {bad}"


@pytest.mark.parametrize("module", sorted(m for m in MODULES if within(m, EDGES)))
def test_no_edge_imports_another_edge(module):
    mine = next(e for e in EDGES if within(module, (e,)))
    bad = sorted(i for i in MODULES[module] if within(i, EDGES) and not within(i, (mine,))
                 and (module, i) not in EDGE_ENTRY_POINTS)
    assert bad == [], f"{module} imports {bad}"


@pytest.mark.parametrize("module", sorted(m for m in MODULES if within(m, ("toolkit.services",))))
def test_services_import_no_edge(module):
    bad = sorted(i for i in MODULES[module] if within(i, EDGES))
    assert bad == [], f"{module} imports {bad}"


def test_no_import_cycles_between_modules():
    """Every import counts, inside functions too: an import deferred to dodge a cycle is still a cycle of design.
    Only ``if TYPE_CHECKING:`` blocks, which never run, are left out."""
    graph: dict[str, set[str]] = {}
    for path in TOOLKIT.rglob("*.py"):
        name = module_name(path)
        tree = ast.parse(path.read_text())
        for node in tree.body:
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                tree.body.remove(node)
        graph[name] = {t for t in imports_of_tree(tree) if t in MODULES and t != name}
    cycles = []
    state: dict[str, int] = {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                cycles.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, stack + [nxt])
        state[node] = 2

    for start in sorted(graph):
        if start not in state:
            visit(start, [start])
    # a package importing its own submodules (its __init__ re-exporting them) is not a cycle of design
    real = [c for c in cycles if not all(m.startswith(c[0] + ".") or c[0].startswith(m + ".") or m == c[0] for m in c)]
    assert real == [], real
