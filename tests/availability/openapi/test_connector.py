"""The connector as Power Platform would take it: `apiDefinition.swagger.json` and `apiProperties.json` valid under the
PowerPlatformConnectors JSON schemas kept in `connector/schemas/`, and meeting the certification rules that can be
checked offline (titles, summaries, descriptions, visibility, display names of enums, one success response per
operation, dropdowns filled by an internal operation that exists, the host as a connection parameter, the icon, the
readme's template). The checks are run on broken copies too: each rule must catch what it is about.

The rules, with where they come from: Microsoft's certification docs (connector string guidance, coding standards,
submission: title, description, icon) and the messages its validator gives on pull requests to
microsoft/PowerPlatformConnectors; visibility on every operation and a host key are this project's own choices.
"""

from __future__ import annotations

import copy
import dataclasses
import io
import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import quote

import json5
import jsonschema_rs
import pytest
from PIL import Image

from availability import openapi
from availability.openapi import Publisher

ROOT = Path(__file__).resolve().parents[3]
CONNECTOR = ROOT / "connector"
SCHEMAS = CONNECTOR / "schemas"
HTTP_METHODS = {"get", "put", "post", "delete", "patch"}
# Facts a test gives a release: never committed (the checked-in connector names no publisher).
FACTS = Publisher(name="Availability Gateway Publisher Ltd", website="https://availability-gateway.dev",
                  privacy_policy="https://availability-gateway.dev/privacy",
                  support_email="support@availability-gateway.dev", categories=("Communication", "Sales and CRM"))

# Words a title must not hold (the validator: "restricted words: 'api, connector'", and product names).
TITLE_WORDS = re.compile(r"\b(api|connector|copilot|power ?(apps|automate|platform|bi|pages)|logic apps|"
                         r"microsoft|dynamics|azure)\b", re.IGNORECASE)
# Products a title or description must not name (not the project's own; the Power Platform's above all).
PRODUCTS = re.compile(r"Power ?(Automate|Apps|Platform|BI|Pages|Virtual Agents)|Copilot Studio|Logic Apps|"
                      r"Dataverse|Microsoft Flow|Dynamics 365|Azure|Microsoft", re.IGNORECASE)
# Power Platform names no description of the definition may use.
PLATFORM_PRODUCTS = re.compile(r"Power ?(Automate|Apps|Platform|BI|Pages|Virtual Agents)|Copilot Studio|Logic Apps|"
                               r"Dataverse|Microsoft Flow", re.IGNORECASE)
SUMMARY_FORBIDDEN = re.compile(r"[/\\<>*%&?]")
TEMPLATE_HEADINGS = ["# ", "## Publisher", "## Prerequisites", "## Supported Operations", "## Obtaining Credentials",
                     "## Known Issues and Limitations", "## Deployment Instructions"]


# -- the schemas, as kept --------------------------------------------------------------------------------------

def _encoded_refs(node: Any) -> Any:
    # Definition names hold '<' and '>', which a URI reference may not: percent-encoded, the JSON pointer still
    # resolves (its fragment is percent-decoded) and a strict validator accepts the reference.
    if isinstance(node, dict):
        return {key: quote(value, safe="#/:.-_~%$@!&'()*+,;=?") if key == "$ref" and isinstance(value, str)
                else _encoded_refs(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_encoded_refs(value) for value in node]
    return node


def _schema(name: str) -> Any:
    return _encoded_refs(json5.loads((SCHEMAS / name).read_text(encoding="utf-8-sig")))


@pytest.fixture(scope="module")
def validators() -> tuple[Any, Any]:
    meta = json.loads((SCHEMAS / "json-schema-draft-04.schema.json").read_text(encoding="utf-8"))
    registry = jsonschema_rs.Registry([("http://json-schema.org/draft-04/schema", meta)])
    definition = jsonschema_rs.validator_for(_schema("apiDefinition.swagger.schema.json"), registry=registry)
    properties = jsonschema_rs.validator_for(_schema("paconn-apiProperties.schema.json"))
    return definition, properties


def schema_errors(validator: Any, document: dict) -> list[str]:
    return [f"{'/'.join(map(str, e.instance_path))}: {e.message[:200]}" for e in validator.iter_errors(document)]


def test_the_schemas_are_kept_with_their_licences():
    for name in ("apiDefinition.swagger.schema.json", "paconn-apiProperties.schema.json", "readme-template.md",
                 "json-schema-draft-04.schema.json", "LICENSE", "LICENSE.json-schema-draft-04", "README.md"):
        assert (SCHEMAS / name).is_file(), name
    assert "MIT License" in (SCHEMAS / "LICENSE").read_text(encoding="utf-8")
    provenance = (SCHEMAS / "README.md").read_text(encoding="utf-8")
    assert "8bff86eac6d04e939faee0de15298e911b118c21" in provenance
    # As upstream has them: JSON with comments, which plain JSON refuses.
    with pytest.raises(ValueError):
        json.loads((SCHEMAS / "apiDefinition.swagger.schema.json").read_text(encoding="utf-8-sig"))


@pytest.mark.parametrize("publisher", [None, FACTS], ids=["checked-in", "release"])
def test_the_connector_is_valid_under_the_power_platform_schemas(validators, publisher):
    definition, properties = validators
    assert schema_errors(definition, openapi.swagger_document(publisher)) == []
    assert schema_errors(properties, openapi.api_properties(publisher)) == []


def test_the_schemas_catch_what_they_are_about(validators):
    definition, properties = validators
    broken = openapi.swagger_document()
    broken["host"] = "https://my-app.azurewebsites.net/api"
    broken["paths"]["/workstreams"]["get"]["x-ms-visibility"] = "hidden"
    broken["paths"]["/workstreams"]["get"]["x-ms-bogus"] = True
    found = "\n".join(schema_errors(definition, broken))
    assert "does not match" in found and '"hidden" is not one of' in found and "x-ms-bogus" in found
    props = openapi.api_properties()
    del props["properties"]["iconBrandColor"]
    props["properties"]["policyTemplateInstances"][0]["parameters"]["x-ms-bogus"] = "x"
    assert len(schema_errors(properties, props)) >= 2


# -- the certification rules checkable offline ---------------------------------------------------------------

def _resolve(root: dict, ref: str) -> Any:
    node: Any = root
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def _walk(node: Any, path: str = "#"):
    if isinstance(node, dict):
        yield path, node
        for key, value in node.items():
            yield from _walk(value, f"{path}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _walk(value, f"{path}/{index}")


def _operations(definition: dict):
    for path, item in definition["paths"].items():
        for method, operation in item.items():
            if method in HTTP_METHODS:
                parameters = [_resolve(definition, p["$ref"]) if "$ref" in p else p
                              for p in operation.get("parameters", [])]
                yield path, method, operation, parameters


def _dropdown_problems(definition: dict, where: str, call: dict, kind: str) -> list[str]:
    """A dropdown's operation must exist, be internal, and answer a list whose items hold the value and title."""
    found = []
    target = next((op for _, _, op, _ in _operations(definition) if op["operationId"] == call["operationId"]), None)
    if target is None:
        return [f"{where}: {kind} calls operation {call['operationId']}, which does not exist"]
    if target.get("x-ms-visibility") != "internal":
        found.append(f"{where}: {kind} calls {call['operationId']}, which is not internal")
    if kind == "x-ms-dynamic-values":
        collection, value, title = call.get("value-collection"), call.get("value-path"), call.get("value-title")
    else:
        collection, value, title = call.get("itemsPath"), call.get("itemValuePath"), call.get("itemTitlePath")
    ok = [r for status, r in target["responses"].items() if status.startswith("2") and "schema" in r]
    schema = _resolve(definition, ok[0]["schema"]["$ref"]) if ok and "$ref" in ok[0]["schema"] else {}
    items = schema.get("properties", {}).get(collection or "", {}).get("items", {})
    items = _resolve(definition, items["$ref"]) if "$ref" in items else items
    if not {value, title} <= set(items.get("properties", {})):
        found.append(f"{where}: {kind} reads {collection}[].{value} and .{title}, which {call['operationId']} "
                     "does not answer")
    return found


def _display_name_problems(where: str, text: Any) -> list[str]:
    if not isinstance(text, str) or not text.strip():
        return [f"{where}: no display name"]
    if SUMMARY_FORBIDDEN.search(text) or not text[-1].isalnum():
        return [f"{where}: display name {text!r} must end in a letter or digit and hold none of / \\ < > * % & ?"]
    return []


def certification_problems(definition: dict, properties: dict, *, release: bool = False) -> list[str]:
    """What keeps the connector from certification, among the rules checkable offline; empty when none."""
    found: list[str] = []
    info = definition["info"]
    title, description = info.get("title", ""), info.get("description", "")
    if len(title) > 30 or TITLE_WORDS.search(title) or PRODUCTS.search(title) or not title[-1:].isalnum():
        found.append(f"title {title!r}: at most 30 characters, ending alphanumerically, naming no product")
    if not 30 <= len(description) <= 500 or PRODUCTS.search(description):
        found.append(f"info.description: 30 to 500 characters naming no product it does not own "
                     f"({PRODUCTS.search(description)})")
    operation_ids = set()
    for path, method, operation, parameters in _operations(definition):
        where = f"{method.upper()} {path}"
        operation_id = operation.get("operationId", "")
        operation_ids.add(operation_id)
        if not re.fullmatch(r"[A-Z][A-Za-z0-9]*", operation_id):
            found.append(f"{where}: operationId {operation_id!r} is not PascalCase")
        summary, text = operation.get("summary", ""), operation.get("description", "")
        if not summary or len(summary) > 80 or SUMMARY_FORBIDDEN.search(summary) or not (
                summary[-1].isalnum() or summary.endswith(")")):
            found.append(f"{where}: summary {summary!r} must be 1 to 80 characters, end alphanumerically and "
                         "hold none of / \\ < > * % & ?")
        if not text.rstrip().endswith(".") or text.strip() == summary.strip():
            found.append(f"{where}: the description must be sentences ending in a period, not the summary")
        if operation.get("x-ms-visibility") not in ("important", "advanced", "internal"):
            found.append(f"{where}: no x-ms-visibility")
        success = [status for status in operation.get("responses", {}) if status.startswith("2")]
        if len(success) != 1:
            found.append(f"{where}: {len(success)} success responses, not one")
        elif success[0] != "204" and "schema" not in operation["responses"][success[0]]:
            found.append(f"{where}: the success response has no schema")
        json_errors = any("schema" in r for s, r in operation.get("responses", {}).items() if s[0] in "45")
        if json_errors and "application/json" not in operation.get("produces", definition.get("produces", [])):
            found.append(f"{where}: answers JSON errors but does not produce application/json")
        for parameter in parameters:
            name = f"{where} parameter {parameter.get('name')}"
            if parameter.get("in") != "body":
                found += _display_name_problems(name, parameter.get("x-ms-summary"))
                if not parameter.get("description"):
                    found.append(f"{name}: no description")
            if parameter.get("in") == "path" and parameter.get("x-ms-url-encoding") not in ("single", "double"):
                found.append(f"{name}: a path parameter needs x-ms-url-encoding")
    for path, node in _walk(definition):
        if "x-ms-summary" in node and not path.endswith("/parameters"):
            found += _display_name_problems(path, node["x-ms-summary"])
        product = PLATFORM_PRODUCTS.search(node["description"]) if isinstance(node.get("description"), str) else None
        if product is not None:
            found.append(f"{path}: the description names {product[0]}")
        if "enum" in node and isinstance(node["enum"], list):
            named = {entry.get("value"): entry.get("displayName") for entry in node.get("x-ms-enum-values", [])}
            if set(named) != set(node["enum"]):
                found.append(f"{path}: every value of the enum needs a display name (x-ms-enum-values)")
            for value, display in named.items():
                found += _display_name_problems(f"{path} value {value}", display)
        for kind in ("x-ms-dynamic-values", "x-ms-dynamic-list"):
            if kind in node:
                found += _dropdown_problems(definition, path, node[kind], kind)
    props = properties["properties"]
    color = props.get("iconBrandColor", "")
    if not re.fullmatch(r"#[0-9a-f]{6}", color) or color in ("#007ee5", "#ffffff"):
        found.append(f"iconBrandColor {color!r}: a colour of the brand's own (not #007ee5 or white)")
    parameters = props.get("connectionParameters", {})
    hosts = [p for p in props.get("policyTemplateInstances", []) if p.get("templateId") == "dynamichosturl"]
    template = hosts[0]["parameters"].get("x-ms-apimTemplateParameter.urlTemplate", "") if len(hosts) == 1 else ""
    host = re.fullmatch(r"https://@connectionParameters\('(\w+)'\)(/.*)", template)
    if not host or host[1] not in parameters or host[2] != definition["basePath"]:
        found.append(f"the host must come from a connection parameter through dynamichosturl ({template!r}), "
                     "ending in the base path")
    key = definition["securityDefinitions"].get("api_key", {})
    if parameters.get("api_key", {}).get("type") != "securestring" or key.get("name") != "x-functions-key" or (
            parameters["api_key"]["uiDefinition"]["displayName"] != "Host key"):
        found.append("the key must be asked for as a host key (a securestring sent in x-functions-key)")
    metadata = {entry["propertyName"]: entry["propertyValue"] for entry in definition.get("x-ms-connector-metadata",
                                                                                             [])}
    if release:
        contact = info.get("contact", {})
        if not (contact.get("name") and contact.get("url", "").startswith("https://") and "@" in contact.get(
                "email", "")):
            found.append("info.contact needs the publisher's name, https URL and email")
        if set(metadata) != {"Website", "Privacy policy", "Categories"} or not all(
                metadata[k].startswith("https://") for k in ("Website", "Privacy policy")) or not set(
                metadata["Categories"].split(";")) <= set(openapi.CATEGORIES):
            found.append("x-ms-connector-metadata needs the website, privacy policy and categories")
        if not (props.get("publisher") and props.get("stackOwner")):
            found.append("apiProperties needs publisher and stackOwner")
    elif "contact" in info or metadata or "publisher" in props or "stackOwner" in props:
        found.append("the checked-in connector names no publisher: its facts come with a release")
    return found


@pytest.fixture(scope="module")
def checked_in() -> tuple[dict, dict]:
    return (json.loads((CONNECTOR / "apiDefinition.swagger.json").read_text(encoding="utf-8")),
            json.loads((CONNECTOR / "apiProperties.json").read_text(encoding="utf-8")))


def test_the_checked_in_connector_meets_the_certification_rules(checked_in):
    assert certification_problems(*checked_in) == []


def test_a_release_meets_them_with_the_publishers_facts():
    assert certification_problems(openapi.swagger_document(FACTS), openapi.api_properties(FACTS),
                                  release=True) == []


def _renamed_dropdown_operation(definition: dict, properties: dict) -> None:
    definition["paths"]["/workstreams"]["get"]["operationId"] = "GetWorkstreams"


def _visible_dropdown_operation(definition: dict, properties: dict) -> None:
    definition["paths"]["/workstreams"]["get"]["x-ms-visibility"] = "advanced"


def _summary_with_a_slash(definition: dict, properties: dict) -> None:
    definition["paths"]["/availability/before-conversation"]["post"]["summary"] = "Check availability/escalation"


def _summary_ending_in_a_period(definition: dict, properties: dict) -> None:
    definition["paths"]["/snapshots"]["get"]["summary"] = "Get availability history."


def _summary_too_long(definition: dict, properties: dict) -> None:
    definition["paths"]["/snapshots"]["get"]["summary"] = "Get " + "the availability history " * 4


def _display_name_in_brackets(definition: dict, properties: dict) -> None:
    definition["definitions"]["Availability"]["properties"]["averageWaitSeconds"]["x-ms-summary"] = \
        "Average wait (seconds)"


def _enum_without_display_names(definition: dict, properties: dict) -> None:
    del definition["definitions"]["SubscriptionRequest"]["properties"]["notifyOn"]["x-ms-enum-values"]


def _operation_without_visibility(definition: dict, properties: dict) -> None:
    del definition["paths"]["/availability/batch"]["post"]["x-ms-visibility"]


def _path_parameter_without_encoding(definition: dict, properties: dict) -> None:
    del definition["paths"]["/subscriptions/{id}"]["delete"]["parameters"][0]["x-ms-url-encoding"]


def _two_success_responses(definition: dict, properties: dict) -> None:
    responses = definition["paths"]["/subscriptions"]["post"]["responses"]
    responses["200"] = responses["201"]


def _product_in_the_description(definition: dict, properties: dict) -> None:
    definition["info"]["description"] += " It works in Power Automate."


def _host_in_the_definition(definition: dict, properties: dict) -> None:
    del properties["properties"]["policyTemplateInstances"]


def _function_key(definition: dict, properties: dict) -> None:
    properties["properties"]["connectionParameters"]["api_key"]["uiDefinition"]["displayName"] = "Function key"


def _placeholder_publisher(definition: dict, properties: dict) -> None:
    properties["properties"]["publisher"] = "Contoso"


BREAKAGES = {
    "a dropdown's operation renamed": (_renamed_dropdown_operation, "operation ListWorkstreams, which does not exist"),
    "a dropdown's operation shown to makers": (_visible_dropdown_operation, "which is not internal"),
    "a summary with a slash": (_summary_with_a_slash, "summary 'Check availability/escalation'"),
    "a summary ending in a period": (_summary_ending_in_a_period, "summary 'Get availability history.'"),
    "a summary of more than 80 characters": (_summary_too_long, "must be 1 to 80 characters"),
    "a display name ending in a bracket": (_display_name_in_brackets, "'Average wait (seconds)'"),
    "an enum without display names": (_enum_without_display_names, "notifyOn: every value of the enum"),
    "an operation without visibility": (_operation_without_visibility, "POST /availability/batch: no x-ms-visibility"),
    "a path parameter without encoding": (_path_parameter_without_encoding, "needs x-ms-url-encoding"),
    "two success responses": (_two_success_responses, "2 success responses"),
    "a product in the description": (_product_in_the_description, "naming no product"),
    "the host fixed in the definition": (_host_in_the_definition, "through dynamichosturl"),
    "a function key asked for": (_function_key, "as a host key"),
    "a publisher in the checked-in files": (_placeholder_publisher, "names no publisher"),
}


@pytest.mark.parametrize("breakage", list(BREAKAGES), ids=list(BREAKAGES))
def test_the_rules_catch_each_breakage(checked_in, breakage):
    definition, properties = copy.deepcopy(checked_in)
    assert certification_problems(definition, properties) == []
    breaks, expected = BREAKAGES[breakage]
    breaks(definition, properties)
    found = certification_problems(definition, properties)
    assert any(expected in problem for problem in found), found


def test_every_workstream_id_a_maker_types_is_a_dropdown(checked_in):
    definition, _ = checked_in
    body = definition["definitions"]
    for shape in ("BeforeConversationRequest", "SubscriptionRequest"):
        field = body[shape]["properties"]["workstreamId"]
        assert field["x-ms-dynamic-values"]["operationId"] == field["x-ms-dynamic-list"]["operationId"] == \
               "ListWorkstreams", shape
    assert body["BatchRequest"]["properties"]["checks"]["items"] == {"$ref": "#/definitions/BeforeConversationRequest"}
    history = next(p for p in definition["paths"]["/snapshots"]["get"]["parameters"] if p["name"] == "workstreamId")
    assert history["x-ms-dynamic-values"] == {"operationId": "ListWorkstreams", "value-collection": "workstreams",
                                              "value-path": "id", "value-title": "name"}
    notify_on = body["SubscriptionRequest"]["properties"]["notifyOn"]["x-ms-enum-values"]
    assert [entry["value"] for entry in notify_on] == ["status", "canEscalate"]
    assert [entry["displayName"] for entry in body["Availability"]["properties"]["status"]["x-ms-enum-values"]] == [
        "Available", "Busy", "Closed"]


# -- the icon, the readme, the release ----------------------------------------------------------------------------

def icon_problems(png: bytes, brand: str) -> list[str]:
    """What keeps the icon from certification: 230 by 230, opaque, on the brand colour, the logo about 160 inside."""
    image = Image.open(io.BytesIO(png))
    if image.format != "PNG" or image.size != (230, 230):
        return [f"the icon must be a 230x230 PNG, not {image.format} {image.size}"]
    found = []
    if "A" in image.getbands():
        lowest, _ = image.getchannel("A").getextrema()  # one band: its (lowest, highest)
        if lowest != 255:
            found.append("the icon must not be transparent")
    rgb = image.convert("RGB")
    colour = tuple(int(brand[i:i + 2], 16) for i in (1, 3, 5))
    edge = [rgb.getpixel((x, y)) for x in range(230) for y in range(230) if min(x, y, 229 - x, 229 - y) < 20]
    if colour == (255, 255, 255) or any(pixel != colour for pixel in edge):
        found.append(f"the icon's background must be the brand colour {brand}, not white")
    logo = [(x, y) for x in range(230) for y in range(230) if rgb.getpixel((x, y)) != colour]
    if logo:
        width = max(x for x, _ in logo) - min(x for x, _ in logo) + 1
        height = max(y for _, y in logo) - min(y for _, y in logo) + 1
        if not 120 <= max(width, height) <= 180:
            found.append(f"the logo must be about 160 pixels inside the square, not {width}x{height}")
    else:
        found.append("the icon has no logo")
    return found


def test_the_icon_is_230_square_on_the_brand_colour():
    png = (CONNECTOR / openapi.ICON_FILE).read_bytes()
    assert len(png) < 1_000_000
    assert icon_problems(png, openapi.BRAND_COLOR) == []
    assert openapi.api_properties()["properties"]["iconBrandColor"] == openapi.BRAND_COLOR


def test_the_icon_check_catches_a_wrong_icon():
    def png(size: tuple[int, int], colour: Any, mode: str = "RGB") -> bytes:
        out = io.BytesIO()
        Image.new(mode, size, colour).save(out, format="PNG")
        return out.getvalue()

    assert "230x230" in icon_problems(png((200, 200), openapi.BRAND_COLOR), openapi.BRAND_COLOR)[0]
    assert any("transparent" in p for p in icon_problems(png((230, 230), (15, 108, 189, 0), "RGBA"),
                                                         openapi.BRAND_COLOR))
    assert any("not white" in p for p in icon_problems(png((230, 230), "white"), openapi.BRAND_COLOR))
    assert icon_problems(png((230, 230), openapi.BRAND_COLOR), openapi.BRAND_COLOR) == ["the icon has no logo"]


def readme_problems(text: str, definition: dict) -> list[str]:
    """What keeps the readme from the certified template: its required sections in order, each operation a
    maker sees described under Supported Operations, no sample company."""
    headings = [line for line in text.splitlines() if line.startswith("#")]
    found = []
    at = 0
    for wanted in TEMPLATE_HEADINGS:
        match = next((i for i, heading in enumerate(headings[at:], at) if heading.startswith(wanted)
                      and (wanted != "# " or i == 0)), None)
        if match is None:
            found.append(f"the readme lacks '{wanted.strip()}' (in the template's order)")
        else:
            at = match + 1
    supported = text.split("## Supported Operations", 1)[-1].split("\n## ", 1)[0]
    for _, _, operation, _ in _operations(definition):
        if f"### {operation['summary']}" not in supported:
            found.append(f"Supported Operations does not describe '{operation['summary']}'")
    if re.search(r"contoso|fabrikam", text, re.IGNORECASE):
        found.append("the readme names a sample company")
    return found


def test_the_readme_follows_the_certified_template(checked_in):
    template = (SCHEMAS / "readme-template.md").read_text(encoding="utf-8")
    assert [line.split(":")[0] for line in template.splitlines() if line.startswith("#") and "Required" in
            template.split(line, 1)[1].split("\n", 2)[1]] == ["# Title", "## Publisher", "## Prerequisites",
                                                              "## Supported Operations", "## Obtaining Credentials",
                                                              "## Known Issues and Limitations",
                                                              "## Deployment Instructions"]
    readme = (CONNECTOR / openapi.README_FILE).read_text(encoding="utf-8")
    assert readme.startswith(f"# {checked_in[0]['info']['title']}\n")
    assert readme_problems(readme, checked_in[0]) == []
    broken = readme.replace("### List workstreams", "### Workstreams").replace("## Known Issues", "## Issues")
    assert len(readme_problems(broken, checked_in[0])) == 2


def release_options(publisher: Publisher) -> list[str]:
    """The release build's options that give `publisher`'s facts (those it has)."""
    given = {"--publisher": publisher.name, "--website": publisher.website,
             "--privacy-policy": publisher.privacy_policy, "--support-email": publisher.support_email}
    return [item for option, value in given.items() if value is not None for item in (option, value)]


def test_a_release_is_written_with_the_publishers_facts(tmp_path, capsys):
    target = tmp_path / "submission"
    assert openapi.main(["--release", str(target), *release_options(FACTS)]) == 0
    assert sorted(path.name for path in target.iterdir()) == ["README.md", "apiDefinition.swagger.json",
                                                              "apiProperties.json", "icon.png"]
    definition = json.loads((target / "apiDefinition.swagger.json").read_text(encoding="utf-8"))
    properties = json.loads((target / "apiProperties.json").read_text(encoding="utf-8"))
    assert certification_problems(definition, properties, release=True) == []
    assert definition["info"]["contact"] == {"name": FACTS.name, "url": FACTS.website, "email": FACTS.support_email}
    assert properties["properties"]["publisher"] == properties["properties"]["stackOwner"] == FACTS.name
    readme = (target / "README.md").read_text(encoding="utf-8")
    assert f"## Publisher: {FACTS.name}\n" in readme and readme_problems(readme, definition) == []
    assert (target / "icon.png").read_bytes() == (CONNECTOR / "icon.png").read_bytes()
    assert "certification submission" in capsys.readouterr().out


@pytest.mark.parametrize(("options", "refused"), [
    ([], "--publisher is required"),
    (["--publisher", "Contoso"], "--publisher 'Contoso' reads like a placeholder"),
    (["--website", "http://availability-gateway.dev"], "--website must be an https URL"),
    (["--privacy-policy", "https://www.example.com/privacy"], "--privacy-policy 'https://www.example.com/privacy'"),
    (["--support-email", "support@contoso.com"], "--support-email 'support@contoso.com'"),
    (["--support-email", "nobody"], "--support-email must be an email address"),
    (["--categories", "Bots"], "--categories must be one or more of"),
])
def test_a_release_refuses_missing_or_placeholder_facts(tmp_path, capsys, options, refused):
    args = release_options(FACTS if options else dataclasses.replace(FACTS, name=None)) + options
    assert openapi.main(["--release", str(tmp_path / "out"), *args]) == 2
    assert refused in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_the_checked_in_connector_holds_no_placeholder():
    for name in ("apiDefinition.swagger.json", "apiProperties.json", "README.md"):
        text = (CONNECTOR / name).read_text(encoding="utf-8")
        assert not re.search(r"contoso|fabrikam|example\.com|your-app|<your", text, re.IGNORECASE), name
    assert openapi.swagger_document()["host"] == openapi.DEFINITION_HOST
