"""The API definition: both documents are well formed, complete, and describe what the code really does.

The request shapes are the ones the API validates with (`availability.schemas`), so the checks here are that the
served document carries them unchanged, that the connector's Swagger 2.0 form says the same, and that every
example and every answer the app renders fits them.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from schemathesis.specs.openapi.definitions import OPENAPI_31_VALIDATOR, SWAGGER_20_VALIDATOR

import availability
from availability import errors, openapi, schemas
from availability.answer import Availability
from availability.checks import (
    MAX_BATCH,
    parse_batch,
    parse_before_conversation,
    parse_escalation,
    parse_for_conversation,
)
from availability.dataverse.wire import parse_availability
from availability.localtime import is_zone_name, zone_names

ROOT = Path(__file__).resolve().parents[3]

# The API's operations, as the docs list them.
CONTRACT_OPERATIONS = {
    ("/api/availability/before-conversation", "post"),
    ("/api/availability/for-conversation", "post"),
    ("/api/availability/batch", "post"),
    ("/api/snapshots", "get"),
    ("/api/health", "get"),
    ("/api/openapi.json", "get"),
    ("/api/escalation/decision", "post"),
}
# Added beside the contract's: the supervisor dashboard (HTML, for browsers, not in the connector).
ADDED_OPERATIONS = {("/api/dashboard", "get")}
# The anonymous ones for web pages with the CORS preflight; not in the connector either.
PUBLIC_OPERATIONS = {("/api/public/availability/{alias}", "get"), ("/api/public/availability/{alias}", "options"),
                     ("/api/public/widget.js", "get")}
CONTRACT_ANSWER_FIELDS = {
    "queueId", "status", "canEscalate", "withinOperatingHours", "representativesAvailable",
    "availableRepresentatives", "positionInQueue", "averageWaitSeconds", "nextTransitionTime", "nextOpeningTime",
    "nextClosingTime", "message", "retrievedAt", "source", "ageSeconds", "language",
}
CONTRACT_SNAPSHOT_FIELDS = {
    "workstreamId", "queueId", "capturedAt", "status", "withinOperatingHours", "representativesAvailable",
    "availableRepresentatives", "positionInQueue", "averageWaitSeconds", "error",
}
# Change subscriptions: the connector has the trigger (POST) and its internal DELETE.
SUBSCRIPTION_OPERATIONS = {("/api/subscriptions", "post"), ("/api/subscriptions", "get"),
                           ("/api/subscriptions/{id}", "get"), ("/api/subscriptions/{id}", "delete")}
# The org's workstreams and their best times (third wave): in the connector too, the first as the internal source
# of its dropdowns.
WORKSTREAM_OPERATIONS = {("/api/workstreams", "get")}
BEST_TIMES_OPERATIONS = {("/api/workstreams/{id}/best-times", "get")}
CONNECTOR_OPERATIONS = {
    "CheckAvailabilityBeforeConversation", "CheckAvailabilityForConversation", "CheckAvailabilityBatch",
    "GetAvailabilityHistory", "WhenAvailabilityChanges", "DeleteSubscription", "ListWorkstreams", "DecideEscalation",
    "GetBestTimes",
}
HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}

UPSTREAM_SAMPLE = {
    "@odata.context": "https://org.example/api/data/v9.2/$metadata#Microsoft.Dynamics.CRM.X",
    "QueueId": "85e55877-f27a-e911-a81a-000d3a1ca610",
    "IsQueueAvailable": True,
    "IsAgentAvailable": True,
    "NumberOfExpertsAvailableInQueue": 5,
    "PositionInQueue": 1,
    "AverageWaitTime": None,
    "AverageWaitTimeInSeconds": 45,
    "StartTimeOfNextOperatingHour": "0001-01-01T00:00:00Z",
    "EndTimeOfNextOperatingHour": "0001-01-01T00:00:00Z",
    "NextTransitionTime": "9999-12-31T23:59:59Z",
}
GUID = "5c0d7a1e-6b2f-4e8a-9d3c-1f2e3a4b5c6d"


@pytest.fixture(scope="module")
def oas() -> dict:
    return openapi.openapi_document()


@pytest.fixture(scope="module")
def swagger() -> dict:
    return openapi.swagger_document()


# ------------------------------------------------------------------------------------------- helpers


def resolve(root: dict, ref: str) -> Any:
    assert ref.startswith("#/"), ref
    node: Any = root
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        assert isinstance(node, dict) and part in node, f"unresolved $ref {ref}"
        node = node[part]
    return node


def walk(node: Any, path: str = "#"):
    """(path, dict) for every dict in the document."""
    if isinstance(node, dict):
        yield path, node
        for key, value in node.items():
            yield from walk(value, f"{path}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from walk(value, f"{path}/{index}")


def operations(document: dict):
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method in HTTP_METHODS:
                yield path, method, operation


_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_DATE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")


def problems(schema: dict, value: Any, root: dict, at: str = "$") -> list[str]:
    """A small validator for the Swagger 2.0 subset of the connector (x-nullable, which no library reads)."""
    if "$ref" in schema:
        return problems(resolve(root, schema["$ref"]), value, root, at)
    if value is None:
        return [] if schema.get("nullable") or schema.get("x-nullable") else [f"{at}: null not allowed"]
    found: list[str] = []
    if "oneOf" in schema:
        matches = sum(1 for option in schema["oneOf"] if not problems(option, value, root, at))
        if matches != 1:
            found.append(f"{at}: matches {matches} of oneOf")
    kind = schema.get("type")
    checks = {
        "string": lambda v: isinstance(v, str),
        "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
        "boolean": lambda v: isinstance(v, bool),
        "object": lambda v: isinstance(v, dict),
        "array": lambda v: isinstance(v, list),
    }
    if kind and not checks[kind](value):
        return [f"{at}: not {kind}"]
    if "enum" in schema and value not in schema["enum"]:
        found.append(f"{at}: {value!r} not in enum")
    if isinstance(value, str):
        if len(value) > schema.get("maxLength", len(value)):
            found.append(f"{at}: too long")
        if "pattern" in schema and not re.search(schema["pattern"], value):
            found.append(f"{at}: does not match pattern")
        if schema.get("format") == "uuid" and not _UUID.match(value):
            found.append(f"{at}: not a uuid")
        if schema.get("format") == "date-time" and not _DATE_TIME.match(value):
            found.append(f"{at}: not a date-time")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            found.append(f"{at}: below minimum")
        if "maximum" in schema and value > schema["maximum"]:
            found.append(f"{at}: above maximum")
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        for name in schema.get("required", ()):
            if name not in value:
                found.append(f"{at}: missing {name}")
        if len(value) > schema.get("maxProperties", len(value)):
            found.append(f"{at}: too many properties")
        extra = schema.get("additionalProperties", True)
        for name, item in value.items():
            if name in properties:
                found += problems(properties[name], item, root, f"{at}.{name}")
            elif extra is False:
                found.append(f"{at}: unknown property {name}")
            elif isinstance(extra, dict):
                found += problems(extra, item, root, f"{at}.{name}")
    if isinstance(value, list):
        if len(value) < schema.get("minItems", 0) or len(value) > schema.get("maxItems", len(value)):
            found.append(f"{at}: wrong number of items")
        for index, item in enumerate(value):
            found += problems(schema.get("items", {}), item, root, f"{at}[{index}]")
    return found


def oas_schema(oas: dict, name: str) -> dict:
    return oas["components"]["schemas"][name]


def valid(oas: dict, name: str, value: Any) -> list[str]:
    """What a JSON Schema 2020-12 validator finds wrong with `value` as the document's component `name`."""
    validator = jsonschema_rs.validator_for({"$schema": schemas.DIALECT, "components": oas["components"],
                                             "$ref": "#/components/schemas/" + name}, validate_formats=True)
    return [f"{list(error.instance_path)}: {error.message}" for error in validator.iter_errors(value)]


def accepted(parse, body) -> bool:
    try:
        parse(body)
    except errors.InvalidRequest:
        return False
    return True


# ---------------------------------------------------------------------------------- the connector files


def test_checked_in_connector_files_are_what_the_definition_generates():
    for name, text in openapi.connector_files().items():
        path = ROOT / "connector" / name
        assert path.exists(), f"connector/{name} is missing; regenerate with: {openapi.REGENERATE}"
        assert path.read_text(encoding="utf-8") == text, (
            f"connector/{name} differs from the API definition (availability/schemas/, availability/openapi/); "
            f"regenerate with: {openapi.REGENERATE}"
        )


def test_connector_files_are_indented_json_ending_in_a_newline():
    for name, text in openapi.connector_files().items():
        if not name.endswith(".json"):
            continue
        assert text.endswith("}\n") and text.startswith('{\n  "')
        json.loads(text)
    assert openapi.connector_files() == openapi.connector_files()  # stable


def test_cli_writes_checks_and_reports_drift(tmp_path, capsys):
    assert openapi.main([str(tmp_path)]) == 0
    assert openapi.main(["--check", str(tmp_path)]) == 0
    capsys.readouterr()

    swagger_file = tmp_path / "apiDefinition.swagger.json"
    swagger_file.write_text(swagger_file.read_text(encoding="utf-8").replace("Workstream ID", "Stream"),
                            encoding="utf-8")
    (tmp_path / "apiProperties.json").unlink()
    assert openapi.main(["--check", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "apiDefinition.swagger.json is out of date" in err
    assert "apiProperties.json is missing" in err
    assert "python -m availability.openapi" in err

    assert openapi.main([str(tmp_path)]) == 0
    assert json.loads(swagger_file.read_text(encoding="utf-8"))["host"] == openapi.DEFINITION_HOST


@pytest.mark.subprocess
def test_module_runs_as_a_command_and_the_repository_is_up_to_date():
    run = subprocess.run([sys.executable, "-m", "availability.openapi", "--check"], cwd=ROOT,
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert "RuntimeWarning" not in run.stderr


@pytest.mark.subprocess
def test_import_is_cheap_and_builds_nothing():
    code = ("import sys, availability.openapi, availability.schemas as s; "
            "print(sorted(m for m in sys.modules if m.startswith(('availability', 'azure', 'jsonschema')))); "
            "import availability.localtime as t; "
            "print(s.components.cache_info().currsize, t.zone_names.cache_info().currsize)")
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    loaded, built = run.stdout.strip().splitlines()
    families = ("core", "fields", "availability", "escalation", "history", "error", "web", "subscriptions",
                "besttimes", "health", "workstreams")
    assert {name for name in eval(loaded) if not name.startswith("availability.openapi")} == {
        "availability", "availability.errors", "availability.schemas",
        *(f"availability.schemas.{family}" for family in families)}
    assert built == "0 0"


# ------------------------------------------------------------------------------------------- OpenAPI 3.1


def test_openapi_document_is_valid_openapi_3_1(oas):
    assert oas["openapi"] == "3.1.0"
    problems_found = [f"{list(e.instance_path)}: {e.message[:200]}" for e in OPENAPI_31_VALIDATOR.iter_errors(oas)]
    assert problems_found == []
    assert oas["info"]["title"] and oas["info"]["version"] == availability.__version__
    assert "servers" not in oas
    json.dumps(oas, allow_nan=False)
    for path, node in walk(oas):
        assert not any(key.startswith("_") for key in node), f"private key left at {path}"
        if "$ref" in node:
            resolve(oas, node["$ref"])
            assert set(node) == {"$ref"}, f"a $ref stands alone, as OpenAPI 3.0 tools expect ({path})"
    ids = []
    for path, method, operation in operations(oas):
        ids.append(operation["operationId"])
        assert operation["summary"] and operation["description"], (path, method)
        # A CORS preflight and a delete answer no content, a subscription is created.
        success = "204" if method in ("options", "delete") else "201" if path == "/api/subscriptions" and \
            method == "post" else "200"
        assert operation["responses"] and success in operation["responses"], (path, method)
        for status, response in operation["responses"].items():
            response = resolve(oas, response["$ref"]) if "$ref" in response else response
            assert response["description"], (path, status)
            if status == "401":  # the Functions host's own answer: an empty body, nothing of the app's
                assert set(response) == {"description"}, path
                continue
            assert "x-correlation-id" in response["headers"], (path, status)
            if status in ("204", "304"):
                assert "content" not in response, (path, status)
                continue
            content = next(iter(response["content"].values()))
            throttled = "upstream_throttled" in content.get("examples", {})
            assert ("Retry-After" in response["headers"]) == throttled, (path, status)
    assert len(ids) == len(set(ids))


def test_the_document_carries_the_shapes_the_requests_are_validated_with(oas):
    assert oas["components"]["schemas"] == schemas.public(schemas.components())
    for path, method, operation in operations(oas):
        body = operation.get("requestBody", {}).get("content", {}).get("application/json")
        if body:
            assert body["schema"]["$ref"].rsplit("/", 1)[1] in ("BeforeConversationRequest",
                                                               "ForConversationRequest", "BatchRequest",
                                                               "SubscriptionRequest", "EscalationRequest")


def test_the_correlation_header_is_never_refused(oas):
    # The API keeps a sane caller id and replaces any other, so the document must not forbid any value.
    assert oas["components"]["parameters"]["CorrelationId"]["schema"] == {"type": "string"}
    assert oas["components"]["parameters"]["CorrelationId"]["required"] is False


def test_openapi_has_every_endpoint_of_the_contract(oas):
    assert {(path, method) for path, method, _ in operations(oas)} == (CONTRACT_OPERATIONS | ADDED_OPERATIONS
                                                                       | PUBLIC_OPERATIONS | SUBSCRIPTION_OPERATIONS
                                                                       | WORKSTREAM_OPERATIONS | BEST_TIMES_OPERATIONS)


def test_openapi_security_is_the_function_key_except_health_openapi_and_the_subscription_list(oas):
    schemes = oas["components"]["securitySchemes"]
    assert {(s["type"], s["in"], s["name"]) for s in schemes.values()} == {
        ("apiKey", "header", "x-functions-key"), ("apiKey", "query", "code")}
    function_keys = {name for requirement in oas["security"] for name in requirement}
    assert function_keys == {"functionKeyHeader", "functionKeyQuery"}
    for path, method, operation in operations(oas):
        if path in ("/api/health", "/api/openapi.json") or path.startswith("/api/public/"):
            assert operation["security"] == []
        elif (path, method) == ("/api/subscriptions", "get"):  # everyone's subscriptions: operators only
            assert {name for requirement in operation["security"] for name in requirement} == set(schemes) - \
                function_keys == {"masterKeyHeader", "masterKeyQuery"}
            assert "master key" in operation["responses"]["401"]["description"]
        else:
            assert "security" not in operation
            assert "401" in operation["responses"]


def test_openapi_error_responses_per_operation(oas):
    statuses = {path: set(op["responses"]) for path, _, op in operations(oas)}
    for path in ("/api/availability/before-conversation", "/api/availability/for-conversation"):
        # 404: a workstream or conversation the org does not know is a documented answer, not a refusal.
        assert {"200", "400", "401", "404", "500", "502", "503", "504"} <= statuses[path]
    assert {"200", "400", "401", "500", "503"} <= statuses["/api/availability/batch"]
    assert {"200", "400", "401", "500", "503"} <= statuses["/api/snapshots"]
    assert {"200", "400", "401", "500"} <= statuses["/api/dashboard"]


def test_the_401_is_described_as_the_host_answers_it_with_the_key_to_use(oas, swagger):
    described = oas["components"]["responses"]["Unauthorized"]
    assert set(described) == {"description"} and "empty body" in described["description"]
    assert "host key" in described["description"]
    for _, _, operation in operations(swagger):
        if "401" in operation["responses"]:
            assert set(operation["responses"]["401"]) == {"description"}


def test_servers_is_the_given_origin():
    for origin in ("https://app.example", "https://app.example/", "https://app.example/api",
                   "https://app.example/api/"):
        document = openapi.openapi_document(origin)
        assert document["servers"] == [{"url": "https://app.example"}]
        assert list(document)[:3] == ["openapi", "info", "servers"]


def test_each_call_returns_a_fresh_copy():
    first = openapi.openapi_document()
    first["paths"].clear()
    assert openapi.openapi_document()["paths"]
    second = openapi.swagger_document()
    second["definitions"].clear()
    assert openapi.swagger_document()["definitions"]


def test_answer_schema_has_exactly_the_contract_fields(oas):
    schema = oas_schema(oas, "Availability")
    assert set(schema["properties"]) == CONTRACT_ANSWER_FIELDS
    assert set(schema["required"]) == CONTRACT_ANSWER_FIELDS
    props = schema["properties"]
    assert props["status"]["enum"] == ["available", "busy", "closed"]
    assert props["source"]["enum"] == ["live", "cache", "stale"]
    nullable = {name for name, prop in props.items() if "null" in prop.get("type", ())}
    assert nullable == {"availableRepresentatives", "positionInQueue", "averageWaitSeconds",
                        "nextTransitionTime", "nextOpeningTime", "nextClosingTime"}
    for name in ("nextTransitionTime", "nextOpeningTime", "nextClosingTime", "retrievedAt"):
        assert props[name]["format"] == "date-time"
    assert set(oas_schema(oas, "Snapshot")["properties"]) == CONTRACT_SNAPSHOT_FIELDS


def test_answers_the_app_renders_fit_the_answer_schema(oas):
    now = datetime(2026, 11, 24, 14, 0, tzinfo=UTC)
    answer = parse_availability(UPSTREAM_SAMPLE, now)
    rendered = answer.to_json(now + timedelta(seconds=3), "Europe/Paris")
    assert set(rendered) == set(oas_schema(oas, "Availability")["properties"])
    assert valid(oas, "Availability", rendered) == []
    sparse = parse_availability({"QueueId": UPSTREAM_SAMPLE["QueueId"], "IsQueueAvailable": False,
                                 "IsAgentAvailable": False}, now).to_json(now)
    assert valid(oas, "Availability", sparse) == []


def test_error_schema_codes_are_the_error_hierarchy(oas):
    def classes(cls):
        for sub in cls.__subclasses__():
            yield sub
            yield from classes(sub)

    codes = {cls.code for cls in classes(errors.AvailabilityError) if cls.__module__ == errors.__name__}
    detail = oas_schema(oas, "ErrorDetail")
    assert set(detail["properties"]["code"]["enum"]) == codes
    assert set(detail["properties"]) == {"code", "message", "target"}
    assert detail["required"] == ["code", "message"]
    bodies = [errors.InvalidRequest("bad", target="workstreamId").to_body(), errors.NotFound().to_body(),
              errors.UpstreamThrottled(retry_after=3).to_body(), errors.ConfigurationError(setting="X").to_body(),
              errors.InternalError().to_body()]
    for body in bodies:
        assert valid(oas, "Error", body) == []
    assert valid(oas, "BatchResult", {"status": 404, **errors.NotFound().to_body()}) == []


def test_every_example_matches_its_schema(oas):
    seen = 0
    for path, method, operation in operations(oas):
        media = operation.get("requestBody", {}).get("content", {}).get("application/json")
        responses = [resolve(oas, r["$ref"]) if "$ref" in r else r for r in operation["responses"].values()]
        medias = [media] + [r.get("content", {}).get("application/json") for r in responses]
        for media in filter(None, medias):
            name = media["schema"].get("$ref", "").rsplit("/", 1)[-1]
            for example_name, example in media.get("examples", {}).items():
                seen += 1
                assert valid(oas, name, example["value"]) == [], (path, method, example_name)
    assert seen >= 20


def test_availability_examples_are_what_the_model_renders(oas):
    examples = oas["paths"]["/api/availability/before-conversation"]["post"]["responses"]["200"]["content"][
        "application/json"]["examples"]
    assert set(examples) == {"available", "busy", "closed"}

    def when(text):
        return None if text is None else datetime.fromisoformat(text.replace("Z", "+00:00"))

    for example in (e["value"] for e in examples.values()):
        answer = Availability(
            queue_id=example["queueId"],
            within_operating_hours=example["withinOperatingHours"],
            representatives_available=example["representativesAvailable"],
            available_representatives=example["availableRepresentatives"],
            position_in_queue=example["positionInQueue"],
            average_wait_seconds=example["averageWaitSeconds"],
            next_transition_time=when(example["nextTransitionTime"]),
            next_opening_time=when(example["nextOpeningTime"]),
            next_closing_time=when(example["nextClosingTime"]),
            retrieved_at=when(example["retrievedAt"]),
            source=example["source"],
        )
        now = answer.retrieved_at + timedelta(seconds=example["ageSeconds"])
        assert answer.to_json(now, "Europe/Paris") == example


def test_request_examples_are_accepted_by_the_parser(oas):
    for path, parse in (("/api/availability/before-conversation", parse_before_conversation),
                        ("/api/availability/for-conversation", parse_for_conversation),
                        ("/api/escalation/decision", parse_escalation)):
        examples = oas["paths"][path]["post"]["requestBody"]["content"]["application/json"]["examples"]
        for example in examples.values():
            parse(example["value"])
    batch = oas["paths"]["/api/availability/batch"]["post"]["requestBody"]["content"]["application/json"]
    for example in batch["examples"].values():
        assert not any(isinstance(check, errors.InvalidRequest) for check in parse_batch(example["value"]))


BEFORE_CASES = [
    {"workstreamId": GUID},
    {"workstreamId": GUID.upper(), "contextItems": None, "engagementContext": None, "timeZone": None},
    {"workstreamId": GUID, "contextItems": {"Language": "fr", "Tier": 2}, "timeZone": "America/New_York"},
    {"workstreamId": GUID, "contextItems": {"Tier": {"value": 2, "type": "integer", "isDisplayable": False}}},
    {"workstreamId": GUID, "contextItems": {"Tier": {"value": "gold"}}},
    {"workstreamId": GUID, "contextItems": {"Tier": {"value": 2}}},
    {"workstreamId": GUID, "contextItems": {"Tier": {"value": 2, "type": "INTEGER"}}},
    {"workstreamId": GUID, "contextItems": {"Tier": {"value": 2, "type": "text"}}},
    {"workstreamId": GUID, "contextItems": {"Tier": {"value": 2, "extra": 1}}},
    {"workstreamId": GUID, "contextItems": {"Tier": {"type": "integer"}}},
    {"workstreamId": GUID, "contextItems": {"Tier": {"value": 2, "type": "float"}}},
    {"workstreamId": GUID, "contextItems": {"Tier": 1.5}},
    {"workstreamId": GUID, "contextItems": {"Tier": True}},
    {"workstreamId": GUID, "contextItems": {"Tier": None}},
    {"workstreamId": GUID, "contextItems": {"Tier": [1]}},
    {"workstreamId": GUID, "contextItems": {"Tier": 2**31}},
    {"workstreamId": GUID, "contextItems": {"Tier": -(2**31)}},
    {"workstreamId": GUID, "contextItems": {"Note": "x" * 1000}},
    {"workstreamId": GUID, "contextItems": {"Note": "x" * 1001}},
    {"workstreamId": GUID, "contextItems": {"": "x"}},
    {"workstreamId": GUID, "contextItems": {" \t": "x"}},
    {"workstreamId": GUID, "contextItems": {"\x1c": "x"}},
    {"workstreamId": GUID, "contextItems": {"n" * 101: "x"}},
    {"workstreamId": GUID, "contextItems": {f"k{i}": "v" for i in range(50)}},
    {"workstreamId": GUID, "contextItems": {f"k{i}": "v" for i in range(51)}},
    {"workstreamId": GUID, "contextItems": "Language=fr"},
    {"workstreamId": GUID, "engagementContext": {"msdyn_browser": "Edge"}},
    {"workstreamId": GUID, "engagementContext": {"msdyn_browser": 3}},
    {"workstreamId": GUID, "engagementContext": {"msdyn_city": "y" * 1001}},
    {"workstreamId": GUID, "timeZone": "Europe/Paris"},
    {"workstreamId": GUID, "timeZone": "UTC"},
    {"workstreamId": GUID, "timeZone": "localtime"},
    {"workstreamId": GUID, "timeZone": "posix/Europe/Paris"},
    {"workstreamId": GUID, "timeZone": "../../etc/passwd"},
    {"workstreamId": GUID, "timeZone": "A" * 65},
    {"workstreamId": GUID, "timeZone": 1},
    {"workstreamId": GUID, "language": "pt-BR"},
    {"workstreamId": GUID, "language": "sv"},
    {"workstreamId": GUID, "language": None},
    {"workstreamId": GUID, "language": "fr_CA"},
    {"workstreamId": GUID, "language": "fr-CA\n"},
    {"workstreamId": GUID, "language": "x" * 36},
    {"workstreamId": "not-a-guid"},
    {"workstreamId": GUID + "\n"},
    {"workstreamId": 12},
    {"workstreamID": GUID},
    {"workstreamId": GUID, "conversationId": GUID},
    {},
    [GUID],
]


@pytest.mark.parametrize("body", BEFORE_CASES, ids=range(len(BEFORE_CASES)))
def test_before_conversation_document_accepts_what_the_api_accepts(oas, body):
    assert (valid(oas, "BeforeConversationRequest", body) == []) == accepted(parse_before_conversation, body), (
        valid(oas, "BeforeConversationRequest", body))


def test_for_conversation_document_accepts_what_the_api_accepts(oas):
    cases = [
        {"conversationId": GUID},
        {"conversationId": GUID, "contextItems": {"Language": "fr"}, "timeZone": "Europe/Paris"},
        {"conversationId": GUID, "engagementContext": {"msdyn_browser": "Edge"}},
        {"conversationId": GUID, "contextItems": {"Tier": 2.5}},
        {"workstreamId": GUID},
        {"conversationId": "x"},
    ]
    for body in cases:
        assert (valid(oas, "ForConversationRequest", body) == []) == accepted(parse_for_conversation, body), body


def test_escalation_document_accepts_what_the_api_accepts(oas):
    cases = [
        {"conversationId": GUID}, {"workstreamId": GUID}, {"conversationId": GUID, "maxWaitSeconds": 0},
        {"conversationId": GUID, "engagementContext": None}, {"workstreamId": GUID, "engagementContext": {"a": "b"}},
        {"conversationId": GUID, "engagementContext": {"a": "b"}}, {"conversationId": GUID, "workstreamId": GUID},
        {}, {"maxWaitSeconds": 60}, {"workstreamId": GUID, "maxWaitSeconds": 86_401},
        {"workstreamId": GUID, "maxWaitSeconds": None}, {"conversationId": GUID, "maxWaitSeconds": 1.5},
        {"conversationId": None}, {"conversationId": GUID, "workstreamId": None},
    ]
    for body in cases:
        assert (valid(oas, "EscalationRequest", body) == []) == accepted(parse_escalation, body), body


def test_batch_document_accepts_what_the_api_accepts(oas):
    cases = [{"checks": [{"workstreamId": GUID}]}, {"checks": [1, "x", None, {}]},
             {"checks": [{"workstreamId": GUID}] * MAX_BATCH}, {"checks": [{"workstreamId": GUID}] * (MAX_BATCH + 1)},
             {"checks": []}, {"checks": {}}, {}, {"checks": [], "more": 1}, []]
    for body in cases:
        assert (valid(oas, "BatchRequest", body) == []) == accepted(parse_batch, body), body


JSON = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**40), max_value=2**40) | st.floats(allow_nan=False)
    | st.text(max_size=12) | st.sampled_from(["Europe/Paris", "text", "INTEGER", GUID]),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(
        st.sampled_from(["value", "type", "isDisplayable", "Tier", "", " "]) | st.text(max_size=8), children,
        max_size=3),
    max_leaves=12,
)
BODIES = st.fixed_dictionaries({}, optional={
    "workstreamId": st.just(GUID) | JSON, "conversationId": st.just(GUID) | JSON, "contextItems": JSON,
    "engagementContext": JSON, "timeZone": st.sampled_from(["Europe/Paris", "UTC", "Mars/Base", ""]) | JSON,
    "language": st.sampled_from(["fr", "pt-BR", "fr_CA", ""]) | JSON,
    "maxWaitSeconds": st.sampled_from([0, 600, 86_400, 86_401, -1, 2.0, None]) | JSON,
}) | JSON


@settings(max_examples=300, deadline=None)
@given(BODIES)
def test_the_document_and_the_api_agree_on_any_body(oas, body):
    """The served document (read by any JSON Schema 2020-12 validator) accepts exactly what the API accepts."""
    for name, parse in (("BeforeConversationRequest", parse_before_conversation),
                        ("ForConversationRequest", parse_for_conversation),
                        ("EscalationRequest", parse_escalation)):
        assert (valid(oas, name, body) == []) == accepted(parse, body), (name, body)


@pytest.mark.parametrize("tag", ["fr", "fr-CA", "zh-Hant-TW", "en-US-x-twain", "", "f", "fr_CA", "fr-", "-fr",
                                 "français", "a" * 36, "fr-" + "a" * 9, "fr-CA\n"])
def test_the_language_field_takes_what_the_language_module_calls_a_tag(oas, tag):
    from availability.language import is_language_tag

    assert (valid(oas, "BeforeConversationRequest", {"workstreamId": GUID, "language": tag}) == []) == (
        is_language_tag(tag))


def test_the_languages_named_are_those_the_language_module_supports(oas, swagger):
    from availability.language import SUPPORTED

    def named(document: dict) -> list[str]:
        return [found for _, node in walk(document) if isinstance(node.get("description"), str)
                for found in re.findall(r"\((en(?:, [a-z]{2,3})+)[;)]", node["description"])]

    assert named(oas) == [", ".join(SUPPORTED)] * 7
    assert set(named(swagger)) == {", ".join(SUPPORTED)}


def test_every_status_list_is_the_answer_models(oas, swagger):
    from typing import get_args

    from availability.answer import Status

    for document, count in ((oas, 6), (swagger, 5)):
        lists = [node["enum"] for _, node in walk(document) if "busy" in node.get("enum", ())]
        assert len(lists) == count
        assert all([value for value in enum if value is not None] == list(get_args(Status)) for enum in lists)


def test_time_zones_are_one_shared_list_the_whole_app_accepts(oas):
    names = oas_schema(oas, "TimeZone")["enum"]
    assert names == list(zone_names()) and len(names) > 400
    assert {"Europe/Paris", "America/Argentina/Buenos_Aires", "UTC", "Etc/GMT+5"} <= set(names)
    assert all(is_zone_name(name) for name in names)  # the dashboard's tz takes them too
    for request in ("BeforeConversationRequest", "ForConversationRequest"):
        assert {"$ref": "#/components/schemas/TimeZone"} in oas_schema(oas, request)["properties"]["timeZone"]["anyOf"]
    tz = next(p for p in oas["paths"]["/api/dashboard"]["get"]["parameters"] if p.get("name") == "tz")
    assert {"$ref": "#/components/schemas/TimeZone"} in tz["schema"]["anyOf"]


def test_history_parameters_and_rows_are_what_the_snapshots_module_uses(oas):
    from availability.http.params import HISTORY_PARAMETERS
    from availability.snapshots.rows import DEFAULT_LIMIT, MAX_LIMIT, Snapshot

    operation = oas["paths"]["/api/snapshots"]["get"]
    query = {p["name"]: p for p in operation["parameters"] if p.get("in") == "query"}
    assert tuple(query) == HISTORY_PARAMETERS
    limit, empty = query["limit"]["schema"]["anyOf"]  # an empty value is as absent: the host drops it
    assert (limit["default"], limit["maximum"], empty) == (DEFAULT_LIMIT, MAX_LIMIT, {"const": ""})
    now = datetime(2026, 11, 24, 14, 3, tzinfo=UTC)
    slot = now.replace(minute=0)
    rows = [Snapshot.of(GUID, slot, parse_availability(UPSTREAM_SAMPLE, now)).to_json(),
            Snapshot.failed(GUID, slot, "upstream_timeout", now).to_json()]
    assert set(rows[0]) == set(oas_schema(oas, "Snapshot")["properties"])
    assert valid(oas, "SnapshotList", {"snapshots": rows, "truncated": True}) == []


def test_the_body_limit_in_the_document_is_the_one_the_api_applies(oas):
    from availability.http import respond

    assert f"{schemas.MAX_BODY_BYTES // 1024} KiB" in oas["components"]["responses"]["InvalidRequest"]["description"]
    assert not hasattr(respond, "MAX_BODY_BYTES")  # no copy of its own


# ------------------------------------------------------------------------------------------- Swagger 2.0


def test_swagger_document_is_a_power_platform_connector(swagger):
    assert swagger["swagger"] == "2.0"
    assert [f"{list(e.instance_path)}: {e.message[:200]}" for e in SWAGGER_20_VALIDATOR.iter_errors(swagger)] == []
    assert swagger["info"]["version"] == availability.__version__
    assert 30 <= len(swagger["info"]["description"]) <= 500 and len(swagger["info"]["title"]) <= 30
    # One definition for every deployment: the host is the connection's (tests/availability/openapi/test_connector.py).
    assert swagger["host"] == openapi.DEFINITION_HOST
    assert swagger["basePath"] == "/api" and swagger["schemes"] == ["https"]
    for path, node in walk(swagger):
        assert not any(key.startswith("_") for key in node), f"private key left at {path}"
        for key in ("oneOf", "anyOf", "nullable", "components"):
            assert key not in node, f"{key} is not Swagger 2.0 ({path})"
        if "$ref" in node:
            assert node["$ref"].startswith("#/definitions/"), path
            resolve(swagger, node["$ref"])
    referenced = {node["$ref"].rsplit("/", 1)[1] for _, node in walk(swagger) if "$ref" in node}
    assert set(swagger["definitions"]) == referenced  # no unused definitions


def test_swagger_security_is_the_function_key_header(swagger):
    assert swagger["securityDefinitions"] == {"api_key": {
        "type": "apiKey", "in": "header", "name": "x-functions-key",
        "description": swagger["securityDefinitions"]["api_key"]["description"]}}
    assert "Host key" in swagger["securityDefinitions"]["api_key"]["description"]
    assert swagger["security"] == [{"api_key": []}]


def test_swagger_operations_are_described_for_makers(swagger):
    found = {}
    for path, method, operation in operations(swagger):
        found[operation["operationId"]] = ("/api" + path, method)
        assert operation["summary"] and len(operation["summary"]) <= 80
        assert len(operation["description"]) >= 100, operation["operationId"]
        assert "security" not in operation
        for parameter in operation["parameters"]:
            assert parameter.get("x-ms-summary"), (operation["operationId"], parameter["name"])
            assert parameter.get("description"), (operation["operationId"], parameter["name"])
            if parameter["in"] == "body":
                assert set(parameter) >= {"name", "schema", "required"}
            else:
                assert parameter["type"] in ("string", "integer", "number")
        assert {"200", "201", "204"} & set(operation["responses"])
        for status, response in operation["responses"].items():
            assert response["description"] and (status == "401" or "x-correlation-id" in response["headers"])
    assert set(found) == CONNECTOR_OPERATIONS
    assert set(found.values()) == CONTRACT_OPERATIONS - {("/api/health", "get"), ("/api/openapi.json", "get")} | {
        ("/api/subscriptions", "post"), ("/api/subscriptions/{id}", "delete")} | WORKSTREAM_OPERATIONS \
        | BEST_TIMES_OPERATIONS
    assert not (ADDED_OPERATIONS | PUBLIC_OPERATIONS) & set(found.values())
    description = swagger["paths"]["/availability/before-conversation"]["post"]["description"]
    assert "escalat" in description and "canEscalate" in description


def test_swagger_every_property_has_a_display_name(swagger):
    for name, definition in swagger["definitions"].items():
        assert definition.get("x-ms-summary"), name
        for path, node in walk(definition, f"#/definitions/{name}"):
            for prop_name, prop in node.get("properties", {}).items():
                if "$ref" in prop:
                    assert resolve(swagger, prop["$ref"]).get("x-ms-summary"), f"{path}/{prop_name}"
                else:
                    assert prop.get("x-ms-summary"), f"{path}/{prop_name}"
                    assert prop.get("description") or prop_name in ("status", "version"), f"{path}/{prop_name}"


def test_swagger_definitions_come_from_the_same_schemas(oas, swagger):
    for name, definition in swagger["definitions"].items():
        assert set(definition.get("properties", {})) == set(oas_schema(oas, name).get("properties", {})), name
        assert definition.get("required") == oas_schema(oas, name).get("required"), name
    availability_def = swagger["definitions"]["Availability"]["properties"]
    assert {n for n, p in availability_def.items() if p.get("x-nullable")} == {
        n for n, p in oas_schema(oas, "Availability")["properties"].items() if "null" in p.get("type", ())}
    context = swagger["definitions"]["BeforeConversationRequest"]["properties"]["contextItems"]
    assert context["type"] == "object" and context["additionalProperties"]["type"] == "string"
    assert "integer" in context["description"] and "long form" in context["description"]
    assert swagger["definitions"]["Snapshot"]["properties"]["status"]["enum"] == ["available", "busy", "closed"]


def test_swagger_response_examples_fit_its_definitions(oas, swagger):
    values = [e["value"] for e in oas["paths"]["/api/availability/before-conversation"]["post"]["responses"][
        "200"]["content"]["application/json"]["examples"].values()]
    for value in values:
        assert problems({"$ref": "#/definitions/Availability"}, value, swagger) == []
    now = datetime(2026, 11, 24, 14, 0, tzinfo=UTC)
    rendered = parse_availability(UPSTREAM_SAMPLE, now).to_json(now)
    assert problems({"$ref": "#/definitions/Availability"}, rendered, swagger) == []
    snapshots = oas["paths"]["/api/snapshots"]["get"]["responses"]["200"]["content"]["application/json"]
    for example in snapshots["examples"].values():
        assert problems({"$ref": "#/definitions/SnapshotList"}, example["value"], swagger) == []


def test_api_properties_asks_for_the_host_and_a_host_key():
    properties = openapi.api_properties()["properties"]
    host, api_key = properties["connectionParameters"][openapi.HOST_PARAMETER], properties["connectionParameters"][
        "api_key"]
    assert host["type"] == "string" and host["uiDefinition"]["constraints"] == {"tabIndex": 1, "required": "true"}
    assert api_key["type"] == "securestring"
    ui = api_key["uiDefinition"]
    assert ui["displayName"] == "Host key" and ui["description"] and ui["tooltip"]
    assert ui["constraints"] == {"tabIndex": 2, "clearText": False, "required": "true"}
    assert properties["policyTemplateInstances"] == [{
        "templateId": "dynamichosturl", "title": "Function app host",
        "parameters": {"x-ms-apimTemplateParameter.urlTemplate": "https://@connectionParameters('hostName')/api"}}]
    assert re.fullmatch(r"#[0-9a-f]{6}", properties["iconBrandColor"])
    assert properties["capabilities"] == ["actions", "triggers"]


def test_every_http_function_of_the_app_is_described(oas, app_functions):
    # What each function answers (the methods it declares beyond those it refuses with 405).
    routes = {("/api/" + f.get_trigger().get_dict_repr()["route"], method.lower())
              for f in app_functions if f.get_trigger().get_dict_repr()["type"] == "httpTrigger"
              for method in f.get_user_function().answered_methods}
    assert routes == {(path, method) for path, method, _ in operations(oas)}


# ------------------------------------------------------------------------- change subscriptions and the trigger

# Power Platform names the connector's descriptions must not use (certification).
PLATFORM_PRODUCTS = re.compile(r"Power ?(Automate|Apps|Platform|BI|Pages|Virtual Agents)|Copilot Studio|Logic Apps|"
                               r"Dataverse|Microsoft Flow", re.IGNORECASE)


def test_the_connector_meets_the_certification_rules(swagger):
    for path, node in walk(swagger):
        for key in ("summary", "x-ms-summary"):
            if isinstance(node.get(key), str):
                summary = node[key]
                assert len(summary) <= 80 and re.fullmatch(r"[A-Za-z0-9() ]+", summary), (path, summary)
                assert not summary.endswith("."), (path, summary)
        if isinstance(node.get("description"), str):
            description = node["description"].rstrip()
            assert description.endswith((".", "!", "?")), (path, description[-60:])
            assert not PLATFORM_PRODUCTS.search(description), (path, PLATFORM_PRODUCTS.search(description))
    for operation in (op for _, _, op in operations(swagger)):
        assert len([status for status in operation["responses"] if status.startswith("2")]) == 1, operation


def test_the_trigger_is_a_webhook_the_platform_can_register_and_remove(swagger):
    item = swagger["paths"]["/subscriptions"]
    trigger = item["post"]
    assert trigger["operationId"] == "WhenAvailabilityChanges" and trigger["x-ms-trigger"] == "single"
    assert trigger["summary"] == "When availability changes"
    body = resolve(swagger, next(p for p in trigger["parameters"] if p["in"] == "body")["schema"]["$ref"])
    callbacks = [name for name, prop in body["properties"].items() if prop.get("x-ms-notification-url")]
    assert callbacks == ["callbackUrl"] and "callbackUrl" in body["required"]
    assert body["properties"]["callbackUrl"]["x-ms-visibility"] == "internal"
    assert body["properties"]["workstreamId"]["x-ms-visibility"] == "important"
    created = trigger["responses"]["201"]
    assert "Location" in created["headers"] and created["schema"]["$ref"] == "#/definitions/SubscriptionCreated"
    # The payload at path level, as the platform reads it.
    assert item["x-ms-notification-content"]["schema"] == {"$ref": "#/definitions/AvailabilityChange"}
    change = swagger["definitions"]["AvailabilityChange"]
    assert set(change["required"]) == {"subscriptionId", "workstreamId", "previousStatus", "status", "canEscalate",
                                       "changedAt", "availability"}
    remove = swagger["paths"]["/subscriptions/{id}"]["delete"]
    assert remove["x-ms-visibility"] == "internal" and "204" in remove["responses"]
    assert [p["name"] for p in remove["parameters"] if p["in"] == "path"] == ["id"]
    assert "get" not in swagger["paths"]["/subscriptions"]  # listing is for operators, not makers


def test_the_change_the_callback_receives_is_described_and_its_example_fits(oas, swagger):
    from availability.openapi import examples

    callbacks = oas["paths"]["/api/subscriptions"]["post"]["callbacks"]["availabilityChange"]
    delivery = callbacks["{$request.body#/callbackUrl}"]["post"]
    headers = {p["name"]: p for p in delivery["parameters"]}
    assert set(headers) == {"x-availability-signature", "x-availability-signature-timed", "x-availability-delivery"}
    from availability.notifications.delivery import sign, sign_timed

    body = b'{"status":"available"}'
    sent = {"x-availability-signature": sign("s", body),
            "x-availability-signature-timed": sign_timed("s", body, GUID, 1796198402)}
    for name, value in sent.items():  # what is sent fits what is described
        assert re.fullmatch(headers[name]["schema"]["pattern"].strip("^$"), value), name
    media = delivery["requestBody"]["content"]["application/json"]
    assert media["schema"] == {"$ref": "#/components/schemas/AvailabilityChange"}
    for example in media["examples"].values():
        assert valid(oas, "AvailabilityChange", example["value"]) == []
        assert problems({"$ref": "#/definitions/AvailabilityChange"}, example["value"], swagger) == []
    assert valid(oas, "Subscription", examples.subscription()) == []
    assert valid(oas, "SubscriptionCreated", examples.subscription_created()) == []
    created = oas["paths"]["/api/subscriptions"]["post"]["responses"]["201"]
    assert "Location" in created["headers"]


SUBSCRIPTION_CASES = [
    {"callbackUrl": "https://hooks.contoso.com/availability", "workstreamId": GUID},
    {"callbackUrl": "https://prod-27.westeurope.logic.azure.com:443/workflows/5e/triggers/manual/paths/invoke?"
                    "api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=a-B_c", "workstreamId": GUID},
    {"callbackUrl": "HTTP://127.0.0.1:7071/x", "workstreamId": GUID, "notifyOn": "canEscalate"},
    {"callbackUrl": "https://a.b", "workstreamId": GUID, "notifyOn": None, "contextItems": {"Tier": 2},
     "engagementContext": {"msdyn_browser": "Edge"}, "language": "fr", "timeZone": "Europe/Paris"},
    {"callbackUrl": "https://a.b/" + "x" * 2037, "workstreamId": GUID},
    {"callbackUrl": "https://a.b/" + "x" * 2038, "workstreamId": GUID},
    {"callbackUrl": "https://a.b/%zz", "workstreamId": GUID},
    {"callbackUrl": "https://a.b/[x]", "workstreamId": GUID},
    {"callbackUrl": "https://a.b/#f", "workstreamId": GUID},
    {"callbackUrl": "https://u:p@a.b/", "workstreamId": GUID},
    {"callbackUrl": "https://a.b:0/", "workstreamId": GUID},
    {"callbackUrl": "https://a.b:65536/", "workstreamId": GUID},
    {"callbackUrl": "https://[::1]/", "workstreamId": GUID},
    {"callbackUrl": "ftp://a.b/", "workstreamId": GUID},
    {"callbackUrl": "https://a.b/ x", "workstreamId": GUID},
    {"callbackUrl": "https://a.b/é", "workstreamId": GUID},
    {"callbackUrl": "https://-a.b/", "workstreamId": GUID},
    {"callbackUrl": "https://a.b", "workstreamId": GUID, "notifyOn": "always"},
    {"callbackUrl": "https://a.b", "workstreamId": GUID, "contextItems": {"Tier": 1.5}},
    {"callbackUrl": "https://a.b", "workstreamId": GUID, "secret": "mine"},
    {"callbackUrl": "https://a.b"},
    {"workstreamId": GUID},
    {"callbackUrl": 1, "workstreamId": GUID},
]


@pytest.mark.parametrize("body", SUBSCRIPTION_CASES, ids=range(len(SUBSCRIPTION_CASES)))
def test_the_subscription_document_accepts_what_the_api_accepts(oas, body):
    from availability.checks import validated

    assert (valid(oas, "SubscriptionRequest", body) == []) == accepted(
        lambda b: validated("SubscriptionRequest", b), body), valid(oas, "SubscriptionRequest", body)


def test_subscription_request_examples_are_accepted(oas):
    from availability.checks import validated

    examples = oas["paths"]["/api/subscriptions"]["post"]["requestBody"]["content"]["application/json"]["examples"]
    assert len(examples) >= 2
    for example in examples.values():
        validated("SubscriptionRequest", example["value"])
