"""Reading the code's structure from its source with `ast`: who imports whom, and which names cross modules."""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Import:
    """One import of a module of the package: where, of what, and the names taken from it."""

    importer: str
    module: str
    names: tuple[str, ...]
    line: int


def module_name(path: Path, root: Path, package: str) -> str:
    parts = [package, *path.relative_to(root).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules_of(root: Path, package: str) -> dict[str, Path]:
    return {module_name(path, root, package): path for path in sorted(root.rglob("*.py"))}


def imports(root: Path, package: str) -> list[Import]:
    """Every import of the package's own modules: top level, in functions, under TYPE_CHECKING, import_module."""
    modules = modules_of(root, package)
    found: list[Import] = []
    for importer, path in modules.items():
        is_package = path.stem == "__init__"
        here = importer if is_package else importer.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            targets: list[tuple[str, tuple[str, ...]]]
            if isinstance(node, ast.Import):
                targets = [(alias.name, ()) for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parent = here.rsplit(".", node.level - 1)[0] if node.level > 1 else here
                    base = f"{parent}.{base}" if base else parent
                targets = []
                for alias in node.names:
                    # `from pkg import mod` imports the module pkg.mod; `from pkg import name` the package.
                    full = f"{base}.{alias.name}"
                    targets.append((full, ()) if full in modules else (base, (alias.name,)))
            elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                  and node.func.attr == "import_module" and node.args and isinstance(node.args[0], ast.Constant)):
                targets = [(str(node.args[0].value), ())]
            else:
                continue
            found.extend(Import(importer, module, names, node.lineno) for module, names in targets
                         if module in modules and module != importer)
    return found


def import_graph(root: Path, package: str) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {name: set() for name in modules_of(root, package)}
    for item in imports(root, package):
        graph[item.importer].add(item.module)
    return graph


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
