"""The MCP tool functions: one `mcpToolTrigger` function per tool, as the Functions MCP extension serves them.

Each is a plain synchronous function (the Python worker runs those in its thread pool, where a call that waits on
the org blocks nobody else) taking the extension's invocation as a string, with its properties written out
(`tools.py`) and `use_result_schema` set, so that it returns the whole MCP result (`calls.py`). Everything past
`azure.functions` and the tools' descriptions is imported inside the functions: importing the app is the cold
start.
"""

from __future__ import annotations

import azure.functions as func

from .tools import TOOLS

bp = func.Blueprint()


@bp.mcp_tool_trigger(arg_name="context", **TOOLS["decide_escalation"].trigger())
def decide_escalation(context: str) -> str:
    """Whether to hand the customer to a representative now, why, and what to say."""
    from .calls import call_tool

    return call_tool("decide_escalation", context)


@bp.mcp_tool_trigger(arg_name="context", **TOOLS["check_availability"].trigger())
def check_availability(context: str) -> str:
    """Availability for a new customer of a workstream."""
    from .calls import call_tool

    return call_tool("check_availability", context)


@bp.mcp_tool_trigger(arg_name="context", **TOOLS["check_conversation_availability"].trigger())
def check_conversation_availability(context: str) -> str:
    """Availability for an ongoing conversation."""
    from .calls import call_tool

    return call_tool("check_conversation_availability", context)


@bp.mcp_tool_trigger(arg_name="context", **TOOLS["list_workstreams"].trigger())
def list_workstreams(context: str) -> str:
    """The org's workstreams, to pick a workstreamId from."""
    from .calls import call_tool

    return call_tool("list_workstreams", context)
