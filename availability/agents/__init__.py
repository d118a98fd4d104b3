"""Tools for AI agents over MCP: the escalation decision and the two checks, served by the Azure Functions MCP
extension at `/runtime/webhooks/mcp` (streamable HTTP, guarded by the extension's system key).

`tools` describes them (names, descriptions for a model choosing tools, properties), `blueprint` registers them
with the extension, `calls` runs one call: the invocation the extension hands over → the same validation, service
and rules as the HTTP API → the result the extension returns to the client.
"""
