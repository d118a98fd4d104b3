"""The `azd up` deployment (azure.yaml, infra/), checked offline: no Bicep compiler can be installed here.

- every .bicep file parses (pycep-parser), and checkov passes on infra/ with its skips in infra/.checkov.yaml;
- the app settings the infra sets are held against the app's own list (`availability.settings.APP_SETTINGS`):
  every required one set, no unknown name, and the whole set loads with `load_settings`;
- the roles are the documented built-in role ids, assigned to the app's user-assigned identity only;
- no key, connection string with a key, or secret in any setting or output.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import re
import subprocess
import sys
import venv
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from pycep import BicepParser

from availability.settings import (APP_SETTINGS, DEFAULT_NOTIFY_SCHEDULE, DEFAULT_SCHEDULE, DEFAULT_SECRET_NAME,
                                   declarations, load_settings)

ROOT = Path(__file__).resolve().parent.parent
INFRA = ROOT / "infra"
MODULES = INFRA / "modules"
BICEP_FILES = sorted(INFRA.rglob("*.bicep"))

# Built-in role definition ids, as documented (spec upstream.md §3; Azure built-in roles reference).
DOCUMENTED_ROLES = {
    "Key Vault Secrets User": "4633458b-17de-408a-b874-0445c86b69e6",
    "Storage Blob Data Owner": "b7e6dc6d-f1e8-4753-8033-0f276bb0955b",
    "Storage Queue Data Contributor": "974c5e8b-45b9-4653-ba55-5f855dd0fb88",
    "Storage Table Data Contributor": "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3",
    "Monitoring Metrics Publisher": "3913510d-42f4-4e42-8a64-420c390055eb",
}

# App settings the Functions platform or the Python worker reads, not the app's own code (so not in
# APP_SETTINGS). Listed one by one: a name here is one the infra may set without the app knowing it.
PLATFORM_SETTINGS = {
    "AzureWebJobsStorage__blobServiceUri",  # host: keys, timer leases and schedule status in blobs
    "AzureWebJobsStorage__queueServiceUri",  # host: only for queue-backed triggers (none here)
    "APPLICATIONINSIGHTS_CONNECTION_STRING",  # worker: the Azure Monitor exporter's destination
    "APPLICATIONINSIGHTS_AUTHENTICATION_STRING",  # worker/host: Entra ID ingestion with the identity
    "PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY",  # worker: configures OpenTelemetry with Azure Monitor
    "AZURE_CLIENT_ID",  # azure-identity: DefaultAzureCredential's user-assigned identity (Key Vault)
}

# The identity-based AzureWebJobsStorage the infra sets instead of a connection string.
IDENTITY_STORAGE = {
    "AzureWebJobsStorage__credential",
    "AzureWebJobsStorage__clientId",
    "AzureWebJobsStorage__blobServiceUri",
    "AzureWebJobsStorage__tableServiceUri",
}

# Values standing for the deployment's references when the infra's settings are loaded by the app.
SAMPLE_VALUES = {
    "identityClientId": "11111111-2222-3333-4444-555555555555",
    "storage.properties.primaryEndpoints.blob": "https://stsample.blob.core.windows.net/",
    "storage.properties.primaryEndpoints.table": "https://stsample.table.core.windows.net/",
    "applicationInsights.properties.ConnectionString":
        "InstrumentationKey=00000000-0000-0000-0000-000000000000;"
        "IngestionEndpoint=https://x.in.applicationinsights.azure.com/",
    "dataverseUrl": "https://contoso.crm.dynamics.com",
    "dataverseTenantId": "66666666-7777-8888-9999-000000000000",
    "dataverseClientId": "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
    "keyVaultUri": "https://kv-sample.vault.azure.net/",
    "secretName": DEFAULT_SECRET_NAME,
    "snapshotSchedule": DEFAULT_SCHEDULE,
    "notifySchedule": DEFAULT_NOTIFY_SCHEDULE,
}

CHECKOV_REQUIREMENTS = INFRA / "requirements-checkov.txt"
CHECKOV_VENV = ROOT / ".tools" / "checkov"


# --- reading the Bicep -----------------------------------------------------------------------------------

@cache
def parse(path: Path) -> dict[str, Any]:
    return BicepParser().parse(text=path.read_text(encoding="utf-8"))


def code(path: Path) -> str:
    """The file without its // comments (so prose about keys never matches a check)."""
    return "\n".join(re.sub(r"(^|\s)//.*$", "", line) for line in path.read_text(encoding="utf-8").splitlines())


def ref(node: Any) -> Any:
    """A property access as dotted text (`identity.outputs.id`); anything else unchanged."""
    if isinstance(node, dict) and node.get("operator", {}).get("type") == "property_accessor":
        operands = node["operator"]["operands"]
        return f"{ref(operands['operand_1'])}.{ref(operands['operand_2'])}"
    return node


def body(resource_or_module: dict[str, Any]) -> dict[str, Any]:
    """The body of a resource or module, also when it is conditional (`= if (...) {...}`)."""
    config = resource_or_module["config"]
    return config["config"] if "condition" in config and "config" in config else config


def module_params(name: str) -> dict[str, Any]:
    return {key: ref(value) for key, value in body(parse(INFRA / "main.bicep")["modules"][name])["params"].items()}


def infra_settings() -> dict[str, Any]:
    return {key: ref(value) for key, value in
            parse(MODULES / "functionapp.bicep")["variables"]["appSettings"]["value"].items()}


def timer_settings() -> set[str]:
    """The `%NAME%` schedules of the product's timers: the host resolves them from app settings only."""
    sources = [ROOT / "function_app.py", *sorted((ROOT / "availability").rglob("*.py"))]
    return {name for source in sources
            for name in re.findall(r"""schedule\s*=\s*["']%(\w+)%["']""", source.read_text(encoding="utf-8"))}


# --- parsing ---------------------------------------------------------------------------------------------

def test_the_infra_has_one_small_module_per_concern():
    assert {path.relative_to(INFRA).as_posix() for path in BICEP_FILES} == {
        "main.bicep", "modules/identity.bicep", "modules/monitoring.bicep", "modules/storage.bicep",
        "modules/keyvault.bicep", "modules/secret.bicep", "modules/functionapp.bicep", "modules/rbac.bicep"}
    main = parse(INFRA / "main.bicep")
    for name, module in main["modules"].items():
        assert (INFRA / module["detail"]["path"]).is_file(), name


@pytest.mark.parametrize("path", BICEP_FILES, ids=lambda path: path.relative_to(INFRA).as_posix())
def test_every_bicep_file_parses(path):
    parsed = parse(path)
    assert parsed.get("resources") or parsed.get("modules"), path


def test_azure_yaml_deploys_the_repository_root_as_a_python_function_app():
    config = yaml.safe_load((ROOT / "azure.yaml").read_text(encoding="utf-8"))
    assert config["services"] == {"api": {"project": ".", "language": "python", "host": "function"}}
    assert (ROOT / "function_app.py").is_file() and (ROOT / "host.json").is_file()
    assert "infra" not in config  # azd's default: infra/main.bicep with infra/main.parameters.json


def test_the_parameters_file_maps_azd_environment_values():
    parameters = json.loads((INFRA / "main.parameters.json").read_text(encoding="utf-8"))["parameters"]
    declared = parse(INFRA / "main.bicep")["parameters"]
    mapped = {name: entry["value"] for name, entry in parameters.items()}
    assert set(mapped) <= set(declared), "the parameters file names a parameter main.bicep does not declare"
    assert mapped["environmentName"] == "${AZURE_ENV_NAME}"
    assert mapped["location"] == "${AZURE_LOCATION}"
    assert mapped["dataverseUrl"] == "${DATAVERSE_URL}"
    assert mapped["dataverseTenantId"] == "${DATAVERSE_TENANT_ID}"
    assert mapped["dataverseClientId"] == "${DATAVERSE_CLIENT_ID}"
    for name, value in mapped.items():
        assert re.fullmatch(r"\$\{[A-Z][A-Z0-9_]*\}", value), f"{name}: {value} is not an azd environment value"
    without_default = {name for name, param in declared.items() if param["default"] is None}
    assert without_default <= set(mapped), "azd would have nothing to pass for these"
    for name in ("dataverseUrl", "dataverseTenantId", "dataverseClientId", "dataverseClientSecret"):
        assert any(d["type"] == "description" and d["argument"] for d in declared[name]["decorators"]), name


# --- app settings against the app's own list --------------------------------------------------------------

def test_every_setting_the_app_requires_is_set_by_the_infra():
    settings = infra_settings()
    required = {name for name, default in APP_SETTINGS.items() if default.startswith("required")}
    assert required - {"AzureWebJobsStorage"} <= set(settings)
    # Storage: identity-based, never the connection-string form (which would carry a key).
    assert "AzureWebJobsStorage" not in settings
    assert IDENTITY_STORAGE <= set(settings)
    assert settings["AzureWebJobsStorage__credential"] == "managedidentity"
    # The secret stays in Key Vault.
    assert "DATAVERSE_CLIENT_SECRET" not in settings


def test_every_timer_schedule_is_an_app_setting():
    timers = timer_settings()
    assert "SNAPSHOT_SCHEDULE" in timers  # the test does find the timers
    missing = timers - set(infra_settings())
    assert not missing, f"timers resolve %{'%, %'.join(sorted(missing))}% from app settings only: set them in infra"


def test_the_infra_sets_no_unknown_setting():
    # A timer's %NAME% is read by the host, so it is known even if the app's code never reads it.
    unknown = set(infra_settings()) - set(APP_SETTINGS) - PLATFORM_SETTINGS - timer_settings()
    assert not unknown, f"neither read by the app (APP_SETTINGS) nor a listed platform setting: {sorted(unknown)}"


def test_the_infra_settings_load_as_the_app_reads_them():
    environ = {}
    for name, value in infra_settings().items():
        if not isinstance(value, str):
            pytest.fail(f"{name}: an expression the test cannot stand a value in for: {value}")
        environ[name] = re.sub(r"\$\{([^}]+)\}", lambda m: SAMPLE_VALUES[m.group(1)], SAMPLE_VALUES.get(value, value))
    settings = load_settings(environ)
    settings.require("dataverse_url", "tenant_id", "client_id", "key_vault_url", "storage_connection")
    assert settings.storage_client_id == SAMPLE_VALUES["identityClientId"]
    assert settings.storage_table_uri == "https://stsample.table.core.windows.net"
    assert settings.client_secret is None and settings.client_secret_name == DEFAULT_SECRET_NAME
    assert environ["APPLICATIONINSIGHTS_AUTHENTICATION_STRING"] == \
        f"ClientId={SAMPLE_VALUES['identityClientId']};Authorization=AAD"
    assert environ["PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY"] == "true"
    assert environ["AZURE_CLIENT_ID"] == environ["AzureWebJobsStorage__clientId"] == SAMPLE_VALUES["identityClientId"]


def test_the_settings_come_from_the_deployment():
    params = module_params("functionApp")
    assert params["dataverseUrl"] == "dataverseUrl"
    assert params["dataverseTenantId"] == "dataverseTenantId"
    assert params["dataverseClientId"] == "dataverseClientId"
    assert params["keyVaultUri"] == "keyVault.outputs.uri"
    assert params["identityClientId"] == "identity.outputs.clientId"
    assert params["snapshotSchedule"] == "snapshotSchedule"
    assert params["notifySchedule"] == "notifySchedule"
    main = parse(INFRA / "main.bicep")["parameters"]
    assert main["snapshotSchedule"]["default"] == DEFAULT_SCHEDULE
    assert main["notifySchedule"]["default"] == DEFAULT_NOTIFY_SCHEDULE
    assert main["dataverseClientSecretName"]["default"] == DEFAULT_SECRET_NAME
    assert params["secretName"] == module_params("dataverseSecret")["name"] == "dataverseClientSecretName"
    assert main["additionalAppSettings"]["default"] == {}


def test_load_settings_reads_exactly_the_declared_variables():
    class Recording(dict):
        def get(self, name, default=None):
            asked.add(name)
            return super().get(name, default)

    asked: set[str] = set()
    load_settings(Recording({"AzureWebJobsStorage__credential": "managedidentity",  # the clientId is read then
                             "AzureWebJobsStorage__clientId": "0f7d0d59-6a5b-4c38-9e8c-3f5b1d1c2a10",
                             "AVAILABILITY_STATE_STORAGE__credential": "managedidentity",
                             "AVAILABILITY_STATE_STORAGE__clientId": "0f7d0d59-6a5b-4c38-9e8c-3f5b1d1c2a10"}))
    assert asked == {declared.name for declared in declarations()}
    assert set(APP_SETTINGS) == {d.name for d in declarations() if not d.platform}
