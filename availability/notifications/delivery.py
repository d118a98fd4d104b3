"""Signed delivery: one POST of a change to a callback, and what its answer means for the subscription.

The body is sent as stored, byte for byte, with two signatures keyed with the subscription's secret:
`x-availability-signature: sha256=<hex HMAC-SHA256 of the body>` (the body alone, as ever) and
`x-availability-signature-timed: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<delivery id>.<body>">`, which
binds the body to the moment it was sent and to `x-availability-delivery: <id>` (the same id on every retry of one
change, so a receiver can drop a repeat), so a captured delivery cannot be played again later or under another id.

An attempt has one deadline for everything: connecting, TLS, sending, and reading the answer's status line; only
the status line (at most `REPLY_BYTES`) is read, then the connection is closed, whatever follows. The connection
goes to the address the guard checked (guard.py), with TLS verified against the callback's own host name;
redirects are not followed (a 3xx is a refusal, never a hop to somewhere else); proxies are not used (they would
pick the address themselves). The request is written over a socket here because HTTP clients (http.client,
urllib3, requests) give each socket read its own timeout, so a receiver trickling a byte a second, or streaming a
body without end, holds an attempt as long as it likes; and being plain sockets, no instrumentation records the
callback's URL (a flow's signs itself in its query string).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from typing import Literal

from .. import __version__
from ..schemas import DELIVERY_HEADER as DELIVERY
from ..schemas import SIGNATURE_HEADER as SIGNATURE
from ..schemas import TIMED_SIGNATURE_HEADER as TIMED_SIGNATURE
from .guard import Callback, CallbackRefused, CallbackUnresolved, Resolver, resolve

__all__ = ["ATTEMPT_SECONDS", "MAX_FAILURES", "Attempt", "CallbackSender", "backoff", "sign", "sign_timed"]

log = logging.getLogger(__name__)

ATTEMPT_SECONDS = 5.0  # one attempt, from connecting to the answer's status line: a slow receiver costs that long
CONNECT_SECONDS = 3.0  # of which connecting (TCP) at most
REPLY_BYTES = 4096  # of the answer, at most this much is read: the status line (after any 1xx)
MAX_FAILURES = 10  # attempts failed in a row before a subscription is disabled
# Seconds from the n-th failed attempt of a change to the next: two soon (in the same run), then the next runs.
RETRY_AFTER = (2, 10, 60, 120, 300, 600, 1200, 1800, 3600)
USER_AGENT = f"ContactCenterAvailability/{__version__} (change notification)"

Outcome = Literal["delivered", "gone", "retry", "refused"]
_STATUS_LINE = re.compile(rb"HTTP/1\.[01] ([1-5][0-9][0-9])(?: [^\r\n]*)?\r?\n")


def sign(secret: str, body: bytes) -> str:
    """The `x-availability-signature` value of `body`."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def sign_timed(secret: str, body: bytes, delivery_id: str, timestamp: int) -> str:
    """The `x-availability-signature-timed` value of `body` sent as delivery `delivery_id` at `timestamp`."""
    signed = f"{timestamp}.{delivery_id}.".encode("ascii") + body
    return f"t={timestamp},v1=" + hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).hexdigest()


def backoff(failures: int) -> float:
    """Seconds to wait after the `failures`-th failed attempt of one change before the next attempt."""
    return float(RETRY_AFTER[min(max(failures, 1), len(RETRY_AFTER)) - 1])


@dataclass(frozen=True)
class Attempt:
    """How one POST ended: `delivered` (2xx), `gone` (410: the receiver wants no more), `retry` (5xx, 429, 408, no
    status line by the deadline, a connection failure) or `refused` (any other answer, a redirect, an address not
    allowed)."""

    outcome: Outcome
    status: int | None = None  # the callback's HTTP status; None when it gave none
    reason: str = ""  # for the log: never the URL, which may carry a signature


class _NoStatusLineError(Exception):
    """The receiver closed the connection, or sent something else than a status line within `REPLY_BYTES`."""


class CallbackSender:
    """Posts signed bodies to callbacks. Thread-safe.

    :keyword allow_private: `NOTIFY_ALLOW_PRIVATE_CALLBACKS`: http, any port and any address allowed.
    :keyword ca_bundle: the CAs a callback's certificate is checked against (default: certifi's).
    :keyword resolver: `socket.getaddrinfo` or a stand-in.
    :keyword attempt_seconds: the deadline of one attempt, from connecting to the status line.
    """

    def __init__(self, *, allow_private: bool = False, ca_bundle: str | None = None,
                 resolver: Resolver | None = None, connect_seconds: float = CONNECT_SECONDS,
                 attempt_seconds: float = ATTEMPT_SECONDS) -> None:
        self.allow_private = allow_private
        self._ca_bundle = ca_bundle
        self._resolver = resolver
        self._connect_seconds = connect_seconds
        self.attempt_seconds = attempt_seconds
        self._tls: ssl.SSLContext | None = None
        self._tls_lock = threading.Lock()

    def post(self, url: str, body: bytes, *, secret: str, delivery_id: str) -> Attempt:
        """POST `body` to `url`, signed with `secret`; never raises for what the receiver or the network does, and
        returns within the attempt's deadline (after the name's resolution, itself bounded)."""
        try:
            callback = Callback.parse(url)
            addresses = resolve(callback, allow_private=self.allow_private, resolver=self._resolver)
        except CallbackRefused as exc:
            return Attempt("refused", reason=f"callback refused: {exc.reason}")
        except CallbackUnresolved as exc:
            return Attempt("retry", reason=f"callback unreachable: {exc.reason}")
        headers = {
            "Host": callback.host_header,
            "Content-Type": "application/json; charset=utf-8",
            "Content-Length": str(len(body)),
            "User-Agent": USER_AGENT,
            "Connection": "close",
            DELIVERY: delivery_id,
            SIGNATURE: sign(secret, body),
            TIMED_SIGNATURE: sign_timed(secret, body, delivery_id, int(time.time())),
        }
        head = f"POST {callback.target} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        return self._send(callback, addresses[0], head.encode("ascii") + b"\r\n" + body)

    def _send(self, callback: Callback, address: str, request: bytes) -> Attempt:
        deadline = time.monotonic() + self.attempt_seconds
        connection: socket.socket | None = None
        try:
            connection = socket.create_connection((address, callback.port),
                                                  timeout=min(self._connect_seconds, _left(deadline)))
            if callback.scheme == "https":
                connection.settimeout(_left(deadline))  # the whole handshake: CPython bounds it as one operation
                connection = self._context().wrap_socket(connection, server_hostname=callback.host)
            _send_all(connection, request, deadline)
            status = _status(connection, deadline)
        except (OSError, _NoStatusLineError) as exc:
            # No answer by the deadline, a refused connection, a TLS failure: the receiver may be back soon.
            return Attempt("retry", reason=f"no answer ({type(exc).__name__})")
        finally:
            if connection is not None:
                connection.close()  # never drained: what follows the status line means nothing here
        if 200 <= status < 300:
            return Attempt("delivered", status)
        if status == 410:
            return Attempt("gone", status, "the callback answered 410 Gone")
        if status in (408, 429) or status >= 500:
            return Attempt("retry", status, f"the callback answered HTTP {status}")
        return Attempt("refused", status, f"the callback answered HTTP {status}" + (
            " (redirects are not followed)" if 300 <= status < 400 else ""))

    def _context(self) -> ssl.SSLContext:
        with self._tls_lock:
            if self._tls is None:
                import certifi

                self._tls = ssl.create_default_context(cafile=self._ca_bundle or certifi.where())
            return self._tls


def _left(deadline: float) -> float:
    """Seconds left until `deadline` (monotonic); `TimeoutError` once it has passed."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError("the attempt's deadline passed")
    return left


def _send_all(connection: socket.socket, data: bytes, deadline: float) -> None:
    view = memoryview(data)
    while view:
        connection.settimeout(_left(deadline))
        view = view[connection.send(view):]


def _status(connection: socket.socket, deadline: float) -> int:
    """The status of the answer's status line, read by `deadline`; interim (1xx) answers are passed over."""
    reply, read = b"", 0
    while read < REPLY_BYTES:
        connection.settimeout(_left(deadline))
        chunk = connection.recv(REPLY_BYTES - read)
        if not chunk:
            break
        reply, read = reply + chunk, read + len(chunk)
        while True:
            match = _STATUS_LINE.match(reply)
            if match is None:
                if b"\n" in reply:
                    raise _NoStatusLineError("not an HTTP status line")
                break
            status = int(match.group(1))
            if status >= 200:
                return status
            end = reply.find(b"\r\n\r\n")  # an interim answer: its headers end with an empty line
            if end < 0:
                break
            reply = reply[end + 4:]
    raise _NoStatusLineError("no status line")
