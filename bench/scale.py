"""The scale model: what the shared state costs Table Storage and the org at 100 and 1,000 instances.

K real instances of the app's own parts (its service, client and `TableState`, each an `App` of its own) run in this
process against the bench's Azurite and sandbox, under the mix expected at scale: 90 % of requests on 150 hot checks
(the 100 public aliases among them), 10 % over 5,000 others; the org answers in 0.3 s (and in 5 s: a slow org). Every
storage request is counted by partition and entity, each second, and every call to the org, each second and at once.

From K = 1, 3 and 10 (and the slow org at K = 3) it fits what each event costs in storage operations — a lookup that
reaches storage, a call to the org, a second of an instance calling the org (its keeper reads), a second of an
instance at all — and extrapolates to N = 100 and 1,000 instances at 1,000 and 10,000 requests a second with the mix's
own arithmetic, at the default calls budget and cap:

- each instance asks a hot check λ = 0.9 R / (150 N) times a second and reads its row about once per answer it
  adopts (renewal over the cache window W: λ / (1 + λ W)); each tail request reaches storage (an insert once the
  budget admits its call, else a point read);
- the org is wanted once per window per hot check (one instance refreshes it, the others adopt it) and, for a tail
  check asked Λ = 0.1 R / 5,000 times a second by the fleet, Λ / (1 + Λ W) times a second; it is called at most
  the budget (B / 60 a second) and the cap over its latency (C / latency) allow;
- instances calling the org in the last 2 s (whose keepers read the throttle row): N (1 − e^(−2 calls / N));
- followers reading a row until another instance's answer is there: in proportion to the calls in flight.
The worst answer partition carries the share of the hot checks' operations the hottest of the 64 shards carried
when measured, and a 64th of the rest; the throttle row is one entity in a partition of its own.
"""

from __future__ import annotations

import json
import math
import re
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import unquote

HOT, TAIL, HOT_SHARE, ALIASES = 150, 5_000, 0.9, 100
BEAT_SECONDS = 60.0  # an instance's roster row and its read of the count (availability/state/upkeep.py)
CACHE_SECONDS = 15.0
BUDGET, CAP = 600, 24  # the defaults, AVAILABILITY_MAX_CALLS_PER_MINUTE and AVAILABILITY_MAX_CONCURRENT_CALLS
RATE = 60  # requests a second of the measured runs, over all K instances
RUN_SECONDS, MEASURED_FROM = 44, 20  # each run, and the second from which it is measured (answers warm by then)
RUNS = ((1, 0.3), (3, 0.3), (10, 0.3), (3, 5.0))  # (instances, org latency in s)
GRID = [(n, r, latency) for n in (100, 1_000) for r in (1_000, 10_000) for latency in (0.3, 5.0)]
TARGETS = {"partition": 1_000, "account": 20_000, "concurrency": 52}
ACTION = "CCaaS_GetRepresentativeAvailability"
POINT = re.compile(r"\(PartitionKey='([^']*)',RowKey='([^']*)'\)")
FILTER_PARTITION = re.compile(r"PartitionKey eq '([^']*)'")


class StorageCount:
    """Every storage request of the instances, by second, partition and entity (azure-core's response hook)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.ops: Counter[tuple[int, str, str]] = Counter()  # (second, partition, entity) -> requests
        self.writes: Counter[tuple[int, str]] = Counter()  # (second, partition) -> requests other than reads

    def __call__(self, response: Any) -> None:
        request = response.http_request
        url = unquote(request.url)
        point = POINT.search(url)
        if point:
            partition, entity = point.groups()
        elif "$batch" in url:
            found = FILTER_PARTITION.search(url) or re.search(rb"PartitionKey='([^']*)'", _body(request))
            partition, entity = (_text(found.group(1)) if found else "?"), "batch"
        elif "$filter" in url:
            found = FILTER_PARTITION.search(url)
            partition, entity = (found.group(1) if found else "?"), "query"
        else:
            try:
                row = json.loads(_body(request) or b"{}")
                partition, entity = str(row.get("PartitionKey", "table")), str(row.get("RowKey", "table"))
            except ValueError:
                partition, entity = "table", "table"
        second = int(time.monotonic())
        with self.lock:
            self.ops[second, partition, entity] += 1
            if request.method != "GET":
                self.writes[second, partition] += 1


def _body(request: Any) -> bytes:
    body = getattr(request, "body", None)
    return body if isinstance(body, bytes) else (body or "").encode() if isinstance(body, str) else b""


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


def kind(partition: str) -> str:
    """What a partition holds: answers (a shard of a generation), the roster, or the org's own (throttle row)."""
    if "-g" in partition:
        return "answers"
    return "roster" if partition.endswith("-i") else "throttle"


class OrgCount:
    """The org's action calls of every instance: when each began, and how many were in flight at once."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.started: list[tuple[float, int]] = []  # (monotonic, instance)
        self.in_flight = self.most_in_flight = 0

    def wrap(self, session: Any, instance: int) -> Any:
        """`session`, counting the action calls it sends."""
        send = session.request

        def request(method: str, url: str, **options: Any) -> Any:
            if ACTION not in url:
                return send(method, url, **options)
            with self.lock:
                self.started.append((time.monotonic(), instance))
                self.in_flight += 1
                self.most_in_flight = max(self.most_in_flight, self.in_flight)
            try:
                return send(method, url, **options)
            finally:
                with self.lock:
                    self.in_flight -= 1

        session.request = request
        return session


def solve(rows: list[list[float]], targets: list[float]) -> list[float]:
    """Least squares without an intercept (the normal equations, by Gauss-Jordan elimination); coefficients never
    negative: a cost that the data cannot tell from zero is zero."""
    width = len(rows[0])
    matrix = [[sum(r[i] * r[j] for r in rows) for j in range(width)]
              + [sum(r[i] * t for r, t in zip(rows, targets, strict=True))] for i in range(width)]
    for column in range(width):
        pivot = max(range(column, width), key=lambda row: abs(matrix[row][column]))
        matrix[column], matrix[pivot] = matrix[pivot], matrix[column]
        if abs(matrix[column][column]) < 1e-12:
            continue
        for row in range(width):
            if row != column:
                factor = matrix[row][column] / matrix[column][column]
                matrix[row] = [a - factor * b for a, b in zip(matrix[row], matrix[column], strict=True)]
    found = [matrix[i][width] / matrix[i][i] if abs(matrix[i][i]) > 1e-12 else 0.0 for i in range(width)]
    if any(value < 0 for value in found):  # refit without the terms the data make negative
        keep = [i for i, value in enumerate(found) if value > 0]
        if not keep:
            return [0.0] * width
        kept = solve([[r[i] for i in keep] for r in rows], targets)
        found = [0.0] * width
        for index, value in zip(keep, kept, strict=True):
            found[index] = value
    return found


def checks(workstreams: list[str]) -> tuple[list[Any], list[Any]]:
    """The hot checks and the tail's, over the bench org's workstreams."""
    from availability.checks import BeforeConversationCheck, ContextItem

    def check(name: str, index: int) -> BeforeConversationCheck:
        return BeforeConversationCheck(workstream_id=workstreams[index % len(workstreams)],
                                       context_items=(ContextItem(name, str(index)),))

    return [check("Hot", i) for i in range(HOT)], [check("Tail", i) for i in range(TAIL)]


def run(app_settings: dict[str, str], sandbox: Any, workstreams: list[str], *, instances: int, latency: float,
        say: Callable[[str], None]) -> dict[str, Any]:
    """K instances under the mix for RUN_SECONDS: storage operations and org calls, measured from MEASURED_FROM."""
    import random

    from availability.errors import AvailabilityError
    from availability.session import pooled_session
    from availability.tables import service_from_connection_string
    from devtools.sandbox_client import sandbox_app

    say(f"  scale model: {instances} instance(s), org answering in {latency:g} s, {RATE} requests/s, "
        f"{RUN_SECONDS} s ...")
    storage, org = StorageCount(), OrgCount()
    settings = {**app_settings, "AVAILABILITY_SHARED_STATE": "table",
                "AVAILABILITY_STATE_TABLE": f"Scale{uuid.uuid4().hex[:16]}",
                "AVAILABILITY_CACHE_SECONDS": str(int(CACHE_SECONDS)), "AVAILABILITY_TIMEOUT_SECONDS": "20"}
    apps = [sandbox_app(settings, table_service=service_from_connection_string(
                settings["AzureWebJobsStorage"], raw_response_hook=storage),
                        session=org.wrap(pooled_session(settings["DATAVERSE_URL"], 32,
                                                        ca_bundle=settings["REQUESTS_CA_BUNDLE"]), index))
            for index in range(instances)]
    fetches: Counter[int] = Counter()  # second -> lookups that reached storage
    for app in apps:
        app.credential.token()  # token and secret in memory before the run
        state = app.state
        fetch = state.fetch

        def counted(*args: Any, _fetch: Callable[..., Any] = fetch, **kwargs: Any) -> Any:
            fetches[int(time.monotonic())] += 1
            return _fetch(*args, **kwargs)

        state.fetch = counted  # type: ignore[method-assign]  # counts each fetch of this instance's state
    sandbox.reset()
    sandbox.fault("actions", delayMs=int(latency * 1000))
    hot, tail = checks(workstreams)
    draw = random.Random(instances * 1000 + int(latency * 10))  # the same mix each time
    outcomes: Counter[str] = Counter()

    def ask(index: int) -> None:
        check = draw_check()
        try:
            answer = apps[index % instances].service.check(check, deadline=time.monotonic() + 20)
            outcomes[answer.source] += 1
        except AvailabilityError as exc:
            outcomes[exc.code] += 1

    lock = threading.Lock()

    def draw_check() -> Any:
        with lock:
            return hot[draw.randrange(HOT)] if draw.random() < HOT_SHARE else tail[draw.randrange(TAIL)]

    started = time.monotonic()
    with ThreadPoolExecutor(256, thread_name_prefix="scale-load") as pool:
        for index in range(RATE * RUN_SECONDS):
            time.sleep(max(0.0, started + index / RATE - time.monotonic()))
            pool.submit(ask, index)
    ended = time.monotonic()
    for app in apps:
        app.close()
    sandbox.clear_faults()
    first, last = int(started) + MEASURED_FROM, int(started) + RUN_SECONDS - 1
    seconds = list(range(first, last))
    per_second: dict[int, Counter[str]] = defaultdict(Counter)
    partitions: Counter[str] = Counter()
    entities: Counter[tuple[str, str]] = Counter()
    for (second, partition, entity), count in storage.ops.items():
        if first <= second < last:
            per_second[second][kind(partition)] += count
            partitions[partition] += count
            entities[partition, entity] += count
    for (second, partition), count in storage.writes.items():
        if first <= second < last:
            per_second[second][kind(partition) + " writes"] += count
    calls = [when for when, _ in org.started if first <= when < last]
    call_seconds = Counter(int(when) for when in calls)
    busy: Counter[int] = Counter()  # second -> instances that called the org in the 2 s before it
    for second in seconds:
        busy[second] = len({who for when, who in org.started if second - 2 <= when < second + 1})
    span = len(seconds)
    # The hot checks' rows are the answer rows most asked for: the shard holding most of their operations is the
    # worst one at scale, where they carry nearly all of them.
    answer_rows = sorted(((count, partition) for (partition, _), count in entities.items()
                          if kind(partition) == "answers"), reverse=True)[:HOT]
    hot_by_shard: Counter[str] = Counter()
    for count, partition in answer_rows:
        hot_by_shard[partition.rsplit("-", 1)[1]] += count
    hot_total = sum(hot_by_shard.values())
    samples = [{"fetches": fetches[s], "calls": call_seconds[s], "busy": busy[s], "instances": instances,
                "in flight": call_seconds[s] * latency,
                "answer reads": per_second[s]["answers"] - per_second[s]["answers writes"],
                "answer writes": per_second[s]["answers writes"],
                "throttle reads": per_second[s]["throttle"] - per_second[s]["throttle writes"],
                "throttle writes": per_second[s]["throttle writes"], "roster": per_second[s]["roster"]}
               for s in seconds]
    total: Counter[str] = Counter()
    for sample in samples:
        total.update({name: value for name, value in sample.items() if name != "instances"})
    return {
        "answer_reads_per_lookup": round(total["answer reads"] / max(1, total["fetches"]), 2),
        "answer_writes_per_call": round(total["answer writes"] / max(1, total["calls"]), 2),
        "throttle_ops_per_call": round((total["throttle reads"] + total["throttle writes"])
                                       / max(1, total["calls"]), 2),
        "instances": instances, "latency": latency, "requests_per_s": round(RATE * RUN_SECONDS / (ended - started), 1),
        "org_calls_per_s": round(len(calls) / span, 2), "org_most_in_flight": org.most_in_flight,
        "storage_ops_per_s": round(sum(partitions.values()) / span, 1),
        "max_partition_ops_per_s": round(max(partitions.values(), default=0) / span, 1),
        "max_partition": kind(max(partitions, key=partitions.__getitem__)) if partitions else "",
        "max_second_partition_ops": max((count for (second, partition, _), count in storage.ops.items()
                                         if first <= second < last), default=0),
        "max_entity_ops_per_s": round(max(entities.values(), default=0) / span, 1),
        "worst_shard_share": round(max(hot_by_shard.values(), default=0) / hot_total, 3) if hot_total else 0.0,
        "outcomes": dict(outcomes), "samples": samples,
    }


def fit(runs: list[dict[str, Any]]) -> dict[str, list[float]]:
    """Storage operations per event, by least squares over every measured second: answer reads per lookup that
    reached storage and per second of a call in flight (followers reading the row until its answer is there);
    answer writes per org call; throttle row reads per second of an instance calling the org and per
    org call; throttle row writes per org call. (The roster's few operations a minute per instance seldom fall in a
    measured second: they are counted by their rule, see `extrapolate`.)"""
    samples = [sample for measured in runs for sample in measured["samples"]]
    return {
        "answer reads": solve([[s["fetches"], s["in flight"]] for s in samples], [s["answer reads"] for s in samples]),
        "answer writes": solve([[s["calls"]] for s in samples], [s["answer writes"] for s in samples]),
        "throttle reads": solve([[s["busy"], s["calls"]] for s in samples], [s["throttle reads"] for s in samples]),
        "throttle writes": solve([[s["calls"]] for s in samples], [s["throttle writes"] for s in samples]),
    }


def extrapolate(costs: dict[str, list[float]], shard_share: float, instances: int, rate: float,
                latency: float, *, slowness: float = 0.0) -> dict[str, Any]:
    """One point of the grid: what N instances under R requests a second cost, by the mix's arithmetic (a slow
    org adding `slowness` answer operations per second of a call in flight)."""
    per_hot = HOT_SHARE * rate / (HOT * instances)  # requests a second per instance and hot check
    hot_lookups = HOT * instances * per_hot / (1 + per_hot * CACHE_SECONDS)
    tail_rate = (1 - HOT_SHARE) * rate
    per_tail = tail_rate / TAIL  # fleet-wide, per tail check
    wanted = HOT / CACHE_SECONDS + TAIL * per_tail / (1 + per_tail * CACHE_SECONDS)
    calls = min(wanted, BUDGET / 60, CAP / latency)
    fetches = hot_lookups + tail_rate
    busy = instances * (1 - math.exp(-2 * calls / instances))
    in_flight = min(CAP, calls * latency)
    answers = (costs["answer reads"][0] * fetches + costs["answer reads"][1] * in_flight
               + costs["answer writes"][0] * calls)
    throttle = (costs["throttle reads"][0] * busy + costs["throttle reads"][1] * calls
                + costs["throttle writes"][0] * calls)
    # Each instance writes its roster row and reads the throttle row once a minute; one instance reads every
    # roster row once a minute to count them.
    roster = 2 * instances / BEAT_SECONDS
    throttle += instances / BEAT_SECONDS
    hot_reads = costs["answer reads"][0] * hot_lookups
    slow = slowness * in_flight
    # The calls in flight are a few checks: the worst partition may hold three of the 24 the cap allows.
    worst_answers = shard_share * hot_reads + (answers - hot_reads) / 64 + slow * 3 / CAP
    answers += slow
    return {"instances": instances, "requests_per_s": rate, "latency": latency,
            "org_calls_wanted_per_s": round(wanted, 1), "org_calls_per_s": round(calls, 2),
            "org_concurrency": round(in_flight, 1), "answers_ops_per_s": round(answers),
            "worst_answer_partition_ops_per_s": round(worst_answers), "throttle_partition_ops_per_s": round(throttle),
            "roster_partition_ops_per_s": round(roster),
            "max_partition_ops_per_s": round(max(worst_answers, throttle, roster)),
            "account_ops_per_s": round(answers + throttle + roster)}


def measure(app_settings: dict[str, str], sandbox: Any, workstreams: list[str],
            say: Callable[[str], None]) -> dict[str, Any]:
    """The measured runs, the fitted costs and the grid, with the figures (the grid's worst points).

    The costs are fitted on the runs with the org at 0.3 s; a slow org adds operations for as long as its calls
    last (followers read rows until they are answered, calls wait for slots and fail past their deadline), per
    second of a call in flight as the slow run measured them beyond those costs.
    """
    runs = [run(app_settings, sandbox, workstreams, instances=instances, latency=latency, say=say)
            for instances, latency in RUNS]
    fast = [measured for measured in runs if measured["latency"] < 1]
    costs = fit(fast)
    shard_share = max(measured["worst_shard_share"] for measured in runs)
    checked = []
    for measured in runs:  # the model against what was measured, at each run's own instances, rate and latency
        modelled = extrapolate(costs, shard_share, measured["instances"], measured["requests_per_s"],
                               measured["latency"])
        checked.append({"instances": measured["instances"], "latency": measured["latency"],
                        "measured_ops_per_s": measured["storage_ops_per_s"],
                        "modelled_ops_per_s": modelled["account_ops_per_s"]})
    # What a slow org adds: followers reading rows until calls that last seconds are answered, calls waiting for
    # slots and timing out; per second of a call in flight, as the slow run measured it beyond what the costs say.
    slow_costs = [max(0.0, check["measured_ops_per_s"] - check["modelled_ops_per_s"])
                  / max(1e-9, measured["org_calls_per_s"] * measured["latency"])
                  for check, measured in zip(checked, runs, strict=True) if measured["latency"] >= 1]
    slowness = max(slow_costs, default=0.0)
    grid = [extrapolate(costs, shard_share, n, r, latency, slowness=slowness if latency >= 1 else 0.0)
            for n, r, latency in GRID]
    for measured in runs:
        del measured["samples"]
    return {
        "scale_model_max_partition_ops_per_s": max(point["max_partition_ops_per_s"] for point in grid),
        "scale_model_account_ops_per_s": max(point["account_ops_per_s"] for point in grid),
        "scale_model_org_calls_per_s": max(point["org_calls_per_s"] for point in grid),
        "scale_model_org_concurrency": max(point["org_concurrency"] for point in grid),
        "scale_model_budget_per_s": round(BUDGET / 60, 2),
        "scale_model_costs": {name: [round(value, 4) for value in values] for name, values in costs.items()},
        "scale_model_slow_ops_per_call_second": round(slowness, 2),
        "scale_model_worst_shard_share": shard_share,
        "scale_model_runs": runs, "scale_model_checked": checked, "scale_model_grid": grid,
    }


def report(r: dict[str, Any]) -> list[str]:
    """The grid and the runs, as latest.md shows them."""
    if "scale_model_grid" not in r:
        return []
    costs = r["scale_model_costs"]
    lines = [
        "## Scale model", "",
        f"Measured with K real instances in one process (Azurite, the sandbox; {RATE} requests/s of the mix: 90 % on "
        f"{HOT} hot checks, 10 % over {TAIL:,}; cache window {CACHE_SECONDS:g} s; budget {BUDGET}/min, cap {CAP}), "
        "then extrapolated by the mix's arithmetic (bench/scale.py). Fitted storage operations per event: answer "
        f"reads {costs['answer reads'][0]} per lookup reaching storage and {costs['answer reads'][1]} per second of a "
        f"call in flight, answer writes {costs['answer writes'][0]} per org call; throttle row reads "
        f"{costs['throttle reads'][0]} per second of an instance calling the org and "
        f"{costs['throttle reads'][1]} per org call, writes {costs['throttle writes'][0]} per org call (fitted on the "
        "runs with the org at 0.3 s; with the org at 5 s, "
        f"{r['scale_model_slow_ops_per_call_second']} answer operations more per second of a call in flight, what "
        "the slow run measured beyond them); the roster, two operations per instance a minute. "
        f"The hottest of 64 answer shards carried {r['scale_model_worst_shard_share']:.1%} of the hot checks' "
        "operations.", "",
        "| instances | requests/s | org latency (s) | org calls wanted/s | org calls/s | org calls at once "
        "| answer ops/s | worst answer partition ops/s | throttle partition ops/s | roster ops/s | account ops/s |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
        *[f"| {p['instances']:,} | {p['requests_per_s']:,} | {p['latency']:g} | {p['org_calls_wanted_per_s']} | "
          f"{p['org_calls_per_s']} | {p['org_concurrency']} | {p['answers_ops_per_s']:,} | "
          f"{p['worst_answer_partition_ops_per_s']:,} | {p['throttle_partition_ops_per_s']:,} | "
          f"{p['roster_partition_ops_per_s']} | {p['account_ops_per_s']:,} |" for p in r["scale_model_grid"]],
        "", "Measured runs (from second "
        f"{MEASURED_FROM} of {RUN_SECONDS}):", "",
        "| instances | org latency (s) | requests/s | org calls/s | most calls at once | storage ops/s "
        "| busiest partition ops/s | busiest entity ops/s | modelled ops/s |",
        "|---|---|---|---|---|---|---|---|---|",
        *[f"| {m['instances']} | {m['latency']:g} | {m['requests_per_s']} | {m['org_calls_per_s']} | "
          f"{m['org_most_in_flight']} | {m['storage_ops_per_s']} | {m['max_partition_ops_per_s']} "
          f"({m['max_partition']}) | {m['max_entity_ops_per_s']} | {c['modelled_ops_per_s']} |"
          for m, c in zip(r["scale_model_runs"], r["scale_model_checked"], strict=True)],
        "",
    ]
    return lines
