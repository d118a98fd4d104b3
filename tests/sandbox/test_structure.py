"""The sandbox's modules import each other one way only: no import cycle, not even a lazy or type-only one."""

from __future__ import annotations

from pathlib import Path

from tests.structure import ROOT, find_cycle
from tests.structure import import_graph as graph_of

PACKAGE = "sandbox"
SOURCES = ROOT / PACKAGE


def import_graph(root: Path = SOURCES) -> dict[str, set[str]]:
    return graph_of(root, PACKAGE)


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
