"""Scenario files: what loads, what is refused (naming the line or the field), the demo's shape, and load curves."""

from __future__ import annotations

import math
from collections import Counter
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from sandbox import ScenarioError, load_scenario
from sandbox.scenario import INTEGER, TEXT
from tests.sandbox.conftest import SCENARIOS, W_CHAT, W_MESSAGING

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "sandbox" / "scenarios" / "demo.toml"
ORG = """[org]
tenant_id = "11111111-1111-1111-1111-111111111111"
client_id = "22222222-2222-2222-2222-222222222222"
client_secret = "s"
"""
QUEUE = """
[[queues]]
id = "00000001-0000-0000-0000-00000000000a"
name = "Q"
"""
WORKSTREAM = """
[[workstreams]]
id = "0000000a-0000-0000-0000-00000000000b"
name = "W"
default_queue = "00000001-0000-0000-0000-00000000000a"
"""


def load_text(tmp_path: Path, text: str):
    path = tmp_path / "scenario.toml"
    path.write_text(text, encoding="utf-8")
    return load_scenario(path)


def refusal(tmp_path: Path, text: str) -> str:
    with pytest.raises(ScenarioError) as raised:
        load_text(tmp_path, text)
    message = str(raised.value)
    assert message.startswith(str(tmp_path / "scenario.toml"))
    assert "\n" not in message
    return message


def test_basic_scenario_loads():
    scenario = load_scenario(SCENARIOS / "basic.toml")
    assert (len(scenario.queues), len(scenario.workstreams), len(scenario.conversations)) == (6, 4, 3)
    assert scenario.org.secret_name == "dataverse-client-secret"
    assert scenario.org.token_lifetime_seconds == 3599


def test_a_minimal_scenario_takes_defaults(tmp_path):
    scenario = load_text(tmp_path, ORG + QUEUE + WORKSTREAM)
    queue = next(iter(scenario.queues.values()))
    assert (queue.representatives, queue.waiting, queue.average_wait_seconds, queue.timezone) == (0, 0, 0, "UTC")
    assert scenario.org.secret_name == "dataverse-client-secret"
    assert next(iter(scenario.workstreams.values())).channel == "chat"


def test_bad_toml_names_the_line(tmp_path):
    message = refusal(tmp_path, ORG + QUEUE + 'name = "twice\n')
    assert "not valid TOML" in message
    assert "line 9" in message


def test_unknown_queue_id_is_named_with_where_and_line(tmp_path):
    text = (ORG + QUEUE + WORKSTREAM
            + 'rules = [ { queue = "00000009-0000-0000-0000-00000000000a", when = { A = "b" } } ]\n')
    message = refusal(tmp_path, text)
    assert "unknown queue id '00000009-0000-0000-0000-00000000000a'" in message
    assert "workstreams[0].rules[0].queue" in message
    assert "line 14" in message


def test_unknown_default_queue_and_conversation_workstream(tmp_path):
    message = refusal(tmp_path, ORG + QUEUE + WORKSTREAM.replace("00000001-0000", "00000007-0000"))
    assert "workstreams[0].default_queue" in message and "00000007-0000" in message
    conversation = ('\n[[conversations]]\nid = "000000a1-0000-0000-0000-00000000000c"\n'
                    'workstream = "0000000f-0000-0000-0000-00000000000b"\n')
    message = refusal(tmp_path, ORG + QUEUE + WORKSTREAM + conversation)
    assert "conversations[0].workstream" in message and "unknown workstream id" in message and "line 17" in message


def test_the_line_named_is_inside_the_table_at_fault(tmp_path):
    second = QUEUE.replace("0000000a\"", "0000000b\"") + "representative = 3\n"
    text = ORG + QUEUE + "representatives = 2\n" + second + WORKSTREAM
    message = refusal(tmp_path, text)
    # "representative" is in the first queue's "representatives" too: the line is the second queue's own.
    assert "queues[1]" in message and "unknown field 'representative'" in message
    assert f"line {text.splitlines().index('representative = 3') + 1}" in message
    duplicate = ORG + QUEUE + QUEUE + WORKSTREAM
    message = refusal(tmp_path, duplicate)
    assert "queues[1].id" in message and "duplicate queue id" in message
    assert f"line {len((ORG + QUEUE + QUEUE).splitlines()) - 1}" in message  # the second queue's id, not the first


def test_the_line_named_follows_sub_tables_and_inline_tables(tmp_path):
    loads = (QUEUE + '\n[[queues.load]]\nbetween = "09:00-10:00"\n'
             + '\n[[queues.load]]\nbetween = "10:00-11:00"\nname = "x"\n')
    text = ORG + loads + WORKSTREAM
    message = refusal(tmp_path, text)
    assert "queues[0].load[1]" in message and "unknown field 'name'" in message
    bad = text.splitlines().index('name = "x"') + 1
    assert f"line {bad}" in message  # not the queue's own name
    inline = QUEUE + 'load = [ { between = "09:00-10:00", representative = 1 } ]\n'
    # The queue's own unknown key is on its own line, not in the inline table above it.
    text = ORG + inline + "representative = 3\n" + WORKSTREAM
    message = refusal(tmp_path, text)
    assert "queues[0] (line" in message and f"line {text.splitlines().index('representative = 3') + 1}" in message
    text = ORG + inline + WORKSTREAM
    message = refusal(tmp_path, text)
    assert "queues[0].load[0]" in message
    assert f"line {text.splitlines().index(inline.splitlines()[-1]) + 1}" in message
    message = refusal(tmp_path, ORG.replace('client_secret = "s"', 'client_secret = "s"\nsecret = "t"'))
    assert "[org] (line 5): unknown field 'secret'" in message


@pytest.mark.parametrize("extra, words", [
    ('timezone = "Mars/Olympus"', "unknown IANA time zone 'Mars/Olympus'"),
    ('hours = { mon = ["8-12"] }', "queues[0].hours.mon"),
    ('hours = { mon = ["12:00-08:00"] }', "ends before it starts"),
    ('hours = { mon = ["08:00-24:30"] }', "not a time of day"),
    ('hours = { monday = ["08:00-12:00"] }', "'monday' is not a day"),
    ('holidays = ["25/12/2026"]', "queues[0].holidays[0]"),
    ("representatives = -1", "queues[0].representatives"),
    ("representatives = true", "queues[0].representatives"),
    ("representative = 3", "unknown field 'representative'"),
    ('type = "fax"', "queues[0].type"),
    ("variation = 2", "queues[0].variation"),
    ("free_probability = 1.5", "queues[0].free_probability"),
    ('free_probability = "often"', "queues[0].free_probability"),
    ("seed = -1", "queues[0].seed"),
    ('load = [ { between = "09:00-10:00", free_probability = -0.1 } ]', "queues[0].load[0].free_probability"),
    ('load = [ { between = "09:00-10:00", agents = 1 } ]', "unknown field 'agents'"),
])
def test_bad_queue_fields_are_named(tmp_path, extra, words):
    assert words in refusal(tmp_path, ORG + QUEUE + extra + "\n" + WORKSTREAM)


@pytest.mark.parametrize("when, words", [
    ("{ Tier = { between = 2 } }", "'between' is not a comparison"),
    ('{ Tier = { gte = "2" } }', "compares integers"),
    ("{ Tier = 2.5 }", "must be a string"),
    ("{ Tier = true }", "must be a string"),
    ('{ "engagement." = "x" }', "engagement condition"),
    ("{ }", "non-empty"),
])
def test_bad_conditions_are_named(tmp_path, when, words):
    rule = f'rules = [ {{ queue = "00000001-0000-0000-0000-00000000000a", when = {when} }} ]\n'
    message = refusal(tmp_path, ORG + QUEUE + WORKSTREAM + rule)
    assert words in message
    assert "workstreams[0].rules[0]" in message


def test_other_refusals(tmp_path):
    assert "missing field 'org'" in refusal(tmp_path, QUEUE)
    assert "is not a GUID" in refusal(tmp_path, ORG.replace("22222222-2222-2222-2222-222222222222", "app"))
    assert "duplicate queue id" in refusal(tmp_path, ORG + QUEUE + QUEUE)
    assert "cannot read" in str(pytest.raises(ScenarioError, load_scenario, tmp_path / "missing.toml").value)


def test_conditions_keep_their_kind(tmp_path):
    scenario = load_scenario(SCENARIOS / "basic.toml")
    rules = scenario.workstreams[W_CHAT].rules
    assert [c.kind for c in rules[0].conditions] == [TEXT]
    assert rules[1].conditions[0].kind == INTEGER and rules[1].conditions[0].tests == (("gte", 2),)
    assert scenario.workstreams[W_MESSAGING].rules[0].conditions[0].kind == "engagement"


# -- the demo --------------------------------------------------------------------------------------------------

def test_the_demo_shows_what_the_product_is_for():
    demo = load_scenario(DEMO)
    queues, workstreams = demo.queues, demo.workstreams
    assert len(queues) >= 5
    assert len({q.timezone for q in queues.values()}) >= 2
    always_open = [q for q in queues.values() if not q.has_hours and not q.hours.holidays]
    assert always_open
    assert any(date.isoformat() == "2026-12-25" for q in queues.values() for date in q.hours.holidays)
    assert any(q.representatives == 0 and q.has_hours for q in queues.values())  # open but nobody free
    assert any(q.load for q in queues.values()) and any(q.variation for q in queues.values())
    channels = Counter(w.channel for w in workstreams.values())
    assert set(channels) == {"chat", "voice", "messaging"}
    kinds = {w.channel: {c.kind for r in w.rules for c in r.conditions} for w in workstreams.values() if w.rules}
    assert {TEXT, INTEGER} <= kinds["chat"]
    assert "engagement" in kinds["messaging"]
    voice = next(w for w in workstreams.values() if w.channel == "voice")
    assert voice.default_queue in {q.id for q in always_open}
    assert len(demo.conversations) >= 3


def test_the_demo_loads_through_the_server(own_sandbox):
    sandbox = own_sandbox(DEMO)
    info = sandbox.server.info()
    workstream = info["workstreams"][0]["id"]
    response = sandbox.before(workstream, {"Language": "fr"})
    assert response.status_code == 200, response.text
    for conversation in info["conversations"]:
        assert sandbox.for_conversation(conversation["id"]).status_code == 200


# -- load curves -----------------------------------------------------------------------------------------------

SHIFTS = "0000000a-0000-0000-0000-00000000000b"
LIVELY = "0000000b-0000-0000-0000-00000000000b"


@pytest.mark.parametrize("now, experts, position, wait", [
    ("2026-03-02T08:30:00Z", 2, 6, 100),   # Monday 09:30 Paris: weekday morning shift
    ("2026-03-07T08:30:00Z", 0, 3, 100),   # Saturday 09:30: the weekend shift comes first
    ("2026-03-02T12:00:00Z", 4, 3, 100),   # base values
    ("2026-03-02T21:30:00Z", 4, 3, 30),    # 22:30 Paris: only the wait changes
])
def test_shifts_replace_the_values_they_name(own_sandbox, now, experts, position, wait):
    sandbox = own_sandbox("load.toml")
    sandbox.at(now)
    answer = sandbox.before(SHIFTS).json()
    assert (answer["NumberOfExpertsAvailableInQueue"], answer["PositionInQueue"],
            answer["AverageWaitTimeInSeconds"]) == (experts, position, wait)
    assert answer["IsAgentAvailable"] is (experts > 0)


def test_variation_is_bounded_stable_per_slot_and_lively(own_sandbox):
    sandbox = own_sandbox("load.toml")

    def values(now: str) -> tuple[int, int, int]:
        sandbox.at(now)
        answer = sandbox.before(LIVELY).json()
        return (answer["NumberOfExpertsAvailableInQueue"], answer["PositionInQueue"] - 1,
                answer["AverageWaitTimeInSeconds"])

    assert values("2026-03-02T10:00:00Z") == values("2026-03-02T10:04:59Z")  # one 5-minute slot
    seen = [values(f"2026-03-02T{hour:02d}:{minute:02d}:00Z") for hour in range(0, 24, 3) for minute in (0, 5)]
    for experts, waiting, wait in seen:
        assert 5 <= experts <= 15 and 5 <= waiting <= 15 and 50 <= wait <= 150
    assert len({v[0] for v in seen}) >= 3
    assert len({v[2] for v in seen}) >= 5


@pytest.mark.parametrize("text, where, line", [
    # spaced and quoted headers are the same tables
    (ORG + QUEUE + '\n[[ queues . "load" ]]\nbetween = "09:00-10:00"\nname = "x"\n', "queues[0].load[0]", 12),
    # a quoted or dotted key is still that key
    (ORG + QUEUE + "'representative' = 3\n", "queues[0]", 9),
    (ORG.replace('client_secret = "s"', 'client_secret = "s"\nsecret.name = "t"'), "[org]", 5),
    # a table misnamed at the top of the file
    (ORG + QUEUE.replace("[[queues]]", "[[queue]]"), "the file", 6),
])
def test_the_line_named_for_headers_and_keys_written_other_ways(tmp_path, text, where, line):
    message = refusal(tmp_path, text)
    assert f"{where} (line {line}): unknown field" in message


def test_every_channel_a_scenario_may_name_has_its_orgs_code():
    from sandbox.org import STREAM_SOURCES
    from sandbox.scenario import CHANNELS

    assert set(STREAM_SOURCES) == set(CHANNELS)
    assert len(set(STREAM_SOURCES.values())) == len(STREAM_SOURCES)


# -- free representatives with a known probability -------------------------------------------------------------

CALIBRATION = ROOT / "sandbox" / "scenarios" / "calibration.toml"
CALIBRATED_QUEUE = "c0ffee01-0000-4000-8000-000000000001"
CALIBRATED = "c0ffee02-0000-4000-8000-000000000001"


def test_representatives_are_free_with_the_probability_of_the_hour():
    queue = load_scenario(CALIBRATION).queues[CALIBRATED_QUEUE]
    paris = ZoneInfo("Europe/Paris")
    # Mondays in Paris, across both daylight saving changes: 11:00, 12:30 (lunch) and 06:00 (closed: the base).
    for hour, minute, expected in ((11, 0, 0.95), (12, 30, 0.1), (6, 0, 0.6)):
        slots = [datetime.combine(date(2026, 3, 2) + timedelta(days=7 * week), time(hour, minute), paris)
                 + timedelta(minutes=5 * i) for week in range(100) for i in range(6)]
        assert {queue.free_probability_at(t) for t in slots} == {expected}
        free = sum(queue.metrics_at(t).representatives > 0 for t in slots) / len(slots)
        assert abs(free - expected) < 4 * math.sqrt(expected * (1 - expected) / len(slots)), (hour, free)
    # The same slot draws the same, and the waits and waiting customers of the load entries still apply.
    lunch = datetime(2026, 3, 2, 11, 30, tzinfo=UTC)
    assert queue.metrics_at(lunch) == queue.metrics_at(lunch + timedelta(minutes=4))
    assert 420 <= queue.metrics_at(lunch).average_wait_seconds <= 780


def test_without_a_probability_representatives_are_always_free(tmp_path):
    queue = next(iter(load_text(tmp_path, ORG + QUEUE + "representatives = 2\n" + WORKSTREAM).queues.values()))
    start = datetime(2026, 3, 2, tzinfo=UTC)
    assert queue.free_probability == 1 and queue.seed == 0
    assert {queue.metrics_at(start + timedelta(minutes=5 * i)).representatives for i in range(500)} == {2}


def test_another_seed_draws_another_history(tmp_path):
    base = ORG + QUEUE + "representatives = 2\nfree_probability = 0.5\n"
    one = next(iter(load_text(tmp_path, base + WORKSTREAM).queues.values()))
    other = next(iter(load_text(tmp_path, base + "seed = 1\n" + WORKSTREAM).queues.values()))
    start = datetime(2026, 3, 2, tzinfo=UTC)
    draws = [(one.metrics_at(t).representatives, other.metrics_at(t).representatives)
             for t in (start + timedelta(minutes=5 * i) for i in range(200))]
    assert sum(a != b for a, b in draws) > 50


def test_the_sandbox_answers_as_the_draws_say(own_sandbox):
    sandbox = own_sandbox(CALIBRATION)
    queue = load_scenario(CALIBRATION).queues[CALIBRATED_QUEUE]
    monday = datetime(2026, 3, 2, 11, 0, tzinfo=UTC)  # Monday 12:00-13:00 in Paris: free one time in ten
    seen = []
    for i in range(12):
        moment = monday + timedelta(minutes=5 * i)
        sandbox.at(moment.strftime("%Y-%m-%dT%H:%M:%SZ"))
        answer = sandbox.before(CALIBRATED).json()
        assert answer["IsQueueAvailable"] is True
        seen.append(answer["IsAgentAvailable"])
        assert answer["IsAgentAvailable"] is (queue.metrics_at(moment).representatives > 0)
    assert seen.count(False) >= 6  # mostly nobody free at lunch
