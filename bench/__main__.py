"""`python3 dev.py bench`: the quality.md figures, each side by side with the direct path, in one run.

Starts its own sandbox (a generated org of 100 workstreams), Azurite and local hosts; puts a fixed delay on
every upstream action call; writes bench/results/latest.json and latest.md. The first figures are one instance's
(shared state off: the gateway against the direct path); the many-instances figures (bench/instances.py) set
three instances with shared state against three on their own, and one host of each kind side by side, and one
minute of org outage over three instances. The scale model (bench/scale.py) runs K instances in this process and
extrapolates to 100 and 1,000. `--only PART` measures some parts alone and keeps the other figures of the last
report.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import requests

from bench import instances, public, scale
from bench.direct import DirectPath
from devtools.sandbox_client import SandboxControl, sandbox_app
from devtools.stack import ROOT, Stack

RESULTS = ROOT / "bench" / "results"
QUIET_TIMER = {"SNAPSHOT_SCHEDULE": "0 0 0 1 1 *", "NOTIFY_SCHEDULE": "0 0 0 1 1 *"}  # no timer run in a measurement
ONE_INSTANCE = {**QUIET_TIMER, "AVAILABILITY_SHARED_STATE": "off"}  # the first wave's figures: one instance
# 1,000 checks over distinct keys, each a call to the org within seconds, to count tokens and secret reads: more than
# the default calls budget (600 a minute) and cap (24 at once) allow, which would refuse or hold some of them.
UNBOUNDED = {"AVAILABILITY_MAX_CALLS_PER_MINUTE": "0", "AVAILABILITY_MAX_CONCURRENT_CALLS": "0"}
TARGETS = {  # figure: (comparison, bound) from quality.md
    "identical_burst_upstream_calls": ("==", 1),
    "distinct_token_requests": ("==", 1),
    "distinct_secret_reads": ("==", 1),
    "hit_speedup": (">=", 10),
    "miss_overhead_ratio": ("<=", 1.1),
    "snapshot_speedup": (">=", 5),
    "import_ratio": ("<=", 1.25),
    "hit_cpu_us": ("<=", 200),
    "instances_identical_upstream_calls": ("==", 1),
    "instances_budget_max_calls_per_60s": ("<=", instances.BUDGET),
    "shared_hit_ratio": ("<=", 1.2),
    "shared_miss_ratio": ("<=", 1.15),
    "public_upstream_calls_per_alias": ("==", 1),
    "public_hit_ratio": ("<=", 1.1),
    "outage_org_calls_per_minute": ("<=", instances.OUTAGE_TARGET),
    "scale_model_max_partition_ops_per_s": ("<=", scale.TARGETS["partition"]),
    "scale_model_account_ops_per_s": ("<", scale.TARGETS["account"]),
    "scale_model_org_calls_per_s": ("<=", scale.BUDGET / 60),
    "scale_model_org_concurrency": ("<", scale.TARGETS["concurrency"]),
}
PARTS = ("bursts", "latency", "snapshot", "cpu", "instances", "public", "outage", "scale", "import")


def say(text: str) -> None:
    print(f"[bench] {text}", flush=True)


def restart_counts(sandbox: SandboxControl, delay_ms: int) -> None:
    """Zero the counters and put the fixed delay back on every action call (reset clears faults)."""
    sandbox.reset()
    sandbox.fault("actions", delayMs=delay_ms)


def write_scenario(path: Path, workstreams: int) -> list[str]:
    """An org with `workstreams` chat workstreams over ten 24x7 queues; returns the workstream ids."""
    lines = ['[org]', 'tenant_id = "aaaaaaaa-0000-4000-8000-0000000000be"',
             'client_id = "bbbbbbbb-0000-4000-8000-0000000000be"', 'client_secret = "bench-secret"',
             'secret_name = "dataverse-client-secret"', '']
    for q in range(10):
        lines += ['[[queues]]', f'id = "11111111-0000-4000-8000-{q:012d}"', f'name = "Queue {q}"',
                  'timezone = "UTC"', 'representatives = 2', 'waiting = 1', 'average_wait_seconds = 60', '']
    ids = []
    for w in range(workstreams):
        ids.append(f"22222222-0000-4000-8000-{w:012d}")
        lines += ['[[workstreams]]', f'id = "{ids[-1]}"', f'name = "Workstream {w}"', 'channel = "chat"',
                  f'default_queue = "11111111-0000-4000-8000-{w % 10:012d}"', '']
    path.write_text("\n".join(lines), encoding="utf-8")
    return ids


class Client:
    """Calls a gateway host with one pooled session per thread."""

    def __init__(self, host: Any) -> None:
        self.url = f"{host.url}/api/availability/before-conversation"
        self.key = host.function_key
        self._local = threading.local()

    def check(self, workstream: str, context: dict | None = None) -> dict:
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
        body = {"workstreamId": workstream, **({"contextItems": context} if context else {})}
        response = session.post(self.url, json=body, headers={"x-functions-key": self.key}, timeout=30)
        if response.status_code != 200:
            raise RuntimeError(f"gateway answered {response.status_code}: {response.text[:200]}")
        return response.json()


def run_concurrently(count: int, concurrency: int, call: Callable[[int], Any]) -> None:
    with ThreadPoolExecutor(concurrency) as pool:
        for _ in pool.map(call, range(count)):
            pass


def median_ms(samples: list[float]) -> float:
    return round(statistics.median(samples) * 1000, 3)


def timed(call: Callable[[], Any]) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


def import_times(modules: tuple[str, ...], runs: int) -> dict[str, list[float]]:
    """CPU seconds each module's import costs, each in a fresh interpreter, runs interleaved.

    CPU time rather than wall time, and interleaving, keep other work on a shared machine out of the ratio.
    """
    samples: dict[str, list[float]] = {module: [] for module in modules}
    for _ in range(runs):
        for module in modules:
            code = f"import time; t = time.process_time(); import {module}; print(time.process_time() - t)"
            out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
            samples[module].append(float(out.stdout.strip()))
    return samples


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 dev.py bench", description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=1000, help="requests per burst (default 1000)")
    parser.add_argument("--concurrency", type=int, default=50, help="concurrent clients (default 50)")
    parser.add_argument("--delay-ms", type=int, default=50, help="upstream delay on every action call (default 50)")
    parser.add_argument("--samples", type=int, default=100, help="latency samples per side (default 100)")
    parser.add_argument("--workstreams", type=int, default=100, help="workstreams in the snapshot run (default 100)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder for latest.json and latest.md")
    parser.add_argument("--only", action="append", choices=PARTS, metavar="PART",
                        help=f"measure this part only (repeatable; {', '.join(PARTS)}); the report keeps the other "
                             "figures of the last one")
    args = parser.parse_args(argv)
    started = time.monotonic()
    state = ROOT / ".local" / "bench"
    state.mkdir(parents=True, exist_ok=True)
    workstreams = write_scenario(state / "bench.toml", args.workstreams)
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("AVAILABILITY_", "SNAPSHOT_", "DATAVERSE_"))}
    stack = Stack(scenario=state / "bench.toml", state_dir=state, log_dir=state / "logs", environ=environ,
                  quiet=True)
    results: dict[str, Any] = {}
    try:
        say("starting the sandbox and Azurite ...")
        stack.start_sandbox()
        stack.start_azurite()
        sandbox = SandboxControl(stack.sandbox["url"], stack.sandbox["caBundle"])
        settings = stack.app_settings()
        direct = DirectPath(stack.sandbox["url"], stack.sandbox["url"], stack.sandbox["tenantId"],
                            stack.sandbox["clientId"], "bench-secret", settings["REQUESTS_CA_BUNDLE"])
        parts: dict[str, Callable[[], dict[str, Any]]] = {
            "bursts": lambda: measure_bursts(args, stack, sandbox, direct, workstreams),
            "latency": lambda: measure_latency(args, stack, sandbox, direct, workstreams),
            "snapshot": lambda: measure_snapshot(args, stack, sandbox, workstreams),
            "cpu": lambda: measure_cpu_per_hit(stack, workstreams),
            "instances": lambda: measure_instances(args, stack, sandbox, workstreams),
            "public": lambda: measure_public(args, stack, sandbox, workstreams),
            "outage": lambda: measure_outage(args, stack, sandbox, workstreams),
            "scale": lambda: measure_scale(stack, sandbox, workstreams),
            "import": measure_import,
        }
        for name, measure in parts.items():
            if not args.only or name in args.only:
                results.update(measure())
    finally:
        stack.stop()
    if args.only:
        results = {**_last_report(args.out), **results, "measured": sorted(set(args.only))}
    results.update(upstream_delay_ms=args.delay_ms, cpu_count=os.cpu_count(), requests=args.requests,
                   concurrency=args.concurrency, samples=args.samples, workstreams=args.workstreams,
                   python=platform.python_version(), finished_at=datetime.now(timezone.utc).isoformat(),
                   duration_seconds=round(time.monotonic() - started, 1))
    verdicts = {name: _meets(results[name], *bound) for name, bound in TARGETS.items() if name in results}
    results["targets_met"] = verdicts
    write_report(args.out, results)
    for name, ok in verdicts.items():
        say(f"{'ok  ' if ok else 'MISS'} {name} = {results[name]} (target {TARGETS[name][0]} {TARGETS[name][1]})")
    say(f"report: {args.out / 'latest.json'} and latest.md ({results['duration_seconds']} s)")
    return 0 if all(verdicts.values()) else 1


def _last_report(folder: Path) -> dict[str, Any]:
    """The figures of the last report (none when there is none), without what describes its run."""
    try:
        last = json.loads((folder / "latest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {name: value for name, value in last.items() if name not in ("targets_met", "measured")}


def _meets(value: float, comparison: str, bound: float) -> bool:
    return {"==": value == bound, ">=": value >= bound, "<=": value <= bound, "<": value < bound}[comparison]


def measure_bursts(args, stack, sandbox, direct, workstreams) -> dict[str, Any]:
    n, c = args.requests, args.concurrency
    say(f"identical burst: {n} requests, {c} concurrent, one key, fresh host ...")
    gateway = Client(stack.start_host(port=0, name="bench-burst", extra_settings=ONE_INSTANCE))
    restart_counts(sandbox, args.delay_ms)
    run_concurrently(n, c, lambda i: gateway.check(workstreams[0], {"Burst": "one"}))
    burst = sandbox.stats()
    say(f"  direct path: {n} requests, {c} concurrent ...")
    restart_counts(sandbox, args.delay_ms)
    run_concurrently(n, c, lambda i: direct.check(workstreams[0], {"Burst": "one"}))
    direct_stats = sandbox.stats()

    say(f"distinct keys: {n} requests over {n} keys, {c} concurrent, fresh host ...")
    gateway = Client(stack.start_host(port=0, name="bench-distinct", extra_settings={**ONE_INSTANCE, **UNBOUNDED}))
    restart_counts(sandbox, args.delay_ms)
    run_concurrently(n, c, lambda i: gateway.check(workstreams[i % len(workstreams)], {"Key": str(i)}))
    distinct = sandbox.stats()
    return {
        "identical_burst_upstream_calls": sum(burst["actions"].values()),
        "direct_identical_burst_upstream_calls": sum(direct_stats["actions"].values()),
        "distinct_upstream_calls": sum(distinct["actions"].values()),
        "distinct_token_requests": distinct["tokens"],
        "distinct_secret_reads": distinct["secretReads"],
        "direct_distinct_token_requests": direct_stats["tokens"],
    }


def measure_latency(args, stack, sandbox, direct, workstreams) -> dict[str, Any]:
    say(f"latency: {args.samples} samples per side, interleaved ...")
    restart_counts(sandbox, args.delay_ms)
    cached = Client(stack.hosts[0])  # the burst host: token and secret already in memory
    uncached = Client(stack.start_host(port=0, name="bench-miss",
                                       extra_settings={**ONE_INSTANCE, "AVAILABILITY_CACHE_SECONDS": "0"}))
    uncached.check(workstreams[1], {"Warm": "up"})
    cached.check(workstreams[0], {"Hit": "key"})
    token = direct.token()
    hits, misses, direct_checks, direct_actions = [], [], [], []
    for i in range(args.samples):
        hits.append(timed(lambda: cached.check(workstreams[0], {"Hit": "key"})))
        direct_checks.append(timed(lambda: direct.check(workstreams[0])))
        misses.append(timed(lambda: uncached.check(workstreams[2], {"Miss": uuid.uuid4().hex})))
        direct_actions.append(timed(lambda: direct.action(token, workstreams[2], {"Miss": uuid.uuid4().hex})))
    return {
        "hit_median_ms": median_ms(hits),
        "direct_median_ms": median_ms(direct_checks),
        "hit_speedup": round(statistics.median(direct_checks) / statistics.median(hits), 2),
        "miss_median_ms": median_ms(misses),
        "direct_action_median_ms": median_ms(direct_actions),
        "miss_overhead_ratio": round(statistics.median(misses) / statistics.median(direct_actions), 3),
    }


def measure_snapshot(args, stack, sandbox, workstreams) -> dict[str, Any]:
    """The timer's run over every workstream vs the same work one by one, in this process, in steady state."""
    from bench.snapshot import snapshot_sides

    say(f"snapshot: {len(workstreams)} workstreams one by one, then the timer's way ...")
    one_side, timer_side = snapshot_sides(stack.app_settings(), workstreams)
    restart_counts(sandbox, args.delay_ms)
    one_side.run(), timer_side.run()  # untimed: connections and first-use imports, as in a running app
    # Best of two runs per side, alternating, so a burst of other work on the machine hits neither alone.
    one_by_one = timer_way = float("inf")
    for _ in range(2):
        one_by_one = min(one_by_one, one_side.run()[0])
        restart_counts(sandbox, args.delay_ms)
        elapsed, written = timer_side.run()
        timer_way = min(timer_way, elapsed)
        calls = sum(sandbox.stats()["actions"].values())
    return {
        "snapshot_one_by_one_seconds": round(one_by_one, 3),
        "snapshot_timer_seconds": round(timer_way, 3),
        "snapshot_speedup": round(one_by_one / timer_way, 2),
        "snapshot_rows_written": written,
        "snapshot_upstream_calls": calls,
    }


def measure_cpu_per_hit(stack, workstreams, hits: int = 5000) -> dict[str, Any]:
    """The product's own CPU per cache hit: the HTTP function called in process, no host, no network.

    The CPU time of the thread that serves the hits: the process's other threads (the shared state's keeper and
    writers, earlier measurements' apps winding down) do no work for a hit and are left out.
    """
    import azure.functions as func

    from availability import app as composition
    from availability.http.blueprint import before_conversation

    say(f"CPU per cache hit: {hits} hits, handler called in process ...")
    app = sandbox_app({**stack.app_settings(), "AVAILABILITY_CACHE_SECONDS": "3600"})
    composition.use(app)
    body = json.dumps({"workstreamId": workstreams[0], "contextItems": {"Hit": "in-process"}}).encode()

    def request() -> Any:
        return func.HttpRequest("POST", "http://localhost/api/availability/before-conversation", body=body,
                                headers={"content-type": "application/json"})

    first = before_conversation(request())  # the one miss: token, secret and the answer in memory
    if first.status_code != 200:
        raise RuntimeError(f"in-process check answered {first.status_code}: {first.get_body()[:200]!r}")
    before_conversation(request())
    started = time.thread_time()
    for _ in range(hits):
        before_conversation(request())
    cpu = time.thread_time() - started
    app.close()
    return {"hit_cpu_us": round(cpu / hits * 1e6, 1), "hit_cpu_samples": hits}


def measure_instances(args, stack, sandbox, workstreams) -> dict[str, Any]:
    """The second wave's figures: three instances of one app, shared state vs each instance on its own."""
    say(f"three instances: {args.requests} identical requests, {args.concurrency} concurrent, shared vs off ...")
    results = instances.identical_over_three(args, stack, sandbox, workstreams[3], Client, restart_counts)
    say(f"three instances: shared state vs off, {args.samples} hit and miss samples per side ...")
    results.update(instances.latency_shared_vs_off(args, stack, sandbox, workstreams[4], Client, restart_counts,
                                                   timed, median_ms))
    say("three instances: storage operations per upstream call (in process) ...")
    results.update(instances.storage_operations(stack.app_settings(), sandbox, workstreams, restart_counts,
                                                args.delay_ms))
    say(f"three instances: calls budget of {instances.BUDGET} a minute under load for "
        f"{instances.BUDGET_LOAD_SECONDS} s ...")
    results.update(instances.budget_over_three(stack, sandbox, workstreams, Client, restart_counts, args.delay_ms))
    return results


def measure_public(args, stack, sandbox, workstreams) -> dict[str, Any]:
    """Web pages: anonymous requests over three instances, and a public hit beside a keyed one."""
    say(f"public endpoint: {public.REQUESTS:,} anonymous requests, {public.CONCURRENCY} concurrent, "
        f"{public.ALIASES} aliases, three instances ...")
    results = public.anonymous_over_three(stack, sandbox, workstreams[5:], restart_counts, args.delay_ms)
    say(f"public endpoint: cache hit vs keyed, {3 * args.samples} samples per side ...")
    results.update(public.public_vs_keyed_latency(stack, sandbox, workstreams[7], Client, 3 * args.samples,
                                                  restart_counts, args.delay_ms, timed, median_ms))
    return results


def measure_import() -> dict[str, Any]:
    say("import time (fresh interpreters) ...")
    times = import_times(("azure.functions", "function_app"), 15)
    plain, app = times["azure.functions"], times["function_app"]
    return {"import_azure_functions_ms": median_ms(plain), "import_function_app_ms": median_ms(app),
            "import_ratio": round(statistics.median(app) / statistics.median(plain), 3)}


def measure_outage(args, stack, sandbox, workstreams) -> dict[str, Any]:
    """One minute of org outage, one check asked five times a second over three instances holding an answer."""
    say(f"outage: {instances.OUTAGE_SECONDS} s of org outage, one check asked {instances.OUTAGE_RATE} times a second "
        "over three instances ...")
    return instances.outage_minute(stack, sandbox, workstreams[9], client_of=Client, restart_counts=restart_counts,
                                   delay_ms=args.delay_ms)


def measure_scale(stack, sandbox, workstreams) -> dict[str, Any]:
    """The scale model: K = 1, 3, 10 instances in process, extrapolated to 100 and 1,000."""
    say("scale model: instances of the state code in this process, storage operations and org calls counted ...")
    return scale.measure(stack.app_settings(), sandbox, workstreams, say)


def write_report(folder: Path, results: dict[str, Any]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "latest.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    r = results
    try:
        rows = _rows(r)
    except KeyError:  # parts measured alone, without an earlier full report to complete the table
        rows = [(name, r[name], "", f"{comparison} {bound}") for name, (comparison, bound) in TARGETS.items()
                if name in r]
    lines = [
        f"# Benchmark results ({r['finished_at'][:19]}Z)",
        "",
        f"Upstream delay {r['upstream_delay_ms']} ms on every action call; {r['cpu_count']} CPUs; "
        f"Python {r['python']}; whole run {r['duration_seconds']} s."
        + (f" Measured in this run: {', '.join(r['measured'])}; the other figures are from earlier runs."
           if r.get("measured") else ""),
        "",
        "| figure | gateway | direct path / reference | result |",
        "|---|---|---|---|",
        *[f"| {name} | {ours} | {theirs} | {verdict} |" for name, ours, theirs, verdict in rows],
        "",
        "Targets met: " + ", ".join(f"{k} {'yes' if v else 'NO'}" for k, v in r["targets_met"].items()),
        "",
        *scale.report(r),
    ]
    (folder / "latest.md").write_text("\n".join(lines), encoding="utf-8")


def _rows(r: dict[str, Any]) -> list[tuple[str, Any, Any, str]]:
    """The report's table: each figure beside its reference and its target."""
    return [
        ("Upstream calls, 1,000 identical requests (50 concurrent, one instance)", r["identical_burst_upstream_calls"],
         r["direct_identical_burst_upstream_calls"], "exactly 1"),
        ("Token requests, 1,000 requests over distinct keys", r["distinct_token_requests"],
         r["direct_distinct_token_requests"], "1"),
        ("Key Vault reads, same run", r["distinct_secret_reads"], "n/a", "1"),
        ("Median latency, cache hit (ms)", r["hit_median_ms"], r["direct_median_ms"],
         f"speedup {r['hit_speedup']}× (≥ 10×)"),
        ("Median latency, cache miss (ms)", r["miss_median_ms"], r["direct_action_median_ms"],
         f"ratio {r['miss_overhead_ratio']} (≤ 1.1)"),
        (f"Snapshot of {r['workstreams']} workstreams (s)", r["snapshot_timer_seconds"],
         r["snapshot_one_by_one_seconds"], f"speedup {r['snapshot_speedup']}× (≥ 5×)"),
        (f"Product CPU per cache hit, handler in process, {r['hit_cpu_samples']:,} hits (µs)", r["hit_cpu_us"],
         "n/a", "≤ 200 µs"),
        ("`import function_app` vs `import azure.functions` (ms)", r["import_function_app_ms"],
         r["import_azure_functions_ms"], f"ratio {r['import_ratio']} (≤ 1.25)"),
        ("Three instances: upstream calls, 1,000 identical requests (shared state vs per-instance caches)",
         r["instances_identical_upstream_calls"], r["instances_identical_upstream_calls_off"], "exactly 1"),
        (f"Three instances: most action calls in any 60 s, budget {r['instances_budget']} a minute, "
         f"{r['instances_budget_seconds']} s of load ({r['instances_budget_calls']} calls, "
         f"{r['instances_budget_answered']} answered, {r['instances_budget_refused']} refused)",
         r["instances_budget_max_calls_per_60s"], f"{3 * r['instances_budget']} (per-instance budgets)",
         f"≤ {r['instances_budget']}"),
        ("Shared state: median latency, cache hit (ms), vs off", r["shared_hit_median_ms"], r["off_hit_median_ms"],
         f"ratio {r['shared_hit_ratio']} (≤ 1.2)"),
        ("Shared state: median latency, cache miss (ms), vs off", r["shared_miss_median_ms"], r["off_miss_median_ms"],
         f"ratio {r['shared_miss_ratio']} (≤ 1.15)"),
        ("Shared state: storage operations per upstream call (distinct keys; 300 identical over three instances)",
         r["storage_ops_per_upstream_call"],
         f"{r['storage_ops_identical_burst']} for {r['storage_ops_identical_burst_calls']} call", "report"),
        (f"Web pages: upstream calls per alias, {r['public_requests']:,} anonymous requests ({r['public_concurrency']} "
         f"concurrent, three instances, {r['public_aliases']} aliases, {r['public_burst_seconds']} s)",
         r["public_upstream_calls_per_alias"], f"{r['public_requests'] // r['public_aliases']:,} (a call per request)",
         "exactly 1"),
        ("Web pages: median latency, public cache hit vs keyed (ms)", r["public_hit_median_ms"],
         r["keyed_hit_median_ms"], f"ratio {r['public_hit_ratio']} (≤ 1.1)"),
        *_third_wave_rows(r),
    ]


def _third_wave_rows(r: dict[str, Any]) -> list[tuple[str, Any, Any, str]]:
    rows = []
    if "outage_org_calls_per_minute" in r:
        rows.append((f"One minute of org outage: action calls the org received, one check asked "
                     f"{instances.OUTAGE_RATE}/s over three instances with an older answer at hand "
                     f"({r['outage_stale_answers']} of {r['outage_requests']} answered stale, {r['outage_errors']} "
                     "errors)", r["outage_org_calls_per_minute"],
                     f"{r['outage_calls_if_asked_each_time']} (each request asking, three attempts)",
                     f"≤ {instances.OUTAGE_TARGET}"))
    if "scale_model_max_partition_ops_per_s" in r:
        rows += [
            ("Scale model: worst partition, storage operations/s (N = 100, 1,000; 1,000 and 10,000 requests/s; org "
             "at 0.3 s and 5 s)", r["scale_model_max_partition_ops_per_s"], "2,000 (Table Storage's target)",
             f"≤ {scale.TARGETS['partition']:,}"),
            ("Scale model: storage operations/s of the account, worst of the grid", r["scale_model_account_ops_per_s"],
             "20,000 (Table Storage's target)", f"< {scale.TARGETS['account']:,}"),
            ("Scale model: org calls/s, worst of the grid", r["scale_model_org_calls_per_s"],
             f"{r['scale_model_budget_per_s']} (the default budget, 600/min)", "within the budget"),
            ("Scale model: org calls at once, worst of the grid", r["scale_model_org_concurrency"],
             "52 (Dataverse, per user)", f"< {scale.TARGETS['concurrency']}"),
        ]
    return rows


if __name__ == "__main__":
    sys.exit(main())
