"""The sandbox's modules import each other one way only: no import cycle, not even a lazy or type-only one."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = "sandbox"
SOURCES = Path(__file__).resolve().parents[2] / PACKAGE


def module_name(path: Path) -> str:
    return PACKAGE if path.stem == "__init__" else f"{PACKAGE}.{path.stem}"


def imported(tree: ast.AST, importer: str, modules: set[str]) -> set[str]:
    """The package's modules that `importer` imports anywhere: top level, in functions, under TYPE_CHECKING."""
    found: set[str] = set()
    package = importer if importer == PACKAGE else importer.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{parent}.{base}" if base else parent
            # `from sandbox import server` imports the module sandbox.server; `from sandbox import X` the package.
            names = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names]
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
              and node.func.attr == "import_module" and node.args and isinstance(node.args[0], ast.Constant)):
            names = [str(node.args[0].value)]
        else:
            continue
        found.update(name for name in names if name in modules and name != importer)
    return found


def import_graph(root: Path = SOURCES) -> dict[str, set[str]]:
    paths = sorted(root.glob("*.py"))
    modules = {module_name(path) for path in paths}
    return {module_name(path): imported(ast.parse(path.read_text(encoding="utf-8"), str(path)), module_name(path),
                                        modules)
            for path in paths}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle as a path that ends where it starts (`a → b → a`), or None."""
    done: set[str] = set()
    trail: list[str] = []

    def visit(module: str) -> list[str] | None:
        if module in trail:
            return trail[trail.index(module):] + [module]
        if module in done:
            return None
        trail.append(module)
        for target in sorted(graph.get(module, ())):
            cycle = visit(target)
            if cycle:
                return cycle
        trail.pop()
        done.add(module)
        return None

    for module in sorted(graph):
        cycle = visit(module)
        if cycle:
            return cycle
    return None


def test_no_import_cycle_among_sandbox_modules():
    cycle = find_cycle(import_graph())
    assert cycle is None, "sandbox modules import each other: " + " -> ".join(cycle or [])


def test_the_graph_sees_every_kind_of_import():
    graph = import_graph()
    assert {"sandbox.org", "sandbox.control", "sandbox.state"} <= graph["sandbox.server"]
    assert "sandbox.server" in graph["sandbox"]  # imported lazily, inside __getattr__
    assert "sandbox.hours" in graph["sandbox.scenario"]


def test_only_the_server_wires_the_services():
    graph = import_graph()
    services = {"sandbox.control", "sandbox.entra", "sandbox.org", "sandbox.vault"}
    for module in ("sandbox.state", "sandbox.credentials", "sandbox.wire"):
        assert not graph[module] & services, f"{module} is shared state and must not know a service"
    importers = {module for module, targets in graph.items() if "sandbox.server" in targets}
    assert importers <= {"sandbox", "sandbox.__main__"}


def test_a_cycle_is_reported_with_its_path(tmp_path):
    (tmp_path / "__init__.py").write_text("")
    (tmp_path / "a.py").write_text("from sandbox.b import B\n")
    (tmp_path / "b.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from sandbox.c import C\n")
    (tmp_path / "c.py").write_text("def late():\n    from . import a\n")
    assert find_cycle(import_graph(tmp_path)) == ["sandbox.a", "sandbox.b", "sandbox.c", "sandbox.a"]
