"""What Copilot Studio takes beside the connector: the MCP server's connector (the one operation Copilot Studio
reads as MCP, at the extension's endpoint, with its key) and the ready Escalate topic (valid YAML of the topic
code editor's kinds, calling the decision and branching on exactly the decisions it answers)."""

from __future__ import annotations

import re

import yaml
from schemathesis.specs.openapi.definitions import SWAGGER_20_VALIDATOR

from availability import __version__, openapi, schemas
from availability.escalation import decisions
from availability.openapi.copilot import (
    DECISION_PATH,
    MCP_PROPERTIES_FILE,
    MCP_SWAGGER_FILE,
    TOPIC_FILE,
    escalate_topic,
    mcp_swagger_document,
)
from devtools.mcp import PATH as MCP_ENDPOINT


def test_the_mcp_connector_is_one_streamable_mcp_operation_at_the_extensions_endpoint():
    document = mcp_swagger_document()
    assert [f"{list(e.instance_path)}: {e.message}" for e in SWAGGER_20_VALIDATOR.iter_errors(document)] == []
    # The host is the connection's, as the connector's is (the dynamichosturl policy of apiProperties.json).
    assert (document["host"], document["schemes"], document["info"]["version"]) == (
        openapi.DEFINITION_HOST, ["https"], __version__)
    policy = openapi.connector_files()[MCP_PROPERTIES_FILE]
    assert "dynamichosturl" in policy and "/runtime/webhooks" in policy
    assert len(document["info"]["title"]) <= 30 and document["info"]["description"].endswith(".")
    [(path, item)] = document["paths"].items()
    [(method, operation)] = item.items()
    assert (method, document["basePath"] + path) == ("post", MCP_ENDPOINT)
    assert operation["x-ms-agentic-protocol"] == "mcp-streamable-1.0"
    assert operation["operationId"] == "InvokeMCP" and "parameters" not in operation
    assert document["securityDefinitions"] == {"api_key": {
        "type": "apiKey", "in": "header", "name": "x-functions-key",
        "description": document["securityDefinitions"]["api_key"]["description"]}}
    assert "mcp_extension" in document["securityDefinitions"]["api_key"]["description"]
    assert document["security"] == [{"api_key": []}]


def test_the_mcp_connector_files_are_generated_with_the_others():
    files = openapi.connector_files()
    assert {MCP_SWAGGER_FILE, MCP_PROPERTIES_FILE, TOPIC_FILE} <= set(files)
    properties = yaml.safe_load(files[MCP_PROPERTIES_FILE])["properties"]["connectionParameters"]
    assert properties["api_key"]["type"] == "securestring"
    assert "systemKeys.mcp_extension" in properties["api_key"]["uiDefinition"]["tooltip"]


def nodes(node, kind):
    """Every node of the topic of `kind`, depth first."""
    if isinstance(node, dict):
        if node.get("kind") == kind:
            yield node
        for value in node.values():
            yield from nodes(value, kind)
    elif isinstance(node, list):
        for value in node:
            yield from nodes(value, kind)


def test_the_topic_calls_the_decision_and_branches_on_its_decisions():
    topic = yaml.safe_load(escalate_topic("my-app.azurewebsites.net"))
    assert topic["kind"] == "AdaptiveDialog" and topic["beginDialog"]["kind"] == "OnEscalate"
    [request] = nodes(topic, "HttpRequestAction")
    assert (request["method"], request["url"]) == ("Post", f"https://my-app.azurewebsites.net{DECISION_PATH}")
    assert "x-functions-key" in request["headers"] and request["body"]["kind"] == "JsonRequestContent"
    assert "conversationId:" in request["body"]["content"] and request["errorHandling"]["statusCode"]
    # Within Copilot Studio's HTTP node time-out, which the API's own budget (25 s) is below.
    assert request["requestTimeoutInMilliseconds"] >= 25_000
    decision = schemas.components()["EscalationDecision"]["properties"]
    read = request["responseSchema"]["properties"]
    assert set(read) <= set(decision) and {"decision", "message"} <= set(read)
    [group] = nodes(topic, "ConditionGroup")
    branched = [re.fullmatch(r'=Topic\.Decision\.decision = "(\w+)"', item["condition"]) for item in
                group["conditions"]]
    named = {match.group(1) for match in branched if match}
    assert named | {"offer_alternative"} == set(decisions()) and "offer_alternative" not in named  # the else
    said = [node["activity"] for node in nodes(topic, "SendActivity")]
    assert said.count("{Topic.Decision.message}") == 3  # escalate, closed and the alternative say it as is
    transfers = list(nodes(topic, "TransferConversationV2"))
    assert len(transfers) == 2  # when escalating, and when the gateway could not decide
    ids = [node["id"] for kind in ("HttpRequestAction", "ConditionGroup", "SendActivity", "TransferConversationV2",
                                   "EndDialog") for node in nodes(topic, kind)]
    assert len(ids) == len(set(ids))  # node ids are unique in a topic
