"""The bench's generated org: every workstream a group of `python3 dev.py bench` asks for is in it, with the queue
the group counts on (a group asking for one that is not there stops the whole run)."""

from __future__ import annotations

from bench.__main__ import write_scenario
from bench.notifications import OFFICE_QUEUE, notify_workstreams
from sandbox.scenario import load_scenario


def test_the_bench_org_carries_the_workstreams_of_every_group(tmp_path):
    ids = write_scenario(tmp_path / "bench.toml", 100)
    scenario = load_scenario(tmp_path / "bench.toml")
    assert len(ids) == 100 and set(ids) <= set(scenario.workstreams)
    assert set(notify_workstreams()) <= set(scenario.workstreams)
    assert {scenario.workstreams[w].default_queue for w in notify_workstreams()} == {OFFICE_QUEUE}
    assert not set(ids) & set(notify_workstreams())  # the notify runs' transitions reach none of the others
    assert scenario.queues[OFFICE_QUEUE].has_hours  # an office-hours queue: the runs need an opening and a closing
