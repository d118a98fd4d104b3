"""The local host's MCP endpoint, served the way the Azure Functions MCP extension serves it in Azure.

`/runtime/webhooks/mcp` speaks MCP over streamable HTTP, statelessly: every POST is one JSON-RPC message, answered
as one server-sent event (`event: message`, then the stream ends); a notification gets 202; GET and DELETE (the
server stream, the end of a session) get 405. The key is the extension's system key `mcp_extension` or the master
key, in `x-functions-key` or `code`, checked before anything else (401, empty). `tools/list` lists the app's
`mcpToolTrigger` functions as the extension builds their input schema from `toolProperties`; `tools/call` hands
the function the invocation context the extension builds (name, arguments, session, the transport with the
request's headers) and turns what it returns into the `CallToolResult`.

Sources, cited where each behaviour is copied: Azure/azure-functions-mcp-extension at tag 1.5.0 (the extension the
GA bundle 4.38 carries; paths below are under src/Microsoft.Azure.Functions.Extensions.Mcp/), the MCP server it
runs (modelcontextprotocol/csharp-sdk v0.4.0-preview.3) and the Functions host's webhook keys
(Azure/azure-functions-host, src/WebJobs.Script.WebHost/). What differs is listed in docs/azure-differences.md.
"""

from __future__ import annotations

import hmac
import json
import logging
import secrets
import string
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

log = logging.getLogger("host.mcp")

TRIGGER = "mcpToolTrigger"
SYSTEM_KEY = "mcp_extension"  # the host names an extension's system key "<extension>_extension"
PATH = "/runtime/webhooks/mcp"
# Protocol versions the MCP server answers in (csharp-sdk McpSessionHandler.cs); a client offering another gets
# the latest of them (Server/McpServerImpl.cs).
PROTOCOL_VERSIONS = ("2024-11-05", "2025-03-26", "2025-06-18")
# host.json extensions.mcp defaults (Configuration/McpOptions.cs).
DEFAULT_SERVER_NAME, DEFAULT_SERVER_VERSION = "Azure Functions MCP server", "1.0.0"
# JSON-RPC error codes.
INVALID_REQUEST, METHOD_NOT_FOUND, INVALID_PARAMS, PARSE_ERROR, SERVER_ERROR = -32600, -32601, -32602, -32700, -32000
_ID_CHARACTERS = string.ascii_lowercase + string.digits

Send = Callable[[int, dict[str, str], bytes], None]


def serves(path: str) -> bool:
    """True for a request the extensions' webhook route takes (`runtime/webhooks/{extension}/{*extra}`)."""
    return urlsplit(path).path.lower().startswith("/runtime/webhooks/")


def _new_id() -> str:
    """16 characters of a-z and 0-9, as the extension makes client and instance ids (Utility.cs)."""
    return "".join(secrets.choice(_ID_CHARACTERS) for _ in range(16))


@dataclass(frozen=True)
class McpTool:
    """One `mcpToolTrigger` function of the app, as the extension registers it."""

    function: str
    name: str
    description: str
    properties: tuple[dict[str, Any], ...]
    use_result_schema: bool
    arg_name: str
    call: Callable[..., Any]

    @classmethod
    def of(cls, function: str | None, trigger: Mapping[str, Any], call: Callable[..., Any]) -> McpTool:
        """The tool a function's trigger binding declares (`toolProperties` is a JSON string of a list)."""
        function = function or str(trigger["toolName"])
        properties = json.loads(trigger.get("toolProperties") or "[]")
        return cls(function=function, name=str(trigger["toolName"]), description=str(trigger.get("description") or ""),
                   properties=tuple(properties), use_result_schema=bool(trigger.get("useResultSchema")),
                   arg_name=str(trigger["name"]), call=call)

    def listed(self) -> dict[str, Any]:
        """The tool as `tools/list` shows it: the input schema built from its properties
        (ToolInputSchema/PropertyBasedToolInputSchema.cs: types copied as they are, `required` always there)."""
        properties: dict[str, Any] = {}
        for prop in self.properties:
            name = prop.get("propertyName")
            if not isinstance(name, str) or not name.strip():
                continue
            kind: dict[str, Any] = {"type": prop.get("propertyType")}
            if prop.get("enumValues"):
                kind["enum"] = list(prop["enumValues"])
            node = {"type": "array", "items": kind} if prop.get("isArray") else dict(kind)
            node["description"] = prop.get("description") or ""
            properties[name] = node
        required = list(dict.fromkeys(p["propertyName"] for p in self.properties if p.get("isRequired")))
        return {"name": self.name, "description": self.description,
                "inputSchema": {"type": "object", "properties": properties, "required": required}}

    def missing(self, arguments: Mapping[str, Any]) -> list[str]:
        """Required properties the call leaves out or sends as null (ToolInputSchema/ToolInputSchema.cs)."""
        return [p["propertyName"] for p in self.properties
                if p.get("isRequired") and arguments.get(p["propertyName"]) is None]


class McpEndpoint:
    """The MCP extension of one local host: its tools, its options from host.json and the keys that open it."""

    def __init__(self, app_dir: Path, *, master_key: str, system_key: str | None,
                 invoke: Callable[[Callable[..., Any], str, Any], Any]) -> None:
        options = _options(app_dir)
        self.server_name = str(options.get("serverName") or DEFAULT_SERVER_NAME)
        self.server_version = str(options.get("serverVersion") or DEFAULT_SERVER_VERSION)
        self.instructions = options.get("instructions")
        # system.webhookAuthorizationLevel: "System" (the default) or "Anonymous" (the Functions host reads it).
        level = str((options.get("system") or {}).get("webhookAuthorizationLevel") or "System")
        self.anonymous = level.lower() == "anonymous"
        self.master_key = master_key
        self.system_key = system_key
        self.instance_id = _new_id()
        self.tools: list[McpTool] = []
        self._invoke = invoke

    # -- the HTTP exchange --
    def handle(self, method: str, target: str, headers: Any, *, read: Callable[[], bytes | None],
               send: Send) -> None:
        """Answer one request to `/runtime/webhooks/...` (`read` gives the body, or None once it answered)."""
        started = time.perf_counter()
        parts = urlsplit(target)
        path = unquote(parts.path).rstrip("/")
        rpc, tool = "-", "-"
        try:
            status, answer_headers, payload, rpc, tool = self._answer(method.upper(), path, parts.query, headers, read)
        except _AnsweredError:
            return
        except Exception:  # a fault of the emulation itself: the host's bare 500
            log.error("MCP endpoint error on %s %s:\n%s", method, path, traceback.format_exc())
            status, answer_headers, payload = 500, {}, b""
        log.info("%s %s %d %.1fms function=(mcp) method=%s tool=%s", method, path, status,
                 (time.perf_counter() - started) * 1000, rpc, tool)
        send(status, answer_headers, payload)

    def _answer(self, method: str, path: str, query: str, headers: Any, read: Callable[[], bytes | None]
                ) -> tuple[int, dict[str, str], bytes, str, str]:
        # The host routes `runtime/webhooks/{extension}/{*extra}` for GET, PUT, POST, DELETE and OPTIONS
        # (Controllers/HostController.cs) and checks the system key before the extension sees the request
        # (Security/Authorization/Policies/AuthorizationOptionsExtensions.cs SystemKeyAuthLevel; the master key
        # passes it too, Security/Authorization/AuthUtility.cs). No other extension is here.
        if method not in ("GET", "PUT", "POST", "DELETE", "OPTIONS"):
            return 404, {}, b"", "-", "-"
        if not self.anonymous and not self._key_opens(headers, query):
            return 401, {}, b"", "-", "-"
        if path[len("/runtime/webhooks/"):].split("/", 1)[0].lower() != "mcp":
            return 404, {}, b"", "-", "-"
        # Paths ending in sse or message are the legacy SSE transport (Http/DefaultRequestHandler.cs): not here.
        if path.lower().endswith(("/sse", "/message")):
            return 404, {}, b"", "-", "-"
        if path.lower() != PATH:
            return 404, {}, b"", "-", "-"
        # Only POST: no server stream (GET), no session to end (DELETE) (Http/StreamableHttpRequestHandler.cs).
        if method != "POST":
            return 405, {}, b"", "-", "-"
        accepted = {part.split(";")[0].strip().lower() for part in (headers.get("Accept") or "").split(",")}
        if not {"application/json", "text/event-stream"} <= accepted:
            return (406, _JSON, _error_body(SERVER_ERROR, "Not Acceptable: Client must accept both application/json "
                                                          "and text/event-stream"), "-", "-")
        session = headers.get("Mcp-Session-Id")
        if session is not None and not _client_state(session):
            return 400, _JSON, _error_body(SERVER_ERROR, "Invalid client state."), "-", "-"
        body = read()
        if body is None:
            raise _AnsweredError
        try:
            message = json.loads(body.decode("utf-8")) if body.strip() else None
        except (UnicodeError, ValueError):
            return 400, _JSON, _error_body(PARSE_ERROR, "Parse error: the body is not JSON."), "-", "-"
        if message is None:
            return (400, _JSON, _error_body(SERVER_ERROR, "Bad Request: The POST body did not contain a valid "
                                                          "JSON-RPC message."), "-", "-")
        if not isinstance(message, dict) or not ({"method", "result", "error"} & set(message)):
            return 400, _JSON, _error_body(INVALID_REQUEST, "Invalid Request: one JSON-RPC message is expected."), \
                "-", "-"
        rpc = str(message.get("method") or "-")[:100]
        if "method" not in message or "id" not in message:
            return 202, {}, b"", rpc, "-"  # a notification, or a client's response: nothing to answer
        answer_headers = dict(_SSE)
        given = message.get("params")
        params: dict[str, Any] = given if isinstance(given, dict) else {}
        result: dict[str, Any] | None = None
        error: tuple[int, str] | None = None
        tool = "-"
        if rpc == "initialize":
            result = self._initialize(params)
            # The session id goes out on initialize only, "<client id>|<instance id>" in plain text as under Core
            # Tools (ClientStateManager.cs; encrypted in Azure).
            answer_headers["Mcp-Session-Id"] = f"{_new_id()}|{self.instance_id}"
        elif rpc == "tools/list":
            result = {"tools": [t.listed() for t in self.tools]}
        elif rpc == "tools/call":
            tool = str(params.get("name"))[:100]
            result, error = self._call(params, headers)
        elif rpc in ("ping", "logging/setLevel"):
            result = {}
        elif rpc == "resources/list":
            result = {"resources": []}
        elif rpc == "resources/templates/list":
            result = {"resourceTemplates": []}
        elif rpc == "prompts/list":
            result = {"prompts": []}
        else:
            error = (METHOD_NOT_FOUND, f"Method '{rpc}' is not available.")
        reply: dict[str, Any] = {"jsonrpc": "2.0", "id": message["id"]}
        if error is not None:
            reply["error"] = {"code": error[0], "message": error[1]}
        else:
            reply["result"] = result
        frame = f"event: message\ndata: {json.dumps(reply, separators=(',', ':'))}\n\n"
        return 200, answer_headers, frame.encode("utf-8"), rpc, tool

    def _key_opens(self, headers: Any, query: str) -> bool:
        # x-functions-key first, else code (Security/Authentication/Keys/AuthenticationLevelHandler.cs).
        key = headers.get("x-functions-key")
        if key is None:
            key = next((value for name, value in parse_qsl(query, keep_blank_values=True) if name.lower() == "code"),
                       None)
        if not key:
            return False
        return any(hmac.compare_digest(key.encode(), known.encode()) for known in (self.master_key, self.system_key)
                   if known)

    def _initialize(self, params: Mapping[str, Any]) -> dict[str, Any]:
        asked = params.get("protocolVersion")
        result: dict[str, Any] = {
            "protocolVersion": asked if asked in PROTOCOL_VERSIONS else PROTOCOL_VERSIONS[-1],
            "capabilities": {"logging": {}, "prompts": {}, "resources": {}, "tools": {}},
            "serverInfo": {"name": self.server_name, "version": self.server_version},
        }
        if self.instructions:
            result["instructions"] = self.instructions
        return result

    def _call(self, params: Mapping[str, Any], headers: Any) -> tuple[dict[str, Any] | None, tuple[int, str] | None]:
        """A tools/call: the function's CallToolResult, or the JSON-RPC error the extension answers instead."""
        name = params.get("name")
        # Tool names are looked up regardless of case (DefaultToolRegistry.cs).
        tool = next((t for t in self.tools if isinstance(name, str) and t.name.lower() == name.lower()), None)
        if tool is None:
            return None, (INVALID_PARAMS, f"Unknown tool: '{name}'")  # McpWebJobsBuilderExtensions.cs
        arguments = params.get("arguments")
        missing = tool.missing(arguments if isinstance(arguments, dict) else {})
        if missing:
            return None, (INVALID_PARAMS, "One or more required tool properties are missing values. Please provide: "
                                          + ", ".join(missing))
        try:
            returned = self._invoke(tool.call, tool.arg_name, json.dumps(_context(name, arguments, headers)))
            return _call_tool_result(returned, tool.use_result_schema), None
        except Exception:
            # The function failed, or returned what the extension cannot read: the MCP server answers every such
            # fault with the same result, no detail (csharp-sdk Server/McpServerImpl.cs).
            log.error("Function %s (tool %s) failed:\n%s", tool.function, tool.name, traceback.format_exc())
            return {"content": [{"type": "text", "text": f"An error occurred invoking '{tool.name}'."}],
                    "isError": True}, None


class _AnsweredError(Exception):
    """The request was already answered (a body that could not be read)."""


_JSON = {"Content-Type": "application/json; charset=utf-8"}
# Http/McpHttpUtility.cs SetSseContext.
_SSE = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache,no-store", "Content-Encoding": "identity"}


def _error_body(code: int, message: str) -> bytes:
    return json.dumps({"jsonrpc": "2.0", "error": {"code": code, "message": message}}).encode("utf-8")


def _client_state(session: str) -> bool:
    """A session header the extension can read: two non-empty parts around one "|" (ClientStateManager.cs)."""
    parts = [part for part in session.split("|") if part]
    return len(parts) == 2


def _context(name: Any, arguments: Any, headers: Any) -> dict[str, Any]:
    """The invocation context handed to the function (Abstractions/ToolInvocationContext.cs, serialised without
    nulls; the transport from Trigger/McpTriggerTransportHelper.cs: every request header, values joined by ",")."""
    joined: dict[str, str] = {}
    for header, value in headers.items():
        joined[header] = f"{joined[header]},{value}" if header in joined else value
    session = next((value for header, value in joined.items() if header.lower() == "mcp-session-id"), None)
    transport: dict[str, Any] = {"name": "http-streamable", "properties": {"headers": joined}}
    context: dict[str, Any] = {"name": name}
    if isinstance(arguments, dict):
        context["arguments"] = arguments
    if session is not None:
        context["sessionid"] = session
        transport["sessionId"] = session
    context["transport"] = transport
    return context


def _call_tool_result(returned: Any, use_result_schema: bool) -> dict[str, Any]:
    """What the extension makes of the function's return value (Trigger/SimpleToolReturnValueBinder.cs, and with
    `useResultSchema` Trigger/ToolReturnValueBinder.cs); a value it cannot read raises."""
    if isinstance(returned, bytes):
        returned = returned.decode("utf-8")
    if returned is None:  # a function that returns nothing: no result, an empty one for the client
        return {"content": []}
    if not isinstance(returned, str):
        raise TypeError(f"a tool function returned {type(returned).__name__}, not a string")
    if not use_result_schema:
        return {"content": [{"type": "text", "text": returned}]}
    envelope = json.loads(returned)
    kind = envelope.get("type") if isinstance(envelope, dict) else None
    if not isinstance(kind, str) or not kind:
        raise ValueError("the result's type cannot be null or empty")
    content = envelope.get("content")
    if kind.lower() == "call_tool_result":
        called = json.loads(content)
        if not isinstance(called, dict) or not isinstance(called.get("content"), list):
            raise ValueError("not a CallToolResult")
        return {key: called[key] for key in ("content", "structuredContent", "isError", "_meta") if key in called}
    blocks = json.loads(content) if kind.lower() == "multi_content_result" else [json.loads(content)]
    if not blocks:
        raise ValueError("no content items were produced from the result")
    result: dict[str, Any] = {"content": blocks}
    if envelope.get("structuredContent"):
        result["structuredContent"] = json.loads(envelope["structuredContent"])
    return result


def _options(app_dir: Path) -> dict[str, Any]:
    """host.json's `extensions.mcp`."""
    try:
        config = json.loads((app_dir / "host.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    options = config.get("extensions", {}).get("mcp", {})
    return options if isinstance(options, dict) else {}
