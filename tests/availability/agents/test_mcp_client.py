"""The MCP tools over the wire, with the official `mcp` SDK as the client: the local host's MCP endpoint → the tool
functions → the real SDKs → the sandbox org. Lists the tools, calls each, gets the contract's errors as tool
errors, is refused without the key, and gets the HTTP action's decision for the same check with one org call."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import McpError

from availability.agents.tools import TOOLS
from availability.dataverse.wire import BEFORE_CONVERSATION, FOR_CONVERSATION
from tests.availability.scenario import BUSY_LINE, CHAT, CONVERSATION, Q_FRENCH, Q_OPEN, UNKNOWN
from tests.conftest import unique

pytestmark = pytest.mark.usefixtures("clean_sandbox")

ACTIONS = (BEFORE_CONVERSATION, FOR_CONVERSATION)


def with_session(gateway: Any, work: Callable[[ClientSession], Awaitable[Any]], key: str | None = "system",
                 headers: dict[str, str] | None = None) -> Any:
    """Open an MCP session on the gateway's endpoint (key: its mcp_extension system key, "master", or None) and
    run `work` in it."""
    given = {"system": gateway.host.system_keys.get("mcp_extension"), "master": gateway.master_key, None: None}
    sent = {**({"x-functions-key": given[key]} if given[key] else {}), **(headers or {})}

    async def run() -> Any:
        async with httpx.AsyncClient(headers=sent, timeout=30) as http, \
                streamable_http_client(f"{gateway.url}/runtime/webhooks/mcp", http_client=http) as (read, write, _), \
                ClientSession(read, write) as session:
            await session.initialize()
            return await work(session)

    return asyncio.run(run())


def raised(caught: BaseException, kind: type[BaseException]) -> Any:
    """The `kind` exception in what the client raised (the SDK's task groups wrap it in exception groups)."""
    pending = [caught]
    while pending:
        found = pending.pop(0)
        if isinstance(found, kind):
            return found
        pending += list(getattr(found, "exceptions", ()))
    raise AssertionError(f"no {kind.__name__} in {caught!r}")


def org_calls(sandbox: Any) -> int:
    actions = sandbox.stats()["actions"]
    return sum(actions.get(action, 0) for action in ACTIONS)


def test_the_tools_are_listed_as_the_extension_lists_them(gateway):
    async def work(session: ClientSession) -> Any:
        return await session.list_tools()

    listed = {tool.name: tool for tool in with_session(gateway, work).tools}
    assert set(listed) == set(TOOLS)
    decide = listed["decide_escalation"]
    assert decide.description == TOOLS["decide_escalation"].description
    assert decide.inputSchema["type"] == "object" and decide.inputSchema["required"] == []
    assert decide.inputSchema["properties"]["maxWaitSeconds"] == {
        "type": "integer", "description": TOOLS["decide_escalation"].properties[2].description}
    assert listed["check_conversation_availability"].inputSchema["required"] == ["conversationId"]


def test_each_tool_answers_with_structured_content(gateway, sandbox):
    items = unique()

    async def work(session: ClientSession) -> Any:
        return (await session.call_tool("check_availability", {"workstreamId": CHAT, "contextItems": items}),
                await session.call_tool("check_conversation_availability",
                                        {"conversationId": CONVERSATION, "language": "fr", "contextItems": items}),
                await session.call_tool("decide_escalation", {"workstreamId": BUSY_LINE, "maxWaitSeconds": 300,
                                                              "contextItems": items, "language": "de"}),
                await session.call_tool("list_workstreams", {"channel": "chat"}),
                await session.call_tool("list_workstreams", {"channel": "fax"}))

    before, conversation, decided, listed, refused = with_session(gateway, work)
    assert not before.isError and before.structuredContent["queueId"] == Q_OPEN
    assert before.structuredContent["status"] == "available"
    assert conversation.structuredContent["queueId"] == Q_FRENCH  # the conversation's own context routes it
    assert conversation.structuredContent["language"] == "fr"
    assert (decided.structuredContent["decision"], decided.structuredContent["reason"]) == ("offer_alternative",
                                                                                          "long_wait")
    assert decided.structuredContent["message"].startswith("Alle Mitarbeiter sind gerade im Gespräch")
    assert decided.structuredContent["waitRange"] == {"low": 300, "high": 900}  # the org's 600 s, as a range
    assert '"decision":"offer_alternative"' in decided.content[0].text  # the same answer as text
    chats = listed.structuredContent["workstreams"]
    assert chats and {w["channel"] for w in chats} == {"chat"} and CHAT in {w["id"] for w in chats}
    assert refused.isError and refused.structuredContent["error"]["target"] == "channel"
    assert org_calls(sandbox) == 3  # the checks; the workstreams are a query, not an action call


def test_the_tool_and_the_http_action_give_one_decision_for_one_org_call(gateway, sandbox):
    check = {"workstreamId": CHAT, "contextItems": unique(), "language": "fr", "timeZone": "Europe/Paris"}

    async def work(session: ClientSession) -> Any:
        return await session.call_tool("decide_escalation", check)

    tool = with_session(gateway, work).structuredContent
    action = gateway.post("escalation/decision", check)
    assert action.status_code == 200, action.text
    http = action.json()
    assert (tool["decision"], tool["reason"]) == (http["decision"], http["reason"]) == ("escalate",
                                                                                      "representatives_available")
    assert tool["message"] == http["message"] and tool["waitRange"] == http["waitRange"]
    assert (tool["availability"]["source"], http["availability"]["source"]) == ("live", "cache")
    assert org_calls(sandbox) == 1


def test_the_callers_language_comes_from_accept_language_too(gateway):
    async def work(session: ClientSession) -> Any:
        return await session.call_tool("decide_escalation", {"workstreamId": CHAT, "contextItems": unique()})

    decided = with_session(gateway, work, headers={"Accept-Language": "nl-BE, nl;q=0.9"}).structuredContent
    assert decided["availability"]["language"] == "nl"
    assert decided["message"].startswith("Er is nu een medewerker beschikbaar")


def test_errors_are_tool_errors_with_the_contracts_codes(gateway):
    async def work(session: ClientSession) -> Any:
        return (await session.call_tool("decide_escalation", {"conversationId": UNKNOWN}),
                await session.call_tool("decide_escalation", {"conversationId": CONVERSATION, "workstreamId": CHAT}),
                await session.call_tool("check_availability", {"workstreamId": "not-a-guid"}))

    unknown, both, malformed = with_session(gateway, work)
    assert unknown.isError and unknown.structuredContent["error"]["code"] == "not_found"
    assert both.isError and both.structuredContent["error"] == {
        "code": "invalid_request", "target": "workstreamId", "message": both.structuredContent["error"]["message"]}
    assert malformed.isError and malformed.structuredContent["error"]["target"] == "workstreamId"


def test_what_the_extension_refuses_itself_is_a_protocol_error(gateway):
    async def missing(session: ClientSession) -> Any:
        return await session.call_tool("check_conversation_availability", {"language": "fr"})

    with pytest.raises(BaseException) as refused:
        with_session(gateway, missing)
    error = raised(refused.value, McpError).error
    assert error.code == -32602 and "conversationId" in error.message

    async def unknown(session: ClientSession) -> Any:
        return await session.call_tool("list_everything", {})

    with pytest.raises(BaseException) as refused:
        with_session(gateway, unknown)
    error = raised(refused.value, McpError).error
    assert error.code == -32602 and "list_everything" in error.message


def test_the_org_in_trouble_is_a_tool_error_with_its_retry_after(fresh_gateway, sandbox):
    gateway = fresh_gateway()
    sandbox.fault("actions", status=429, retryAfter=120)

    async def work(session: ClientSession) -> Any:
        return await session.call_tool("decide_escalation", {"conversationId": CONVERSATION})

    throttled = with_session(gateway, work, key="master")  # the master key opens the endpoint too
    error = throttled.structuredContent["error"]
    assert throttled.isError and error["code"] == "upstream_throttled" and 100 <= error["retryAfter"] <= 120


def test_without_the_key_the_client_is_refused(gateway):
    async def work(session: ClientSession) -> Any:
        return await session.list_tools()

    with pytest.raises(BaseException) as refused:
        with_session(gateway, work, key=None)
    assert raised(refused.value, httpx.HTTPStatusError).response.status_code == 401
