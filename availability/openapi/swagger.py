"""The Power Platform custom connector: the operations a maker uses, as Swagger 2.0 (`apiDefinition.swagger.json`),
and its `apiProperties.json`.

The shapes are those of `availability.schemas`, translated: `title` becomes `x-ms-summary`, a `null` in `type`
becomes `x-nullable`, `examples` its first `example`, `_visibility` `x-ms-visibility`; where JSON Schema says
more than Swagger 2.0 can, the node's `_swagger` keys replace its own (written by hand there, checked by the
tests against the same shape). No JSON Schema library converts to Swagger 2.0, hence this module.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from .. import __version__
from ..schemas import SCHEMA_PREFIX, components
from .operations import CONNECTOR_DESCRIPTION, CORRELATION_PARAMETER, ERROR_RESPONSES, TITLE, operations

DEFAULT_HOST = "contoso-availability.azurewebsites.net"
# Certification asks for a contact and the publisher's website, privacy policy and categories: placeholders of the
# publisher Contoso (apiProperties.json), to be replaced with the publisher's own before submitting.
CONTACT = {"name": "Contoso Availability Support", "url": "https://www.contoso.com/support",
           "email": "support@contoso.com"}
CONNECTOR_METADATA = [
    {"propertyName": "Website", "propertyValue": "https://www.contoso.com"},
    {"propertyName": "Privacy policy", "propertyValue": "https://www.contoso.com/privacy"},
    {"propertyName": "Categories", "propertyValue": "Sales and CRM;Communication"},
]
CONNECTOR_DIR = Path(__file__).resolve().parents[2] / "connector"
SWAGGER_FILE = "apiDefinition.swagger.json"
PROPERTIES_FILE = "apiProperties.json"
# Keywords without a Swagger 2.0 form: a node using one needs `_swagger` keys that replace it.
_UNSUPPORTED = ("oneOf", "anyOf", "not", "if", "then", "else", "const", "prefixItems")
# Keywords Swagger 2.0 lacks but can do without: the descriptions say it in words.
_DROPPED = ("propertyNames",)


def swagger_schema(node: Any, where: str = "") -> Any:
    """The Swagger 2.0 / Power Platform form of a schema node of `availability.schemas`."""
    if isinstance(node, list):
        return [swagger_schema(value, where) for value in node]
    if not isinstance(node, dict):
        return node
    if "_swagger" in node:
        node = {**node, **node["_swagger"]}
        node = {key: value for key, value in node.items() if value is not None and key != "_swagger"}
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _UNSUPPORTED:
            raise ValueError(f"{where or 'schema'}: '{key}' has no Swagger 2.0 form; give the node '_swagger' keys")
        if key == "_visibility":
            out["x-ms-visibility"] = value
        elif key == "_notification_url":
            out["x-ms-notification-url"] = value  # the field the platform fills with the flow's callback URL
        elif key.startswith("_") or key in _DROPPED:
            continue
        elif key == "title":
            out["x-ms-summary"] = value
        elif key == "type" and isinstance(value, list):
            kinds = [kind for kind in value if kind != "null"]
            if len(kinds) != 1:
                raise ValueError(f"{where or 'schema'}: type {value} has no Swagger 2.0 form; give '_swagger' keys")
            out["type"] = kinds[0]
            if "null" in value:
                out["x-nullable"] = True
        elif key == "examples":
            out["example"] = value[0]
        elif key == "enum":
            out["enum"] = [item for item in value if item is not None]
        elif key == "$ref":
            out["$ref"] = "#/definitions/" + value[len(SCHEMA_PREFIX):]
        elif key == "additionalProperties" and value is False:
            continue  # Power Platform tooling expects a schema here; the service refuses unknown fields anyway
        elif key == "properties":
            out["properties"] = {name: swagger_schema(sub, f"{where}.{name}") for name, sub in value.items()}
        elif key in ("items", "additionalProperties"):
            out[key] = swagger_schema(value, f"{where}.{key}")
        else:
            out[key] = value
    return out


def _refs(node: Any) -> set[str]:
    if isinstance(node, dict):
        found = {node["$ref"]} if isinstance(node.get("$ref"), str) else set()
        for value in node.values():
            found |= _refs(value)
        return found
    if isinstance(node, list):
        return set().union(*(_refs(value) for value in node)) if node else set()
    return set()


def _parameter(param: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"name": param["name"], "in": param["in"], "required": param["required"],
                           "x-ms-summary": param["title"], "description": param["description"]}
    if "_visibility" in param:
        out["x-ms-visibility"] = param["_visibility"]
    out.update(swagger_schema(param["schema"], param["name"]))
    return out


@lru_cache(maxsize=8)
def _swagger_json(host: str) -> str:
    correlation_header = {"type": "string", "description": "The request's correlation ID; quote it when reporting a "
                                                           "problem."}
    paths: dict[str, dict[str, Any]] = {}
    for op in operations():
        if not op.connector:
            continue
        operation: dict[str, Any] = {"operationId": op.operation_id, "summary": op.summary,
                                     "description": op.description}
        if op.trigger:
            operation["x-ms-trigger"] = op.trigger
        if op.visibility:
            operation["x-ms-visibility"] = op.visibility
        if op.body:
            operation["consumes"] = ["application/json"]
        operation["produces"] = ["application/json"] if op.ok.media else []
        parameters = []
        if op.body:
            parameters.append({"name": "body", "in": "body", "required": True, "x-ms-summary": op.body.title,
                               "description": op.body.description,
                               "schema": {"$ref": "#/definitions/" + op.body.schema}})
        parameters += [_parameter(param) for param in op.parameters]
        parameters.append(_parameter(CORRELATION_PARAMETER))
        operation["parameters"] = parameters
        if not op.ok.schema and op.ok.media:
            raise ValueError(f"{op.operation_id}: a connector operation must answer one of the shapes, or nothing")
        success: dict[str, Any] = {"description": op.ok.description, "headers": {
            "x-correlation-id": correlation_header,
            **{name: {"type": header["schema"]["type"], "description": header["description"]}
               for name, header in op.ok.headers.items()}}}
        if op.ok.schema:
            success["schema"] = {"$ref": "#/definitions/" + op.ok.schema}
        responses: dict[str, Any] = {str(op.ok.status): success}
        for status in op.errors:
            description, codes = op.error_notes.get(status, ERROR_RESPONSES[status])
            headers = {"x-correlation-id": correlation_header}
            if "upstream_throttled" in codes:
                headers["Retry-After"] = {"type": "integer", "description": "Seconds to wait before retrying."}
            responses[str(status)] = {"description": description, "schema": {"$ref": "#/definitions/Error"},
                                      "headers": headers}
        operation["responses"] = responses
        item = paths.setdefault(op.path, {})
        if op.notification:
            # At path level, as the platform reads it (and every certified connector writes it).
            item["x-ms-notification-content"] = {"description": op.notification.summary + ".",
                                                 "schema": {"$ref": "#/definitions/" + op.notification.schema}}
        item[op.method] = operation

    # Only the definitions the connector's operations reach, in the order of the shapes.
    shapes = components()
    wanted: set[str] = set()
    pending = {ref.rsplit("/", 1)[1] for ref in _refs(paths)}
    while pending:
        name = pending.pop()
        wanted.add(name)
        pending |= {ref.rsplit("/", 1)[1] for ref in _refs(swagger_schema(shapes[name], name))} - wanted
    definitions = {name: swagger_schema(shape, name) for name, shape in shapes.items() if name in wanted}

    document = {
        "swagger": "2.0",
        "info": {"title": TITLE, "description": CONNECTOR_DESCRIPTION, "version": __version__, "contact": CONTACT},
        "host": host,
        "basePath": "/api",
        "schemes": ["https"],
        "consumes": ["application/json"],
        "produces": ["application/json"],
        "paths": paths,
        "definitions": definitions,
        "parameters": {},
        "responses": {},
        "securityDefinitions": {
            "api_key": {"type": "apiKey", "in": "header", "name": "x-functions-key",
                        "description": "Function key: a function or host key of the function app (Azure portal, "
                                       "Function App > App keys)."},
        },
        "security": [{"api_key": []}],
        "tags": [],
        "x-ms-connector-metadata": CONNECTOR_METADATA,
    }
    return json.dumps(document)


def swagger_document(host: str = DEFAULT_HOST) -> dict[str, Any]:
    """The Power Platform custom connector definition (Swagger 2.0) for the function app at `host`."""
    return json.loads(_swagger_json(host))


def api_properties() -> dict[str, Any]:
    """The connector's `apiProperties.json`: the function key as its one connection parameter."""
    return {
        "properties": {
            "connectionParameters": {
                "api_key": {
                    "type": "securestring",
                    "uiDefinition": {
                        "displayName": "Function key",
                        "description": "A function key (or host key) of the availability function app.",
                        "tooltip": "In the Azure portal: Function App > App keys (or Functions > Function keys). "
                                   "Sent in the x-functions-key header.",
                        "constraints": {"tabIndex": 2, "clearText": False, "required": "true"},
                    },
                },
            },
            "iconBrandColor": "#0f6cbd",
            "capabilities": [],
            "publisher": "Contoso",
            "stackOwner": "Contoso",
        },
    }


def _dump(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def connector_files(host: str = DEFAULT_HOST) -> dict[str, str]:
    """File name (a path under `connector/`) -> exact text of the connector files: the connector, the MCP server's
    connector and the ready Escalate topic for Copilot Studio."""
    from .copilot import (
        MCP_PROPERTIES_FILE,
        MCP_SWAGGER_FILE,
        TOPIC_FILE,
        escalate_topic,
        mcp_api_properties,
        mcp_swagger_document,
    )

    return {SWAGGER_FILE: _dump(swagger_document(host)), PROPERTIES_FILE: _dump(api_properties()),
            MCP_SWAGGER_FILE: _dump(mcp_swagger_document(host)), MCP_PROPERTIES_FILE: _dump(mcp_api_properties()),
            TOPIC_FILE: escalate_topic(host)}
