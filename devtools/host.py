"""A small local Functions host: serves a Python v2-model function app the way Core Tools does.

It indexes the app with `FunctionApp.get_functions()`, serves its HTTP functions under the route prefix of
`host.json` (default `api`), enforces function keys like Azure (the `x-functions-key` header or the `code`
query parameter; `admin` needs the master key), runs timer functions on their NCRONTAB schedule (with
`%SETTING%` resolved from the environment) and on `POST /admin/functions/{name}` with the master key.

    python -m devtools.host --app-dir . --port 7071 --keys-file .local/host-keys.json

What the host answers itself is in the app's error shape (`{"error": {"code", "message"}}`, the error tree's
own wording): 401 for a missing or wrong key, 404 for a path no function serves, 405 with `Allow` for a
method the function does not declare (whatever the method: TRACE included), 400/413 for a malformed request.

Beyond Azure, for tests and tooling: `GET /admin/functions/{name}/status` tells whether a function is
running and how its last invocation ended.
"""

from __future__ import annotations

import argparse
import asyncio
import hmac
import importlib
import inspect
import json
import logging
import os
import re
import secrets
import signal
import sys
import threading
import time
import traceback
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable
from urllib.parse import parse_qsl, unquote, urlsplit

from sandbox.files import write_private
from availability.errors import (
    AvailabilityError,
    InternalError,
    InvalidRequest,
    MethodNotAllowed,
    NotFound,
    Unauthorized,
)
from sandbox.lifeline import watch_parent
from devtools import mcp

log = logging.getLogger("host")

MAX_BODY = 100 * 1024 * 1024  # Azure's own request size limit
# Seconds a request may take to arrive once it has begun (a stalled client); tests shorten it.
READ_TIMEOUT = float(os.environ.get("LOCAL_HOST_READ_TIMEOUT") or 20.0)
IDLE_TIMEOUT = 230.0  # seconds a kept-alive connection may wait for its next request (Azure's load balancer's)
_SETTING_REF = re.compile(r"%([^%]+)%")


# --- routes ---------------------------------------------------------------------------------------

_CONSTRAINTS = {
    "int": r"-?\d+",
    "long": r"-?\d+",
    "guid": r"[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}",
    "alpha": r"[A-Za-z]+",
    "bool": r"(?i:true|false)",
}


def compile_route(template: str) -> re.Pattern[str]:
    """Turn an ASP.NET-style route template (`items/{id:int}/{rest?}`, `{*path}`) into a regex."""
    parts = []
    for segment in template.strip("/").split("/"):
        match = re.fullmatch(r"\{(\*?)([A-Za-z_][A-Za-z0-9_]*)(?::([A-Za-z]+)[^}?]*)?(\?)?\}", segment)
        if not match:
            parts.append("/" + re.escape(segment))
            continue
        catch_all, name, constraint, optional = match.groups()
        body = ".*" if catch_all else _CONSTRAINTS.get((constraint or "").lower(), r"[^/]+")
        group = f"(?P<{name}>{body})"
        parts.append(f"(?:/{group})?" if optional or catch_all else "/" + group)
    return re.compile("".join(parts) + "/?", re.IGNORECASE)


# --- the indexed app ------------------------------------------------------------------------------


@dataclass
class HttpFunction:
    name: str
    route: str
    pattern: re.Pattern[str]
    methods: frozenset[str] | None
    auth_level: str
    arg_name: str
    call: Callable[..., Any]


@dataclass
class TimerFunction:
    name: str
    schedule: str
    run_on_startup: bool
    arg_name: str
    call: Callable[..., Any]
    lock: threading.Lock = field(default_factory=threading.Lock)
    invocations: int = 0
    running: int = 0
    last_result: str | None = None
    last_finished: str | None = None


def _value(enum_or_str: Any) -> str:
    return str(getattr(enum_or_str, "value", enum_or_str))


def resolve_setting_refs(text: str, environ: dict[str, str] | os._Environ = os.environ) -> str:
    """Replace `%NAME%` with the app setting NAME, as the Functions host does for binding expressions."""

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in environ:
            raise LookupError(f"the app setting {name} named by '{text}' is not set")
        return environ[name]

    return _SETTING_REF.sub(replace, text)


def index_app(app_dir: Path, script: str = "function_app", mcp_tools: list[Any] | None = None
              ) -> tuple[list[HttpFunction], list[TimerFunction]]:
    """Import the app's script and list its HTTP and timer functions (get_functions is called once)."""
    import azure.functions as func

    sys.path.insert(0, str(app_dir))
    module = importlib.import_module(script)
    apps = [value for value in vars(module).values() if isinstance(value, func.FunctionApp)]
    if len(apps) != 1:
        raise RuntimeError(f"{script}.py must define exactly one FunctionApp (found {len(apps)})")
    http, timers = [], []
    for function in apps[0].get_functions():
        trigger = function.get_trigger().get_dict_repr()
        name = function.get_function_name()
        call = function.get_user_function()
        if trigger["type"] == "httpTrigger":
            route = trigger.get("route") or name
            methods = trigger.get("methods")
            http.append(
                HttpFunction(
                    name=name,
                    route=route,
                    pattern=compile_route(route),
                    methods=frozenset(_value(m).upper() for m in methods) if methods else None,
                    auth_level=_value(trigger.get("authLevel") or "function").lower(),
                    arg_name=trigger["name"],
                    call=call,
                )
            )
        elif trigger["type"] == "timerTrigger":
            timers.append(
                TimerFunction(
                    name=name,
                    schedule=trigger["schedule"],
                    run_on_startup=bool(trigger.get("runOnStartup")),
                    arg_name=trigger["name"],
                    call=call,
                )
            )
        elif trigger["type"] == mcp.TRIGGER and mcp_tools is not None:  # served by the MCP endpoint
            mcp_tools.append(mcp.McpTool.of(name, trigger, call))
        else:
            log.warning("Function %s has a %s trigger, which this host does not run", name, trigger["type"])
    return http, timers


def invoke(call: Callable[..., Any], arg_name: str, argument: Any) -> Any:
    """Call a user function, sync or async, with its trigger argument."""
    if inspect.iscoroutinefunction(call):
        return asyncio.run(call(**{arg_name: argument}))
    return call(**{arg_name: argument})


# --- the host -------------------------------------------------------------------------------------


class FunctionsHost:
    """Serves an indexed app over HTTP and runs its timers until `stop()`."""

    def __init__(
        self,
        app_dir: Path,
        *,
        host: str = "127.0.0.1",
        port: int = 7071,
        function_key: str,
        master_key: str,
        system_keys: dict[str, str] | None = None,
    ) -> None:
        self.app_dir = app_dir
        self.function_key = function_key
        self.master_key = master_key
        self.route_prefix = _route_prefix(app_dir)
        self.mcp = mcp.McpEndpoint(app_dir, master_key=master_key, system_key=(system_keys or {}).get(mcp.SYSTEM_KEY),
                                   invoke=invoke)
        self.http_functions, self.timer_functions = index_app(app_dir, mcp_tools=self.mcp.tools)
        self._timers = {t.name.lower(): t for t in self.timer_functions}
        self._stop = threading.Event()
        handler = type("Handler", (_Handler,), {"functions_host": self})
        self.server = _Server((host, port), handler)
        self.server.daemon_threads = True
        self.url = f"http://{host}:{self.server.server_address[1]}"

    # -- lifecycle --
    def serve_forever(self) -> None:
        for timer in self.timer_functions:
            threading.Thread(target=self._run_schedule, args=(timer,), name=f"timer-{timer.name}", daemon=True).start()
        for function in self.http_functions:
            log.info("Function %s: [%s] %s/%s/%s", function.name, ",".join(sorted(function.methods or {"ALL"})),
                     self.url, self.route_prefix, function.route)
        for timer in self.timer_functions:
            log.info("Function %s: timerTrigger %s", timer.name, timer.schedule)
        log.info("Host started on %s", self.url)
        self.server.serve_forever(poll_interval=0.2)

    def stop(self) -> None:
        self._stop.set()
        self.server.shutdown()
        self.server.server_close()

    # -- keys --
    def key_level(self, key: str | None) -> str | None:
        """'admin' for the master key, 'function' for the function key, None otherwise."""
        if not key:
            return None
        if hmac.compare_digest(key.encode(), self.master_key.encode()):
            return "admin"
        if hmac.compare_digest(key.encode(), self.function_key.encode()):
            return "function"
        return None

    # -- timers --
    def _run_schedule(self, timer: TimerFunction) -> None:
        from croniter import croniter

        from devtools.timer_lock import TimerLock

        try:
            schedule = resolve_setting_refs(timer.schedule)
            cron = croniter(schedule, datetime.now(timezone.utc), second_at_beginning=True)
        except Exception as exc:  # a bad schedule disables the timer, as in Azure
            log.error("Timer %s is disabled: invalid schedule '%s' (%s)", timer.name, timer.schedule, exc)
            return
        # Instances of one app (one host id) fire together; the lock in storage lets one of them run each occurrence.
        lock = TimerLock.from_environment()
        if timer.run_on_startup:
            self.run_timer(timer, reason="run on startup")
        while not self._stop.is_set():
            due = cron.get_next(datetime)
            if self._stop.wait(max(0.0, (due - datetime.now(timezone.utc)).total_seconds())):
                return
            late = (datetime.now(timezone.utc) - due).total_seconds()
            if timer.running:
                log.warning("Timer %s fired at %s while the previous run is still going; skipped", timer.name, due)
                continue
            if not lock.claim(timer.name, due):
                log.info("Timer %s: the occurrence at %s runs on another instance", timer.name, due.isoformat())
                continue
            following = croniter(schedule, due, second_at_beginning=True).get_next(datetime)
            self.run_timer(timer, reason=f"timer fired at {due.isoformat()}", past_due=late > 5,
                           schedule_status={"Last": due.isoformat(), "Next": following.isoformat()})

    def start_timer(self, timer: TimerFunction, *, reason: str) -> None:
        """Run a timer function in the background; it counts as running from this call on."""
        with timer.lock:
            timer.running += 1
        threading.Thread(target=self.run_timer, args=(timer,), kwargs={"reason": reason, "counted": True},
                         name=f"run-{timer.name}", daemon=True).start()

    def run_timer(self, timer: TimerFunction, *, reason: str, past_due: bool = False,
                  schedule_status: dict | None = None, counted: bool = False) -> None:
        from azure.functions.timer import TimerRequest

        invocation = str(uuid.uuid4())
        log.info("Executing 'Functions.%s' (Reason='%s', Id=%s)", timer.name, reason, invocation)
        started = time.perf_counter()
        if not counted:
            with timer.lock:
                timer.running += 1
        result = "Failed"
        try:
            request = TimerRequest(past_due=past_due, schedule_status=schedule_status or {},
                                        schedule={"AdjustForDST": True})
            invoke(timer.call, timer.arg_name, request)
            result = "Succeeded"
        except Exception:
            log.error("Function %s failed:\n%s", timer.name, traceback.format_exc())
        finally:
            with timer.lock:
                timer.running -= 1
                timer.invocations += 1
                timer.last_result = result
                timer.last_finished = datetime.now(timezone.utc).isoformat()
            log.info("Executed 'Functions.%s' (%s, Id=%s, Duration=%dms)", timer.name, result, invocation,
                     (time.perf_counter() - started) * 1000)

    def timer_named(self, name: str) -> TimerFunction | None:
        return self._timers.get(name.lower())


def _route_prefix(app_dir: Path) -> str:
    try:
        config = json.loads((app_dir / "host.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return "api"
    prefix = config.get("extensions", {}).get("http", {}).get("routePrefix", "api")
    return prefix.strip("/")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # bursts of new connections (50+ clients at once) must not be reset


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "LocalFunctionsHost"
    # Headers and body go out in two writes; with Nagle's algorithm the body then waits for the client's
    # delayed ACK (about 40 ms a response on Linux), a stall Azure's host does not have.
    disable_nagle_algorithm = True
    # A connection that sends nothing for this long is closed, as Azure's front end does: a stalled client
    # must not hold a thread (and the request budget is 25 s).
    timeout = READ_TIMEOUT
    functions_host: FunctionsHost

    def handle_one_request(self) -> None:
        # Between requests a kept-alive connection may idle as long as Azure's front end lets it; once a
        # request's first byte is in, the rest must come within READ_TIMEOUT.
        self.connection.settimeout(IDLE_TIMEOUT)
        try:
            self.rfile.peek(1)
        except (TimeoutError, OSError):
            self.close_connection = True
            return
        self.connection.settimeout(READ_TIMEOUT)
        super().handle_one_request()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - http.server's signature
        pass  # one line per request is written by _finish instead

    def __getattr__(self, name: str) -> Any:
        # http.server looks up `do_<METHOD>` and answers an HTML 501 without one: every method comes here, so
        # an undeclared one (TRACE, PROPFIND, ...) gets 405 like any other.
        if name.startswith("do_"):
            return self._handle
        raise AttributeError(name)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """What http.server refuses by itself (a malformed request line, oversized headers) in the error shape."""
        self.close_connection = True
        error: AvailabilityError = InvalidRequest(message) if 400 <= code < 500 else InternalError()
        self._send(code, *_error(error))

    def _handle(self) -> None:
        if mcp.serves(self.path):  # the MCP extension's webhook answers on its own
            self.functions_host.mcp.handle(self.command, self.path, self.headers, read=self._read_body, send=self._send)
            return
        started = time.perf_counter()
        parts = urlsplit(self.path)
        path = unquote(parts.path)
        params = dict(parse_qsl(parts.query, keep_blank_values=True))
        function_name = "-"
        try:
            # Route and key first: a caller without a valid key gets its 401 before its body is read.
            if path.lower().startswith("/admin/"):
                refused = None if self.functions_host.key_level(self._key(params)) == "admin" else (
                    "-", 401, *_error(Unauthorized()))
                target = None
            else:
                refused, target = self._route(path, params)
            if refused is not None:
                function_name, status, headers, payload = refused
                self.close_connection = self.close_connection or self._body_follows()  # left unread: it ends it
            else:
                body = self._read_body()
                if body is None:
                    return
                if target is None:
                    function_name, status, headers, payload = self._admin(path, params, body)
                else:
                    function_name, status, headers, payload = self._invoke(*target, params, body)
        except Exception:
            log.error("Host error on %s %s:\n%s", self.command, _printable(path), traceback.format_exc())
            status, (headers, payload) = 500, _error(InternalError())
        # Logged before the answer leaves: a caller that reads the log once answered finds the line there.
        log.info("%s %s %d %.1fms function=%s correlation=%s", self.command, _printable(path), status,
                 (time.perf_counter() - started) * 1000, function_name,
                 _printable(_header(headers, "x-correlation-id") or "-"))
        self._send(status, headers, payload)

    def _read_body(self) -> bytes | None:
        try:
            return self._read_body_or_raise()
        except TimeoutError:
            self._send(408, *_error(InvalidRequest("The request body did not arrive in time.")))
        except ValueError:
            self._send(400, *_error(InvalidRequest("The chunked request body is malformed (a chunk size is not "
                                                   "a hexadecimal number).")))
        self.close_connection = True
        return None

    def _read_body_or_raise(self) -> bytes | None:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks, total = [], 0
            while True:
                line = self.rfile.readline(1024).split(b";")[0].strip() or b"0"
                if not all(c in b"0123456789abcdefABCDEF" for c in line) or len(line) > 8:
                    raise ValueError("chunk size")
                size = int(line, 16)
                if size == 0:
                    while self.rfile.readline().strip():
                        pass
                    break
                total += size
                if total > MAX_BODY:
                    self._send(413, *_error(InvalidRequest("The request body is too large.")))
                    return None
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0:
            self._send(400, *_error(InvalidRequest("The Content-Length header is not valid.")))
            self.close_connection = True
            return None
        if length > MAX_BODY:
            self._send(413, *_error(InvalidRequest("The request body is too large.")))
            self.close_connection = True
            return None
        return self.rfile.read(length) if length else b""

    def _key(self, params: dict[str, str]) -> str | None:
        return self.headers.get("x-functions-key") or params.get("code")

    def _route(self, path: str, params: dict[str, str]) -> tuple[tuple | None, tuple | None]:
        """(an answer refusing the request, None) or (None, (function, route match)) once the key is checked."""
        host = self.functions_host
        prefix = "/" + host.route_prefix if host.route_prefix else ""
        if not path.lower().startswith(prefix.lower() + "/") and path.lower() != prefix.lower():
            return ("-", 404, *_error(_NOT_SERVED)), None
        local = path[len(prefix):]
        allowed: set[str] = set()
        for function in host.http_functions:
            match = function.pattern.fullmatch(local)
            if not match:
                continue
            if function.methods and self.command not in function.methods:
                allowed |= function.methods
                continue
            if function.auth_level != "anonymous":
                level = host.key_level(self._key(params))
                if level is None or (function.auth_level == "admin" and level != "admin"):
                    return (function.name, 401, *_error(Unauthorized())), None
            return None, (function, match)
        if allowed:
            headers, payload = _error(MethodNotAllowed(f"This route answers {', '.join(sorted(allowed))} only."))
            return ("-", 405, {**headers, "Allow": ", ".join(sorted(allowed))}, payload), None
        return ("-", 404, *_error(_NOT_SERVED)), None

    def _invoke(self, function: HttpFunction, match: Any, params: dict[str, str], body: bytes
                ) -> tuple[str, int, dict, bytes]:
        import azure.functions as func

        request = func.HttpRequest(
            method=self.command,
            url=f"{self.functions_host.url}{self.path}",
            headers={k: v for k, v in self.headers.items()},
            params=params,
            route_params={k: v for k, v in match.groupdict().items() if v is not None},
            body=body,
        )
        response = invoke(function.call, function.arg_name, request)
        return function.name, *_render(response)

    def _admin(self, path: str, params: dict[str, str], body: bytes) -> tuple[str, int, dict, bytes]:
        host = self.functions_host  # the master key was checked before the body was read
        segments = path.strip("/").split("/")
        if segments[1:2] == ["host"] and segments[2:] == ["status"] and self.command == "GET":
            return "-", 200, {"Content-Type": "application/json"}, json.dumps({"state": "Running"}).encode()
        if len(segments) < 3 or segments[1].lower() != "functions":
            return "-", 404, {}, b""
        timer = host.timer_named(segments[2])
        if timer is None:
            return segments[2], 404, {}, b""
        if len(segments) == 4 and segments[3] == "status" and self.command == "GET":
            status = {"name": timer.name, "running": timer.running > 0, "invocations": timer.invocations,
                      "lastResult": timer.last_result, "lastFinished": timer.last_finished}
            return timer.name, 200, {"Content-Type": "application/json"}, json.dumps(status).encode()
        if len(segments) != 3 or self.command != "POST":
            return timer.name, 405, {}, b""
        if body.strip():
            try:
                json.loads(body)
            except ValueError:
                return timer.name, 400, {}, b""
        host.start_timer(timer, reason="This function was programmatically called via the host APIs.")
        return timer.name, 202, {}, b""

    def _body_follows(self) -> bool:
        """Whether the request announced a body (an unparsable length counts as one)."""
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            return True
        length = self.headers.get("Content-Length")
        return length is not None and length.strip() != "0"

    def _send(self, status: int, headers: dict[str, str], payload: bytes) -> None:
        self.send_response(status)
        for name, value in headers.items():
            if name.lower() not in ("content-length", "connection", "transfer-encoding"):
                self.send_header(name, value)
        if self.close_connection:  # said, so that the client does not send its next request on this connection
            self.send_header("Connection", "close")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD" and payload:
            self.wfile.write(payload)


def _printable(text: str) -> str:
    """`text` for a log line: control characters escaped, so a request cannot forge a line of its own."""
    return "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in text[:2000])


def _header(headers: dict[str, str], name: str) -> str | None:
    for key, value in headers.items():
        if key.lower() == name:
            return value
    return None


_NOT_SERVED = NotFound("No function answers at this path.")


def _error(error: AvailabilityError) -> tuple[dict[str, str], bytes]:
    """Headers and body of an answer the host gives itself, in the app's error shape, with a correlation id."""
    return ({"Content-Type": "application/json; charset=utf-8", "x-correlation-id": str(uuid.uuid4())},
            json.dumps(error.to_body()).encode())


def _render(response: Any) -> tuple[int, dict[str, str], bytes]:
    import azure.functions as func

    if not isinstance(response, func.HttpResponse):
        if response is None:
            return 204, {}, b""
        body = response if isinstance(response, (bytes, str)) else json.dumps(response)
        response = func.HttpResponse(body)
    headers = dict(response.headers.items())
    if not _header(headers, "content-type"):
        mimetype = response.mimetype or "text/plain"
        headers["Content-Type"] = f"{mimetype}; charset={response.charset}" if response.charset else mimetype
    return response.status_code, headers, response.get_body() or b""


# --- command line ---------------------------------------------------------------------------------


def _load_local_settings(path: Path) -> None:
    """Apply a local.settings.json's Values like Core Tools; the process environment wins."""
    from devtools.stack import read_local_settings

    for name, value in (read_local_settings(path) or {}).items():
        os.environ.setdefault(name, value)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devtools.host", description=__doc__.split("\n")[0])
    parser.add_argument("--app-dir", type=Path, default=Path.cwd())
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=7071)
    parser.add_argument("--keys-file", type=Path, help="JSON with functionKey and masterKey (made when absent)")
    parser.add_argument("--ready-file", type=Path, help="written with {\"url\": ...} once the host listens")
    parser.add_argument("--local-settings", type=Path,
                        help="a local.settings.json whose Values become app settings (the environment wins); "
                             "the stack passes its settings in the environment instead")
    parser.add_argument("--sandbox-vault", action="store_true",
                        help="the vault is the sandbox's loopback stand-in: do not match its 401 challenge to its "
                             "host (a loopback host can never be a subdomain of the real vault resource)")
    parser.add_argument("--otlp-endpoint", help="send the app's OpenTelemetry metrics and spans there over OTLP/HTTP "
                        "(the sandbox's receiver), as the worker sends them to Application Insights in Azure")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app_dir = args.app_dir.resolve()
    if args.local_settings:
        _load_local_settings(args.local_settings)
    keys = _keys(args.keys_file)
    if args.sandbox_vault:
        from availability.app import Transports, use_transports

        use_transports(Transports(verify_vault_challenge=False))
    if args.otlp_endpoint:
        from devtools import telemetry

        # The process id tells instances apart even when several asked for port 0.
        telemetry.configure(args.otlp_endpoint, instance=f"{args.host}:{args.port}/{os.getpid()}",
                            ca_bundle=os.environ.get("REQUESTS_CA_BUNDLE"))
    try:
        host = FunctionsHost(app_dir, host=args.host, port=args.port, function_key=keys["functionKey"],
                             master_key=keys["masterKey"], system_keys=keys.get("systemKeys"))
    except OSError as exc:
        print(f"error: cannot listen on {args.host}:{args.port}: {exc.strerror}", file=sys.stderr)
        return 2
    except Exception:
        print(f"error: the function app failed to load:\n{traceback.format_exc()}", file=sys.stderr)
        return 3

    def stop(*_: Any) -> None:
        threading.Thread(target=host.stop, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    watch_parent(stop)
    if args.ready_file:
        tmp = args.ready_file.with_suffix(".tmp")
        tmp.write_text(json.dumps({"url": host.url, "pid": os.getpid()}), encoding="utf-8")
        tmp.replace(args.ready_file)
    host.serve_forever()
    if args.otlp_endpoint:
        from devtools import telemetry

        telemetry.shutdown()  # what is still buffered goes out before the process ends
    log.info("Host stopped")
    return 0


def _keys(path: Path | None) -> dict[str, Any]:
    if path and path.exists():
        return json.loads(path.read_text(encoding="utf-8"))
    keys = {"functionKey": secrets.token_urlsafe(30), "masterKey": secrets.token_urlsafe(30),
            "systemKeys": {mcp.SYSTEM_KEY: secrets.token_urlsafe(30)}}
    if path:
        write_private(path, json.dumps(keys))
    return keys


if __name__ == "__main__":
    sys.exit(main())
