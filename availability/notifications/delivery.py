"""Signed delivery: one POST of a change to a callback, and what its answer means for the subscription.

The body is sent as stored, byte for byte, with `x-availability-signature: sha256=<hex HMAC-SHA256 of the body
with the subscription's secret>` and `x-availability-delivery: <id>` (the same id on every retry of one change,
so a receiver can drop a repeat). The connection goes to the address the guard checked (guard.py), with TLS
verified against the callback's own host name; redirects are not followed (a 3xx is a refusal, never a hop to
somewhere else); proxies are not used (they would pick the address themselves). urllib3, which requests is built
on, is used directly: requests has no way to connect to a chosen address while verifying the host's name.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from dataclasses import dataclass
from typing import Literal

from .. import __version__, telemetry
from .guard import Callback, CallbackRefused, CallbackUnresolved, Resolver, resolve

__all__ = ["Attempt", "CallbackSender", "sign", "backoff", "MAX_FAILURES"]

log = logging.getLogger(__name__)

CONNECT_SECONDS, READ_SECONDS, TOTAL_SECONDS = 3.0, 5.0, 8.0  # one attempt; a slow receiver costs one worker that long
MAX_FAILURES = 10  # attempts failed in a row before a subscription is disabled
# Seconds from the n-th failed attempt of a change to the next: two soon (in the same run), then the next runs.
RETRY_AFTER = (2, 10, 60, 120, 300, 600, 1200, 1800, 3600)
USER_AGENT = f"ContactCenterAvailability/{__version__} (change notification)"

Outcome = Literal["delivered", "gone", "retry", "refused"]


def sign(secret: str, body: bytes) -> str:
    """The `x-availability-signature` value of `body`."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def backoff(failures: int) -> float:
    """Seconds to wait after the `failures`-th failed attempt of one change before the next attempt."""
    return float(RETRY_AFTER[min(max(failures, 1), len(RETRY_AFTER)) - 1])


@dataclass(frozen=True)
class Attempt:
    """How one POST ended: `delivered` (2xx), `gone` (410: the receiver wants no more), `retry` (5xx, 429, 408, a
    timeout or a connection failure) or `refused` (any other answer, a redirect, an address not allowed)."""

    outcome: Outcome
    status: int | None = None  # the callback's HTTP status; None when it gave none
    reason: str = ""  # for the log: never the URL, which may carry a signature


class CallbackSender:
    """Posts signed bodies to callbacks.

    :keyword allow_private: `NOTIFY_ALLOW_PRIVATE_CALLBACKS`: http and any address allowed.
    :keyword ca_bundle: the CAs a callback's certificate is checked against (default: certifi's).
    :keyword resolver: `socket.getaddrinfo` or a stand-in.
    """

    def __init__(self, *, allow_private: bool = False, ca_bundle: str | None = None,
                 resolver: Resolver | None = None, connect_seconds: float = CONNECT_SECONDS,
                 read_seconds: float = READ_SECONDS, total_seconds: float = TOTAL_SECONDS) -> None:
        self.allow_private = allow_private
        self._ca_bundle = ca_bundle
        self._resolver = resolver
        self._timeouts = (connect_seconds, read_seconds, total_seconds)

    def post(self, url: str, body: bytes, *, secret: str, delivery_id: str) -> Attempt:
        """POST `body` to `url`, signed with `secret`; never raises for what the receiver or the network does."""
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
            "User-Agent": USER_AGENT,
            "x-availability-delivery": delivery_id,
            "x-availability-signature": sign(secret, body),
        }
        return self._send(callback, addresses[0], body, headers)

    def _send(self, callback: Callback, address: str, body: bytes, headers: dict[str, str]) -> Attempt:
        import urllib3

        connect, read, total = self._timeouts
        options = {"timeout": urllib3.Timeout(connect=connect, read=read, total=total), "retries": False,
                   "maxsize": 1, "block": False}
        if callback.scheme == "https":
            import certifi

            pool: urllib3.HTTPConnectionPool = urllib3.HTTPSConnectionPool(
                address, callback.port, server_hostname=callback.host, assert_hostname=callback.host,
                cert_reqs="CERT_REQUIRED", ca_certs=self._ca_bundle or certifi.where(), **options)
        else:
            pool = urllib3.HTTPConnectionPool(address, callback.port, **options)
        try:
            with telemetry.untraced():  # the callback's URL (a flow's signs itself in its query) stays out of spans
                response = pool.urlopen("POST", callback.target, body=body, headers=headers, redirect=False,
                                        assert_same_host=False, preload_content=False, release_conn=False)
            status = response.status
            response.drain_conn()  # a few bytes at most are read: the answer's body means nothing here
            response.release_conn()
        except urllib3.exceptions.HTTPError as exc:
            # Timeouts, refused connections, TLS failures: the receiver may be back soon.
            return Attempt("retry", reason=f"no answer ({type(exc).__name__})")
        finally:
            pool.close()
        if 200 <= status < 300:
            return Attempt("delivered", status)
        if status == 410:
            return Attempt("gone", status, "the callback answered 410 Gone")
        if status in (408, 429) or status >= 500:
            return Attempt("retry", status, f"the callback answered HTTP {status}")
        return Attempt("refused", status, f"the callback answered HTTP {status}" + (
            " (redirects are not followed)" if 300 <= status < 400 else ""))
