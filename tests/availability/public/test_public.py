"""Web pages (`GET /api/public/availability/{alias}` and `GET /api/public/widget.js`): anonymous answers
for the checks of PUBLIC_AVAILABILITY only, without queue or staffing figures, cached by browsers and CDNs for what
is left of their freshness (ETag, 304), readable from the origins of PUBLIC_ALLOWED_ORIGINS only, and at most one
upstream call per alias per cache window whatever the traffic. Over the wire, against the sandbox; counts come
from its stats. The script itself runs in a browser in test_widget_browser.py.
"""

from __future__ import annotations

import json
import math
import re
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
import requests

from availability.answer import Availability
from availability.public.answer import Wording, public_answer
from availability.public.caching import STALE_MAX_AGE, cache_control, entity_tag, max_age, not_modified
from availability.settings import load_settings
from tests.availability.scenario import BUSY_LINE, CHAT, OFFICE, Q_BUSY, Q_FRENCH, Q_OPEN
from tests.conftest import QUIET_TIMER, own_app
from tests.days import FUTURE_SIDE, PAST_SIDE, SATURDAY, WEEKDAYS, at, sandbox_day

ACTION = "CCaaS_GetRepresentativeAvailabilityBeforeConversation"
PUBLIC = {
    "chat": {"workstreamId": CHAT},
    "chat-fr": {"workstreamId": CHAT, "contextItems": {"Language": "fr"}},
    "busy": {"workstreamId": BUSY_LINE},
    "office": {"workstreamId": OFFICE, "timeZone": "Europe/Paris", "language": "fr"},
}
SITE = "https://www.contoso.example"
ORIGINS = f"{SITE}, http://127.0.0.1:8080"
FIELDS = {"alias", "status", "canEscalate", "message", "language", "averageWaitSeconds", "nextOpeningTime",
          "nextClosingTime", "retrievedAt"}
# What the keyed answer has and a public page must not learn.
AT = datetime(2026, 11, 24, 22, 0, tzinfo=UTC)  # for the in-process tests
WITHHELD = ("queueId", "representativesAvailable", "availableRepresentatives", "positionInQueue",
            "withinOperatingHours", "nextTransitionTime", "source", "ageSeconds")


def published(**more: str) -> dict[str, str]:
    return {"PUBLIC_AVAILABILITY": json.dumps(PUBLIC), "PUBLIC_ALLOWED_ORIGINS": ORIGINS, **more}


class Page:
    """An anonymous caller of one host, as a web page is: no function key, ever."""

    def __init__(self, url: str, function_key: str, log_path=None) -> None:
        self.url = url
        self.function_key = function_key  # for the keyed endpoints of the same host only
        self.log_path = log_path
        self.session = requests.Session()

    def get(self, alias: str, params=None, **headers: str) -> requests.Response:
        return self.session.get(f"{self.url}/api/public/availability/{alias}", params=params,
                                headers={k.replace("_", "-"): v for k, v in headers.items()}, timeout=30)

    def options(self, alias: str, **headers: str) -> requests.Response:
        return self.session.options(f"{self.url}/api/public/availability/{alias}",
                                    headers={k.replace("_", "-"): v for k, v in headers.items()}, timeout=30)

    def keyed(self, body: dict, **headers: str) -> requests.Response:
        return self.session.post(f"{self.url}/api/availability/before-conversation", json=body, timeout=30,
                                 headers={"x-functions-key": self.function_key, **headers})

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")


@pytest.fixture(scope="module")
def site(stack):
    """A host publishing PUBLIC for the pages of ORIGINS."""
    host = stack.start_host(port=0, name="public", extra_settings=own_app({**QUIET_TIMER, **published()}))
    yield Page(host.url, host.function_key, host.process.log_path)
    host.process.stop()


@pytest.fixture
def fresh_site(fresh_gateway):
    """A host of its own (empty cache), publishing PUBLIC unless told otherwise; settings as kwargs."""

    def start(**settings) -> Page:
        gateway = fresh_gateway(**{**published(), **settings})
        return Page(gateway.url, gateway.function_key, gateway.host.process.log_path)

    return start


def calls(sandbox) -> int:
    return sandbox.stats()["actions"].get(ACTION, 0)


def max_age_of(response: requests.Response) -> int:
    match = re.fullmatch(r"public, max-age=(\d+), stale-while-revalidate=0, stale-if-error=\d+",
                         response.headers["Cache-Control"])
    assert match, response.headers["Cache-Control"]
    return int(match[1])


# -- the answer: a fixed check, nothing about the queue or its staff --------------------------------------------

def test_a_published_check_answers_without_a_key(site, clean_sandbox):
    response = site.get("chat")
    assert response.status_code == 200, response.text
    answer = response.json()
    assert set(answer) == FIELDS
    assert (answer["alias"], answer["status"], answer["canEscalate"]) == ("chat", "available", True)
    assert answer["averageWaitSeconds"] == 90 and answer["language"] == "en"
    assert answer["message"] == "A representative is available now; the estimated wait is about 2 minutes."
    assert answer["nextOpeningTime"] is None and answer["nextClosingTime"] is None
    assert answer["retrievedAt"].endswith("Z")
    assert 1 <= max_age_of(response) <= 15 and response.headers["ETag"].startswith('W/"')
    assert response.headers["x-correlation-id"] and response.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize("alias", sorted(PUBLIC))
def test_the_answer_carries_no_queue_id_and_no_staffing_figure(site, alias):
    response = site.get(alias)
    assert response.status_code == 200, response.text
    assert set(response.json()) == FIELDS
    for name in WITHHELD:
        assert name not in response.text
    for queue in (Q_OPEN, Q_BUSY, Q_FRENCH):
        assert queue not in response.text


def test_the_alias_fixes_the_check_and_the_query_changes_the_wording_only(site):
    keyed = site.keyed({"workstreamId": CHAT, "contextItems": {"Language": "fr"}}).json()
    french = site.get("chat-fr").json()
    assert keyed["queueId"] == Q_FRENCH  # the alias's context routes as the same keyed check does
    assert (french["status"], french["averageWaitSeconds"], french["message"]) == (
        keyed["status"], keyed["averageWaitSeconds"], keyed["message"])
    assert site.get("chat").json()["averageWaitSeconds"] == 90  # the default queue: another check
    worded = site.get("chat-fr", {"lang": "fr", "tz": "Europe/Paris"}).json()
    assert worded["language"] == "fr" and worded["message"].startswith("Un conseiller est disponible")
    assert {k: v for k, v in worded.items() if k not in ("message", "language", "retrievedAt")} == {
        k: v for k, v in french.items() if k not in ("message", "language", "retrievedAt")}
    # The caller can add nothing to the check: the query takes tz and lang only.
    for name, value in (("workstreamId", CHAT), ("contextItems", '{"Tier": 3}'), ("Language", "en")):
        refused = site.get("chat-fr", {name: value})
        assert refused.status_code == 400 and refused.json()["error"]["target"] == name


def test_the_aliases_own_wording_is_the_default(site):
    office = site.get("office")  # published with language fr and Europe/Paris
    assert office.status_code == 200 and office.json()["language"] == "fr"
    assert site.get("office", {"lang": "en"}).json()["language"] == "en"
    assert site.get("office", {"lang": "zz"}).json()["language"] == "en"  # unsupported: not an error
    assert site.get("office", {"lang": "", "tz": " "}).json()["language"] == "fr"  # blank is absent


def test_accept_language_does_not_change_a_cacheable_answer(site):
    # Shared caches key by URL; a header that changed the body would need Vary and split them.
    assert site.get("chat", Accept_Language="fr").json()["language"] == "en"
    assert "Accept-Language" not in site.get("chat").headers.get("Vary", "")


def test_the_wording_never_reaches_the_org(fresh_site, sandbox, clean_sandbox):
    page = fresh_site()
    queries = [{}, {"lang": "fr"}, {"lang": "de", "tz": "Europe/Berlin"}, {"tz": "America/New_York"},
               {"lang": "ja", "tz": "Asia/Tokyo"}, {"lang": "pt-BR"}]
    for query in queries * 3:
        assert page.get("chat", query).status_code == 200
    assert calls(sandbox) == 1  # one check, one cache entry, whatever the wording


# -- HTTP caching --------------------------------------------------------------------------------------------

def test_a_matching_if_none_match_gets_a_304_without_a_body(site):
    first = site.get("busy")
    tag = first.headers["ETag"]
    assert site.get("busy").headers["ETag"] == tag  # the same answer, the same tag
    for header in (tag, f'"other", {tag}', tag[2:], "*"):  # weak comparison: W/ or not
        again = site.get("busy", If_None_Match=header)
        assert again.status_code == 304, header
        assert again.content == b""
        assert again.headers["ETag"] == tag and again.headers["Cache-Control"].startswith("public, max-age=")
        assert again.headers["x-correlation-id"]
    assert site.get("busy", If_None_Match='W/"other"').status_code == 200


def test_the_etag_covers_the_wording(fresh_site, sandbox, clean_sandbox):
    page = fresh_site()
    sandbox.set_clock(at(sandbox_day(PAST_SIDE, on=[SATURDAY]), "12:00:00"))  # closed; the message says when it opens
    tags = {page.get("office", query).headers["ETag"] for query in (
        {}, {"lang": "en"}, {"lang": "en", "tz": "America/New_York"}, {"lang": "de"})}
    assert len(tags) == 4
    # A wording that says the same (no time in a busy queue's sentence) is the same answer.
    assert page.get("busy", {"tz": "Asia/Tokyo"}).headers["ETag"] == page.get("busy").headers["ETag"]


def test_the_etag_holds_while_the_answer_does_and_changes_with_it(fresh_site, sandbox, clean_sandbox):
    page = fresh_site(AVAILABILITY_CACHE_SECONDS=1)
    first = page.get("chat")
    time.sleep(1.3)  # past the cache window: the org is asked again and says the same
    second = page.get("chat")
    assert calls(sandbox) == 2 and second.json()["retrievedAt"] != first.json()["retrievedAt"]
    assert second.headers["ETag"] == first.headers["ETag"]
    assert page.get("chat", If_None_Match=first.headers["ETag"]).status_code == 304

    sandbox.set_clock(at(sandbox_day(FUTURE_SIDE, on=WEEKDAYS), "11:00:00", "Europe/Paris"))  # the office is open
    open_ = page.get("office")
    assert open_.json()["status"] == "available"
    sandbox.set_clock(at(sandbox_day(FUTURE_SIDE, on=[SATURDAY]), "12:00:00"))  # closed
    time.sleep(1.3)
    closed = page.get("office", If_None_Match=open_.headers["ETag"])
    assert closed.status_code == 200 and closed.json()["status"] == "closed"
    assert closed.headers["ETag"] != open_.headers["ETag"]


def test_max_age_is_what_is_left_of_the_answers_freshness(fresh_site, clean_sandbox):
    page = fresh_site(AVAILABILITY_CACHE_SECONDS=30)
    started = time.monotonic()
    first = max_age_of(page.get("chat"))
    first_answered = time.monotonic()
    assert math.floor(30 - (first_answered - started)) <= first <= 30  # fetched for this request: barely aged
    time.sleep(2.2)
    asked = time.monotonic()
    second = max_age_of(page.get("chat"))  # the same cached answer, 2 s older
    answered = time.monotonic()
    # Each max-age is the freshness left when its header was written (rounded up): they differ by the time between
    # the two answers, whatever the requests themselves took on a busy machine.
    assert math.floor(asked - first_answered) <= first - second <= math.ceil(answered - started)


def test_max_age_never_runs_past_the_next_opening_or_closing(fresh_site, sandbox, clean_sandbox, side):
    page = fresh_site(AVAILABILITY_CACHE_SECONDS=60)
    sandbox.set_clock(at(sandbox_day(side, on=WEEKDAYS), "17:59:52", "Europe/Paris"))  # 8 s before the office closes
    before = page.get("office")
    assert before.json()["status"] == "available"
    left = max_age_of(before)
    assert left <= 8
    time.sleep(left + 1.5)  # a browser would ask again now: the gateway does not serve the old answer either
    after = page.get("office")
    assert after.json()["status"] == "closed" and after.headers["ETag"] != before.headers["ETag"]
    assert calls(sandbox) == 2


def test_a_stale_answer_is_kept_briefly_and_never_past_the_stale_limit(fresh_site, sandbox, clean_sandbox):
    page = fresh_site(AVAILABILITY_CACHE_SECONDS=1, AVAILABILITY_STALE_SECONDS=30)
    assert page.get("chat").status_code == 200
    time.sleep(1.2)
    sandbox.fault("actions", status=500)
    asked = time.time()
    stale = page.get("chat")
    answered = time.time()
    # Cacheable for min(STALE_MAX_AGE, the cache window): a cache asks again soon and finds the org back.
    assert stale.status_code == 200 and max_age_of(stale) == 1
    found = re.search(r"stale-if-error=(\d+)", stale.headers["Cache-Control"])
    assert found is not None, stale.headers["Cache-Control"]
    # 30 s of stale use, less the answer's age when the header was written (while the request was on its way: the
    # org's failed tries take their time) and its max-age.
    retrieved = datetime.fromisoformat(stale.json()["retrievedAt"]).timestamp()
    assert math.floor(30 - (answered - retrieved) - 1) <= int(found[1]) <= math.floor(30 - (asked - retrieved) - 1)


def test_a_cacheable_answer_carries_the_gateways_correlation_id_never_the_callers(site):
    given = f"caller-{uuid.uuid4().hex}"
    answer = site.get("chat", x_correlation_id=given)
    # A shared cache would repeat the id to every caller it serves the copy to.
    assert answer.status_code == 200 and re.fullmatch(r"[0-9a-f-]{36}", answer.headers["x-correlation-id"])
    assert site.get("chat", x_correlation_id=given, If_None_Match=answer.headers["ETag"]).headers[
        "x-correlation-id"] != given
    script = requests.get(f"{site.url}/api/public/widget.js", headers={"x-correlation-id": given}, timeout=30)
    assert script.status_code == 200 and script.headers["x-correlation-id"] != given
    # An answer no cache keeps echoes it, as every other endpoint does.
    assert site.get("nope", x_correlation_id=given).headers["x-correlation-id"] == given
    assert site.get("chat", {"tz": "Mars/Base"}, x_correlation_id=given).headers["x-correlation-id"] == given
    time.sleep(0.2)
    assert f"correlation={answer.headers['x-correlation-id']}" in site.log()  # the id the log line knows


# -- CORS ------------------------------------------------------------------------------------------------------

def vary(response: requests.Response) -> set[str]:
    return {name.strip() for name in response.headers.get("Vary", "").split(",") if name.strip()}


def test_a_listed_origin_may_read_the_answer(site):
    for origin in (SITE, "http://127.0.0.1:8080"):
        response = site.get("chat", Origin=origin)
        assert response.headers["Access-Control-Allow-Origin"] == origin
        # The app's Vary, and the platform's own once more (it lists two origins), as Azure's host sends them.
        assert response.headers["Vary"] == "Origin, Origin"
        assert response.headers["Access-Control-Expose-Headers"] == "Age"  # the widget reads a cache's Age


@pytest.mark.parametrize("origin", ["https://evil.example", "HTTPS://WWW.CONTOSO.EXAMPLE", f"{SITE}.evil.example",
                                    "https://contoso.example", "null", None])
def test_any_other_origin_gets_no_cors_header(site, origin):
    response = site.get("chat", **({"Origin": origin} if origin else {}))
    assert response.status_code == 200
    assert not [name for name in response.headers if name.lower().startswith("access-control-")]
    assert vary(response) == {"Origin"}  # a shared cache must not hand this answer to a listed origin


def test_the_preflight_grants_listed_origins_only(site):
    # The platform answers preflights itself on Flex Consumption (from the same PUBLIC_ALLOWED_ORIGINS): the method
    # and headers asked for, no Max-Age, whatever the alias; nothing of the app runs.
    for alias in ("chat", "nope"):
        granted = site.options(alias, Origin=SITE, Access_Control_Request_Method="GET",
                               Access_Control_Request_Headers="if-none-match")
        assert granted.status_code == 204 and granted.content == b""
        assert "Content-Length" not in granted.headers and "x-correlation-id" not in granted.headers
        assert granted.headers["Access-Control-Allow-Origin"] == SITE
        assert granted.headers["Access-Control-Allow-Methods"] == "GET"
        assert granted.headers["Access-Control-Allow-Headers"].lower() == "if-none-match"
        assert "Access-Control-Max-Age" not in granted.headers and vary(granted) == {"Origin"}
        assert "Access-Control-Expose-Headers" not in granted.headers  # a preflight has no answer to read
    refused = site.options("chat", Origin="https://evil.example", Access_Control_Request_Method="GET")
    assert refused.status_code == 204
    assert not [name for name in refused.headers if name.lower().startswith("access-control-")]


def test_an_options_that_is_no_preflight_reaches_the_app(site):
    answered = site.options("chat", Origin=SITE)  # no Access-Control-Request-Method: the app answers
    assert answered.status_code == 204 and answered.headers["Allow"] == "GET, OPTIONS"
    assert "Content-Length" not in answered.headers and answered.headers["x-correlation-id"]
    assert answered.headers["Access-Control-Allow-Origin"] == SITE
    assert int(answered.headers["Access-Control-Max-Age"]) > 0
    assert site.options("nope").status_code == 404


def test_errors_are_readable_by_listed_origins_and_never_cached(site):
    for response in (site.get("nope", Origin=SITE), site.get("chat", {"tz": "Mars/Base"}, Origin=SITE)):
        assert response.status_code in (400, 404)
        assert response.headers["Access-Control-Allow-Origin"] == SITE
        assert response.headers["Cache-Control"] == "no-store" and "ETag" not in response.headers


def test_the_platform_cors_covers_the_keyed_endpoints_too(site):
    # In Azure the platform's CORS applies to every function: a listed origin's page may call the keyed ones
    # (with a key), and nobody else's.
    response = site.keyed({"workstreamId": CHAT}, Origin=SITE)
    assert response.status_code == 200 and response.headers["Access-Control-Allow-Origin"] == SITE
    other = site.keyed({"workstreamId": CHAT}, Origin="https://evil.example")
    assert not [name for name in other.headers if name.lower().startswith("access-control-")]
    preflight = requests.options(f"{site.url}/api/availability/before-conversation",
                                 headers={"Origin": SITE, "Access-Control-Request-Method": "POST"}, timeout=30)
    assert preflight.status_code == 204 and preflight.headers["Access-Control-Allow-Origin"] == SITE


def test_a_star_lets_every_origin_read(fresh_site):
    page = fresh_site(PUBLIC_ALLOWED_ORIGINS="*")
    assert page.get("chat", Origin="https://anyone.example").headers["Access-Control-Allow-Origin"] == "*"
    assert page.get("chat").headers["Access-Control-Allow-Origin"] == "*"
    assert page.get("chat").headers["Access-Control-Expose-Headers"] == "Age"
    preflight = page.options("chat", Origin="https://anyone.example", Access_Control_Request_Method="GET")
    assert preflight.headers["Access-Control-Allow-Origin"] == "*"


def test_without_allowed_origins_there_is_no_cors_at_all(fresh_site):
    page = fresh_site(PUBLIC_ALLOWED_ORIGINS="")
    response = page.get("chat", Origin=SITE)
    assert response.status_code == 200
    assert "Access-Control-Allow-Origin" not in response.headers and "Vary" not in response.headers


# -- errors ----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("alias", ["nope", "Chat", "chat-", "x" * 41])
def test_an_alias_not_published_is_404(site, alias):
    response = site.get(alias)
    assert response.status_code == 404, response.text
    assert response.json()["error"]["code"] == "not_found"
    assert response.headers["Cache-Control"] == "no-store"


def test_nothing_is_published_without_the_setting(fresh_gateway):
    response = requests.get(f"{fresh_gateway().url}/api/public/availability/chat", timeout=30)
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize("name, value", [
    ("tz", "Mars/Olympus_Mons"), ("tz", "Europe"), ("tz", " Europe/Paris"), ("lang", "fr_FR"), ("lang", "x" * 40),
    ("lang", " fr"),
])
def test_a_bad_tz_or_lang_is_a_400_naming_it(site, name, value):
    response = site.get("chat", {name: value})
    assert response.status_code == 400, response.text
    assert response.json()["error"] == {**response.json()["error"], "code": "invalid_request", "target": name}
    assert response.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize("setting", [
    "not json",
    "[]",
    json.dumps({"Support": {"workstreamId": CHAT}}),  # an alias out of a-z 0-9 -
    json.dumps({"support": {"workstreamId": "not-a-guid"}}),
    json.dumps({"support": {"workstreamId": CHAT, "contextItems": {"Tier": 2.5}}}),  # a float is no context item
    json.dumps({"support": {"workstreamId": CHAT, "contextItems": {"Tier": True}}}),
    json.dumps({"support": {"workstreamId": CHAT, "engagementContext": {"msdyn_browser": 1}}}),
    json.dumps({"support": {"workstreamId": CHAT, "queueId": Q_OPEN}}),  # not a field of a check
    json.dumps({"support": CHAT}),
])
def test_a_malformed_public_availability_fails_the_public_endpoints_only(fresh_site, setting):
    page = fresh_site(PUBLIC_AVAILABILITY=setting)
    for _ in range(3):
        response = page.get("support", Origin=SITE)
        assert response.status_code == 503, response.text
        error = response.json()["error"]
        assert error["code"] == "configuration_error" and "PUBLIC_AVAILABILITY" in error["message"]
        assert response.headers["Cache-Control"] == "no-store"
        assert response.headers["Access-Control-Allow-Origin"] == SITE  # the page may read why
    assert page.keyed({"workstreamId": CHAT}).status_code == 200  # the keyed endpoints keep working
    assert requests.get(f"{page.url}/api/health", timeout=30).status_code == 200
    time.sleep(0.2)
    assert page.log().count("The public endpoints answer configuration_error") == 1  # logged once, not per request


def test_malformed_allowed_origins_fail_the_public_endpoints_only(fresh_site):
    page = fresh_site(PUBLIC_ALLOWED_ORIGINS="https://www.contoso.example/contact")
    response = page.get("chat")
    assert response.status_code == 503
    assert "PUBLIC_ALLOWED_ORIGINS" in response.json()["error"]["message"]
    assert page.keyed({"workstreamId": CHAT}).status_code == 200


# -- one upstream call per alias per cache window ----------------------------------------------------------------

def test_200_concurrent_anonymous_requests_make_one_upstream_call(fresh_site, sandbox, clean_sandbox):
    page = fresh_site()
    sandbox.fault("actions", delayMs=300)  # every request arrives while the one call is out
    queries = [{}, {"lang": "fr"}, {"tz": "Europe/Paris"}, {"lang": "de", "tz": "UTC"}]
    sessions = [requests.Session() for _ in range(20)]
    with ThreadPoolExecutor(200) as pool:
        responses = list(pool.map(
            lambda i: sessions[i % 20].get(f"{page.url}/api/public/availability/busy", params=queries[i % 4],
                                           timeout=30), range(200)))
    assert [r.status_code for r in responses] == [200] * 200
    assert calls(sandbox) == 1
    assert len({r.json()["retrievedAt"] for r in responses}) == 1


def test_three_instances_make_one_upstream_call_per_alias(stack, sandbox, clean_sandbox):
    extra = own_app({**QUIET_TIMER, **published(), "AVAILABILITY_SHARED_STATE": "table",
                     "AVAILABILITY_STATE_TABLE": f"State{uuid.uuid4().hex[:16]}"})
    hosts = stack.start_instances(3, 0, extra, name=f"public-{uuid.uuid4().hex[:6]}")
    try:
        sandbox.fault("actions", delayMs=300)
        aliases = ("chat", "chat-fr", "busy")
        with ThreadPoolExecutor(60) as pool:
            responses = list(pool.map(lambda i: requests.get(
                f"{hosts[i % 3].url}/api/public/availability/{aliases[(i // 3) % 3]}", timeout=30),
                range(300)))
        assert [r.status_code for r in responses] == [200] * 300
        assert calls(sandbox) == len(aliases)
    finally:
        for host in hosts:
            host.process.stop()


# -- widget.js ---------------------------------------------------------------------------------------------------

def _code(source: str) -> str:
    """The script without its comments."""
    return re.sub(r"^\s*//.*$", "", re.sub(r"/\*.*?\*/", "", source, flags=re.S), flags=re.M)


def test_the_widget_is_small_self_contained_and_cacheable(site):
    response = requests.get(f"{site.url}/api/public/widget.js", timeout=30)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/javascript")
    assert len(response.content) <= 4096  # unminified, comments included
    assert response.headers["Cache-Control"].startswith("public, max-age=")
    assert response.headers["Access-Control-Allow-Origin"] == "*"  # Subresource Integrity needs CORS
    assert response.headers["Cross-Origin-Resource-Policy"] == "cross-origin"
    again = requests.get(f"{site.url}/api/public/widget.js", headers={"If-None-Match": response.headers["ETag"]},
                         timeout=30)
    assert again.status_code == 304 and again.content == b""
    code = _code(response.text)
    for forbidden in ("eval", "Function(", "innerHTML", "outerHTML", ".style", "setAttribute(", "cssText",
                      "import(", "importScripts", "XMLHttpRequest", "document.write", "://", "localStorage",
                      "cookie"):
        assert forbidden not in code, forbidden
    assert "document.currentScript" in code and "script.src" in code  # it asks the app it came from
    assert "visibilitychange" in code and "hidden" in code


# -- the document ---------------------------------------------------------------------------------------------

def test_the_document_describes_the_public_endpoints_without_security_and_the_connector_leaves_them_out():
    from availability.openapi import openapi_document, swagger_document

    document = openapi_document()
    path = document["paths"]["/api/public/availability/{alias}"]
    assert set(path) == {"get", "options"}
    for operation in (*path.values(), document["paths"]["/api/public/widget.js"]["get"]):
        assert operation["security"] == []
        assert "401" not in operation["responses"]
    assert {"200", "304", "400", "404", "503"} <= set(path["get"]["responses"])
    assert set(path["options"]["responses"]) >= {"204"}
    answer = document["components"]["schemas"]["PublicAvailability"]
    assert set(answer["required"]) == FIELDS and set(answer["properties"]) == FIELDS | {"nextGoodTime"}
    assert not [name for name in swagger_document()["paths"] if "public" in name]


def test_a_rendered_public_answer_fits_its_schema():
    import jsonschema_rs

    from availability.openapi import openapi_document

    document = openapi_document()
    validator = jsonschema_rs.validator_for({**document["components"]["schemas"]["PublicAvailability"],
                                             "components": document["components"]})
    closed = Availability(queue_id=Q_OPEN, within_operating_hours=False, representatives_available=False,
                          available_representatives=None, position_in_queue=2, average_wait_seconds=None,
                          next_transition_time=AT + timedelta(hours=9), next_opening_time=AT + timedelta(hours=9),
                          next_closing_time=AT + timedelta(hours=19), retrieved_at=AT)
    body = public_answer("support", closed, AT, Wording("Europe/Paris", "de"))
    assert validator.is_valid(body), list(validator.iter_errors(body))
    assert set(body) == FIELDS and body["message"].startswith("Die Warteschlange ist geschlossen")


# -- in process: the freshness, the validator, the settings ------------------------------------------------------


def _answer(**changes) -> Availability:
    fields = dict(queue_id=Q_OPEN, within_operating_hours=True, representatives_available=True,
                  available_representatives=3, position_in_queue=3, average_wait_seconds=90,
                  next_transition_time=None, next_opening_time=None, next_closing_time=None, retrieved_at=AT)
    return Availability(**{**fields, **changes})


def test_max_age_counts_down_from_the_cache_window_rounded_up_and_stops_at_the_transition():
    assert max_age(_answer(), AT, 15, 300) == 15
    # Rounded up: never 0 while the gateway serves the answer fresh, at most a second past its own entry.
    assert max_age(_answer(), AT + timedelta(seconds=4.5), 15, 300) == 11
    assert max_age(_answer(), AT + timedelta(seconds=14.2), 15, 300) == 1
    assert max_age(_answer(), AT + timedelta(seconds=15), 15, 300) == 1
    assert max_age(_answer(), AT + timedelta(seconds=20), 15, 300) == 1
    assert max_age(_answer(), AT, 2.5, 300) == 3
    # Never past the transition, rounded down: within its last second the answer is about to be wrong.
    assert max_age(_answer(next_transition_time=AT + timedelta(seconds=6)), AT + timedelta(seconds=1), 15, 300) == 5
    assert max_age(_answer(next_transition_time=AT + timedelta(seconds=6)), AT + timedelta(seconds=1.5), 15, 300) == 4
    assert max_age(_answer(next_transition_time=AT + timedelta(seconds=6)), AT + timedelta(seconds=5.5), 15, 300) == 0
    # The transition is measured on the org's clock, which may be anywhere (a moved sandbox clock, skew).
    org = AT + timedelta(days=3)
    assert max_age(_answer(org_time=org, next_transition_time=org + timedelta(seconds=9)), AT, 15, 300) == 9
    assert max_age(_answer(), AT, 0, 300) == 0


def test_a_stale_answer_is_kept_a_few_seconds_and_never_past_the_stale_limit():
    stale = _answer(source="stale")
    assert max_age(stale, AT + timedelta(seconds=60), 15, 300) == STALE_MAX_AGE == 5
    assert max_age(stale, AT + timedelta(seconds=60), 2, 300) == 2  # no longer than a fresh answer
    assert max_age(stale, AT + timedelta(seconds=297.5), 15, 300) == 3
    assert max_age(_answer(source="stale", next_transition_time=AT + timedelta(seconds=62)),
                   AT + timedelta(seconds=60), 15, 300) == 2
    assert max_age(stale, AT + timedelta(seconds=60), 0, 300) == 0


def test_cache_control_states_no_grace_and_what_is_left_of_the_stale_limit():
    assert cache_control(_answer(), AT + timedelta(seconds=4.5), 15, 300) == (
        "public, max-age=11, stale-while-revalidate=0, stale-if-error=284")
    assert cache_control(_answer(source="stale"), AT + timedelta(seconds=60), 15, 300) == (
        "public, max-age=5, stale-while-revalidate=0, stale-if-error=235")
    assert cache_control(_answer(source="stale"), AT + timedelta(seconds=299), 15, 300) == (
        "public, max-age=1, stale-while-revalidate=0, stale-if-error=0")
    closing = _answer(next_transition_time=AT + timedelta(seconds=40))
    assert cache_control(closing, AT + timedelta(seconds=10), 15, 300) == (
        "public, max-age=5, stale-while-revalidate=0, stale-if-error=25")
    assert cache_control(_answer(), AT, 0, 300) == "public, max-age=0, stale-while-revalidate=0, stale-if-error=0"


def test_the_next_good_time_is_there_only_when_asked_for_and_in_the_etag():
    from availability.checks import BeforeConversationCheck
    from availability.errors import InvalidRequest
    from availability.public.answer import parse_wording

    check = BeforeConversationCheck(workstream_id=CHAT)
    assert parse_wording({}, check) == Wording(None, "en", False)
    assert parse_wording({"include": "nextGoodTime", "lang": "fr"}, check) == Wording(None, "fr", True)
    assert parse_wording({"include": " "}, check).next_good_time is False  # blank is absent
    for bad in ("queueId", "nextGoodTime,queueId", "nextgoodtime"):
        with pytest.raises(InvalidRequest) as raised:
            parse_wording({"include": bad}, check)
        assert raised.value.target == "include"
    good = {"start": "2026-11-25T08:00:00Z", "end": "2026-11-25T11:00:00Z", "confidence": "high",
            "message": "A good time to reach us is tomorrow between 8:00\u202fAM and 11:00\u202fAM UTC."}
    plain = public_answer("support", _answer(), AT, Wording(None, "en"), good)
    assert "nextGoodTime" not in plain  # not asked for: not there, whatever is known
    asked = public_answer("support", _answer(), AT, Wording(None, "en", True), good)
    none = public_answer("support", _answer(), AT, Wording(None, "en", True), None)
    assert asked["nextGoodTime"] == good and none["nextGoodTime"] is None
    assert len({entity_tag(plain), entity_tag(asked), entity_tag(none)}) == 3


def test_the_etag_ignores_only_when_the_answer_was_fetched():
    body = public_answer("support", _answer(), AT, Wording(None, "en"))
    later = public_answer("support", _answer(retrieved_at=AT + timedelta(seconds=15)), AT + timedelta(seconds=15),
                          Wording(None, "en"))
    assert later["retrievedAt"] != body["retrievedAt"] and entity_tag(later) == entity_tag(body)
    for changed in (public_answer("support", _answer(average_wait_seconds=400), AT, Wording(None, "en")),
                    public_answer("support", _answer(representatives_available=False), AT, Wording(None, "en")),
                    public_answer("support", _answer(), AT, Wording(None, "fr")),
                    public_answer("other", _answer(), AT, Wording(None, "en"))):
        assert entity_tag(changed) != entity_tag(body)
    tag = entity_tag(body)
    assert not_modified(tag, tag) and not_modified(tag[2:], tag) and not_modified(f'"a", {tag}', tag)
    assert not_modified("*", tag) and not not_modified(None, tag) and not not_modified('W/"a"', tag)


def test_malformed_public_settings_leave_the_others_loaded():
    settings = load_settings({"DATAVERSE_URL": "https://contoso.crm.dynamics.com", "PUBLIC_AVAILABILITY": "{",
                              "PUBLIC_ALLOWED_ORIGINS": SITE})
    assert settings.dataverse_url == "https://contoso.crm.dynamics.com"
    assert settings.public_fault is not None and settings.public_fault.setting == "PUBLIC_AVAILABILITY"
    assert settings.public_origins == (SITE,)
    settings = load_settings({"PUBLIC_AVAILABILITY": json.dumps(PUBLIC), "PUBLIC_ALLOWED_ORIGINS": "ftp://x.example"})
    assert settings.public_fault is not None and settings.public_fault.setting == "PUBLIC_ALLOWED_ORIGINS"
    assert set(settings.public_checks) == set(PUBLIC)
    duplicate = '{"support": {"workstreamId": "%s"}, "support": {"workstreamId": "%s"}}' % (CHAT, OFFICE)
    fault = load_settings({"PUBLIC_AVAILABILITY": duplicate}).public_fault
    assert fault is not None and "twice" in fault.message


def test_allowed_origins_are_written_as_browsers_send_them():
    origins = load_settings({"PUBLIC_ALLOWED_ORIGINS": "HTTPS://WWW.Contoso.example:443/, http://127.0.0.1:8080,"
                                                       " https://shop.contoso.example:8443"}).public_origins
    assert origins == ("https://www.contoso.example", "http://127.0.0.1:8080", "https://shop.contoso.example:8443")
    assert load_settings({"PUBLIC_ALLOWED_ORIGINS": f"{SITE}, *"}).public_origins == ("*",)
    for bad in ("www.contoso.example", "https://user@contoso.example", "https://contoso.example/path",
                "https://contoso.example?x=1", "https://contoso.example:port"):
        fault = load_settings({"PUBLIC_ALLOWED_ORIGINS": bad}).public_fault
        assert fault is not None and fault.setting == "PUBLIC_ALLOWED_ORIGINS", bad
