"""A small local Functions host: serves a Python v2-model function app the way Azure's Functions host does.

It indexes the app as the Python worker and the host do (devtools/indexing.py: an app Azure would refuse, in
whole or in part, does not start), serves its HTTP functions under the route prefix of `host.json` (default
`api`), enforces keys like Azure (the `x-functions-key` header, else the `code` query parameter; `admin` needs the
master key), answers CORS preflights and adds CORS headers as the platform does on Flex Consumption
(devtools/platform_cors.py), runs timer functions on their schedule (NCRONTAB or TimeSpan, with `%SETTING%`
resolved from the environment) and on `POST /admin/functions/{name}` with the master key.

    python -m devtools.host --app-dir . --port 7071 --keys-file .local/host-keys.json

What the host answers itself, it answers as Azure's host does, with an empty body: 401 for a missing or wrong
key, before the app sees the request; 404 for a path no function serves and for a method the function does not
declare (an app that wants 405 declares the method and answers it); 204 for a preflight; 500 when a function
raises. A malformed request (bad chunking, oversized headers or body) gets 400/408/413/431 in the app's error
shape.

Beyond Azure, for tests and tooling: `GET /admin/functions/{name}/status` tells whether a function is
running and how its last invocation ended.
"""

from __future__ import annotations

import argparse
import asyncio
import hmac
import inspect
import io
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
from collections.abc import Callable
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from availability.errors import AvailabilityError, InternalError, InvalidRequest
from devtools import mcp
from devtools.indexing import AppRefused, HttpFunction, TimerFunction, index_app
from devtools.platform_cors import PlatformCors
from sandbox.files import write_private
from sandbox.lifeline import watch_parent

log = logging.getLogger("host")

MAX_BODY = 100 * 1024 * 1024  # Azure's own request size limit
# Seconds a request may take to arrive once it has begun (a stalled client); tests shorten it.
READ_TIMEOUT = float(os.environ.get("LOCAL_HOST_READ_TIMEOUT") or 20.0)
IDLE_TIMEOUT = 230.0  # seconds a kept-alive connection may wait for its next request (Azure's load balancer's)
# A chunk-size line or a trailer line, and the whole trailer section: Kestrel's limits for a header line and for
# all of a request's headers (KestrelServerLimits.MaxRequestLineSize, MaxRequestHeadersTotalSize, header count).
MAX_CHUNK_LINE = 8 * 1024
MAX_TRAILERS = 32 * 1024
MAX_TRAILER_LINES = 100
# A Host header as Kestrel takes it (HttpUtilities.IsHostHeaderValid): a name or address, an optional port.
_HOST_HEADER = re.compile(r"(?:[A-Za-z0-9\-._~!$&'()*+,;=%]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?")

Headers = list[tuple[str, str]]


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
        self.cors = PlatformCors.from_settings(os.environ)
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
            log.info("Function %s: timerTrigger %s", timer.name, timer.schedule.expression)
        if self.cors.origins:
            log.info("Platform CORS: %s", ", ".join(self.cors.origins))
        log.info("Host started on %s", self.url)
        self.server.serve_forever(poll_interval=0.2)

    def stop(self) -> None:
        self._stop.set()
        self.server.shutdown()
        self.server.server_close()

    # -- keys --
    def key_level(self, key: str | None) -> str | None:
        """'admin' for the master key, 'function' for the function key, None otherwise.

        The function key opens every function, as a host key does in Azure (a key of one function would open
        only that function there)."""
        if not key:
            return None
        if hmac.compare_digest(key.encode(), self.master_key.encode()):
            return "admin"
        if hmac.compare_digest(key.encode(), self.function_key.encode()):
            return "function"
        return None

    # -- timers --
    def _run_schedule(self, timer: TimerFunction) -> None:
        from devtools.timer_lock import TimerLock

        schedule = timer.schedule
        # Instances of one app (one host id) fire together; the lock in storage lets one of them run each occurrence.
        lock = TimerLock.from_environment()
        if timer.run_on_startup:
            self.run_timer(timer, reason="run on startup")
        due = datetime.now(UTC)
        while not self._stop.is_set():
            try:
                due = schedule.next_after(due)
            except Exception:
                log.warning("Timer %s: the schedule '%s' never occurs", timer.name, schedule.expression)
                return
            if self._stop.wait(max(0.0, (due - datetime.now(UTC)).total_seconds())):
                return
            late = (datetime.now(UTC) - due).total_seconds()
            if timer.running:
                log.warning("Timer %s fired at %s while the previous run is still going; skipped", timer.name, due)
                continue
            if not lock.claim(timer.name, schedule.occurrence_key(due)):
                log.info("Timer %s: the occurrence at %s runs on another instance", timer.name, due.isoformat())
                continue
            following = schedule.next_after(due)
            self.run_timer(timer, reason=f"timer fired at {due.isoformat()}", past_due=late > 5,
                           schedule_status={"Last": due.isoformat(), "Next": following.isoformat()})
            if schedule.interval is not None:
                due = datetime.now(UTC)  # a constant schedule counts from the end of the run

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
                                   schedule={"AdjustForDST": schedule_status is not None
                                             and timer.schedule.interval is None})
            invoke(timer.call, timer.arg_name, request)
            result = "Succeeded"
        except Exception:
            log.error("Function %s failed:\n%s", timer.name, traceback.format_exc())
        finally:
            with timer.lock:
                timer.running -= 1
                timer.invocations += 1
                timer.last_result = result
                timer.last_finished = datetime.now(UTC).isoformat()
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


class _Malformed(Exception):
    """The request's framing is broken: answered 400 and the connection closed."""


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
    # Made by StreamRequestHandler.setup with its default buffering (rbufsize -1): a buffered reader, which can peek.
    rfile: io.BufferedReader

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

    def log_message(self, format: str, *args: Any) -> None:
        pass  # one line per request is written by _handle instead

    def __getattr__(self, name: str) -> Any:
        # http.server looks up `do_<METHOD>` and answers an HTML 501 without one: every method comes here, and
        # is routed like any other (a method no function declares is a 404, as in Azure).
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
            self.functions_host.mcp.handle(self.command, self.path, self.headers, read=self._read_body,
                                           send=lambda status, headers, payload: self._send(
                                               status, list(headers.items()), payload))
            return
        started = time.perf_counter()
        host = self.functions_host
        parts = urlsplit(self.path)
        path = unquote(parts.path)
        query = parse_qsl(parts.query, keep_blank_values=True)
        origin = self.headers.get("Origin")
        function_name = "-"
        try:
            if self.request_version == "HTTP/1.1" and not _HOST_HEADER.fullmatch(self.headers.get("Host") or ""):
                # Kestrel refuses a missing or malformed Host header before anything else sees the request.
                self.close_connection = True
                status, (headers, payload) = 400, _error(InvalidRequest("The Host header is missing or malformed."))
                function_name = "(bad request)"
            elif (origin is not None and self.command.upper() == "OPTIONS"
                    and self.headers.get("Access-Control-Request-Method") is not None):
                # The platform's CORS middleware answers every preflight itself, before routing and keys.
                status, headers, payload = 204, host.cors.preflight(
                    origin, self.headers.get("Access-Control-Request-Method"),
                    ",".join(self.headers.get_all("Access-Control-Request-Headers") or [])), b""
                function_name = "(preflight)"
                self.close_connection = self.close_connection or self._body_follows()
            elif path.lower() == "/admin" or path.lower().startswith("/admin/"):
                function_name, status, headers, payload = self._admin(path, query)
            else:
                refused, target = self._route(path, query)
                if refused is not None:
                    function_name, status = refused
                    headers, payload = [], b""
                    self.close_connection = self.close_connection or self._body_follows()  # left unread: it ends it
                else:
                    assert target is not None
                    body = self._read_body()
                    if body is None:
                        return
                    function_name, status, headers, payload = self._invoke(*target, query, body)
        except _Answered:
            return
        except Exception:
            # A function that raises (or a fault of the host): Azure's host answers 500 with nothing more.
            log.error("Error on %s %s (function %s):\n%s", self.command, _printable(path), function_name,
                      traceback.format_exc())
            status, headers, payload = 500, [], b""
        if origin is not None and function_name not in ("(preflight)", "(bad request)"):
            headers = host.cors.response(origin, headers)
        # Logged before the answer leaves: a caller that reads the log once answered finds the line there. The id is
        # the app's own (x-request-id when the caller sent a correlation id of its own, which is never recorded).
        log.info("%s %s %d %.1fms function=%s correlation=%s", self.command, _printable(path), status,
                 (time.perf_counter() - started) * 1000, function_name,
                 _printable(_header(headers, "x-request-id") or _header(headers, "x-correlation-id") or "-"))
        self._send(status, headers, payload)

    def _read_body(self) -> bytes | None:
        try:
            return self._read_body_or_raise()
        except TimeoutError:
            self._send(408, *_error(InvalidRequest("The request body did not arrive in time.")))
        except _Malformed as exc:
            self._send(400, *_error(InvalidRequest(f"The chunked request body is malformed ({exc}).")))
        self.close_connection = True
        return None

    def _read_body_or_raise(self) -> bytes | None:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            return self._read_chunked()
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

    def _read_chunked(self) -> bytes | None:
        """A chunked body; every line it holds is read with a limit, so no line can take the host's memory."""
        chunks, total = [], 0
        while True:
            line = self._line(MAX_CHUNK_LINE, "a chunk-size line is too long").split(b";")[0].strip()
            if not line or len(line) > 8 or not all(c in b"0123456789abcdefABCDEF" for c in line):
                raise _Malformed("a chunk size is not a hexadecimal number")
            size = int(line, 16)
            if size == 0:
                break
            total += size
            if total > MAX_BODY:
                self._send(413, *_error(InvalidRequest("The request body is too large.")))
                self.close_connection = True
                return None
            chunk = self.rfile.read(size)
            if len(chunk) < size or self.rfile.read(2) != b"\r\n":
                raise _Malformed("a chunk is not followed by CRLF")
            chunks.append(chunk)
        trailers = lines = 0
        while True:
            line = self._line(MAX_CHUNK_LINE, "a trailer line is too long")
            if not line.strip():
                return b"".join(chunks)
            trailers, lines = trailers + len(line), lines + 1
            if trailers > MAX_TRAILERS or lines > MAX_TRAILER_LINES:
                raise _Malformed("the trailers are too long")

    def _line(self, limit: int, too_long: str) -> bytes:
        line = self.rfile.readline(limit + 1)
        if len(line) > limit:
            raise _Malformed(too_long)
        if not line.endswith(b"\n"):
            raise _Malformed("the body ends in the middle of a line")
        return line

    def _key(self, query: list[tuple[str, str]]) -> str | None:
        """The key presented: the `x-functions-key` header when there is one (even empty), else the first `code`
        query parameter (AuthenticationLevelHandler.GetAuthorizationKeyInfoAsync; query names are case-insensitive
        in ASP.NET Core)."""
        header = self.headers.get("x-functions-key")
        if header is not None:
            return header
        return next((value for name, value in query if name.lower() == "code"), None)

    def _route(self, path: str, query: list[tuple[str, str]]
               ) -> tuple[tuple[str, int] | None, tuple[HttpFunction, Any] | None]:
        """((function name, status) of an empty answer refusing the request, None) or (None, (function, route
        match)) once the key is checked. Routes are tried in the router's order; a route whose methods do not
        include the request's is passed over (HttpMethodRouteConstraint), so no function means 404; the key is
        checked only then (FunctionInvocationMiddleware: 401 from `UnauthorizedResult`)."""
        host = self.functions_host
        prefix = "/" + host.route_prefix if host.route_prefix else ""
        if not path.lower().startswith(prefix.lower() + "/") and path.lower() != prefix.lower():
            return ("-", 404), None
        local = path[len(prefix):]
        method = self.command.upper()
        for function in host.http_functions:
            match = function.pattern.fullmatch(local)
            if not match or (function.methods is not None and method not in function.methods):
                continue
            if function.auth_level != "anonymous":
                level = host.key_level(self._key(query))
                if level is None or (function.auth_level == "admin" and level != "admin"):
                    return (function.name, 401), None
            return None, (function, match)
        return ("-", 404), None

    def _invoke(self, function: HttpFunction, match: Any, query: list[tuple[str, str]], body: bytes
                ) -> tuple[str, int, Headers, bytes]:
        import azure.functions as func

        request = func.HttpRequest(
            method=self.command,
            url=f"{self._origin()}{self.path}",
            headers=_joined(self.headers.items(), lower=True),
            params={name: value for name, value in _joined(query).items() if value},
            route_params={k: v for k, v in match.groupdict().items() if v is not None},
            body=body,
        )
        response = invoke(function.call, function.arg_name, request)
        return function.name, *_render(response)

    def _origin(self) -> str:
        """Scheme and host of the URL the request arrived on, as the worker's `HttpRequest.url` has them: in Azure
        the front end's `X-Forwarded-Proto` and `DISGUISED-HOST` (AppServiceHeaderFixupMiddleware), else the
        `Host` header (GrpcMessageConversionExtensions builds the URL from `request.Host`)."""
        scheme = (self.headers.get("X-Forwarded-Proto") or "http").split(",")[0].strip().lower()
        if scheme not in ("http", "https"):
            scheme = "http"
        host = self.headers.get("DISGUISED-HOST") or self.headers.get("Host") or ""
        if not _HOST_HEADER.fullmatch(host):
            host = self.functions_host.url.split("://", 1)[1]
        return f"{scheme}://{host}"

    def _admin(self, path: str, query: list[tuple[str, str]]) -> tuple[str, int, Headers, bytes]:
        """The host's admin API (Azure/azure-functions-host src/WebJobs.Script.WebHost/Controllers/
        FunctionsController.cs, HostController.cs): an unknown route is a 404 whatever the key; a known one needs
        the master key (AdminAuthLevel policy): no valid key is a challenge (401), a valid key of a lower level a
        refusal (403), both empty; then the body, then the function."""
        host = self.functions_host
        segments = path.strip("/").split("/")
        method = self.command.upper()
        invoke_route = len(segments) == 3 and segments[1].lower() == "functions" and method == "POST"
        status_route = (len(segments) == 4 and segments[1].lower() == "functions" and segments[3].lower() == "status"
                        and method == "GET")
        host_status = [s.lower() for s in segments] == ["admin", "host", "status"] and method == "GET"
        if not (invoke_route or status_route or host_status):
            self.close_connection = self.close_connection or self._body_follows()
            return "-", 404, [], b""
        level = host.key_level(self._key(query))
        if level != "admin":
            self.close_connection = self.close_connection or self._body_follows()
            # The JWT bearer scheme of the policy adds its challenge to the 401.
            return "-", 403 if level else 401, [] if level else [("WWW-Authenticate", "Bearer")], b""
        body = self._read_body()
        if body is None:
            raise _Answered
        if host_status:
            return "-", 200, [("Content-Type", "application/json; charset=utf-8")], b'{"state":"Running"}'
        timer = host.timer_named(segments[2])
        if status_route:
            if timer is None:
                return segments[2], 404, [], b""
            status = {"name": timer.name, "running": timer.running > 0, "invocations": timer.invocations,
                      "lastResult": timer.last_result, "lastFinished": timer.last_finished}
            return timer.name, 200, [("Content-Type", "application/json; charset=utf-8")], json.dumps(
                status, separators=(",", ":")).encode()
        # [FromBody] FunctionInvocation: JSON only (else 415), and an object (else null: 400) before the lookup.
        media = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if media not in ("application/json", "text/json") and not media.endswith("+json"):
            return segments[2], 415, [], b""
        try:
            invocation = json.loads(body)
        except ValueError:
            invocation = None
        if not isinstance(invocation, dict):
            return segments[2], 400, [], b""
        if timer is None:
            return segments[2], 404, [], b""
        host.start_timer(timer, reason="This function was programmatically called via the host APIs.")
        return timer.name, 202, [], b""

    def _body_follows(self) -> bool:
        """Whether the request announced a body (an unparsable length counts as one)."""
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            return True
        length = self.headers.get("Content-Length")
        return length is not None and length.strip() != "0"

    def _send(self, status: int, headers: Headers, payload: bytes) -> None:
        self.send_response(status)
        for name, value in headers:
            if name.lower() not in ("content-length", "connection", "transfer-encoding"):
                self.send_header(name, value)
        if self.close_connection:  # said, so that the client does not send its next request on this connection
            self.send_header("Connection", "close")
        # No Content-Length where no content may follow (RFC 9110 §8.6; Kestrel sends none on these either).
        bodiless = status in (204, 304) or 100 <= status < 200
        if not bodiless:
            self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD" and payload and not bodiless:
            self.wfile.write(payload)


class _Answered(Exception):
    """The answer is already sent (a body that could not be read)."""


def _printable(text: str) -> str:
    """`text` for a log line: control characters escaped, so a request cannot forge a line of its own."""
    return "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in text[:2000])


def _header(headers: Headers, name: str) -> str | None:
    for key, value in headers:
        if key.lower() == name:
            return value
    return None


def _joined(pairs: Any, *, lower: bool = False) -> dict[str, str]:
    """Names to values as the host hands them to the worker (GrpcMessageConversionExtensions.ToRpcHttp): names
    compared without case (header names lower-cased), repeated values joined with a comma."""
    joined: dict[str, list[str]] = {}
    names: dict[str, str] = {}
    for name, value in pairs:
        key = name.lower()
        names.setdefault(key, key if lower else name)
        joined.setdefault(key, []).append(value)
    return {names[key]: ",".join(values) for key, values in joined.items()}


def _error(error: AvailabilityError) -> tuple[Headers, bytes]:
    """Headers and body of a malformed request's answer, in the app's error shape (compact, as the app's)."""
    return ([("Content-Type", "application/json; charset=utf-8"), ("x-correlation-id", str(uuid.uuid4()))],
            json.dumps(error.to_body(), separators=(",", ":")).encode())


def _render(response: Any) -> tuple[int, Headers, bytes]:
    """Status, headers and body of what a function returned, with the Content-Type the Python library's
    HttpResponseConverter adds (azure/functions/http.py: a text/* mimetype with its charset, any other alone)."""
    import azure.functions as func

    if not isinstance(response, func.HttpResponse):
        if response is None:
            return 204, [], b""
        body = response if isinstance(response, (bytes, str)) else json.dumps(response)
        response = func.HttpResponse(body)
    headers = list(response.headers.items())
    if not _header(headers, "content-type"):
        mimetype = response.mimetype
        headers.append(("Content-Type", f"{mimetype}; charset={response.charset}" if mimetype.startswith("text/")
                        else mimetype))
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
    except AppRefused as refused:
        print("error: Azure would not run this app as it is.\n  " + "\n  ".join(refused.problems), file=sys.stderr)
        return 3
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
        found: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        return found
    keys = {"functionKey": secrets.token_urlsafe(30), "masterKey": secrets.token_urlsafe(30),
            "systemKeys": {mcp.SYSTEM_KEY: secrets.token_urlsafe(30)}}
    if path:
        write_private(path, json.dumps(keys))
    return keys


if __name__ == "__main__":
    sys.exit(main())
