"""The MCP tools in process: what the Functions MCP extension is told of them (the indexed bindings, host.json),
their properties held to the HTTP request shapes they share, and the results and tool errors they return."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import pytest

import availability
from availability import schemas
from availability.agents.calls import call_tool, result_envelope
from availability.agents.tools import TOOLS

ROOT = Path(__file__).resolve().parents[3]
CONVERSATION = "33333333-0000-4000-8000-000000000001"
WORKSTREAM = "22222222-0000-4000-8000-000000000001"
# The types the extension copies into a tool's inputSchema (McpToolPropertyAttribute.PropertyType, verbatim).
EXTENSION_TYPES = {"string", "integer", "number", "boolean", "object"}


def invocation(name: str, arguments: object = None, headers: dict | None = None) -> str:
    """The invocation the extension hands the function, as Abstractions/ToolInvocationContext.cs serialises it."""
    context: dict = {"name": name, "transport": {"name": "http-streamable", "properties": {"headers": headers or {}}}}
    if arguments is not None:
        context["arguments"] = arguments
    return json.dumps(context)


def result(envelope: str) -> dict:
    """The CallToolResult the extension makes of a worker's return value (Trigger/ToolReturnValueBinder.cs)."""
    outer = json.loads(envelope)
    assert outer["type"] == "call_tool_result"
    called = json.loads(outer["content"])
    assert [block["type"] for block in called["content"]] == ["text"]
    assert json.loads(called["content"][0]["text"]) == called["structuredContent"]  # the same answer, as text
    return called


# ------------------------------------------------------------------------------------ what the extension reads


def test_the_app_registers_each_tool_as_the_extension_reads_it(app_functions):
    triggers = {f.get_function_name(): f.get_trigger().get_dict_repr() for f in app_functions
                if f.get_trigger().get_dict_repr()["type"] == "mcpToolTrigger"}
    assert set(triggers) == set(TOOLS) == {"decide_escalation", "check_availability",
                                           "check_conversation_availability", "list_workstreams"}
    for function, trigger in triggers.items():
        tool = TOOLS[function]
        assert (trigger["toolName"], trigger["name"], trigger["description"]) == (tool.name, "context",
                                                                                  tool.description)
        assert trigger["useResultSchema"] is True  # the function returns the whole CallToolResult
        listed = json.loads(trigger["toolProperties"])  # a JSON string, as the extension deserialises it
        assert [(p["propertyName"], p["propertyType"], p["isRequired"], p["isArray"]) for p in listed] == [
            (p.name, p.type, p.required, False) for p in tool.properties]
        assert all(p["propertyType"] in EXTENSION_TYPES and p["description"] for p in listed)


@pytest.mark.parametrize("name", sorted(TOOLS))
def test_a_tools_properties_are_its_request_shapes(name):
    tool = TOOLS[name]
    shape = schemas.components()[tool.request]
    assert {p.name for p in tool.properties} == set(shape["properties"])
    assert {p.name for p in tool.properties if p.required} == set(shape.get("required", []))

    def kind(node: dict) -> str:
        if "anyOf" in node:  # the time zone: one of the zone names, or null
            return next(kind(schemas.components()[branch["$ref"].rsplit("/", 1)[1]]) for branch in node["anyOf"]
                        if "$ref" in branch)
        declared = node["type"]
        return next(t for t in ([declared] if isinstance(declared, str) else declared) if t != "null")

    assert {p.name: p.type for p in tool.properties} == {field: kind(node) for field, node in
                                                          shape["properties"].items()}


def test_descriptions_tell_a_model_when_to_call_which_tool():
    decide = TOOLS["decide_escalation"].description
    assert all(word in decide for word in ("escalate", "offer_alternative", "closed", "message", "conversationId",
                                           "workstreamId"))
    for name in ("check_availability", "check_conversation_availability"):
        assert "prefer decide_escalation" in TOOLS[name].description
    assert all(len(tool.description) <= 1024 for tool in TOOLS.values())


def test_host_json_configures_the_extension_and_a_bundle_that_carries_it():
    host = json.loads((ROOT / "host.json").read_text(encoding="utf-8"))
    mcp = host["extensions"]["mcp"]
    assert mcp["serverName"] and mcp["serverVersion"] == availability.__version__
    assert all(name in mcp["instructions"] for name in TOOLS)
    assert mcp["system"]["webhookAuthorizationLevel"] == "System"  # the mcp_extension key guards the endpoint
    # The GA bundle carries Microsoft.Azure.Functions.Extensions.Mcp from 4.29.0 on.
    floor = re.fullmatch(r"\[(\d+)\.(\d+)\.(\d+), 5\.0\.0\)", host["extensionBundle"]["version"])
    assert host["extensionBundle"]["id"] == "Microsoft.Azure.Functions.ExtensionBundle"
    assert floor and tuple(map(int, floor.groups())) >= (4, 29, 0)


# ------------------------------------------------------------------------------------ results and tool errors


@pytest.mark.parametrize(("name", "arguments", "target"), [
    ("decide_escalation", {}, "conversationId"),
    ("decide_escalation", None, "conversationId"),  # the extension leaves arguments out when none were sent
    ("decide_escalation", {"conversationId": CONVERSATION, "workstreamId": WORKSTREAM}, "workstreamId"),
    ("decide_escalation", {"conversationId": "not-a-guid"}, "conversationId"),
    ("decide_escalation", {"workstreamId": WORKSTREAM, "maxWaitSeconds": -5}, "maxWaitSeconds"),
    ("decide_escalation", {"workstreamId": WORKSTREAM, "maxWaitSeconds": "ten"}, "maxWaitSeconds"),
    ("check_availability", {"workstreamId": WORKSTREAM, "contextItems": {"Tier": 1.5}}, "contextItems.Tier"),
    ("check_availability", {"workstreamId": WORKSTREAM, "timeZone": "Mars/Base"}, "timeZone"),
    ("check_conversation_availability", {"conversationId": CONVERSATION, "engagementContext": {"a": "b"}},
     "engagementContext"),
    ("check_conversation_availability", {"conversationId": CONVERSATION, "langauge": "fr"}, "langauge"),
])
def test_bad_arguments_are_a_tool_error_naming_the_field(name, arguments, target):
    called = result(call_tool(name, invocation(name, arguments)))
    assert called["isError"] is True
    error = called["structuredContent"]["error"]
    assert (error["code"], error["target"]) == ("invalid_request", target), error["message"]
    assert called["_meta"]["correlationId"]


def test_arguments_that_are_not_an_object_are_a_tool_error():
    called = result(call_tool("check_availability", invocation("check_availability", ["x"])))
    assert called["isError"] and called["structuredContent"]["error"]["code"] == "invalid_request"


def test_an_unreadable_invocation_is_an_internal_tool_error_not_an_exception():
    called = result(call_tool("decide_escalation", "[1, 2]"))
    assert called["isError"] and called["structuredContent"]["error"]["code"] == "internal_error"


def test_null_arguments_count_as_left_out():
    # A model fills the parameters it does not use with null: "workstreamId": null is no second id.
    called = result(call_tool("decide_escalation", invocation(
        "decide_escalation", {"conversationId": "nope", "workstreamId": None, "maxWaitSeconds": None})))
    assert called["structuredContent"]["error"]["target"] == "conversationId"


def test_the_invocation_is_never_logged(caplog):
    key = "a-function-key-that-must-not-leak"
    with caplog.at_level(logging.DEBUG):
        call_tool("decide_escalation", invocation("decide_escalation", {"conversationId": "secret-ish-value"},
                                                  {"x-functions-key": key, "Accept-Language": "fr"}))
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "mcp/decide_escalation 400 invalid_request" in logged
    assert key not in logged and "secret-ish-value" not in logged


def test_a_result_carries_the_answer_as_structured_content_and_text():
    answer = {"decision": "escalate", "message": "Un conseiller est disponible dès maintenant."}
    called = result(result_envelope(answer, "c-1"))
    assert (called["structuredContent"], called["isError"], called["_meta"]) == (answer, False,
                                                                                {"correlationId": "c-1"})
    assert "dès" in called["content"][0]["text"]  # readable text, not \u escapes
    # Half a UTF-16 character (echoed from a caller) cannot be UTF-8: escaped, the result stays valid JSON.
    odd = result(result_envelope({"target": "a\ud800b"}, "c-2", is_error=True))
    assert odd["structuredContent"] == {"target": "a\ud800b"} and odd["isError"] is True
