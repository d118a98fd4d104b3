"""The running API does what its OpenAPI document says, as a property-based fuzzer judges it.

Schemathesis reads `/api/openapi.json` from the test stack's host and runs every check it has (`--checks all`:
no server error, statuses, content types, headers and bodies as documented, every request the document allows
accepted and every one it forbids refused, undeclared methods answered 405, keys enforced, ...) over its
examples, coverage and fuzzing phases, deterministically. Some generated ids are the scenario's, so answers
and not only 404s are judged.

This module is also the fuzzer's hooks file (`SCHEMATHESIS_HOOKS`): it keeps the one rule the document can only
say in words, and sends a fixed sample of the time zones where coverage would send all 600 (the list is one
shared component, checked name by name in test_openapi.py).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from schemathesis.generation.meta import TestPhase

from availability.localtime import zone_names
from tests.availability.scenario import BUSY_LINE, CHAT, CONVERSATION, OFFICE

EXAMPLES_PER_OPERATION = 100  # in the fuzzing phase; coverage adds its own (each boundary, each kind of fault)
RUN_TIMEOUT = 240  # seconds; a run takes about 40 on a busy machine
ROOT = Path(__file__).resolve().parents[1]


@schemathesis.hook("map_query")
def from_not_after_to(context: Any, query: dict[str, Any] | None) -> dict[str, Any] | None:
    """/api/snapshots refuses a `from` after `to` (default: now), which JSON Schema cannot say across parameters."""
    if not query or context.operation is None or context.operation.path != "/api/snapshots":
        return query
    start, end = _moment(query.get("from")), _moment(query.get("to"))
    if start and end and start > end:
        query["from"], query["to"] = query["to"], query["from"]
    elif start and "to" not in query and start > datetime.now(UTC):
        query["to"] = query["from"]
    return query


@schemathesis.hook("filter_case")
def a_sample_of_the_time_zones(context: Any, case: Any) -> bool:
    """Of coverage's valid cases, one per zone name, keep those of a fixed sample (1 in 25; tz and timeZone)."""
    meta = case.meta
    if meta is None or meta.phase.name != TestPhase.COVERAGE or not meta.generation.mode.is_positive:
        return True
    body = case.body if isinstance(case.body, dict) else {}
    zone = (case.query or {}).get("tz", body.get("timeZone"))
    return zone not in zone_names() or zone in _ZONE_SAMPLE


_ZONE_SAMPLE = set(zone_names()[::25]) | {"Europe/Paris", "UTC", "America/Argentina/Buenos_Aires"}


def _moment(value: Any) -> datetime | None:
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else None


# The host publishes these for web pages: half the aliases the fuzzer draws are these, the others unknown (404).
PUBLIC = {"chat": {"workstreamId": CHAT, "contextItems": {"Language": "fr"}}, "office": {"workstreamId": OFFICE}}


def _config(tmp_path) -> str:
    """Schemathesis settings: half the ids it draws are the scenario's, the others unknown to the org (404)."""
    workstreams = ", ".join(f'"{id_}"' for id_ in (CHAT, BUSY_LINE, OFFICE))
    aliases = ", ".join(f'"{alias}"' for alias in PUBLIC)
    path = tmp_path / "schemathesis.toml"
    path.write_text(
        "[dictionaries.workstreams]\n"
        f"values = [{workstreams}]\n"
        "[dictionaries.conversations]\n"
        f'values = ["{CONVERSATION}"]\n'
        "[dictionaries.aliases]\n"
        f"values = [{aliases}]\n"
        "[parameters]\n"
        '"body.workstreamId" = { dictionary = "workstreams", probability = 0.5 }\n'
        '"body.conversationId" = { dictionary = "conversations", probability = 0.5 }\n'
        '"query.workstreamId" = { dictionary = "workstreams", probability = 0.5 }\n'
        '"path.alias" = { dictionary = "aliases", probability = 0.5 }\n'
        '"path.id" = { dictionary = "workstreams", probability = 0.5 }\n'
        # /api/subscriptions is served by a function per operation, so none is declared without methods: a method
        # no Python function can declare (TRACE, QUERY) gets Azure's host's empty 404 there, not the app's 405.
        "[[operations]]\n"
        'include-path = "/api/subscriptions"\n'
        "[operations.phases.coverage]\n"
        'unexpected-methods = ["get", "put", "post", "delete", "options", "patch"]\n',
        encoding="utf-8")
    return str(path)


@pytest.mark.timeout(RUN_TIMEOUT + 30)
def test_the_api_does_what_its_openapi_document_says(fresh_gateway, clean_sandbox, tmp_path):
    # Without the default calls budget: the fuzzer sends more distinct checks a minute than it allows, and the
    # budget's 503 (a server error to the fuzzer) is not what this run judges.
    gateway = fresh_gateway(PUBLIC_AVAILABILITY=json.dumps(PUBLIC), PUBLIC_ALLOWED_ORIGINS="https://www.contoso.example",
                            AVAILABILITY_MAX_CALLS_PER_MINUTE=0)
    command = [
        sys.executable, "-m", "schemathesis.cli", "--config-file", _config(tmp_path), "run",
        f"{gateway.url}/api/openapi.json",
        "--checks", "all",
        "--header", f"x-functions-key: {gateway.function_key}",
        "--phases", "examples,coverage,fuzzing",
        "--max-examples", str(EXAMPLES_PER_OPERATION),
        "--generation-deterministic",
        "--request-timeout", "30",
        "--no-color",
    ]
    run = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=RUN_TIMEOUT,
                         env={**os.environ, "SCHEMATHESIS_HOOKS": __file__,
                              "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])})
    assert run.returncode == 0, f"the fuzzer found something:\n{run.stdout[-30_000:]}\n{run.stderr[-5_000:]}"
    # Every operation of the document is fuzzed (the dashboard and the history among them, see test_openapi.py).
    selected = re.search(r"Operations:\s+(\d+) selected / (\d+) total", run.stdout)
    assert selected and selected[1] == selected[2] and int(selected[1]) >= 6, run.stdout[:2000]
