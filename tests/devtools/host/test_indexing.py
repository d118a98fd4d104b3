"""The local host refuses at start what Azure's worker or host would refuse: each case a small broken app, started
with the same command the stack uses; and the schedule forms Azure accepts, read as its timer trigger reads them."""

import os
import subprocess
import sys
import textwrap
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from devtools.schedules import ScheduleError, parse_schedule

ROOT = Path(__file__).resolve().parents[3]
HEADER = '''
import azure.functions as func

app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)
'''


def start(tmp_path: Path, source: str, **settings: str) -> subprocess.CompletedProcess:
    """`python -m devtools.host` on an app of `source`, stopped once it has started (or ended by itself)."""
    (tmp_path / "function_app.py").write_text(HEADER + textwrap.dedent(source), encoding="utf-8")
    ready = tmp_path / "ready.json"
    command = [sys.executable, "-m", "devtools.host", "--app-dir", str(tmp_path), "--port", "0",
               "--keys-file", str(tmp_path / "keys.json"), "--ready-file", str(ready)]
    process = subprocess.Popen(command, cwd=ROOT, env={**os.environ, **settings}, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    try:
        for _ in range(300):
            if process.poll() is not None or ready.exists():
                break
            time.sleep(0.1)
        if process.poll() is None:
            process.terminate()
        out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    return subprocess.CompletedProcess(command, process.returncode, out, err)


def refused(result: subprocess.CompletedProcess, *words: str) -> None:
    assert result.returncode == 3, result.stderr[-3000:]
    assert "Azure would not run this app as it is" in result.stderr
    for word in words:
        assert word in result.stderr, result.stderr[-3000:]
    assert "Traceback" not in result.stderr


@pytest.mark.subprocess
def test_a_parameter_no_binding_declares_refuses_the_whole_app(tmp_path):
    result = start(tmp_path, '''
        @app.route(route="fine", methods=["GET"])
        def fine(req: func.HttpRequest) -> func.HttpResponse:
            return func.HttpResponse("ok")

        @app.route(route="greet", methods=["GET"])
        def greet(req: func.HttpRequest, name: str) -> func.HttpResponse:
            return func.HttpResponse(name)
        ''')
    refused(result, "Python worker refuses to index the app", "none of its functions",
            "cannot load the greet function: the following parameters are declared in Python but not in "
            "function.json: {'name'}")


@pytest.mark.subprocess
def test_a_context_parameter_is_the_invocation_context_and_is_allowed(tmp_path):
    result = start(tmp_path, '''
        @app.route(route="fine", methods=["GET"])
        def fine(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
            return func.HttpResponse(context.function_name)
        ''')
    assert result.returncode != 3, result.stderr[-3000:]
    assert "Host started" in result.stderr


@pytest.mark.parametrize("route", ["admin/reports", "Administration", "/runtime/things", "runtimes"])
@pytest.mark.subprocess
def test_routes_in_the_host_s_own_space_are_refused(tmp_path, route):
    result = start(tmp_path, f'''
        @app.route(route="{route}", methods=["GET"])
        def reserved(req: func.HttpRequest) -> func.HttpResponse:
            return func.HttpResponse("no")
        ''')
    refused(result, "would run the app without them", f"reserved: the route '{route}' conflicts with one or more "
                                                      "built in routes")


@pytest.mark.parametrize(("first", "second"), [('["GET"]', '["GET", "POST"]'), ("None", '["DELETE"]')])
@pytest.mark.subprocess
def test_two_functions_on_one_route_with_overlapping_methods_are_refused(tmp_path, first, second):
    result = start(tmp_path, f'''
        @app.route(route="items/{{id}}", methods={first})
        def read(req: func.HttpRequest) -> func.HttpResponse:
            return func.HttpResponse("read")

        @app.route(route="Items/{{id}}/", methods={second})
        def write(req: func.HttpRequest) -> func.HttpResponse:
            return func.HttpResponse("write")
        ''')
    refused(result, "write: the route 'Items/{id}/' conflicts with the route defined by function 'read'")


@pytest.mark.subprocess
def test_one_route_split_by_method_between_functions_starts(tmp_path):
    result = start(tmp_path, '''
        @app.route(route="items/{id}", methods=["GET"])
        def read(req: func.HttpRequest) -> func.HttpResponse:
            return func.HttpResponse("read")

        @app.route(route="items/{id}", methods=["DELETE", "PUT"])
        def write(req: func.HttpRequest) -> func.HttpResponse:
            return func.HttpResponse("write")
        ''')
    assert result.returncode != 3 and "Host started" in result.stderr, result.stderr[-3000:]


@pytest.mark.parametrize(("schedule", "why"), [
    ("0 0 0 * * 7", "not recognized as a valid cron expression"),  # NCrontab's day of week is 0-6
    ("0 0 12 ? * MON", "not recognized as a valid cron expression"),
    ("@hourly", "not recognized as a valid cron expression"),
    ("0 0 0 L * *", "not recognized as a valid cron expression"),
    ("00:00:00", "back to back"),
    ("%TIMER_SCHEDULE_NOBODY_SET%", "'%TIMER_SCHEDULE_NOBODY_SET%' does not resolve to a value"),
])
@pytest.mark.subprocess
def test_a_schedule_azure_would_not_take_is_refused(tmp_path, schedule, why):
    result = start(tmp_path, f'''
        @app.timer_trigger(schedule="{schedule}", arg_name="timer")
        def tick(timer: func.TimerRequest) -> None:
            pass
        ''')
    refused(result, "tick: ", why)


@pytest.mark.parametrize(("expression", "first"), [
    ("0 */5 * * * *", "2026-03-02T10:05:00"),
    ("*/5 * * * *", "2026-03-02T10:05:00"),  # five fields: NCRONTAB without seconds
    ("0 30 9 * Jan-Dec Mon-Fri", "2026-03-03T09:30:00"),
    ("0 0 12 13 * Fri", "2026-03-13T12:00:00"),  # NCrontab wants both the day and the weekday: a Friday the 13th
    ("00:05:00", "2026-03-02T10:07:00"),  # a TimeSpan: every 5 minutes, counted from the moment given
    ("1.00:00:00", "2026-03-03T10:02:00"),
    ("1:00:00:00", "2026-03-03T10:02:00"),
])
def test_schedules_in_the_forms_azure_accepts(expression, first):
    moment = datetime(2026, 3, 2, 10, 2, tzinfo=UTC)  # a Monday; schedules are evaluated in UTC
    assert parse_schedule(expression).next_after(moment) == datetime.fromisoformat(first).replace(tzinfo=UTC)


@pytest.mark.parametrize("expression", ["24:00:00", "00:60:00", "0 0 0 1 13 *", "0 0 25 * * *", "*/0 * * * * *",
                                        "0 0 0 1 1 * 2026", "every 5 minutes", ""])
def test_what_neither_ncrontab_nor_a_timespan_reads_is_refused(expression):
    with pytest.raises(ScheduleError):
        parse_schedule(expression)


def test_instances_agree_on_an_interval_s_occurrence_whatever_their_start():
    schedule = parse_schedule("00:05:00")
    first = schedule.occurrence_key(datetime(2026, 3, 2, 10, 2, 3, tzinfo=UTC))
    second = schedule.occurrence_key(datetime(2026, 3, 2, 10, 4, 59, tzinfo=UTC))
    assert first == second == datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
    assert schedule.occurrence_key(first + timedelta(minutes=5)) != first
