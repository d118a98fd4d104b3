"""The layout holds: no import cycle in any package, no private name imported across modules, the product
importing nothing of the local tooling, only the settings module reading the environment, and
no module of the product over 600 lines."""

from __future__ import annotations

import ast

import pytest

from tests.structure import ROOT, find_cycle, import_graph, imports, modules_of

PACKAGES = ("availability", "sandbox", "devtools")


@pytest.mark.parametrize("package", PACKAGES)
def test_no_import_cycle(package):
    cycle = find_cycle(import_graph(ROOT / package, package))
    assert cycle is None, f"{package} modules import each other: " + " -> ".join(cycle or [])


@pytest.mark.parametrize("package", PACKAGES)
def test_no_private_name_is_imported_across_modules(package):
    crossing = [f"{item.importer}:{item.line} takes {name} from {item.module}"
                for item in imports(ROOT / package, package) for name in item.names
                if name.startswith("_") and not name.endswith("__")]
    assert not crossing, "\n".join(crossing)


def test_the_graph_sees_subpackages_lazy_and_type_only_imports():
    graph = import_graph(ROOT / "availability", "availability")
    assert "availability.dataverse.wire" in graph["availability.dataverse.client"]
    assert "availability.service" in graph["availability.app"]  # inside a function
    assert "availability.dashboard.directory" in graph["availability.app"]  # under TYPE_CHECKING too
    assert "availability.app" in graph["availability.http.blueprint"]  # `from .. import app`


def top_level_names(path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_the_product_imports_nothing_of_the_local_tooling():
    for name, path in modules_of(ROOT / "availability", "availability").items():
        assert not top_level_names(path) & {"sandbox", "devtools", "tests", "bench"}, name
    assert not top_level_names(ROOT / "function_app.py") - {"azure", "availability"}


def reads_environment(path) -> bool:
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Attribute) and node.attr in ("environ", "getenv", "environb"):
            return True
        if isinstance(node, ast.ImportFrom) and node.module == "os" and {"environ", "getenv"} & {
                alias.name for alias in node.names}:
            return True
    return False


def test_only_settings_reads_the_environment():
    readers = [name for name, path in modules_of(ROOT / "availability", "availability").items()
               if name != "availability.settings" and reads_environment(path)]
    assert not readers, f"only availability.settings reads the environment, not {readers}"


def test_the_deployed_package_leaves_the_local_tooling_out():
    ignored = {line.strip().rstrip("/") for line in (ROOT / ".funcignore").read_text().splitlines()}
    assert {"sandbox", "devtools", "tests", "bench", "connector", "dev.py"} <= ignored


def test_the_test_folders_mirror_the_code():
    tests = ROOT / "tests" / "availability"
    parts = {path.name for path in (ROOT / "availability").iterdir() if (path / "__init__.py").exists()}
    folders = {path.name for path in tests.iterdir() if path.is_dir() and not path.name.startswith("__")}
    assert folders <= parts, f"test folders without a part of the code of that name: {sorted(folders - parts)}"


MODULE_MAX_LINES = 600


def test_no_module_of_the_product_is_over_600_lines():
    long = {name: count for name, path in modules_of(ROOT / "availability", "availability").items()
            if (count := path.read_text(encoding="utf-8").count("\n")) > MODULE_MAX_LINES}
    assert not long, f"modules of availability/ over {MODULE_MAX_LINES} lines (split them by concern): {long}"
