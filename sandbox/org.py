"""The Dynamics 365 org: the two availability actions, WhoAmI, and the workstream and queue queries (Web API v9.2)."""

from __future__ import annotations

import json
import re
import uuid
from datetime import datetime
from typing import Any

from sandbox.credentials import TokenStore, normalize_resource
from sandbox.scenario import GUID, INTEGER, QUEUE_TYPES, TEXT, Conversation, Queue, Scenario, Workstream, is_integer
from sandbox.state import Clock, Failure, Faults, Stats
from sandbox.wire import Reply, Request, iso, new_id, reason

API_ROOT = "/api/data/v9.2/"
BEFORE = "CCaaS_GetRepresentativeAvailabilityBeforeConversation"
FOR = "CCaaS_GetRepresentativeAvailabilityForConversation"
ACTIONS = (BEFORE, FOR)
ODATA_CONTENT_TYPE = "application/json; odata.metadata=minimal"
MIN_DATE = "0001-01-01T00:00:00Z"
MAX_DATE = "9999-12-31T23:59:59Z"
TEXT_DATATYPE = "192350000"
INTEGER_DATATYPE = "192350001"
PARAMETERS = {
    BEFORE: ("ApiVersion", "LiveWorkStreamId", "CustomContextItems", "ChannelEngagementContext"),
    FOR: ("ApiVersion", "ConversationId", "CustomContextItems"),
}
# msdyn_streamsource codes reported for each scenario channel, as the choice's options are documented
# (learn.microsoft.com/dynamics365/customer-service/develop/reference/entities/msdyn_ocsystemmessage): Live chat,
# Voice call, SMS, WhatsApp, Facebook, Microsoft Teams; `messaging` stands for a custom messaging channel (Custom).
STREAM_SOURCES = {"chat": 192360000, "voice": 192440000, "sms": 192340000, "whatsapp": 192300000,
                  "facebook": 192330000, "teams": 19241000, "messaging": 192350002}
TOKEN_PROBLEMS = {
    "missing": "Authorization header is missing or is not a Bearer token.",
    "unknown": "The access token is not valid: the sandbox did not issue it.",
    "revoked": "The access token is not valid: it has been revoked.",
    "expired": "The access token has expired.",
    "audience": "The access token was issued for another resource (audience).",
}
FAULT_CODES = {
    429: ("0x80072322", "Number of requests exceeded the limit of 6000 over time window of 300 seconds."),
    500: ("0x80040216", "An unexpected error occurred."),
    503: ("0x80040216", "The service is temporarily unavailable. Please try again later."),
}
FILTER_CLAUSE = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s+eq\s+(.+?)\s*$")
PAGE_SIZE = re.compile(r"odata\.maxpagesize\s*=\s*(\d+)")


class OrgError(Exception):
    """A Dataverse error answer, raised from deep inside validation."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


class Org:
    """`{url}/api/data/v9.2/...`: everything the availability gateway asks of a Dynamics 365 org."""

    def __init__(self, *, url: str, scenario: Scenario, clock: Clock, tokens: TokenStore, stats: Stats,
                 faults: Faults) -> None:
        self.url = url
        self.scenario = scenario
        self.clock = clock
        self.tokens = tokens
        self.stats = stats
        self.faults = faults
        self.audience = normalize_resource(url)
        org = self.scenario.org
        self.user_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{self.url}/systemuser/{org.client_id}"))
        self.business_unit_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{self.url}/businessunit/{org.tenant_id}"))
        self.organization_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{self.url}/organization/{org.tenant_id}"))
        self.entity_sets = {
            "msdyn_liveworkstreams": ("msdyn_liveworkstream", "msdyn_liveworkstreamid",
                                      [self._workstream_record(w) for w in self.scenario.workstreams.values()]),
            "queues": ("queue", "queueid", [self._queue_record(q) for q in self.scenario.queues.values()]),
        }

    # -- dispatch -------------------------------------------------------------------------------------------

    def handle(self, request: Request, rest: str) -> Reply:
        segment = rest.split("/", 1)[0]
        name, _, key = segment.partition("(")
        stats = self.stats
        try:
            if name in (BEFORE, FOR) and not key and "/" not in rest:
                stats.count_action(name)
                refused = self.authorize(request)
                if refused is not None:
                    stats.count_rejected("actions")
                    return refused
                if request.method != "POST":
                    raise self._no_resource(request)
                return self.action(request, name)
            if name == "WhoAmI" and key in ("", ")") and "/" not in rest:
                stats.count("whoAmI")
                return self._query(request, self.who_am_i, "whoAmI")
            if name in self.entity_sets and "/" not in rest:
                stats.count("queries")
                return self._query(request, lambda r: self.entity_set(r, name, key.rstrip(")") if key else None),
                                   "queries")
            refused = self.authorize(request)
            if refused is not None:
                return refused
            raise OrgError(404, "0x8006088a", f"Resource not found for the segment '{name}'.")
        except OrgError as exc:
            return self.error(exc.status, exc.code, str(exc))

    def _query(self, request: Request, answer, target: str) -> Reply:
        refused = self.authorize(request)
        if refused is not None:
            return refused
        failure = self.faults.strike(target)
        if failure is not None:
            return self.fault_reply(failure)
        if request.method != "GET":
            raise self._no_resource(request)
        return answer(request)

    def _no_resource(self, request: Request) -> OrgError:
        return OrgError(404, "", f"No HTTP resource was found that matches the request URI '{self.url}{request.path}'.")

    def authorize(self, request: Request) -> Reply | None:
        """401 for a missing, unknown, expired, revoked or misdirected token; 403 when there is no application user."""
        tokens = self.tokens
        token = request.bearer()
        problem = tokens.check(token, self.audience)
        if problem is not None:
            return self.error(401, "", TOKEN_PROBLEMS[problem], self._challenge())
        assert token is not None  # a missing token is a problem `check` names
        if not self.scenario.org.application_user or tokens.app_id(token) != self.scenario.org.client_id:
            return self.error(403, "0x80072560", "The user is not a member of the organization.")
        return None

    def _challenge(self) -> dict[str, str]:
        tenant = self.scenario.org.tenant_id
        return {"WWW-Authenticate": f"Bearer authorization_uri={self.url}/{tenant}/oauth2/authorize, "
                                    f"resource_id={self.url}/"}

    # -- the two actions ------------------------------------------------------------------------------------

    def action(self, request: Request, name: str) -> Reply:
        try:
            body = json.loads(request.body) if request.body.strip() else {}
        except (ValueError, UnicodeDecodeError):
            body = None
        workstream_id = self._workstream_hint(name, body)
        failure = self.faults.strike("actions", workstream=workstream_id)
        if failure is not None:
            return self.fault_reply(failure)
        if not isinstance(body, dict):
            raise OrgError(400, "0x80048d19", "Error identified in Payload provided by the user: the request body "
                                              "is not a JSON object.")
        for key in body:
            if key not in PARAMETERS[name]:
                raise OrgError(400, "0x0", f"The parameter '{key}' in the request payload is not a valid parameter "
                                           f"for the operation '{name}'.")
        api_version = _string_parameter(body, "ApiVersion")
        if api_version is None:
            raise OrgError(400, "0x80040203", "Required parameter 'ApiVersion' is missing.")
        if api_version != "1.0":
            raise OrgError(400, "0x80040203", f"ApiVersion '{api_version}' is not supported. Use '1.0'.")
        now = self.clock.now()
        items = _context_items(body.get("CustomContextItems"))
        if name == BEFORE:
            workstream = self._find_workstream(_guid_parameter(body, "LiveWorkStreamId"))
            engagement = _engagement_context(body.get("ChannelEngagementContext"))
            queue = self.scenario.queues[workstream.route(items, engagement)]
            position = None
        else:
            conversation = self._find_conversation(_guid_parameter(body, "ConversationId"))
            workstream = self.scenario.workstreams[conversation.workstream]
            # Items sent with the request add to, or override, the conversation's own context.
            queue = self.scenario.queues[workstream.route({**conversation.context, **items}, conversation.engagement)]
            position = conversation.position
        return Reply(200, self.answer(name, queue, now, position), self._headers(), ODATA_CONTENT_TYPE)

    def answer(self, name: str, queue: Queue, now: datetime, position: int | None) -> dict[str, Any]:
        """The action's response for `queue` at the sandbox instant `now`.

        `position` is the conversation's place in line; None (before a conversation) means behind everyone waiting.
        """
        state = queue.hours.state_at(now)
        metrics = queue.metrics_at(now)
        if position is None:
            position = metrics.waiting + 1
        if state.is_open:
            start = end = MIN_DATE
            transition = iso(state.closes_at) if state.closes_at else MAX_DATE
            experts = metrics.representatives
        else:
            start = iso(state.opens_at) if state.opens_at else MIN_DATE
            # A next window with no end within the horizon (24x7 after a holiday) ends "never": the 9999 sentinel.
            end = iso(state.next_closes_at) if state.next_closes_at else (MAX_DATE if state.opens_at else MIN_DATE)
            transition = iso(state.opens_at) if state.opens_at else MAX_DATE
            experts = 0
        return {
            "@odata.context": f"{self.url}{API_ROOT}$metadata#Microsoft.Dynamics.CRM.{name}Response",
            "QueueId": queue.id,
            "IsQueueAvailable": state.is_open,
            "IsAgentAvailable": experts > 0,
            "NumberOfExpertsAvailableInQueue": experts,
            "PositionInQueue": position,
            "AverageWaitTime": None,
            "AverageWaitTimeInSeconds": metrics.average_wait_seconds,
            "StartTimeOfNextOperatingHour": start,
            "EndTimeOfNextOperatingHour": end,
            "NextTransitionTime": transition,
        }

    def _workstream_hint(self, name: str, body: Any) -> str | None:
        """The workstream a call is about, for faults aimed at one workstream; None when it cannot tell."""
        if not isinstance(body, dict):
            return None
        if name == BEFORE:
            value = body.get("LiveWorkStreamId")
            return value.lower() if isinstance(value, str) else None
        value = body.get("ConversationId")
        conversation = self.scenario.conversations.get(value.lower()) if isinstance(value, str) else None
        return conversation.workstream if conversation else None

    def _find_workstream(self, workstream_id: str) -> Workstream:
        workstream = self.scenario.workstreams.get(workstream_id)
        if workstream is None:
            raise OrgError(404, "0x80040217", f"msdyn_liveworkstream With Id = {workstream_id} Does Not Exist")
        return workstream

    def _find_conversation(self, conversation_id: str) -> Conversation:
        conversation = self.scenario.conversations.get(conversation_id)
        if conversation is None:
            raise OrgError(404, "0x80040217", f"msdyn_ocliveworkitem With Id = {conversation_id} Does Not Exist")
        return conversation

    # -- WhoAmI and queries ---------------------------------------------------------------------------------

    def who_am_i(self, request: Request) -> Reply:
        return Reply(200, {"@odata.context": f"{self.url}{API_ROOT}$metadata#Microsoft.Dynamics.CRM.WhoAmIResponse",
                           "BusinessUnitId": self.business_unit_id, "UserId": self.user_id,
                           "OrganizationId": self.organization_id}, self._headers(), ODATA_CONTENT_TYPE)

    def entity_set(self, request: Request, set_name: str, key: str | None) -> Reply:
        entity, key_field, records = self.entity_sets[set_name]
        params = request.params
        for option in params:
            if option.startswith("$") and option not in ("$select", "$filter", "$top", "$skiptoken"):
                raise OrgError(400, "0x0", f"The query option '{option}' is not supported by the sandbox.")
        fields = self._select(params.get("$select"), entity, records)
        context = f"{self.url}{API_ROOT}$metadata#{set_name}"
        if fields:
            context += "(" + ",".join(fields) + ")"
        if key is not None:
            wanted = key.strip("'").lower()
            for record in records:
                if record[key_field] == wanted:
                    return Reply(200, {"@odata.context": context + "/$entity", **_project(record, fields)},
                                 self._headers(), ODATA_CONTENT_TYPE)
            raise OrgError(404, "0x80040217", f"{entity} With Id = {wanted} Does Not Exist")
        keep = self._filter(params.get("$filter"), entity, records)
        matching = [r for r in records if keep(r)]
        top = params.get("$top")
        if top is not None:
            if not top.isdigit():
                raise OrgError(400, "0x0", "$top must be a non-negative integer.")
            matching = matching[: int(top)]
        skip = params.get("$skiptoken", "0")
        start = int(skip) if skip.isdigit() else 0
        headers = self._headers()
        page_size = PAGE_SIZE.search(request.header("prefer") or "")
        size = int(page_size.group(1)) if page_size and int(page_size.group(1)) > 0 else 5000
        if page_size:
            headers["Preference-Applied"] = f"odata.maxpagesize={size}"
        body: dict[str, Any] = {"@odata.context": context,
                                "value": [_project(r, fields) for r in matching[start:start + size]]}
        if start + size < len(matching):
            query = "&".join(f"{k}={v}" for k, v in params.items() if k != "$skiptoken")
            body["@odata.nextLink"] = f"{self.url}{request.path}?{query}{'&' if query else ''}$skiptoken={start + size}"
        return Reply(200, body, headers, ODATA_CONTENT_TYPE)

    def _select(self, select: str | None, entity: str, records: list[dict[str, Any]]) -> list[str]:
        if not select:
            return []
        known = set(records[0]) if records else set()
        fields = [f.strip() for f in select.split(",") if f.strip()]
        for name in fields:
            if known and name not in known:
                raise OrgError(400, "0x0", f"Could not find a property named '{name}' on type "
                                           f"'Microsoft.Dynamics.CRM.{entity}'.")
        return fields

    def _filter(self, text: str | None, entity: str, records: list[dict[str, Any]]):
        """`$filter` clauses `<property> eq <literal>` joined by `and`; anything else is a 400."""
        if not text:
            return lambda record: True
        known = set(records[0]) if records else set()
        tests = []
        for clause in re.split(r"\s+and\s+", text.strip()):
            match = FILTER_CLAUSE.match(clause)
            if not match:
                raise OrgError(400, "0x0", f"The $filter '{text}' is not supported by the sandbox: use clauses "
                                           "'<property> eq <value>' joined by 'and', e.g. statecode eq 0.")
            name, literal = match.groups()
            if known and name not in known:
                raise OrgError(400, "0x0", f"Could not find a property named '{name}' on type "
                                           f"'Microsoft.Dynamics.CRM.{entity}'.")
            tests.append((name, _literal(literal, text)))
        return lambda record: all(record.get(name) == value for name, value in tests)

    def _workstream_record(self, workstream: Workstream) -> dict[str, Any]:
        return {
            "@odata.etag": f'W/"{_etag(workstream.id)}"',
            "msdyn_liveworkstreamid": workstream.id,
            "msdyn_name": workstream.name,
            "msdyn_streamsource": STREAM_SOURCES[workstream.channel],
            "_msdyn_defaultqueue_value": workstream.default_queue,
            "statecode": 0 if workstream.active else 1,
            "statuscode": 1 if workstream.active else 2,
        }

    def _queue_record(self, queue: Queue) -> dict[str, Any]:
        hours_id = None
        if queue.has_hours or queue.hours.holidays:
            hours_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{self.url}/msdyn_operatinghour/{queue.id}"))
        return {
            "@odata.etag": f'W/"{_etag(queue.id)}"',
            "queueid": queue.id,
            "name": queue.name,
            "msdyn_queuetype": QUEUE_TYPES[queue.type],
            "msdyn_isomnichannelqueue": True,
            "_msdyn_operatinghourid_value": hours_id,
            "statecode": 0,
            "statuscode": 1,
        }

    # -- replies --------------------------------------------------------------------------------------------

    def _headers(self) -> dict[str, str]:
        request_id = new_id()
        return {"x-ms-service-request-id": request_id, "REQ_ID": request_id, "OData-Version": "4.0"}

    def error(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Reply:
        """An error in the Dataverse shape; `code` is Dataverse's own (hex or empty), not the HTTP status."""
        return Reply(status, {"error": {"code": code, "message": message}}, {**self._headers(), **(headers or {})},
                     ODATA_CONTENT_TYPE)

    def fault_reply(self, failure: Failure) -> Reply:
        status = failure.status
        headers = {"Retry-After": str(failure.retry_after)} if failure.retry_after is not None else {}
        if status == 401:
            headers.update(self._challenge())
        code, message = FAULT_CODES.get(status, ("", f"{reason(status)} (sandbox fault)."))
        return self.error(status, code, message, headers)


def _string_parameter(body: dict[str, Any], name: str) -> str | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, (dict, list)):
        raise OrgError(400, "0x0", f"An unexpected '{'StartObject' if isinstance(value, dict) else 'StartArray'}' "
                                   f"node was found when reading from the JSON reader for parameter '{name}'. "
                                   "A 'PrimitiveValue' node was expected.")
    if not isinstance(value, str):
        raise OrgError(400, "0x0", f"Cannot convert the value of parameter '{name}' to the expected type 'Edm.String'.")
    return value


def _guid_parameter(body: dict[str, Any], name: str) -> str:
    value = _string_parameter(body, name)
    if value is None or not value.strip():
        raise OrgError(400, "0x80040203", f"Required parameter '{name}' is missing.")
    if not GUID.match(value):
        raise OrgError(400, "0x80040203", f"'{value}' is not a valid Guid for parameter '{name}'.")
    return value.lower()


def _context_items(raw: Any) -> dict[str, tuple[str, str | int]]:
    """CustomContextItems: a string holding `{"<name>": {"value", "isDisplayable", "datatype"}}`."""
    parsed = _json_object_parameter(raw, "CustomContextItems", "a JSON object of context items")
    items: dict[str, tuple[str, str | int]] = {}
    for name, item in parsed.items():
        if not name:
            raise OrgError(400, "0x80040203", "CustomContextItems has a context item without a name.")
        if not isinstance(item, dict) or "value" not in item or "datatype" not in item:
            raise OrgError(400, "0x80040203", f"Context item '{name}' must be an object with 'value' and 'datatype'.")
        extra = set(item) - {"value", "datatype", "isDisplayable"}
        if extra:
            raise OrgError(400, "0x80040203", f"Context item '{name}' has unknown fields: {', '.join(sorted(extra))}.")
        if "isDisplayable" in item and not isinstance(item["isDisplayable"], bool):
            raise OrgError(400, "0x80040203", f"Context item '{name}': isDisplayable must be true or false.")
        datatype, value = item["datatype"], item["value"]
        code = str(datatype) if isinstance(datatype, str) or is_integer(datatype) else None
        if code == TEXT_DATATYPE:
            if not isinstance(value, str):
                raise OrgError(400, "0x80040203", f"Context item '{name}' is Text (192350000): its value must be a "
                                                  "string.")
            items[name] = (TEXT, value)
        elif code == INTEGER_DATATYPE:
            if not is_integer(value):
                raise OrgError(400, "0x80040203", f"Context item '{name}' is Integer (192350001): its value must be "
                                                  "an integer.")
            items[name] = (INTEGER, value)
        else:
            raise OrgError(400, "0x80040203", f"Context item '{name}' has an unknown datatype {datatype!r}: use "
                                              "192350000 (Text) or 192350001 (Integer).")
    return items


def _engagement_context(raw: Any) -> dict[str, Any]:
    """ChannelEngagementContext: a string holding a JSON object of engagement context attributes."""
    return _json_object_parameter(raw, "ChannelEngagementContext", "a JSON object")


def _json_object_parameter(raw: Any, name: str, what: str) -> dict[str, Any]:
    """A parameter that is a string holding a JSON object (upstream's double encoding); absent or blank = {}."""
    text = _string_parameter({name: raw}, name)
    if text is None or not text.strip():
        return {}
    try:
        parsed = json.loads(text)
    except ValueError as exc:
        raise OrgError(400, "0x80040203", f"{name} is not valid JSON: {exc}.") from None
    if not isinstance(parsed, dict):
        raise OrgError(400, "0x80040203", f"{name} must hold {what}.")
    return parsed


def _literal(text: str, whole: str) -> Any:
    if text in ("true", "false"):
        return text == "true"
    if text == "null":
        return None
    if re.fullmatch(r"-?\d+", text):
        return int(text)
    if len(text) >= 2 and text[0] == text[-1] == "'":
        return text[1:-1].replace("''", "'")
    if GUID.match(text):
        return text.lower()
    raise OrgError(400, "0x0", f"The $filter '{whole}' has a value the sandbox cannot read: {text}.")


def _project(record: dict[str, Any], fields: list[str]) -> dict[str, Any]:
    if not fields:
        return dict(record)
    return {"@odata.etag": record["@odata.etag"], **{name: record[name] for name in fields}}


def _etag(entity_id: str) -> int:
    return int(entity_id.replace("-", "")[:7], 16)
