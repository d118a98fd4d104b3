"""The Power Platform custom connector: the operations a maker uses, as Swagger 2.0 (`apiDefinition.swagger.json`),
and its `apiProperties.json`.

The shapes are those of `availability.schemas`, translated: `title` becomes `x-ms-summary`, a `null` in `type`
becomes `x-nullable`, `examples` its first `example`, `_visibility` `x-ms-visibility`, `_enum_names`
`x-ms-enum-values`, `_pick` a dropdown (`x-ms-dynamic-values`, and `x-ms-dynamic-list` in a body) filled by an
internal operation; where JSON Schema says more than Swagger 2.0 can, the node's `_swagger` keys replace its own
(written by hand there, checked by the tests against the same shape). No JSON Schema library converts to Swagger
2.0, hence this module.

One definition serves every deployment: the function app's host is a connection parameter that the
`dynamichosturl` policy puts in front of every call, and the key is a host key (one key for every operation).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from .. import __version__
from ..schemas import SCHEMA_PREFIX, components
from .connection import DEFINITION_HOST, properties
from .operation import CORRELATION_PARAMETER, ERROR_RESPONSES
from .operations import CONNECTOR_DESCRIPTION, CONNECTOR_TITLE, LIST_WORKSTREAMS, operations
from .publisher import Publisher

# The definition's `host`: never called, since the policy replaces scheme, host and base path with the
# connection's (Microsoft's dynamichosturl docs: "the host url defined in the connector will no longer be
# relevant"); worded as certified connectors with per-customer hosts word it (IA-Connect).
BASE_PATH = "/api"


@dataclass(frozen=True)
class Picker:
    """A dropdown the designer fills by calling an internal operation: the list in its answer, each item's value
    and the text shown for it."""

    operation_id: str
    collection: str
    value: str
    title: str

    def dynamic_values(self) -> dict[str, Any]:
        return {"operationId": self.operation_id, "value-collection": self.collection, "value-path": self.value,
                "value-title": self.title}

    def dynamic_list(self) -> dict[str, Any]:
        return {"operationId": self.operation_id, "itemsPath": self.collection, "itemValuePath": self.value,
                "itemTitlePath": self.title}


# `_pick` names one of these.
PICKERS = {"workstream": Picker(LIST_WORKSTREAMS, "workstreams", "id", "name")}
CONNECTOR_DIR = Path(__file__).resolve().parents[2] / "connector"
SWAGGER_FILE = "apiDefinition.swagger.json"
PROPERTIES_FILE = "apiProperties.json"
ICON_FILE = "icon.png"
README_FILE = "README.md"
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
        elif key == "_enum_names":
            out["x-ms-enum-values"] = [{"value": item, "displayName": value[item]}
                                       for item in node["enum"] if item is not None]
        elif key == "_pick":
            # Both forms, as certified connectors write them: the older designer reads the first, the newer one
            # needs the second for a property of a body.
            out["x-ms-dynamic-values"] = PICKERS[value].dynamic_values()
            out["x-ms-dynamic-list"] = PICKERS[value].dynamic_list()
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
    if "_pick" in param:
        out["x-ms-dynamic-values"] = PICKERS[param["_pick"]].dynamic_values()
    if param["in"] == "path":
        out["x-ms-url-encoding"] = "single"
    out.update(swagger_schema(param["schema"], param["name"]))
    return out


@lru_cache(maxsize=8)
def _swagger_json(publisher: Publisher | None) -> str:
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
        operation["produces"] = ["application/json"]  # every error is JSON, even where success has no body
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
            if not codes:  # the Functions host's own answer: an empty body
                responses[str(status)] = {"description": description}
                continue
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

    info: dict[str, Any] = {"title": CONNECTOR_TITLE, "description": CONNECTOR_DESCRIPTION, "version": __version__}
    if publisher is not None:
        info["contact"] = publisher.contact()
    document = {
        "swagger": "2.0",
        "info": info,
        "host": DEFINITION_HOST,
        "basePath": BASE_PATH,
        "schemes": ["https"],
        "consumes": ["application/json"],
        "produces": ["application/json"],
        "paths": paths,
        "definitions": definitions,
        "parameters": {},
        "responses": {},
        "securityDefinitions": {
            "api_key": {"type": "apiKey", "in": "header", "name": "x-functions-key",
                        "description": "Host key of the function app: one key for every operation (a function "
                                       "key opens only its own function)."},
        },
        "security": [{"api_key": []}],
        "tags": [],
    }
    if publisher is not None:
        document["x-ms-connector-metadata"] = publisher.metadata()
    return json.dumps(document)


def swagger_document(publisher: Publisher | None = None) -> dict[str, Any]:
    """The Power Platform custom connector definition (Swagger 2.0); with `publisher`, as submitted for
    certification (its contact and metadata)."""
    document: dict[str, Any] = json.loads(_swagger_json(publisher))
    return document


def api_properties(publisher: Publisher | None = None) -> dict[str, Any]:
    """The connector's `apiProperties.json`: the function app's host name and a host key as the connection's
    parameters, and the policy that sends every call to that host."""
    key = {
        "type": "securestring",
        "uiDefinition": {
            "displayName": "Host key",
            "description": "A host key of the function app; a function key would open only one operation.",
            "tooltip": "The function app's App keys, under Host keys. Sent in the x-functions-key header.",
            "constraints": {"tabIndex": 2, "clearText": False, "required": "true"},
        },
    }
    return properties(key, BASE_PATH, ["actions", "triggers"], publisher)


def _dump(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def connector_files(publisher: Publisher | None = None) -> dict[str, str]:
    """File name (a path under `connector/`) -> exact text of the connector files: the connector, the MCP server's
    connector and the ready Escalate topic for Copilot Studio (with `publisher`: as submitted for certification)."""
    from .copilot import (
        MCP_PROPERTIES_FILE,
        MCP_SWAGGER_FILE,
        TOPIC_FILE,
        escalate_topic,
        mcp_api_properties,
        mcp_swagger_document,
    )

    return {SWAGGER_FILE: _dump(swagger_document(publisher)), PROPERTIES_FILE: _dump(api_properties(publisher)),
            MCP_SWAGGER_FILE: _dump(mcp_swagger_document()), MCP_PROPERTIES_FILE: _dump(mcp_api_properties(publisher)),
            TOPIC_FILE: escalate_topic()}
