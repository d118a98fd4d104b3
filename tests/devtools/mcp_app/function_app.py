"""A function app of MCP tools that exercises the local host's MCP endpoint: the invocation each function is
handed, the forms of what it returns, a function that raises, and the decorator that infers a tool."""

import json

import azure.functions as func

app = func.FunctionApp()


@app.route(route="health", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def health(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse('{"status": "ok"}', mimetype="application/json")  # the stack waits for it

_NAME = json.dumps([{"propertyName": "name", "propertyType": "string", "description": "Who to greet.",
                     "isRequired": True},
                    {"propertyName": "times", "propertyType": "integer", "description": "", "isRequired": False},
                    {"propertyName": "tags", "propertyType": "string", "description": "Labels.", "isArray": True}])


@app.mcp_tool_trigger(arg_name="context", tool_name="echo", description="Returns the invocation it was handed.",
                      tool_properties=_NAME)
def echo(context: str) -> str:
    return context


@app.mcp_tool_trigger(arg_name="context", tool_name="peek", description="Returns the invocation, asking nothing.")
def peek(context: str) -> str:
    return context


@app.mcp_tool_trigger(arg_name="context", tool_name="blocks", description="Text and structured content.",
                      tool_properties="[]", use_result_schema=True)
def blocks(context: str) -> str:
    return json.dumps({"type": "text", "content": json.dumps({"type": "text", "text": "two blocks"}),
                       "structuredContent": json.dumps({"count": 2})})


@app.mcp_tool_trigger(arg_name="context", tool_name="nothing", description="Returns nothing.")
def nothing(context: str) -> None:
    return None


@app.mcp_tool_trigger(arg_name="context", tool_name="boom", description="Raises.")
def boom(context: str) -> str:
    raise RuntimeError("a detail the client must not see")


@app.mcp_tool()
def shout(word: str) -> str:
    """Says a word louder."""
    return word.upper()
