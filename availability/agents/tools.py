"""The MCP tools: what `tools/list` shows a model choosing tools, and the binding the Functions MCP extension reads.

Each tool's arguments are the body of one HTTP request shape (`request`), checked by the same validation, so a
tool and its HTTP twin accept and refuse the same things; the properties here are what the extension lists
(`toolProperties`: name, type, description, required) and a test holds them to that shape. They are written out
rather than built from the shapes: the decorators read them when the app is imported, which must stay cheap.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["TOOLS", "Tool", "ToolProperty"]

PropertyType = Literal["string", "integer", "number", "boolean", "object"]


@dataclass(frozen=True)
class ToolProperty:
    """One argument of a tool, as the extension's `toolProperties` lists it."""

    name: str
    type: PropertyType
    description: str
    required: bool = False

    def binding(self) -> dict[str, Any]:
        """The extension's form: `propertyName`, `propertyType`, `description`, `isArray`, `isRequired`."""
        return {"propertyName": self.name, "propertyType": self.type, "description": self.description,
                "isArray": False, "isRequired": self.required}


@dataclass(frozen=True)
class Tool:
    """One MCP tool: its name, what it is for (for the model), its arguments and the request shape they are."""

    name: str
    description: str
    request: str
    properties: tuple[ToolProperty, ...]

    def trigger(self) -> dict[str, Any]:
        """The keyword arguments of `mcp_tool_trigger` (the function returns the whole `CallToolResult`)."""
        return {"tool_name": self.name, "description": self.description,
                "tool_properties": json.dumps([prop.binding() for prop in self.properties]),
                "use_result_schema": True}


_CONVERSATION = ("ID of the ongoing Dynamics 365 Contact Center conversation (msdyn_ocliveworkitemid), a GUID; in a "
                 "Copilot Studio agent connected to Contact Center, the msdyn_ConversationId context variable.")
_WORKSTREAM = ("ID of the workstream (msdyn_liveworkstreamid) a new customer would contact, a GUID, e.g. the "
               "website chat's.")
_CONTEXT_ITEMS = ("Optional context items the workstream's routing rules read, as a JSON object of name to value: a "
                  "string is a Text item, an integer an Integer item, e.g. {\"Language\": \"fr\", \"Tier\": 2}.")
_ENGAGEMENT = "Optional channel attributes the routing rules read, e.g. {\"msdyn_browser\": \"Edge\"}."
_LANGUAGE = ("Optional BCP 47 tag of the customer's language (fr, de-CH, pt-BR, ja); message is worded in it "
             "(en, fr, de, es, it, pt, nl, ja; else English).")
_TIME_ZONE = "Optional IANA time zone of the customer (Europe/Paris) for the times message says; default UTC."
_MAX_WAIT = ("Optional: how long this customer may wait for a representative, in seconds (0 to 86400); a longer "
             "expected wait gives offer_alternative. Default 600, or the app's setting.")

DECIDE_ESCALATION = Tool(
    name="decide_escalation",
    request="EscalationRequest",
    description=(
        "Decide whether to hand the customer over to a human representative (live agent) now. Call it whenever the "
        "customer asks for a person, or before you escalate or transfer the conversation. Give conversationId for "
        "the ongoing Dynamics 365 Contact Center conversation, or workstreamId (with contextItems if routing reads "
        "them) before a conversation exists; not both. Returns decision: escalate (transfer now), "
        "offer_alternative (do not transfer: the wait is too long, the queue closes before the customer would be "
        "served, or no one is free and no wait is known; offer to leave a message, a callback or to come back) or "
        "closed (outside opening hours; nextOpeningTime says when it opens); reason; message, one sentence to say "
        "to the customer as is, in their language; waitRange, the expected wait in seconds; and the availability "
        "behind it. Transfer only when decision is escalate."
    ),
    properties=(
        ToolProperty("conversationId", "string", _CONVERSATION + " Leave it out when giving workstreamId."),
        ToolProperty("workstreamId", "string", _WORKSTREAM + " Only when there is no conversation yet."),
        ToolProperty("maxWaitSeconds", "integer", _MAX_WAIT),
        ToolProperty("contextItems", "object", _CONTEXT_ITEMS),
        ToolProperty("engagementContext", "object", _ENGAGEMENT + " With workstreamId only."),
        ToolProperty("language", "string", _LANGUAGE),
        ToolProperty("timeZone", "string", _TIME_ZONE),
    ),
)

CHECK_AVAILABILITY = Tool(
    name="check_availability",
    request="BeforeConversationRequest",
    description=(
        "Check whether a human representative could take a new customer of a workstream now, before any "
        "conversation exists, e.g. before offering a live chat or a call. Returns status (available, busy or "
        "closed), canEscalate, the queue the customer would reach, free representatives, the average wait in "
        "seconds, when the queue next opens or closes, and message, one sentence to say as is. To decide whether "
        "to escalate, prefer decide_escalation, which applies the wait limit and the closing time."
    ),
    properties=(
        ToolProperty("workstreamId", "string", _WORKSTREAM, required=True),
        ToolProperty("contextItems", "object", _CONTEXT_ITEMS),
        ToolProperty("engagementContext", "object", _ENGAGEMENT),
        ToolProperty("language", "string", _LANGUAGE),
        ToolProperty("timeZone", "string", _TIME_ZONE),
    ),
)

CHECK_CONVERSATION_AVAILABILITY = Tool(
    name="check_conversation_availability",
    request="ForConversationRequest",
    description=(
        "Check whether the queue of an ongoing Dynamics 365 Contact Center conversation has a human representative "
        "free now. Returns status (available, busy or closed), canEscalate, the customer's position, free "
        "representatives, the average wait in seconds, when the queue next opens or closes, and message, one "
        "sentence to say as is. To decide whether to transfer the conversation, prefer decide_escalation, which "
        "applies the wait limit and the closing time."
    ),
    properties=(
        ToolProperty("conversationId", "string", _CONVERSATION, required=True),
        ToolProperty("contextItems", "object", _CONTEXT_ITEMS),
        ToolProperty("language", "string", _LANGUAGE),
        ToolProperty("timeZone", "string", _TIME_ZONE),
    ),
)

LIST_WORKSTREAMS = Tool(
    name="list_workstreams",
    request="WorkstreamsRequest",
    description=(
        "List the contact center's workstreams (the ways customers reach it: website chat, voice, SMS, ...) with "
        "their IDs, names and channels, sorted by name. Call it to find the workstreamId that decide_escalation and "
        "check_availability take, e.g. the website chat's, instead of guessing one. Optional channel keeps one "
        "channel (chat, voice, sms, whatsapp, ...)."
    ),
    properties=(
        ToolProperty("channel", "string", "Optional: only the workstreams of this channel (chat, voice, sms, "
                                          "whatsapp, facebook, teams, ...; other for channels the gateway does not "
                                          "know)."),
    ),
)

TOOLS: dict[str, Tool] = {tool.name: tool for tool in (DECIDE_ESCALATION, CHECK_AVAILABILITY,
                                                      CHECK_CONVERSATION_AVAILABILITY, LIST_WORKSTREAMS)}
