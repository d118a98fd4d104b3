"""The sandbox's HTTPS server: one loopback origin that is at once Entra ID, Key Vault and a Dynamics 365 org.

This is the one place that builds the shared state and hands each service the parts it needs.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import secrets
import socket
import ssl
import threading
import time
from datetime import UTC, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import trustme

from sandbox.control import Control
from sandbox.credentials import ClientSecret, TokenStore
from sandbox.entra import EntraId, ManagedIdentity
from sandbox.org import ACTIONS, API_ROOT, Org
from sandbox.scenario import Scenario
from sandbox.state import Clock, Faults, RequestLog, Stats
from sandbox.telemetry import PATHS as TELEMETRY_PATHS
from sandbox.telemetry import Telemetry
from sandbox.vault import KeyVault
from sandbox.wire import Reply, Request

log = logging.getLogger("sandbox")
CA_FILE = "sandbox-ca.pem"
MAX_BODY = 1 << 20
# An idle keep-alive connection is closed after this long, so abandoned clients do not hold threads forever.
IDLE_SECONDS = 120


class Sandbox:
    """The simulated services wired to their shared state; `handle` routes one request to the service it is for."""

    def __init__(self, scenario: Scenario, url: str, identity_header: str, ca_path: Path) -> None:
        self.url = url
        self.ca_path = ca_path
        self.clock = Clock()
        self.faults = Faults()
        self.stats = Stats(ACTIONS)
        self.requests = RequestLog()
        self.telemetry = Telemetry()
        tokens = TokenStore()
        secret = ClientSecret(scenario.org.client_secret)
        self.vault = KeyVault(url=url, tenant_id=scenario.org.tenant_id, secret_name=scenario.org.secret_name,
                              secret=secret, tokens=tokens, stats=self.stats, faults=self.faults)
        self.entra = EntraId(url=url, org=scenario.org, secret=secret, tokens=tokens, stats=self.stats,
                             faults=self.faults)
        self.identity = ManagedIdentity(entra=self.entra, identity_header=identity_header, tokens=tokens,
                                        stats=self.stats, faults=self.faults)
        self.org = Org(url=url, scenario=scenario, clock=self.clock, tokens=tokens, stats=self.stats,
                       faults=self.faults)
        self.info = {
            "url": url,
            "caBundle": str(ca_path),
            "identityEndpoint": f"{url}/msi/token",
            "identityHeader": identity_header,
            "userAssignedIdentityClientId": self.entra.user_identity_client_id,
            "tenantId": scenario.org.tenant_id,
            "clientId": scenario.org.client_id,
            "secretName": scenario.org.secret_name,
            "workstreams": [{"id": w.id, "name": w.name, "active": w.active} for w in scenario.workstreams.values()],
            "queues": [{"id": q.id, "name": q.name} for q in scenario.queues.values()],
            "conversations": [{"id": c.id, "workstreamId": c.workstream} for c in scenario.conversations.values()],
        }
        self.control = Control(clock=self.clock, faults=self.faults, stats=self.stats, requests=self.requests,
                               tokens=tokens, vault=self.vault, info=self.info, telemetry=self.telemetry)

    def handle(self, request: Request) -> Reply:
        path = request.path
        if path.startswith(API_ROOT):
            return self.org.handle(request, path[len(API_ROOT):])
        if path.startswith("/_sandbox/"):
            return self.control.handle(request)
        if path in TELEMETRY_PATHS:
            return self.telemetry.handle(request)
        if path in ("/msi/token", "/msi/token/"):
            return self.identity.handle(request)
        if path == "/secrets" or path.startswith("/secrets/"):
            return self.vault.handle(request, path[len("/secrets/"):])
        tenant, _, rest = path.lstrip("/").partition("/")
        if tenant and rest:
            reply = self.entra.handle(request, tenant, rest)
            if reply is not None:
                return reply
        return Reply(404, {"error": {"code": "NotFound", "message": f"The sandbox has no endpoint at {path}."}})

    def date(self, path: str) -> datetime:
        """The instant an answer on `path` is dated: the org's own clock (the sandbox clock), elsewhere the real one."""
        return self.clock.now() if path.startswith(API_ROOT) else datetime.now(UTC)


class SandboxServer:
    """Serves a scenario over HTTPS on loopback with a fresh CA (written to `cert_dir/sandbox-ca.pem`)."""

    def __init__(self, scenario: Scenario, *, host: str = "127.0.0.1", port: int = 0, cert_dir: Path,
                 identity_header: str | None = None) -> None:
        self.scenario = scenario
        self._host = host
        self._port = port
        self._cert_dir = Path(cert_dir)
        self._identity_header = identity_header or secrets.token_urlsafe(24)
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.sandbox: Sandbox | None = None

    def start(self) -> SandboxServer:
        """Bind, then serve in a background thread. Raises OSError when the port is taken."""
        self._cert_dir.mkdir(parents=True, exist_ok=True)
        ca = trustme.CA(organization_name="Availability gateway sandbox")
        leaf = ca.issue_cert("127.0.0.1", "localhost", "::1")
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        leaf.configure_cert(context)
        ca_path = self._cert_dir / CA_FILE
        temporary = ca_path.with_suffix(".tmp")
        ca.cert_pem.write_to_path(str(temporary))
        temporary.replace(ca_path)
        httpd = _HTTPServer((self._host, self._port), context)
        port = httpd.server_address[1]
        host = f"[{self._host}]" if ":" in self._host else self._host
        self.sandbox = Sandbox(self.scenario, f"https://{host}:{port}", self._identity_header, ca_path)
        httpd.sandbox = self.sandbox
        self._httpd = httpd
        self._thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="sandbox-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        httpd.shutdown()
        httpd.close_connections()
        httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> SandboxServer:
        return self.start() if self._httpd is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return self._running().url

    @property
    def ca_path(self) -> Path:
        return self._running().ca_path

    @property
    def identity_header(self) -> str:
        return self._identity_header

    def info(self) -> dict[str, Any]:
        return copy.deepcopy(self._running().info)

    def _running(self) -> Sandbox:
        if self.sandbox is None:
            raise RuntimeError("the sandbox server is not started")
        return self.sandbox


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    # Enough backlog for benchmark bursts of 50+ clients connecting at once.
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], context: ssl.SSLContext) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self.context = context
        self.sandbox: Sandbox | None = None
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def finish_request(self, request: socket.socket | tuple[bytes, socket.socket], client_address: Any) -> None:
        assert isinstance(request, socket.socket)  # a TCP server's request is its connection (a datagram's a tuple)
        # The TLS handshake runs here, in the connection's own thread, so a slow client never stalls accept().
        request.settimeout(IDLE_SECONDS)
        # Headers and body go out in separate writes: without this, Nagle + delayed ACK add ~40 ms per answer.
        request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            connection = self.context.wrap_socket(request, server_side=True)
        except (OSError, ssl.SSLError):
            return
        with self._connections_lock:
            self._connections.add(connection)
        try:
            super().finish_request(connection, client_address)  # the handler, on the TLS connection
        except (OSError, ssl.SSLError):
            pass
        finally:
            with self._connections_lock:
                self._connections.discard(connection)
            with contextlib.suppress(OSError):
                connection.close()

    def close_connections(self) -> None:
        """Wake the threads still holding keep-alive connections so a stop is a real stop."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.exception("sandbox: connection from %s failed", client_address[0])


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Buffered writes: status line, headers and body leave in one TLS record (flushed after each request).
    wbufsize = 1 << 16
    server_version = "sandbox"
    sys_version = ""
    server: _HTTPServer

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def do_PATCH(self) -> None:
        self._serve()

    def _serve(self) -> None:
        started = time.perf_counter()
        raw_path, _, query = self.path.partition("?")
        path = unquote(raw_path)
        headers = {name.lower(): value for name, value in self.headers.items()}
        if "chunked" in headers.get("transfer-encoding", "").lower():
            self._send(Reply(411, {"error": {"code": "LengthRequired", "message": "Send a Content-Length."}}),
                       close=True)
            self._log(path, 411, started, headers, {})
            return
        try:
            length = int(headers.get("content-length") or 0)
        except ValueError:
            length = -1
        if not 0 <= length <= MAX_BODY:
            self._send(Reply(413, {"error": {"code": "PayloadTooLarge", "message": "The body is too large."}}),
                       close=True)
            self._log(path, 413, started, headers, {})
            return
        body = self.rfile.read(length) if length else b""
        request = Request(self.command, path, query, headers, body, self.client_address[0])
        try:
            sandbox = self.server.sandbox
            assert sandbox is not None, "the server answers only once its sandbox is attached"
            reply = sandbox.handle(request)
        except Exception:  # a sandbox bug: answer like a broken service would, and say so in the log
            log.exception("sandbox: %s %s failed", self.command, path)
            reply = Reply(500, {"error": {"code": "SandboxError", "message": "The sandbox failed on this request."}})
        self._send(reply)
        self._log(path, reply.status, started, headers, reply.headers)

    def _send(self, reply: Reply, *, close: bool = False) -> None:
        payload = reply.encode()
        self.send_response(reply.status)  # writes the one Date header, see date_time_string
        for name, value in reply.headers.items():
            self.send_header(name, value)
        if payload or reply.body is not None:
            self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(payload)))
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(payload)

    def _log(self, path: str, status: int, started: float, headers: dict[str, str], sent: dict[str, str]) -> None:
        # Only the path: query strings, bodies and Authorization never reach the log.
        elapsed = (time.perf_counter() - started) * 1000
        log.info("%s %s %d %.1fms", self.command, path, status, elapsed)
        if not path.startswith("/_sandbox/") and self.server.sandbox is not None:
            self.server.sandbox.requests.add({
                "at": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                "method": self.command, "path": path, "status": status, "ms": round(elapsed, 1),
                "clientRequestId": headers.get("x-ms-client-request-id") or headers.get("client-request-id"),
                "serviceRequestId": sent.get("x-ms-service-request-id"),
            })

    def date_time_string(self, timestamp: float | None = None) -> str:
        """The Date of every answer (send_response and send_error ask here): the org's by the sandbox clock."""
        # `command` is reset before each request line is parsed, so a set one means `path` is this request's.
        if timestamp is None and self.command and self.server.sandbox is not None:
            date = self.server.sandbox.date(unquote(self.path.partition("?")[0]))
            return format_datetime(date.astimezone(UTC), usegmt=True)
        return super().date_time_string(timestamp)

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the stock access log: `_log` writes one safe line per request instead."""
