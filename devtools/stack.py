"""The local stack: sandbox org + Azurite (Table service) + the local Functions host, started together.

`python3 dev.py start` runs `python -m devtools.stack start` inside the project's virtual environment;
the test suite builds a `Stack` of its own. Every process logs to its own file under the log folder,
and `stop()` ends every process that `start()` began. With `--instances N` the host is started N times on
consecutive ports: N instances of one app (one host id, one set of keys, one Azurite), as Azure scales it out.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from availability.settings import APP_SETTINGS, SECRETS
from sandbox.files import write_private

ROOT = Path(__file__).resolve().parent.parent
DEMO_SCENARIO = ROOT / "sandbox" / "scenarios" / "demo.toml"
AZURITE_DIR = ROOT / ".tools" / "azurite"
AZURITE_ACCOUNT = "devstoreaccount1"
# Azurite's well-known development account key (public, documented by Microsoft; not a secret).
AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
DEFAULT_TABLE_PORT = 10002
# Demo history written by `dev.py start` (unless --no-backfill): two weeks, so that the best times have history
# enough (an hour of the week seen in 2 weeks), in about the time one week at 15-minute steps took.
BACKFILL_DAYS = 15
BACKFILL_STEP_MINUTES = 30  # before the last day, which gets every slot of the schedule (the 24-hour timeline)
BACKFILL_EVERY_SLOT_HOURS = 24
MAX_INSTANCES = 4
HOST_ID_SETTING = "AzureFunctionsWebHost__hostid"  # instances of one app share it, and the timers' lock with it
# The checks the demo web page shows (PUBLIC_AVAILABILITY): the demo's website chat, in English and in French.
DEMO_PUBLIC_AVAILABILITY = {
    "support": {"workstreamId": "7a2b3c4d-5e6f-4a81-9b2c-3d4e5f6a7b01"},
    "support-fr": {"workstreamId": "7a2b3c4d-5e6f-4a81-9b2c-3d4e5f6a7b01", "contextItems": {"Language": "fr"},
                   "language": "fr", "timeZone": "Europe/Paris"},
}

# Settings a user may override from the environment; reported in stack.json's appSettings when set. The SDKs read
# the managed identity's endpoint and header themselves.
APP_SETTING_NAMES = (*APP_SETTINGS, "IDENTITY_ENDPOINT", "IDENTITY_HEADER")


def shown_setting(name: str, value: str) -> str:
    """A setting as stack.json may show it: secrets replaced, and a storage account key or SAS masked.

    Azurite's development key is published by Microsoft for every emulator, so it stays: with it the settings
    can be pasted into a local.settings.json as they are.
    """
    if name in SECRETS:
        return "<set in the environment or local.settings.json>"
    if name.startswith(("AzureWebJobsStorage", "AVAILABILITY_STATE_STORAGE")):  # storage connections
        value = re.sub(r"(AccountKey=)(?!" + re.escape(AZURITE_KEY) + r"(;|$))[^;]*", r"\1<hidden>", value,
                       flags=re.IGNORECASE)
        value = re.sub(r"(SharedAccessSignature=)[^;]*", r"\1<hidden>", value, flags=re.IGNORECASE)
    return value


class StackError(RuntimeError):
    """A part of the stack could not start; the message says which and why."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def port_is_free(port: int) -> bool:
    with socket.socket() as probe:
        if os.name != "nt":
            # As servers bind (Azurite, http.server): connections of a process just stopped, left in TIME_WAIT,
            # do not make its port busy. (On Windows the option would let two servers share a port.)
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def azurite_connection_string(port: int) -> str:
    return (f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};AccountKey={AZURITE_KEY};"
            f"TableEndpoint=http://127.0.0.1:{port}/{AZURITE_ACCOUNT};")


def azurite_command() -> Path:
    name = "azurite-table.cmd" if os.name == "nt" else "azurite-table"
    return AZURITE_DIR / "node_modules" / ".bin" / name


@dataclass
class Process:
    """One child process of the stack, with its log file."""

    name: str
    popen: subprocess.Popen
    log_path: Path

    def alive(self) -> bool:
        return self.popen.poll() is None

    def stop(self, grace: float = 5.0) -> None:
        if self.popen.poll() is not None:
            return
        try:
            if os.name == "nt":
                self.popen.terminate()
            else:
                os.killpg(self.popen.pid, signal.SIGTERM)
            self.popen.wait(grace)
        except (subprocess.TimeoutExpired, ProcessLookupError):
            pass
        if self.popen.poll() is None:
            if os.name == "nt":
                self.popen.kill()
            else:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait(5)

    def log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


@dataclass
class Host:
    """A running local Functions host and the settings it was given."""

    url: str
    function_key: str
    master_key: str
    app_settings: dict[str, str]
    process: Process
    system_keys: dict[str, str] = field(default_factory=dict)  # as Azure lists them: mcp_extension


class Stack:
    """Starts and stops the sandbox, Azurite and one or more local Functions hosts."""

    def __init__(
        self,
        *,
        root: Path = ROOT,
        scenario: Path = DEMO_SCENARIO,
        state_dir: Path | None = None,
        log_dir: Path | None = None,
        local_settings: Mapping[str, str] | None = None,
        environ: Mapping[str, str] | None = None,
        quiet: bool = False,
    ) -> None:
        self.root = root
        self.scenario = scenario
        self.state_dir = state_dir or root / ".local"
        self.log_dir = log_dir or self.state_dir / "logs"
        self.local_settings = dict(local_settings) if local_settings is not None else None
        self.environ = dict(os.environ if environ is None else environ)
        self.quiet = quiet
        self.processes: list[Process] = []
        self.hosts: list[Host] = []
        self.sandbox: dict[str, Any] | None = None
        self.table_endpoint: str | None = None
        self.storage_connection: str | None = None
        self.website: Any = None  # the demo web page (devtools.demo_website), on an origin of its own

    # -- progress --
    def say(self, text: str) -> None:
        if not self.quiet:
            print(text, flush=True)

    # -- the parts --
    def _spawn(self, name: str, command: list[str], env: Mapping[str, str] | None = None) -> Process:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.log_dir / f"{name}.log"
        log_file = open(log_path, "w", encoding="utf-8")  # noqa: SIM115 - the child's output for its whole life
        child_env = dict(env if env is not None else self.environ)
        # Children end themselves if this process dies without stopping them.
        child_env["LOCAL_STACK_PARENT_PID"] = str(os.getpid())
        child_env.setdefault("PYTHONUNBUFFERED", "1")
        kwargs: dict[str, Any] = {"start_new_session": True}
        if sys.platform == "win32":
            kwargs = {"creationflags": subprocess.CREATE_NEW_PROCESS_GROUP}
        popen = subprocess.Popen(command, cwd=self.root, env=child_env, stdout=log_file,
                                 stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, **kwargs)
        log_file.close()
        process = Process(name, popen, log_path)
        self.processes.append(process)
        return process

    def _wait_for_file(self, process: Process, path: Path, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if path.exists():
                return json.loads(path.read_text(encoding="utf-8"))
            if not process.alive():
                raise StackError(f"{process.name} exited with code {process.popen.returncode}:\n{process.log_tail()}")
            time.sleep(0.05)
        raise StackError(f"{process.name} did not start within {timeout:.0f} s; see {process.log_path}")

    def start_sandbox(self) -> dict[str, Any]:
        self.say(f"Starting the sandbox org (scenario {self._shown(self.scenario)}) ...")
        cert_dir = self.state_dir / "sandbox"
        cert_dir.mkdir(parents=True, exist_ok=True)
        ready = cert_dir / f"ready-{os.getpid()}.json"
        ready.unlink(missing_ok=True)
        # The identity header goes through the environment: a command line is visible to every user.
        process = self._spawn("sandbox", [
            sys.executable, "-m", "sandbox", "--scenario", str(self.scenario), "--port", "0",
            "--cert-dir", str(cert_dir), "--ready-file", str(ready)],
            env={**self.environ, "SANDBOX_IDENTITY_HEADER": secrets.token_urlsafe(24)})
        self.sandbox = self._wait_for_file(process, ready, 30)
        ready.unlink(missing_ok=True)
        return self.sandbox

    def start_azurite(self, port: int | None = None) -> str:
        command = azurite_command()
        if not command.exists():
            raise StackError(f"Azurite is not installed in {AZURITE_DIR}; run 'python3 dev.py start' "
                             "(it installs Azurite from npm).")
        if port is None:
            port = DEFAULT_TABLE_PORT if port_is_free(DEFAULT_TABLE_PORT) else free_port()
        elif not port_is_free(port):
            raise StackError(f"Port {port} for Azurite's Table service is in use.")
        self.say(f"Starting Azurite (Table service) on 127.0.0.1:{port} ...")
        # Azurite (node) cannot watch for its stack's death itself: a small Python guard does it for it.
        process = self._spawn("azurite", [
            sys.executable, "-m", "sandbox.lifeline", str(command), "--tableHost", "127.0.0.1",
            "--tablePort", str(port), "--inMemoryPersistence", "--disableTelemetry", "--skipApiVersionCheck"])
        self._wait_for_port(process, port, 30)
        self.table_endpoint = f"http://127.0.0.1:{port}/{AZURITE_ACCOUNT}"
        self.storage_connection = azurite_connection_string(port)
        return self.storage_connection

    def _wait_for_port(self, process: Process, port: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not process.alive():
                raise StackError(f"{process.name} exited with code {process.popen.returncode}:\n{process.log_tail()}")
            with socket.socket() as probe:
                probe.settimeout(0.5)
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    return
            time.sleep(0.1)
        raise StackError(f"{process.name} did not listen on port {port} within {timeout:.0f} s; see {process.log_path}")

    def sandbox_settings(self) -> dict[str, str]:
        """The settings that point the app at the sandbox org, vault and identity endpoint."""
        assert self.sandbox is not None
        sandbox = self.sandbox
        return {
            "DATAVERSE_URL": sandbox["url"],
            "DATAVERSE_TENANT_ID": sandbox["tenantId"],
            "DATAVERSE_CLIENT_ID": sandbox["clientId"],
            "KEY_VAULT_URL": sandbox["url"],
            "DATAVERSE_CLIENT_SECRET_NAME": sandbox["secretName"],
            "AZURE_AUTHORITY_HOST": sandbox["url"],
            "IDENTITY_ENDPOINT": sandbox["identityEndpoint"],
            "IDENTITY_HEADER": sandbox["identityHeader"],
            "REQUESTS_CA_BUNDLE": self._trust_bundle(),
        }

    def _trust_bundle(self) -> str:
        """The sandbox CA added to the usual trusted CAs, so the app reaches both the sandbox and real hosts."""
        assert self.sandbox is not None
        bundle = self.state_dir / "sandbox" / "trusted-cas.pem"
        sandbox_ca = Path(self.sandbox["caBundle"]).read_text(encoding="ascii")
        # The sandbox makes a new CA at every start: a bundle left by an earlier run trusts the old one.
        if not bundle.exists() or sandbox_ca not in bundle.read_text(encoding="ascii", errors="ignore"):
            base = self.environ.get("REQUESTS_CA_BUNDLE") or self.environ.get("CURL_CA_BUNDLE")
            if not base or not Path(base).is_file():
                import certifi

                base = certifi.where()
            base_cas = Path(base).read_text(encoding="ascii", errors="ignore")
            bundle.write_text(base_cas.rstrip("\n") + "\n" + sandbox_ca, encoding="ascii")
        return str(bundle)

    def app_settings(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """Every setting the host gives the app: stack defaults < local.settings.json < extra < environment."""
        # The timers' %SNAPSHOT_SCHEDULE% and %NOTIFY_SCHEDULE% must resolve, as in Azure, so the contract's
        # defaults are given here. Callbacks on this machine (a webhook receiver on loopback) are allowed locally.
        settings = {"FUNCTIONS_WORKER_RUNTIME": "python", "SNAPSHOT_SCHEDULE": "0 */5 * * * *",
                    "NOTIFY_SCHEDULE": "0 * * * * *", "NOTIFY_ALLOW_PRIVATE_CALLBACKS": "true"}
        if self.local_settings is not None:
            settings.update(self.local_settings)
        else:
            settings.update(self.sandbox_settings())
            if self.scenario.resolve() == DEMO_SCENARIO.resolve():
                settings["PUBLIC_AVAILABILITY"] = json.dumps(DEMO_PUBLIC_AVAILABILITY)
                # The demo's website chat keeps London's hours: its best times count London's hours of the week.
                settings["BEST_TIMES_TIME_ZONE"] = "Europe/London"
        if self.website is not None:
            settings["PUBLIC_ALLOWED_ORIGINS"] = self.website.origin
        if self.storage_connection and settings.get("AzureWebJobsStorage", "UseDevelopmentStorage=true") in (
                "UseDevelopmentStorage=true", ""):
            settings["AzureWebJobsStorage"] = self.storage_connection
        settings.update(extra or {})
        # The environment wins over every other source, as in Azure Functions; against the sandbox, the CA
        # bundle is the exception: it already holds the environment's CAs next to the sandbox's own.
        merged_bundle = self.local_settings is None
        for name in {*settings, *APP_SETTING_NAMES}:
            if name in self.environ and not (merged_bundle and name == "REQUESTS_CA_BUNDLE"):
                settings[name] = self.environ[name]
        return settings

    def start_host(self, port: int = 7071, extra_settings: Mapping[str, str] | None = None,
                   app_dir: Path | None = None, name: str | None = None, host_id: str | None = None,
                   keys: Mapping[str, Any] | None = None) -> Host:
        """Start a local Functions host on `port` (0 = any free port) with the stack's settings.

        Hosts given the same `host_id` (and `keys`) are instances of one app: a timer occurrence runs on one of
        them. Without a host id the host is an app of its own.
        """
        if port and not port_is_free(port):
            raise StackError(f"Port {port} for the Functions host is in use (is another 'dev.py start' or "
                             f"'func start' running?). Stop it, or choose another port with --port.")
        index = len(self.hosts)
        name = name or ("host" if index == 0 else f"host-{index}")
        self.say(f"Starting the local Functions host ({name}) ...")
        settings = self.app_settings(extra_settings)
        keys = dict(keys or {"functionKey": secrets.token_urlsafe(30), "masterKey": secrets.token_urlsafe(30),
                             "systemKeys": {"mcp_extension": secrets.token_urlsafe(30)}})
        keys_file = self.state_dir / f"{name}-keys.json"
        write_private(keys_file, json.dumps(keys))
        ready = self.state_dir / f"{name}-ready-{os.getpid()}.json"
        ready.unlink(missing_ok=True)
        env = {**self.environ, **settings, **({HOST_ID_SETTING: host_id} if host_id else {})}
        process = self._spawn(name, [
            sys.executable, "-m", "devtools.host", "--app-dir", str(app_dir or self.root), "--port", str(port),
            "--keys-file", str(keys_file), "--ready-file", str(ready),
            *(["--sandbox-vault"] if self._vault_is_local(settings) else []),
            # The app's telemetry goes to the sandbox's OTLP receiver (GET /_sandbox/telemetry shows it).
            *(["--otlp-endpoint", self.sandbox["url"]] if self.sandbox else [])], env=env)
        url = self._wait_for_file(process, ready, 60)["url"]
        ready.unlink(missing_ok=True)
        host = Host(url, keys["functionKey"], keys["masterKey"], settings, process, dict(keys.get("systemKeys") or {}))
        self._wait_for_health(host)
        self.hosts.append(host)
        return host

    @staticmethod
    def _vault_is_local(settings: Mapping[str, str]) -> bool:
        """True when the vault is a stand-in on this machine (the sandbox's, or one named in local settings)."""
        host = urlsplit(settings.get("KEY_VAULT_URL") or "").hostname or ""
        return host == "localhost" or host.startswith("127.") or host == "::1"

    def _wait_for_health(self, host: Host, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not host.process.alive():
                raise StackError(f"{host.process.name} exited:\n{host.process.log_tail()}")
            try:
                with urllib.request.urlopen(f"{host.url}/api/health", timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.1)
        raise StackError(f"{host.process.name} did not answer /api/health within {timeout:.0f} s")

    def backfill_history(self, days: float = 7, extra_settings: Mapping[str, str] | None = None,
                         step_minutes: int = BACKFILL_STEP_MINUTES,
                         every_slot_hours: float = BACKFILL_EVERY_SLOT_HOURS) -> None:
        """Snapshots of the sandbox org for the last `days`, written where the app's timer writes them.

        The timer's own run (`run_snapshot`) at each past slot with the sandbox clock set there: every slot of
        the last `every_slot_hours`, and before that one every `step_minutes`, so a week takes seconds.
        Sandbox only: a real org has no clock to move.
        """
        assert self.sandbox is not None, "the backfill needs the sandbox"
        from devtools.backfill import backfill_sandbox, describe_error

        settings = self.app_settings(extra_settings)
        if not self.storage_connection or settings.get("AzureWebJobsStorage") != self.storage_connection:
            self.say("Not backfilling demo history: AzureWebJobsStorage is not this stack's Azurite.")
            return
        try:
            summary = backfill_sandbox(settings, sandbox_url=self.sandbox["url"],
                                       ca_bundle=self.sandbox["caBundle"], days=days, step_minutes=step_minutes,
                                       every_slot_hours=every_slot_hours, progress=self.say)
        except Exception as exc:
            raise StackError(f"The demo history could not be backfilled: {describe_error(exc)}") from None
        self.say(f"Backfilled {summary.line()}.")

    def start(self, host_port: int = 7071, extra_settings: Mapping[str, str] | None = None,
              backfill_days: float = 0, instances: int = 1) -> Host:
        """Start everything; on failure stop what was started and raise `StackError`. Returns the first host.

        `backfill_days`: against the sandbox, fill that many past days of snapshots before the host (and its
        timer, which the moving sandbox clock would mislead) starts. `instances`: hosts of the app, on
        consecutive ports from `host_port` (any free ports when it is 0).
        """
        if not 1 <= instances <= MAX_INSTANCES:
            raise StackError(f"--instances must be between 1 and {MAX_INSTANCES}.")
        try:
            if self.local_settings is None:
                self.start_sandbox()
            storage = (self.local_settings or {}).get("AzureWebJobsStorage", "UseDevelopmentStorage=true")
            if self.environ.get("AzureWebJobsStorage"):
                storage = self.environ["AzureWebJobsStorage"]
            if storage in ("UseDevelopmentStorage=true", ""):
                if self.local_settings is not None and not port_is_free(DEFAULT_TABLE_PORT):
                    self.say(f"Port {DEFAULT_TABLE_PORT} is in use: assuming Azurite already runs there.")
                else:
                    self.start_azurite(DEFAULT_TABLE_PORT if self.local_settings is not None else None)
            if backfill_days and self.local_settings is None:
                self.backfill_history(backfill_days, extra_settings)
            if self.local_settings is None and self.scenario.resolve() == DEMO_SCENARIO.resolve():
                self.start_website()  # before the hosts: they are told its origin
            return self.start_instances(instances, host_port, extra_settings)[0]
        except BaseException:
            self.stop()
            raise

    def start_instances(self, count: int, port: int = 7071, extra_settings: Mapping[str, str] | None = None,
                        app_dir: Path | None = None, name: str | None = None) -> list[Host]:
        """Start `count` instances of one app (one host id, one set of keys), on consecutive ports from `port`.

        `name`: the instances are named (and log to) `name-1`, `name-2`, ... instead of the stack's host names.
        """
        host_id = f"local-{secrets.token_hex(6)}"
        if port:
            taken = [port + index for index in range(count) if not port_is_free(port + index)]
            if taken:
                raise StackError(f"Port {taken[0]} for a Functions host is in use (is another 'dev.py start' or "
                                 f"'func start' running?). Stop it, or choose another port with --port.")
        started: list[Host] = []
        for index in range(count):
            keys = {"functionKey": started[0].function_key, "masterKey": started[0].master_key,
                    "systemKeys": started[0].system_keys} if started else None
            started.append(self.start_host(port + index if port else 0, extra_settings, app_dir,
                                           name=f"{name}-{index + 1}" if name else None, host_id=host_id, keys=keys))
        return started

    def start_website(self) -> str:
        """Serve the demo web page on a loopback port of its own (another origin than the app's); its URL."""
        from devtools.demo_website import DemoWebsite

        self.website = DemoWebsite(lambda: self.hosts[0].url if self.hosts else None)
        self.say(f"Serving the demo web page on {self.website.url} ...")
        return self.website.start()

    def stop(self) -> None:
        if self.website is not None:
            self.website.stop()
        for process in reversed(self.processes):
            process.stop()
        self.processes.clear()
        self.hosts.clear()

    # -- what start tells --
    def describe(self) -> dict[str, Any]:
        """The content of `.local/stack.json` (docs/local-stack.md)."""
        host = self.hosts[0]
        sandbox = self.sandbox or {}
        return {
            "hostUrl": host.url,
            "hostUrls": [started.url for started in self.hosts],
            "functionKey": host.function_key,
            "masterKey": host.master_key,
            "systemKeys": host.system_keys,
            "sandboxUrl": sandbox.get("url"),
            "caBundle": sandbox.get("caBundle"),
            "tableEndpoint": self.table_endpoint,
            "logDir": str(self.log_dir),
            "workstreams": sandbox.get("workstreams", []),
            "queues": sandbox.get("queues", []),
            "conversations": sandbox.get("conversations", []),
            "demoPageUrl": self.website.url if self.website is not None else None,
            # A secret given for local development stays out of the file; the sandbox needs none here.
            "appSettings": {name: shown_setting(name, value) for name, value in host.app_settings.items()},
        }

    def _shown(self, path: Path) -> str:
        try:
            return str(path.resolve().relative_to(self.root))
        except ValueError:
            return str(path)


def banner(info: dict[str, Any], stack_file: Path) -> str:
    """What `dev.py start` prints once the stack answers: keys, ids and ready curl lines."""
    url, key = info["hostUrl"], info["functionKey"]
    urls = info.get("hostUrls") or [url]
    lines = ["", "The local stack is running."]
    if len(urls) == 1:
        lines.append(f"  Functions host   {url}   (function key and master key below)")
    else:
        lines.append(f"  Functions hosts  {len(urls)} instances of the app (same keys below; shared state and "
                     "timer lock in Azurite)")
        lines += [f"    instance {number}     {instance}" for number, instance in enumerate(urls, 1)]
    if info.get("sandboxUrl"):
        lines.append(f"  Sandbox org      {info['sandboxUrl']}   (CA bundle {info['caBundle']})")
        lines.append(f"  Telemetry        {info['sandboxUrl']}/_sandbox/telemetry   (the app's OpenTelemetry "
                     "metrics, spans and logs, received over OTLP)")
    if info.get("tableEndpoint"):
        lines.append(f"  Table storage    {info['tableEndpoint']}   (Azurite)")
    lines += [
        f"  Logs             {info['logDir']}",
        "",
        f"  function key     {key}",
        f"  master key       {info['masterKey']}",
    ]
    mcp_key = (info.get("systemKeys") or {}).get("mcp_extension")
    if mcp_key:
        lines += [f"  MCP endpoint     {url}/runtime/webhooks/mcp   (streamable HTTP; key below in x-functions-key)",
                  f"  mcp_extension    {mcp_key}   (the MCP extension's system key; the master key works too)"]
    if info["workstreams"]:
        lines += ["", "Demo workstreams:"]
        lines += [f"  {w['id']}  {w['name']}" + ("" if w.get("active", True) else
                                                  "   (inactive: not in /api/workstreams, no history)")
                  for w in info["workstreams"]]
    if info["conversations"]:
        lines += ["Demo conversations:"]
        lines += [f"  {c['id']}  (workstream {c['workstreamId']})" for c in info["conversations"]]
    lines += ["", "Supervisor dashboard (open in a browser):", f"  {url}/api/dashboard?code={key}"]
    if info.get("demoPageUrl"):
        lines += ["", "Demo web page (another origin; its chat button shows only while the queue is available):",
                  f"  {info['demoPageUrl']}   (no key: GET {url}/api/public/availability/support)"]
    lines += ["", "Try (contextItems.Language routes the check to a queue; language words its message):",
              f"  curl -s {url}/api/health"]
    if info["workstreams"]:
        workstream = info["workstreams"][0]["id"]
        lines.append(
            f"  curl -s -X POST {url}/api/availability/before-conversation -H 'x-functions-key: {key}' "
            f"-H 'Content-Type: application/json' -d '{{\"workstreamId\": \"{workstream}\", "
            f"\"contextItems\": {{\"Language\": \"fr\"}}, \"language\": \"fr\"}}'")
    if info["conversations"]:
        conversation = info["conversations"][0]["id"]
        lines.append(
            f"  curl -s -X POST {url}/api/availability/for-conversation -H 'x-functions-key: {key}' "
            f"-H 'Content-Type: application/json' -d '{{\"conversationId\": \"{conversation}\"}}'")
    lines += [
        f"  curl -s '{url}/api/snapshots?code={key}'",
        f"  curl -s -X POST {url}/admin/functions/snapshot_availability -H 'x-functions-key: {info['masterKey']}' "
        f"-H 'Content-Type: application/json' -d '{{\"input\": \"\"}}'",
        "",
        f"Stack details are in {shown_path(stack_file)}. Press Ctrl-C to stop.",
    ]
    return "\n".join(lines)


def shown_path(path: Path) -> str:
    """`path` relative to the repository when it is inside it."""
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def read_local_settings(path: Path) -> dict[str, str] | None:
    """The Values of a local.settings.json, or None when there is no such file."""
    if not path.exists():
        return None
    try:
        values = json.loads(path.read_text(encoding="utf-8")).get("Values", {})
    except ValueError as exc:
        raise StackError(f"{path} is not valid JSON: {exc}") from None
    except AttributeError:
        raise StackError(f"{path} must hold an object with a Values object, like "
                         "local.settings.json.example") from None
    return {str(k): str(v) for k, v in values.items()}


def run(args: argparse.Namespace) -> int:
    try:
        local_settings = read_local_settings(args.local_settings) if args.local_settings else None
    except StackError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    state_dir = args.state_dir.resolve() if args.state_dir else None
    stack = Stack(scenario=args.scenario, local_settings=local_settings, state_dir=state_dir)
    if local_settings is not None:
        print(f"Found {args.local_settings.name}: running against the org it names (no sandbox).")
    stopping = threading.Event()

    def on_signal(*_: Any) -> None:
        stopping.set()

    def interrupt(*_: Any) -> None:
        raise KeyboardInterrupt  # while starting (and backfilling): stop at once; start() cleans up

    signal.signal(signal.SIGTERM, interrupt)
    signal.signal(signal.SIGINT, interrupt)
    try:
        stack.start(host_port=args.port, backfill_days=0 if args.no_backfill else BACKFILL_DAYS,
                    instances=args.instances)
    except StackError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("Stopped before the stack was up.", flush=True)
        return 0
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    info = stack.describe()
    stack_file = stack.state_dir / "stack.json"
    write_private(stack_file, json.dumps(info, indent=2))
    print(banner(info, stack_file), flush=True)
    try:
        while not stopping.wait(0.5):
            dead = [p for p in stack.processes if not p.alive()]
            if dead:
                print(f"error: {dead[0].name} stopped unexpectedly:\n{dead[0].log_tail()}", file=sys.stderr)
                return 1
    finally:
        print("Stopping ...", flush=True)
        stack.stop()
        stack_file.unlink(missing_ok=True)
        for keys in stack.state_dir.glob("*-keys.json"):
            keys.unlink(missing_ok=True)
        print("Stopped.", flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    # No abbreviations: dev.py makes the path options absolute by their full names.
    parser = argparse.ArgumentParser(prog="python3 dev.py start", description="Run the local stack.",
                                     allow_abbrev=False)
    parser.add_argument("--port", type=int, default=7071, help="port of the local Functions host (default 7071)")
    parser.add_argument("--instances", type=int, default=1, metavar="N",
                        help=f"instances of the app, on consecutive ports from --port (1..{MAX_INSTANCES}, default 1)")
    parser.add_argument("--scenario", type=Path, default=DEMO_SCENARIO, help="sandbox scenario (TOML)")
    parser.add_argument("--state-dir", type=Path, help="where stack.json, keys and logs go (default .local)")
    parser.add_argument("--local-settings", type=Path,
                        help="settings of a real org, as Core Tools reads them (default local.settings.json when it "
                             "exists; then no sandbox is started)")
    parser.add_argument("--sandbox", action="store_true",
                        help="run against the sandbox even when local.settings.json exists")
    parser.add_argument("--no-backfill", action="store_true",
                        help=f"skip writing {BACKFILL_DAYS} days of demo snapshots at start (sandbox only)")
    args = parser.parse_args(argv)
    if not 1 <= args.instances <= MAX_INSTANCES:
        parser.error(f"--instances must be between 1 and {MAX_INSTANCES}")
    if not args.scenario.exists():
        parser.error(f"scenario file not found: {args.scenario}")
    if args.sandbox and args.local_settings is not None:
        parser.error("--sandbox and --local-settings exclude each other")
    if args.local_settings is None and not args.sandbox:
        args.local_settings = ROOT / "local.settings.json"  # used when it exists, as Core Tools does
    elif args.local_settings is not None and not args.local_settings.exists():
        # Named but missing: never fall back to the demo org silently.
        parser.error(f"settings file not found: {args.local_settings}")
    return run(args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[2:] if sys.argv[1:2] == ["start"] else sys.argv[1:]))
