"""The local host's MCP endpoint as the Azure Functions MCP extension serves it, request by request: the key rule,
the methods, the streamable HTTP framing, initialize, tools/list, the JSON-RPC errors the extension answers itself,
the invocation handed to a function and what becomes of what it returns."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
import requests

from availability import __version__
from availability.agents.tools import TOOLS
from devtools.mcp import PROTOCOL_VERSIONS
from devtools.stack import Stack

pytestmark = pytest.mark.subprocess  # starts processes of its own

APP_DIR = Path(__file__).parent / "mcp_app"
STREAMABLE = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


def post(url: str, message: Any, key: str | None = None, headers: dict[str, str] | None = None,
         **kwargs: Any) -> requests.Response:
    sent = {**STREAMABLE, **({"x-functions-key": key} if key else {}), **(headers or {})}
    data = message if isinstance(message, (bytes, str)) else json.dumps(message)
    return requests.post(f"{url}/runtime/webhooks/mcp", data=data, headers=sent, timeout=30, **kwargs)


def reply(response: requests.Response) -> dict:
    """The one JSON-RPC message of a streamable HTTP answer: a single `event: message` server-sent event."""
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"] == "text/event-stream"
    assert response.headers["Cache-Control"] == "no-cache,no-store"
    event, data, end = response.text.split("\n", 2)
    assert (event, end) == ("event: message", "\n") and data.startswith("data: ")
    return json.loads(data[len("data: "):])


def call(url: str, name: str, arguments: dict | None = None, key: str | None = None, **kwargs: Any) -> dict:
    params: dict[str, Any] = {"name": name}
    if arguments is not None:
        params["arguments"] = arguments
    return reply(post(url, {"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": params}, key, **kwargs))


@pytest.fixture(scope="module")
def tools_host(tmp_path_factory):
    """A host of a test app of MCP tools whose host.json opens the endpoint to anyone (`Anonymous`)."""
    stack = Stack(local_settings={}, state_dir=tmp_path_factory.mktemp("mcp"), quiet=True, environ=dict(os.environ))
    started = stack.start_host(port=0, app_dir=APP_DIR)
    yield started
    stack.stop()


# --------------------------------------------------------------------------------------- the app's endpoint


def test_the_key_is_the_extensions_system_key_or_the_master_key(gateway):
    ping = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
    system = gateway.host.system_keys["mcp_extension"]
    assert reply(post(gateway.url, ping, system))["result"] == {}
    assert reply(post(gateway.url, ping, gateway.master_key))["result"] == {}
    coded = requests.post(f"{gateway.url}/runtime/webhooks/mcp?code={system}", data=json.dumps(ping),
                          headers=STREAMABLE, timeout=10)
    assert reply(coded)["id"] == 1
    # A function (or host) key opens functions, not the extension's webhook; no key, a wrong one: refused alike.
    for key in (gateway.function_key, None, "wrong"):
        refused = post(gateway.url, ping, key)
        assert (refused.status_code, refused.content) == (401, b""), key
    # The header wins over the query, as the host reads keys.
    both = requests.post(f"{gateway.url}/runtime/webhooks/mcp?code={system}", data=json.dumps(ping),
                         headers={**STREAMABLE, "x-functions-key": "wrong"}, timeout=10)
    assert both.status_code == 401


def test_only_post_is_served_and_the_key_comes_first(gateway):
    key = gateway.host.system_keys["mcp_extension"]
    for method in ("GET", "DELETE", "PUT", "OPTIONS"):
        answered = requests.request(method, f"{gateway.url}/runtime/webhooks/mcp", headers={"x-functions-key": key},
                                    timeout=10)
        assert (answered.status_code, answered.content) == (405, b""), method
        assert requests.request(method, f"{gateway.url}/runtime/webhooks/mcp", timeout=10).status_code == 401
    assert requests.patch(f"{gateway.url}/runtime/webhooks/mcp", timeout=10).status_code == 404
    for elsewhere in ("/runtime/webhooks/mcp/sse", "/runtime/webhooks/eventgrid"):
        assert requests.get(gateway.url + elsewhere, headers={"x-functions-key": gateway.master_key},
                            timeout=10).status_code == 404


def test_what_the_transport_refuses(gateway):
    key = gateway.host.system_keys["mcp_extension"]
    ping = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
    plain = post(gateway.url, ping, key, headers={"Accept": "application/json"})
    assert plain.status_code == 406 and plain.json()["error"]["code"] == -32000
    assert "text/event-stream" in plain.json()["error"]["message"]
    nothing = post(gateway.url, "null", key)
    assert nothing.status_code == 400 and "valid JSON-RPC message" in nothing.json()["error"]["message"]
    assert post(gateway.url, "{not json", key).json()["error"]["code"] == -32700
    assert post(gateway.url, [ping, ping], key).status_code == 400  # no batches
    odd = post(gateway.url, ping, key, headers={"Mcp-Session-Id": "no-separator"})
    assert odd.status_code == 400 and odd.json()["error"]["message"] == "Invalid client state."
    # A notification (no id) is taken without an answer.
    taken = post(gateway.url, {"jsonrpc": "2.0", "method": "notifications/initialized"}, key)
    assert (taken.status_code, taken.content, taken.headers.get("Content-Type")) == (202, b"", None)


def test_initialize_names_the_server_host_json_describes(gateway):
    key = gateway.host.system_keys["mcp_extension"]
    host_json = json.loads((Path(__file__).parents[2] / "host.json").read_text(encoding="utf-8"))
    for offered, agreed in (("2025-03-26", "2025-03-26"), ("2025-11-25", PROTOCOL_VERSIONS[-1])):
        answer = post(gateway.url, {"jsonrpc": "2.0", "id": "a", "method": "initialize",
                                    "params": {"protocolVersion": offered, "capabilities": {},
                                               "clientInfo": {"name": "t", "version": "1"}}}, key)
        result = reply(answer)["result"]
        assert result["protocolVersion"] == agreed
        assert result["serverInfo"] == {"name": host_json["extensions"]["mcp"]["serverName"], "version": __version__}
        assert result["instructions"] == host_json["extensions"]["mcp"]["instructions"]
        assert set(result["capabilities"]) == {"logging", "prompts", "resources", "tools"}
        client, instance = answer.headers["Mcp-Session-Id"].split("|")
        assert len(client) == len(instance) == 16 and (client + instance).isalnum()
        # The session id comes back on later requests; the server stays stateless.
        again = post(gateway.url, {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}, key,
                     headers={"Mcp-Session-Id": answer.headers["Mcp-Session-Id"]})
        assert "Mcp-Session-Id" not in again.headers and len(reply(again)["result"]["tools"]) == len(TOOLS)


def test_tools_list_builds_the_input_schema_as_the_extension_does(gateway):
    listed = reply(post(gateway.url, {"jsonrpc": "2.0", "id": 3, "method": "tools/list"}, gateway.master_key))
    tools = {tool["name"]: tool for tool in listed["result"]["tools"]}
    check = tools["check_availability"]
    assert check["inputSchema"] == {
        "type": "object", "required": ["workstreamId"],
        "properties": {p.name: {"type": p.type, "description": p.description}
                       for p in TOOLS["check_availability"].properties}}
    assert set(check) == {"name", "description", "inputSchema"}


def test_unknown_methods_and_tools_are_json_rpc_errors(gateway):
    key = gateway.master_key
    unknown = reply(post(gateway.url, {"jsonrpc": "2.0", "id": 4, "method": "server/discover"}, key))
    assert unknown == {"jsonrpc": "2.0", "id": 4,
                       "error": {"code": -32601, "message": "Method 'server/discover' is not available."}}
    assert call(gateway.url, "nope", {}, key)["error"] == {"code": -32602, "message": "Unknown tool: 'nope'"}
    missing = call(gateway.url, "check_availability", {"workstreamId": None}, key)["error"]
    assert missing == {"code": -32602, "message": "One or more required tool properties are missing values. "
                                                  "Please provide: workstreamId"}
    # Tool names are found whatever their case.
    assert "result" in call(gateway.url, "DECIDE_ESCALATION", {}, key)


# ------------------------------------------------------------------------- functions and what they return


def test_the_function_is_handed_the_extensions_invocation(tools_host):
    arguments = {"name": "Ada", "times": 2, "tags": ["a"], "extra": None}
    result = call(tools_host.url, "echo", arguments, headers={"Mcp-Session-Id": "abc|def", "X-Test": "t"})["result"]
    assert result.keys() == {"content"} and result["content"][0]["type"] == "text"
    handed = json.loads(result["content"][0]["text"])
    assert handed["name"] == "echo" and handed["arguments"] == arguments  # as sent, JSON types kept
    assert handed["sessionid"] == "abc|def"
    transport = handed["transport"]
    assert (transport["name"], transport["sessionId"]) == ("http-streamable", "abc|def")
    headers = {name.lower(): value for name, value in transport["properties"]["headers"].items()}
    assert headers["x-test"] == "t" and headers["accept"] == STREAMABLE["Accept"]
    # Without arguments and without a session, both are left out.
    bare = json.loads(call(tools_host.url, "peek", None)["result"]["content"][0]["text"])
    assert "arguments" not in bare and "sessionid" not in bare and "sessionId" not in bare["transport"]


def test_what_a_function_returns_becomes_the_result(tools_host):
    assert call(tools_host.url, "blocks", {})["result"] == {"content": [{"type": "text", "text": "two blocks"}],
                                                           "structuredContent": {"count": 2}}
    assert call(tools_host.url, "nothing", {})["result"] == {"content": []}
    assert call(tools_host.url, "shout", {"word": "hey"})["result"] == {"content": [{"type": "text", "text": "HEY"}]}


def test_a_function_that_raises_gives_a_bare_tool_error(tools_host):
    failed = call(tools_host.url, "boom", {})["result"]
    assert failed == {"isError": True, "content": [{"type": "text", "text": "An error occurred invoking 'boom'."}]}


def test_host_json_can_open_the_endpoint_and_names_default_to_the_extensions(tools_host):
    result = reply(post(tools_host.url, {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {}}))["result"]
    assert result["serverInfo"] == {"name": "Azure Functions MCP server", "version": "1.0.0"}
    assert "instructions" not in result
    listed = reply(post(tools_host.url, {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}))["result"]["tools"]
    echo = next(tool for tool in listed if tool["name"] == "echo")
    assert echo["inputSchema"] == {"type": "object", "required": ["name"], "properties": {
        "name": {"type": "string", "description": "Who to greet."},
        "times": {"type": "integer", "description": ""},
        "tags": {"type": "array", "items": {"type": "string"}, "description": "Labels."}}}
