"""What every Power Platform connector of the app shares: the function app's host as a connection parameter, the
`dynamichosturl` policy that sends every call there, and the brand colour.

One definition serves every deployment: a maker names their own function app when making a connection (the
policy certified connectors with per-customer hosts use).
"""

from __future__ import annotations

from typing import Any

from .publisher import Publisher

__all__ = ["BRAND_COLOR", "DEFINITION_HOST", "HOST_PARAMETER", "properties"]

DEFINITION_HOST = "DefinedInConnectionParameters"  # the definition's `host`: the connection gives the real one
HOST_PARAMETER = "hostName"
BRAND_COLOR = "#0f6cbd"


def host_parameter() -> dict[str, Any]:
    """The connection parameter naming the function app's host (the `dynamichosturl` policy's)."""
    return {
        "type": "string",
        "uiDefinition": {
            "displayName": "Function app host name",
            "description": "The host name of the availability function app: its default domain, which ends in "
                           ".azurewebsites.net, without https:// and without a path.",
            "tooltip": "The default domain shown on the function app's overview page.",
            "constraints": {"tabIndex": 1, "required": "true"},
        },
    }


def properties(key: dict[str, Any], base_path: str, capabilities: list[str],
               publisher: Publisher | None = None) -> dict[str, Any]:
    """An `apiProperties.json`: the host and `key` as the connection's parameters, and the policy sending every call
    to `https://<host><base_path>` (it replaces scheme, host and base path alike)."""
    found: dict[str, Any] = {
        "connectionParameters": {HOST_PARAMETER: host_parameter(), "api_key": key},
        "iconBrandColor": BRAND_COLOR,
        "capabilities": capabilities,
        "policyTemplateInstances": [{
            "templateId": "dynamichosturl",
            "title": "Function app host",
            "parameters": {"x-ms-apimTemplateParameter.urlTemplate":
                           f"https://@connectionParameters('{HOST_PARAMETER}'){base_path}"},
        }],
    }
    if publisher is not None:
        assert publisher.name
        found["publisher"] = publisher.name
        found["stackOwner"] = publisher.stack_owner or publisher.name
    return {"properties": found}
