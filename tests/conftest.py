"""Shared fixtures: one local stack (sandbox + Azurite + host) per test session, and a sandbox remote."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest
import requests

from devtools.sandbox_client import SandboxControl
from devtools.stack import ROOT, Stack, free_port
from tests.days import SIDE_NAMES, SIDES

SCENARIO = Path(__file__).parent / "scenarios" / "gateway.toml"
# Each test process (pytest-xdist's workers) writes the logs of the processes it starts to a folder of its own.
TEST_LOGS = ROOT / ".local" / "test-logs" / os.environ.get("PYTEST_XDIST_WORKER", "main")
# Hosts under test run the snapshot timer only when a test asks: a run firing mid-test would skew counts.
QUIET_TIMER = {"SNAPSHOT_SCHEDULE": "0 0 0 1 1 *", "NOTIFY_SCHEDULE": "0 0 0 1 1 *"}
# The suite runs with AVAILABILITY_SHARED_STATE as the environment gives it (unset: the default, shared through
# Azurite); `AVAILABILITY_SHARED_STATE=off python3 dev.py test` runs every host with per-instance state.
SHARED_STATE = os.environ.get("AVAILABILITY_SHARED_STATE")


def own_app(settings: dict) -> dict:
    """`settings` for a host that is an app of its own: shared state in a table no other test's host uses."""
    mine = {"AVAILABILITY_STATE_TABLE": f"State{uuid.uuid4().hex[:16]}",
            "SUBSCRIPTIONS_TABLE": f"Subscriptions{uuid.uuid4().hex[:16]}"}
    if SHARED_STATE:
        mine["AVAILABILITY_SHARED_STATE"] = SHARED_STATE
    return {**mine, **settings}


class Gateway:
    """A running host of the function app, with its keys."""

    def __init__(self, host) -> None:
        self.host = host
        self.url = host.url
        self.function_key = host.function_key
        self.master_key = host.master_key
        self.session = requests.Session()
        self.session.headers["x-functions-key"] = host.function_key

    def post(self, path: str, body=None, **kwargs) -> requests.Response:
        kwargs.setdefault("timeout", 30)
        return self.session.post(f"{self.url}/api/{path}", json=body, **kwargs)

    def get(self, path: str, **kwargs) -> requests.Response:
        kwargs.setdefault("timeout", 30)
        return self.session.get(f"{self.url}/api/{path}", **kwargs)

    def log(self) -> str:
        return self.host.process.log_path.read_text(encoding="utf-8", errors="replace")


# Fixtures whose tests need processes of their own (the sandbox, Azurite, local hosts, Chromium, Varnish): such a
# test is marked `subprocess` and left out of the fast layer (`python3 dev.py test --fast`).
SUBPROCESS_FIXTURES = {"stack", "notify_stack", "demo_stack", "demo_site", "browser", "host_stack",
                       "cache_in_front"}


def pytest_addoption(parser) -> None:
    parser.addoption("--fast", action="store_true",
                     help="the fast layer only: the tests that need no process of their own (no Node, no hosts)")


def pytest_configure(config) -> None:
    config.addinivalue_line("markers", "subprocess: needs processes of its own (sandbox, Azurite, hosts, Chromium)")


def pytest_collection_modifyitems(config, items) -> None:
    for item in items:
        if SUBPROCESS_FIXTURES & set(item.fixturenames):
            item.add_marker(pytest.mark.subprocess)
    if config.getoption("--fast"):
        kept = [item for item in items if item.get_closest_marker("subprocess") is None]
        config.hook.pytest_deselected(items=[item for item in items if item not in kept])
        items[:] = kept


# What the standard library itself may run while a test runs (platform.architecture() asks `file`).
SYSTEM_PROBES = {"file", "uname"}


@pytest.fixture(autouse=True)
def _fast_layer_starts_no_process(request, monkeypatch):
    """In the fast layer a test that starts a process fails, naming the marker it lacks."""
    if request.config.getoption("--fast"):
        import subprocess

        start = subprocess.Popen.__init__

        def guarded(self, args, *rest, **kwargs):
            program = Path(str(args[0] if isinstance(args, (list, tuple)) else str(args).split()[0])).name
            if program not in SYSTEM_PROBES:
                raise AssertionError(f"this test starts {program}: mark it pytest.mark.subprocess (or give it a "
                                     "fixture of SUBPROCESS_FIXTURES) so that the fast layer leaves it out")
            start(self, args, *rest, **kwargs)

        monkeypatch.setattr(subprocess.Popen, "__init__", guarded)
    yield


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium (Selenium), one per module."""
    from tests.browser import chromium

    yield from chromium()


@pytest.fixture(params=SIDES, ids=SIDE_NAMES)
def side(request) -> int:
    """Days from today for the sandbox clock: a clock-sensitive test runs once well before today, once well after."""
    return request.param


@pytest.fixture(scope="session")
def app_functions():
    """The app's indexed functions; `get_functions()` may be called once per process, as in the real host."""
    import function_app

    return function_app.app.get_functions()


@pytest.fixture(scope="session")
def stack(tmp_path_factory):
    state = tmp_path_factory.mktemp("stack")
    log_dir = TEST_LOGS
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("AVAILABILITY_", "SNAPSHOT_", "DATAVERSE_"))}
    started = Stack(scenario=SCENARIO, state_dir=state, log_dir=log_dir, environ=environ, quiet=True)
    try:
        started.start_sandbox()
        started.start_azurite(free_port())  # never 10002: other test processes start theirs too
    except BaseException:
        started.stop()
        raise
    yield started
    started.stop()


@pytest.fixture(scope="session")
def sandbox(stack) -> SandboxControl:
    return SandboxControl(stack.sandbox["url"], stack.sandbox["caBundle"])


@pytest.fixture(autouse=False)
def clean_sandbox(sandbox):
    sandbox.reset()
    yield sandbox
    sandbox.reset()


@pytest.fixture(scope="session")
def gateway(stack) -> Gateway:
    """The app on a shared host with default settings."""
    return Gateway(stack.start_host(port=0, name="gateway", extra_settings=own_app(QUIET_TIMER)))


@pytest.fixture
def fresh_gateway(stack):
    """A host of its own (empty cache, no token, no secret yet), stopped after the test; settings as kwargs."""
    started = []

    def start(**settings) -> Gateway:
        given = {k: str(v) for k, v in settings.items()}
        host = stack.start_host(port=0, extra_settings=own_app({**QUIET_TIMER, **given}),
                                name=f"host-{uuid.uuid4().hex[:6]}")
        started.append(host)
        return Gateway(host)

    yield start
    for host in started:
        host.process.stop()


def unique() -> dict:
    """A context item no routing rule reads: makes a cache key no other test shares."""
    return {"TestCase": uuid.uuid4().hex}
