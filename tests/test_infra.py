"""The `azd up` deployment (azure.yaml, infra/), checked offline: no Bicep compiler can be installed here.

- every .bicep file parses (pycep-parser), and checkov passes on infra/ with its skips in infra/.checkov.yaml;
- what the compiler and the platform refuse, read from the syntax tree: a loop over anything not known when the
  deployment starts, a `siteConfig` property Flex Consumption refuses, a timer schedule that may be empty, and a
  package that would carry the virtual environment `azd restore` makes;
- the app settings the infra sets are held against the app's own list (`availability.settings.APP_SETTINGS`):
  every required one set, no unknown name, and the whole set loads with `load_settings`;
- the roles are the documented built-in role ids, assigned to the app's user-assigned identity only;
- no key, connection string with a key, or secret in any setting or output.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import venv
from collections.abc import Callable, Iterator
from fnmatch import fnmatch
from functools import cache
from pathlib import Path
from typing import Any, cast

import pytest
import yaml
from pycep import BicepParser

from availability.settings import (
    APP_SETTINGS,
    DEFAULT_NOTIFY_SCHEDULE,
    DEFAULT_SCHEDULE,
    DEFAULT_SECRET_NAME,
    declarations,
    load_settings,
)

ROOT = Path(__file__).resolve().parent.parent
INFRA = ROOT / "infra"
MODULES = INFRA / "modules"
BICEP_FILES = sorted(INFRA.rglob("*.bicep"))

# Built-in role definition ids, as documented (Azure built-in roles reference).
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

# The shared state's own account, as an identity-based connection of the same form.
STATE_STORAGE = {
    "AVAILABILITY_STATE_STORAGE__credential",
    "AVAILABILITY_STATE_STORAGE__clientId",
    "AVAILABILITY_STATE_STORAGE__tableServiceUri",
}

# `siteConfig` properties Flex Consumption refuses with ARM error 51021 ("The following site configuration
# property (Site.SiteConfig.FtpsState) for Flex Consumption sites is invalid"), enforced region by region:
# - ftpsState, use32BitWorkerProcess, netFrameworkVersion, functionsRuntimeScaleMonitoringEnabled:
#   https://github.com/microsoft/azure-pipelines-tasks/issues/21032, and with preWarmedInstanceCount in the ARM
#   error quoted in https://github.com/Azure/terraform-azurerm-avm-res-web-site/issues/360;
# - linuxFxVersion: https://github.com/Azure/terraform-azurerm-avm-res-web-site/issues/283;
# - functionAppScaleLimit: https://github.com/Azure/azure-functions-host/issues/10643;
# - windowsFxVersion, alwaysOn: left out on FC1 by https://github.com/Azure/terraform-azurerm-avm-res-web-site/pull/345
#   (the plan is Linux only; nothing is kept warm by the site).
# The runtime goes in functionAppConfig.runtime, scaling in functionAppConfig.scaleAndConcurrency.
FLEX_REFUSED_SITE_CONFIG = {
    "ftpsState", "linuxFxVersion", "windowsFxVersion", "use32BitWorkerProcess", "netFrameworkVersion",
    "functionsRuntimeScaleMonitoringEnabled", "preWarmedInstanceCount", "functionAppScaleLimit", "alwaysOn",
}

# Functions whose value ARM knows only while the deployment runs (Bicep's DeployTimeConstantValidator).
RUNTIME_FUNCTIONS = re.compile(r"reference|list\w*")

# Values standing for the deployment's references when the infra's settings are loaded by the app.
SAMPLE_VALUES = {
    "identityClientId": "11111111-2222-3333-4444-555555555555",
    "storage.properties.primaryEndpoints.blob": "https://stsample.blob.core.windows.net/",
    "storage.properties.primaryEndpoints.table": "https://stsample.table.core.windows.net/",
    "stateStorage.properties.primaryEndpoints.table": "https://ststatesample.table.core.windows.net/",
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
    "maxCallsPerMinute": 600,
    "maxConcurrentCalls": 24,
    "publicAllowedOrigins": "https://www.contoso.com, https://support.contoso.com",
}

CHECKOV_REQUIREMENTS = INFRA / "requirements-checkov.txt"
CHECKOV_VENV = ROOT / ".tools" / "checkov"


# --- reading the Bicep -----------------------------------------------------------------------------------

@cache
def parse(path: Path) -> dict[str, Any]:
    return parse_text(path.read_text(encoding="utf-8"))


def parse_text(text: str) -> dict[str, Any]:
    # pycep types its tree as TypedDicts; the tests walk it as the plain JSON it is.
    return cast("dict[str, Any]", BicepParser().parse(text=text))


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


def decorator(param: dict[str, Any], kind: str) -> Any:
    """The argument of a parameter's decorator (`min_length`, `min_value`...), or None."""
    return next((d.get("argument") for d in param["decorators"] if d["type"] == kind), None)


def interpolated(text: str) -> list[str]:
    """The roots of the `${...}` expressions in a string (`storage` in '${storage.properties.x}/c')."""
    return re.findall(r"\$\{\s*([A-Za-z_]\w*)", text)


def evaluate(node: Any, names: dict[str, Any]) -> Any:
    """The value of an expression built from literals, `names` and the few functions the infra computes with."""
    if isinstance(node, list):
        return [evaluate(item, names) for item in node]
    if isinstance(node, str):
        return names.get(node, node)
    if not isinstance(node, dict):
        return node
    if node.get("type") == "lambda_expression":
        detail = node["detail"]
        return lambda value: evaluate(detail["expression"], {**names, detail["var_1"]: value})
    if "function" in node:
        args = [evaluate(arg, names) for arg in node["function"]["parameters"].values()]
        functions: dict[str, Callable[..., Any]] = {
            "split": lambda text, sep: text.split(sep), "replace": str.replace, "empty": lambda value: not value,
            "contains": lambda container, item: item in container, "string": str,
            "map": lambda items, f: [f(item) for item in items], "filter": lambda items, f: [i for i in items if f(i)],
            "union": lambda *objects: {key: value for obj in objects for key, value in obj.items()}}
        return functions[node["function"]["type"]](*args)
    if "operator" in node:
        operator, operands = node["operator"]["type"], node["operator"]["operands"]
        if operator == "not":
            return not evaluate(operands["bool_value"], names)
        if operator == "conditional":
            chosen = "true_value" if evaluate(operands["condition"], names) else "false_value"
            return evaluate(operands[chosen], names)
        raise NotImplementedError(operator)
    return {key: evaluate(value, names) for key, value in node.items()}


def loops(node: Any, where: str = "",
          enclosing: frozenset[str] = frozenset()) -> Iterator[tuple[str, Any, frozenset[str]]]:
    """Every `for` expression under `node`: where it is, the array it iterates over, the loop names around it."""
    if isinstance(node, list):
        for index, item in enumerate(node):
            yield from loops(item, f"{where}[{index}]", enclosing)
    elif isinstance(node, dict):
        if isinstance(node.get("loop_type"), dict):
            detail = node["loop_type"]["detail"]
            yield where, detail["array_name"], enclosing
            enclosing |= {detail[key] for key in ("item_name", "index_name") if key in detail}
        for key, value in node.items():
            if key != "loop_type":
                yield from loops(value, f"{where}.{key}" if where else str(key), enclosing)


def unknown_at_start(node: Any, bicep: dict[str, Any], allowed: frozenset[str] = frozenset(),
                     seen: frozenset[str] = frozenset()) -> set[str]:
    """What in an expression ARM knows only once the deployment runs: a resource, a module, `reference`, `list*`.

    Parameters, literals, and variables built only from those are known at the start. Bicep also accepts a
    resource's id, name, type and apiVersion; this is stricter and takes no resource at all.
    """
    resources = {*bicep.get("resources", {}), *bicep.get("modules", {})}
    variables = bicep.get("variables", {})

    def name(identifier: str) -> set[str]:
        if identifier in allowed or identifier in bicep.get("parameters", {}):
            return set()
        if identifier in resources:
            return {identifier}
        if identifier in variables and identifier not in seen:
            found = unknown_at_start(variables[identifier]["value"], bicep, allowed, seen | {identifier})
            return {f"{identifier} ({', '.join(sorted(found))})"} if found else set()
        return set()  # a literal

    if isinstance(node, list):
        return set().union(*(unknown_at_start(item, bicep, allowed, seen) for item in node))
    if isinstance(node, str):
        return set().union(*map(name, interpolated(node) if "${" in node else [node]))
    if not isinstance(node, dict):
        return set()
    if node.get("type") == "lambda_expression":
        detail = node["detail"]
        local = frozenset(value for key, value in detail.items() if key.startswith("var_"))
        return unknown_at_start(detail["expression"], bicep, allowed | local, seen)
    if "function" in node:
        function = node["function"]["parameters"].get("func_name") or node["function"]["type"]  # list*: list_func
        if RUNTIME_FUNCTIONS.fullmatch(function):
            return {f"{function}()"}
        return unknown_at_start(list(node["function"]["parameters"].values()), bicep, allowed, seen)
    if "operator" in node:
        operands = node["operator"]["operands"]
        if node["operator"]["type"] == "property_accessor":
            return unknown_at_start(operands["operand_1"], bicep, allowed, seen)
        return unknown_at_start(list(operands.values()), bicep, allowed, seen)
    if isinstance(node.get("loop_type"), dict):
        detail = node["loop_type"]["detail"]
        local = frozenset(detail[key] for key in ("item_name", "index_name") if key in detail)
        return (unknown_at_start(detail["array_name"], bicep, allowed, seen)
                | unknown_at_start(node.get("config"), bicep, allowed | local, seen))
    keys = [key for key in node if isinstance(key, str) and "${" in key]
    return unknown_at_start([*keys, *node.values()], bicep, allowed, seen)


def loops_not_known_at_start(bicep: dict[str, Any]) -> list[str]:
    """The loops whose array ARM would know only during the deployment (Bicep refuses them: BCP178)."""
    return [f"{where} iterates over {', '.join(sorted(found))}" for where, array, enclosing in loops(bicep)
            if (found := unknown_at_start(array, bicep, enclosing))]


def refused_site_config(bicep: dict[str, Any]) -> list[str]:
    """The `siteConfig` properties (on a site, or a `sites/config` `web` resource) Flex Consumption refuses."""
    found = []
    for name, resource in bicep.get("resources", {}).items():
        config = body(resource)
        if resource["type"] in ("Microsoft.Web/sites", "Microsoft.Web/sites/slots"):
            site_config = config.get("properties", {}).get("siteConfig", {})
        elif resource["type"] == "Microsoft.Web/sites/config" and config.get("name") == "web":
            site_config = config.get("properties", {})
        else:
            continue
        found += [f"{name}: {key}" for key in site_config if key in FLEX_REFUSED_SITE_CONFIG]
    return found


def emptiable_schedules(bicep: dict[str, Any], names: set[str]) -> list[str]:
    """The schedule parameters among `names` that accept an empty string."""
    params = bicep.get("parameters", {})
    return [name for name in sorted(names) if (decorator(params[name], "min_length") or 0) < 1]


def schedule_params() -> dict[Path, set[str]]:
    """The parameters that end up as the timers' `%NAME%` app settings, in functionapp.bicep and in main.bicep."""
    in_module = {value for name, value in infra_settings().items() if name in timer_settings()}
    return {MODULES / "functionapp.bicep": in_module,
            INFRA / "main.bicep": {module_params("functionApp")[name] for name in in_module}}


def excludes_virtual_environments(funcignore: str) -> bool:
    """Whether an ignore file leaves out `<project>_env`, the virtual environment `azd restore` makes."""
    patterns = [line.strip().rstrip("/") for line in funcignore.splitlines() if line.strip()[:1] not in ("", "#")]
    return all(any(fnmatch(f"{project}_env", pattern) for pattern in patterns)
               for project in (ROOT.name, "availability", "api"))


def timer_settings() -> set[str]:
    """The `%NAME%` schedules of the product's timers: the host resolves them from app settings only."""
    sources = [ROOT / "function_app.py", *sorted((ROOT / "availability").rglob("*.py"))]
    return {name for source in sources
            for name in re.findall(r"""schedule\s*=\s*["']%(\w+)%["']""", source.read_text(encoding="utf-8"))}


# --- parsing ---------------------------------------------------------------------------------------------

def test_the_infra_has_one_small_module_per_concern():
    assert {path.relative_to(INFRA).as_posix() for path in BICEP_FILES} == {
        "main.bicep", "modules/identity.bicep", "modules/monitoring.bicep", "modules/storage.bicep",
        "modules/statestorage.bicep", "modules/keyvault.bicep", "modules/secret.bicep", "modules/functionapp.bicep",
        "modules/rbac.bicep"}
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
    # The settings the app knows by name keep that name as the azd environment value.
    assert mapped["maxCallsPerMinute"] == "${AVAILABILITY_MAX_CALLS_PER_MINUTE}"
    assert mapped["maxConcurrentCalls"] == "${AVAILABILITY_MAX_CONCURRENT_CALLS}"
    assert mapped["publicAllowedOrigins"] == "${PUBLIC_ALLOWED_ORIGINS}"
    for name, value in mapped.items():
        assert re.fullmatch(r"\$\{[A-Z][A-Z0-9_]*\}", value), f"{name}: {value} is not an azd environment value"
    without_default = {name for name, param in declared.items() if param["default"] is None}
    assert without_default <= set(mapped), "azd would have nothing to pass for these"
    for name in ("dataverseUrl", "dataverseTenantId", "dataverseClientId", "dataverseClientSecret"):
        assert any(d["type"] == "description" and d["argument"] for d in declared[name]["decorators"]), name


# --- what the compiler and the platform refuse -------------------------------------------------------------

@pytest.mark.parametrize("path", BICEP_FILES, ids=lambda path: path.relative_to(INFRA).as_posix())
def test_every_loop_iterates_over_what_is_known_when_the_deployment_starts(path):
    assert not loops_not_known_at_start(parse(path))


def test_the_app_settings_are_one_object_written_without_a_loop():
    functionapp = parse(MODULES / "functionapp.bicep")
    settings = [body(resource) for resource in functionapp["resources"].values()
                if resource["type"] == "Microsoft.Web/sites/config" and body(resource)["name"] == "appsettings"]
    assert len(settings) == 1 and settings[0]["parent"] == "app"
    assert settings[0]["properties"]["function"] == {
        "type": "union", "parameters": {"arg_1": "additionalAppSettings", "arg_2": "appSettings"}}
    assert "appSettings" not in body(functionapp["resources"]["app"])["properties"]["siteConfig"]


def test_no_site_sets_a_site_config_property_flex_consumption_refuses():
    for path in BICEP_FILES:
        assert not refused_site_config(parse(path)), path.name
    # FTP stays off without ftpsState: basic publishing credentials are refused for FTP and SCM alike.
    policies = {body(resource)["name"]: body(resource) for resource in parse(MODULES / "functionapp.bicep")[
        "resources"].values() if resource["type"] == "Microsoft.Web/sites/basicPublishingCredentialsPolicies"}
    assert {name: policy["properties"] for name, policy in policies.items()} == {
        "ftp": {"allow": False}, "scm": {"allow": False}}
    assert {policy["parent"] for policy in policies.values()} == {"app"}


def test_no_timer_schedule_can_be_set_empty():
    params = schedule_params()
    assert params[MODULES / "functionapp.bicep"] == {"snapshotSchedule", "notifySchedule"}
    for path, names in params.items():
        assert not emptiable_schedules(parse(path), names), path.name


def test_the_package_leaves_out_the_virtual_environments_azd_makes():
    funcignore = (ROOT / ".funcignore").read_text(encoding="utf-8")
    assert excludes_virtual_environments(funcignore)
    patterns = {line.strip().rstrip("/") for line in funcignore.splitlines()}
    # What azd leaves out by itself only while there is no .funcignore (Python), or always.
    assert {".venv", "__pycache__", ".azure", "local.settings.json"} <= patterns
    shipped = ["function_app.py", "host.json", "requirements.txt", "availability"]
    assert not [name for name in shipped if any(fnmatch(name, pattern) for pattern in patterns)]


LOOP_OVER_DEPLOYED_VALUES = """
param extra object = {}
resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: 'st'
}
module identity 'identity.bicep' = {
  name: 'identity'
}
var settings = {
  BLOB: storage.properties.primaryEndpoints.blob
}
var viaInterpolation = {
  ID: '${identity.outputs.clientId}'
}
var known = [
  'a'
]
resource app 'Microsoft.Web/sites@2024-04-01' = {
  name: 'app'
  properties: {
    siteConfig: {
      ftpsState: 'Disabled'
      linuxFxVersion: 'PYTHON|3.11'
      minTlsVersion: '1.2'
      appSettings: [for setting in items(union(extra, settings)): {
        name: setting.key
        value: setting.value
      }]
    }
  }
}
var fromModule = [for item in items(viaInterpolation): item.key]
var storageKeys = listKeys(storage.id, '2023-05-01')
var fromList = [for key in storageKeys.keys: key.value]
var fine = [for (name, i) in known: {
  parts: [for part in split(name, '-'): '${part}${i}']
}]
var fineToo = [for item in items(extra): filter(known, k => k == item.key)]
@minLength(1)
param schedule string = '0 * * * * *'
param emptiable string = '0 * * * * *'
"""


def test_the_checks_find_what_the_compiler_and_the_platform_refuse():
    bicep = parse_text(LOOP_OVER_DEPLOYED_VALUES)
    assert loops_not_known_at_start(bicep) == [
        "resources.app.config.properties.siteConfig.appSettings iterates over settings (storage)",
        "variables.fromModule.value iterates over viaInterpolation (identity)",
        "variables.fromList.value iterates over storageKeys (listKeys())",
    ]
    assert refused_site_config(bicep) == ["app: ftpsState", "app: linuxFxVersion"]
    assert emptiable_schedules(bicep, {"schedule", "emptiable"}) == ["emptiable"]
    assert not excludes_virtual_environments(".venv\n__pycache__\n# *_env\n")
    assert excludes_virtual_environments(".venv\n*_env/\n")


# --- app settings against the app's own list --------------------------------------------------------------

def test_every_setting_the_app_requires_is_set_by_the_infra():
    settings = infra_settings()
    required = {name for name, default in APP_SETTINGS.items() if default.startswith("required")}
    assert required - {"AzureWebJobsStorage"} <= set(settings)
    # Storage: identity-based, never the connection-string form (which would carry a key).
    assert "AzureWebJobsStorage" not in settings
    assert set(settings) >= IDENTITY_STORAGE
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
        value = evaluate(value, SAMPLE_VALUES)
        if not isinstance(value, str):
            pytest.fail(f"{name}: app settings are strings, not {value!r}")
        environ[name] = re.sub(r"\$\{([^}]+)\}", lambda m: str(SAMPLE_VALUES[m.group(1)]), value)
    settings = load_settings(environ)
    settings.require("dataverse_url", "tenant_id", "client_id", "key_vault_url", "storage_connection")
    assert settings.storage_client_id == SAMPLE_VALUES["identityClientId"]
    assert settings.storage_table_uri == "https://stsample.table.core.windows.net"
    assert settings.max_calls_per_minute == 600
    assert settings.public_origins == ("https://www.contoso.com", "https://support.contoso.com")
    assert settings.public_fault is None
    assert environ["AVAILABILITY_MAX_CONCURRENT_CALLS"] == "24"
    assert environ["AVAILABILITY_STATE_STORAGE__tableServiceUri"] == "https://ststatesample.table.core.windows.net/"
    assert environ["AVAILABILITY_STATE_STORAGE__clientId"] == SAMPLE_VALUES["identityClientId"]
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
    for name in ("maxCallsPerMinute", "maxConcurrentCalls", "publicAllowedOrigins", "additionalAppSettings"):
        assert params[name] == name
    # The module has no defaults of its own for these: main.bicep's are the only ones.
    module = parse(MODULES / "functionapp.bicep")["parameters"]
    assert all(module[name]["default"] is None for name in (
        "snapshotSchedule", "notifySchedule", "maxCallsPerMinute", "maxConcurrentCalls", "publicAllowedOrigins"))


def test_the_org_is_spared_by_default():
    # Dataverse's service protection limits, per user (the app is one application user): 6,000 requests in any
    # 5 minutes and 52 at once (https://learn.microsoft.com/power-apps/developer/data-platform/api-limits).
    main = parse(INFRA / "main.bicep")["parameters"]
    assert main["maxCallsPerMinute"]["default"] == 6000 // 5 // 2 == 600
    assert main["maxConcurrentCalls"]["default"] == 24 < 52
    for name in ("maxCallsPerMinute", "maxConcurrentCalls"):
        assert decorator(main[name], "min_value") == 0, name
    settings = infra_settings()
    for setting, param in (("AVAILABILITY_MAX_CALLS_PER_MINUTE", "maxCallsPerMinute"),
                           ("AVAILABILITY_MAX_CONCURRENT_CALLS", "maxConcurrentCalls")):
        assert settings[setting] == {"function": {"type": "string", "parameters": {"value_to_convert": param}}}


def test_the_shared_state_has_its_own_account_reached_through_the_identity():
    settings = infra_settings()
    assert set(settings) >= STATE_STORAGE
    assert settings["AVAILABILITY_STATE_STORAGE__credential"] == "managedidentity"
    assert settings["AVAILABILITY_STATE_STORAGE__clientId"] == settings["AzureWebJobsStorage__clientId"]
    assert settings["AVAILABILITY_STATE_STORAGE__tableServiceUri"] == "stateStorage.properties.primaryEndpoints.table"
    functionapp = parse(MODULES / "functionapp.bicep")["resources"]
    assert body(functionapp["stateStorage"])["name"] == "stateStorageAccountName"  # not the host's account
    assert module_params("functionApp")["stateStorageAccountName"] == "stateStorage.outputs.name"
    assert module_params("rbac")["stateStorageAccountName"] == "stateStorage.outputs.name"
    assert module_params("stateStorage")["name"] != module_params("storage")["name"]
    # Tables only: no blob container, queue or share in it.
    state = parse(MODULES / "statestorage.bicep")["resources"]
    assert {resource["type"] for resource in state.values()} == {
        "Microsoft.Storage/storageAccounts", "Microsoft.Storage/storageAccounts/tableServices"}


def test_the_platform_cors_setting_takes_the_app_s_own_origins():
    functionapp = parse(MODULES / "functionapp.bicep")
    assert infra_settings()["PUBLIC_ALLOWED_ORIGINS"] == "publicAllowedOrigins"
    cors = body(functionapp["resources"]["app"])["properties"]["siteConfig"]["cors"]
    assert cors["supportCredentials"] is False
    variables = functionapp["variables"]
    for value in ("", "  ", "https://www.contoso.com", "https://www.contoso.com , https://support.contoso.com:8443",
                  "*", "https://www.contoso.com,*", " * "):
        names: dict[str, Any] = {"publicAllowedOrigins": value}
        for name in ("publicOrigins", "publicOriginList", "corsAllowedOrigins"):
            names[name] = evaluate(variables[name]["value"], names)
        platform = evaluate(cors["allowedOrigins"], names)
        assert platform == list(load_settings({"PUBLIC_ALLOWED_ORIGINS": value}).public_origins), value
    main = parse(INFRA / "main.bicep")["parameters"]
    assert main["publicAllowedOrigins"]["default"] == ""


def test_the_parameters_file_shows_how_to_give_more_settings():
    entry = json.loads((INFRA / "main.parameters.json").read_text(encoding="utf-8"))["parameters"][
        "additionalAppSettings"]
    assert entry["value"] == "${ADDITIONAL_APP_SETTINGS}"
    assert "azd env set ADDITIONAL_APP_SETTINGS" in entry["metadata"]["description"]
    example = entry["metadata"]["example"]
    assert all(isinstance(value, str) for value in example.values())  # app settings are strings
    settings = load_settings({**example, "DATAVERSE_URL": "https://contoso.crm.dynamics.com"})
    assert settings.public_fault is None and list(settings.public_checks) == ["support"]
    assert not set(example) - set(APP_SETTINGS)
    assert not set(example) & set(infra_settings()), "the template's own settings win over these"


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

# --- identity and roles -----------------------------------------------------------------------------------

def test_the_role_ids_are_the_documented_built_in_roles():
    roles = parse(MODULES / "rbac.bicep")["variables"]["roles"]["value"]
    assert roles == {
        "keyVaultSecretsUser": DOCUMENTED_ROLES["Key Vault Secrets User"],
        "storageBlobDataOwner": DOCUMENTED_ROLES["Storage Blob Data Owner"],
        "storageTableDataContributor": DOCUMENTED_ROLES["Storage Table Data Contributor"],
        "monitoringMetricsPublisher": DOCUMENTED_ROLES["Monitoring Metrics Publisher"],
    }


def test_each_role_is_assigned_to_the_identity_on_its_resource_and_named_by_scope_principal_and_role():
    rbac = parse(MODULES / "rbac.bicep")
    existing = {name: (resource["type"], body(resource)["name"])
                for name, resource in rbac["resources"].items() if resource["existing"]}
    assignments = set()
    for name, resource in rbac["resources"].items():
        if resource["type"] != "Microsoft.Authorization/roleAssignments":
            continue
        config = body(resource)
        definition = config["properties"]["roleDefinitionId"]["function"]
        assert definition["type"] == "subscription_resource_id", name
        assert definition["parameters"]["resource_type"] == "Microsoft.Authorization/roleDefinitions", name
        role = ref(definition["parameters"]["resource_name_1"])
        guid = config["name"]["function"]
        assert guid["type"] == "guid", name
        assert [ref(v) for v in guid["parameters"].values()] == [f"{config['scope']}.id", "principalId", role], name
        assert config["properties"]["principalId"] == "principalId", name
        assert config["properties"]["principalType"] == "ServicePrincipal", name
        assert "condition" not in resource["config"], f"{name} is conditional"
        assignments.add((role.removeprefix("roles."), *existing[config["scope"]]))
    assert assignments == {
        ("keyVaultSecretsUser", "Microsoft.KeyVault/vaults", "keyVaultName"),
        ("storageBlobDataOwner", "Microsoft.Storage/storageAccounts", "storageAccountName"),
        ("storageTableDataContributor", "Microsoft.Storage/storageAccounts", "storageAccountName"),
        ("storageTableDataContributor", "Microsoft.Storage/storageAccounts", "stateStorageAccountName"),
        ("monitoringMetricsPublisher", "Microsoft.Insights/components", "applicationInsightsName"),
    }
    if "AzureWebJobsStorage__queueServiceUri" in infra_settings():
        pytest.fail("a queue service URI needs Storage Queue Data Contributor in rbac.bicep")
    params = module_params("rbac")
    assert params["principalId"] == "identity.outputs.principalId"
    assert params["storageAccountName"] == "storage.outputs.name"
    assert params["keyVaultName"] == "keyVault.outputs.name"
    assert params["applicationInsightsName"] == "monitoring.outputs.applicationInsightsName"


def test_the_function_app_runs_as_the_user_assigned_identity():
    app = body(parse(MODULES / "functionapp.bicep")["resources"]["app"])
    assert app["identity"] == {"type": "UserAssigned", "userAssignedIdentities": {"'${identityId}'": {}}}
    authentication = app["properties"]["functionAppConfig"]["deployment"]["storage"]["authentication"]
    assert authentication == {"type": "UserAssignedIdentity", "userAssignedIdentityResourceId": "identityId"}
    assert module_params("functionApp")["identityId"] == "identity.outputs.id"
    settings = infra_settings()
    assert settings["AZURE_CLIENT_ID"] == settings["AzureWebJobsStorage__clientId"] == "identityClientId"
    identity = parse(MODULES / "identity.bicep")["resources"]["identity"]
    assert identity["type"] == "Microsoft.ManagedIdentity/userAssignedIdentities"


# --- the resources --------------------------------------------------------------------------------------

def test_the_app_is_python_3_11_on_flex_consumption():
    functionapp = parse(MODULES / "functionapp.bicep")
    plan = body(functionapp["resources"]["plan"])
    assert plan["sku"] == {"name": "FC1", "tier": "FlexConsumption"}
    assert plan["properties"]["reserved"] is True  # Linux
    app = body(functionapp["resources"]["app"])
    assert app["kind"] == "functionapp,linux"
    assert app["properties"]["httpsOnly"] is True
    config = app["properties"]["functionAppConfig"]
    assert config["runtime"] == {"name": "python", "version": "pythonVersion"}
    assert functionapp["parameters"]["pythonVersion"]["default"] == "3.11"
    assert config["scaleAndConcurrency"] == {"maximumInstanceCount": "maximumInstanceCount",
                                             "instanceMemoryMB": "instanceMemoryMB"}
    assert functionapp["parameters"]["instanceMemoryMB"]["default"] == 2048
    assert module_params("functionApp")["maximumInstanceCount"] == "maximumInstanceCount"
    assert not {"pythonVersion", "instanceMemoryMB"} & set(module_params("functionApp"))  # the defaults hold
    assert app["tags"]["function"]["parameters"]["arg_2"] == {"'azd-service-name'": "serviceName"}
    assert functionapp["parameters"]["serviceName"]["default"] == "api"
    # Flex Consumption takes the runtime from functionAppConfig and refuses these settings.
    refused = {"FUNCTIONS_WORKER_RUNTIME", "FUNCTIONS_EXTENSION_VERSION", "WEBSITE_RUN_FROM_PACKAGE"}
    assert not refused & set(infra_settings())


@pytest.mark.parametrize("module", ["storage.bicep", "statestorage.bicep"])
def test_storage_takes_no_shared_key_and_no_anonymous_reader(module):
    storage = body(parse(MODULES / module)["resources"]["storage"])["properties"]
    assert storage["allowSharedKeyAccess"] is False
    assert storage["allowBlobPublicAccess"] is False
    assert storage["defaultToOAuthAuthentication"] is True
    assert storage["minimumTlsVersion"] == "TLS1_2"
    assert storage["supportsHttpsTrafficOnly"] is True


def test_key_vault_uses_rbac_and_the_secret_is_optional():
    vault = body(parse(MODULES / "keyvault.bicep")["resources"]["vault"])["properties"]
    assert vault["enableRbacAuthorization"] is True
    assert "accessPolicies" not in vault
    main = parse(INFRA / "main.bicep")
    secret_param = main["parameters"]["dataverseClientSecret"]
    assert {"type": "secure"} in secret_param["decorators"] and secret_param["default"] == ""
    condition = main["modules"]["dataverseSecret"]["config"]["condition"]
    assert condition["operator"]["type"] == "not"
    assert condition["operator"]["operands"]["bool_value"]["function"] == {
        "type": "empty", "parameters": {"item_to_test": "dataverseClientSecret"}}
    assert module_params("dataverseSecret")["value"] == "dataverseClientSecret"


def test_telemetry_is_ingested_with_entra_id_only():
    monitoring = parse(MODULES / "monitoring.bicep")["resources"]
    assert body(monitoring["applicationInsights"])["properties"]["DisableLocalAuth"] is True
    assert body(monitoring["workspace"])["properties"]["features"]["disableLocalAuth"] is True
    assert re.search(r"^\s*DisableLocalAuth: true$", code(MODULES / "monitoring.bicep"), re.MULTILINE)


def test_no_key_connection_string_with_a_key_or_secret_anywhere():
    for path in BICEP_FILES:
        text = code(path)
        for forbidden in ("listKeys(", "listkeys(", "AccountKey=", "SharedAccessSignature", "DefaultEndpointsProtocol",
                          "InstrumentationKey"):
            assert forbidden not in text, f"{path.name}: {forbidden}"
    for path in INFRA.rglob("*.json"):
        assert "AccountKey" not in path.read_text(encoding="utf-8")


def test_no_output_carries_a_secret_or_a_key():
    for path in BICEP_FILES:
        parsed = parse(path)
        secure = {name for name, param in parsed.get("parameters", {}).items()
                  if {"type": "secure"} in param["decorators"]}
        for name, output in parsed.get("outputs", {}).items():
            value = json.dumps(output["value"])
            assert not {"secure"} & {d["type"] for d in output["decorators"]}, f"{path.name}: {name}"
            for word in (*secure, "ConnectionString", "InstrumentationKey", "listKeys", "secret", "password"):
                assert not re.search(rf"\b{re.escape(word)}\b", value, re.IGNORECASE), f"{path.name}: output {name}"
    outputs = parse(INFRA / "main.bicep")["outputs"]
    assert ref(outputs["AZURE_FUNCTION_URL"]["value"]) == "functionApp.outputs.uri"
    assert ref(outputs["AZURE_FUNCTION_NAME"]["value"]) == "functionApp.outputs.name"


# --- checkov ---------------------------------------------------------------------------------------------

def _checkov() -> Path:
    """checkov from its own virtual environment under .tools/ (created on first use, again when its pin changes).

    It cannot share .venv: checkov 3.3.30 pins packaging<24 (pytest 9 needs >=24) and pycep-parser==0.5.1.
    """
    pin = CHECKOV_REQUIREMENTS.read_bytes()
    digest = hashlib.sha256(pin + sys.version.encode()).hexdigest()
    bindir = CHECKOV_VENV / ("Scripts" if os.name == "nt" else "bin")
    executable = bindir / ("checkov.cmd" if os.name == "nt" else "checkov")
    stamp = CHECKOV_VENV / ".requirements.sha256"
    if executable.exists() and stamp.exists() and stamp.read_text().strip() == digest:
        return executable
    venv.EnvBuilder(with_pip=True, clear=True).create(CHECKOV_VENV)
    python = bindir / ("python.exe" if os.name == "nt" else "python")
    install = subprocess.run([str(python), "-m", "pip", "install", "--disable-pip-version-check", "-q",
                              "-r", str(CHECKOV_REQUIREMENTS)], capture_output=True, text=True, timeout=900)
    if install.returncode != 0:
        pytest.fail(f"could not install {CHECKOV_REQUIREMENTS.name}:\n{install.stdout[-3000:]}{install.stderr[-3000:]}")
    stamp.write_text(digest)
    return executable


def test_checkov_skips_are_listed_once_each_with_a_reason():
    lines = (INFRA / ".checkov.yaml").read_text(encoding="utf-8").splitlines()
    skipped = [line for line in lines if re.match(r"\s*-\s*CKV", line)]
    assert skipped, "no skip-check entries found"
    for line in skipped:
        assert re.match(r"\s*-\s*CKV2?_[A-Z]+_\d+\s+#\s*\S", line), f"a skip without its reason: {line.strip()}"
    ids = [line.split()[1] for line in skipped]
    assert len(ids) == len(set(ids))
    config = yaml.safe_load("\n".join(lines))
    assert config["skip-check"] == ids and config["framework"] == ["bicep"]
    for path in BICEP_FILES:
        assert "checkov:skip" not in path.read_text(encoding="utf-8"), f"{path.name}: skip inline, not in .checkov.yaml"


@pytest.mark.subprocess
@pytest.mark.timeout(900)  # the first run installs checkov (about 90 s); later runs take about 10 s
def test_checkov_passes_on_the_infra():
    checkov = _checkov()
    environ = {**os.environ, "CKV_SKIP_PACKAGE_UPDATE_CHECK": "true", "BC_SKIP_MAPPING": "true"}
    run = subprocess.run([str(checkov), "--config-file", str(INFRA / ".checkov.yaml"), "-d", str(INFRA),
                          "-o", "json"], cwd=ROOT, env=environ, capture_output=True, text=True, timeout=300)
    try:
        reports = json.loads(run.stdout)
    except json.JSONDecodeError:
        pytest.fail(f"checkov gave no JSON report (exit {run.returncode}):\n{run.stdout[-3000:]}{run.stderr[-3000:]}")
    reports = reports if isinstance(reports, list) else [reports]
    assert [report["check_type"] for report in reports] == ["bicep"]
    summary = reports[0]["summary"]
    failed = [f"{c['check_id']} {c['check_name']} ({c['file_path']}: {c['resource']})"
              for c in reports[0]["results"]["failed_checks"]]
    assert not failed, "checkov:\n" + "\n".join(failed)
    assert summary["parsing_errors"] == 0
    assert summary["passed"] >= 20 and summary["resource_count"] >= 20  # it did read the modules
    assert run.returncode == 0
