"""The callback guard: which URLs the app may call back, checked on the address a host name resolves to.

A callback URL is any caller's text, so calling it could make the app reach what only it can reach (SSRF): the
cloud's metadata endpoint, a storage emulator on loopback, the private network. So a callback must be `https` on
port 443 and every address its host resolves to must be global: not loopback, private, link-local (169.254.169.254
and fd00:ec2::254, the metadata endpoints, among them), shared, reserved, multicast or unspecified. An IPv6 address
that carries an IPv4 one (mapped, compatible or translated, NAT64's well-known prefix, 6to4, Teredo) is judged by
that IPv4 address too, since a gateway on the way may deliver it there. The check runs when a subscription is made
(a 400 naming `callbackUrl`, the same whether the name does not resolve or resolves to an address not allowed, so
that subscribing tells nothing of internal names) and again at each delivery, whose connection then goes to the
very address checked, so a host name that resolves elsewhere later (DNS rebinding) gains nothing.
`NOTIFY_ALLOW_PRIVATE_CALLBACKS=true` (local development) allows `http`, any port and any address.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from urllib.parse import urlsplit

__all__ = ["CALLBACK_PORT", "DNS_SECONDS", "METADATA_ADDRESSES", "NOT_PUBLIC", "Callback", "CallbackRefused",
           "CallbackUnresolved", "Resolver", "embedded_ipv4", "is_allowed_address", "resolve"]

# The clouds' instance metadata endpoints (IPv4, and the IPv6 one): link-local and unique-local, so refused with
# every other non-global address anyway; named so that the rule is explicit and tested by name.
METADATA_ADDRESSES = (ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254"))
CALLBACK_PORT = 443  # the one port a callback may use without NOTIFY_ALLOW_PRIVATE_CALLBACKS
NOT_PUBLIC = "its host does not resolve to public addresses only"  # also when it does not resolve at all
# IPv6 forms that are an IPv4 address itself: compatible, mapped and translated (RFC 4291 §2.5.5, RFC 6145 §2.1);
# NAT64's well-known prefix carries one in its last 32 bits too (RFC 6052 §2.1), 6to4 and Teredo elsewhere.
_IPV4_ITSELF = tuple(ipaddress.ip_network(net) for net in ("::/96", "::ffff:0:0/96", "::ffff:0:0:0/96"))
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
# NAT64 prefixes a network picks for itself (RFC 8215): where the IPv4 address sits depends on the prefix's length,
# and no such address is public, so the whole range is refused.
_LOCAL_NAT64 = ipaddress.ip_network("64:ff9b:1::/48")
DNS_SECONDS = 5.0  # a resolution longer than this is a failure (getaddrinfo itself has no timeout)

# `socket.getaddrinfo(host, port, family, type)` or a stand-in: (family, type, proto, canonical name, address) each.
Resolver = Callable[[str, int, int, int], Sequence[tuple[int, int, int, str, tuple[object, ...]]]]
_REQUEST_TARGET = re.compile(r"/[!-~]*")  # visible ASCII: what an HTTP request line may carry


class CallbackRefused(Exception):
    """The callback may not be called: its scheme or an address it resolves to is not allowed (`reason` says which,
    without the URL, which may carry a signature)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class CallbackUnresolved(Exception):
    """The callback's host name did not resolve (now): worth another try later."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Callback:
    """A callback URL, taken apart: scheme, host, port, and the path with its query (the request target)."""

    scheme: str
    host: str
    port: int
    target: str

    @classmethod
    def parse(cls, url: str) -> Callback:
        """The parts of a URL the request shape already admitted (`CALLBACK_PATTERN`); `CallbackRefused` otherwise."""
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError:
            raise CallbackRefused("it is not a valid URL") from None
        scheme = parts.scheme.lower()
        if scheme not in ("https", "http") or not parts.hostname:
            raise CallbackRefused("it is not an absolute http(s) URL")
        if parts.username is not None or parts.password is not None or parts.fragment:
            raise CallbackRefused("it carries a user name, a password or a fragment")
        target = parts.path or "/"
        if parts.query:
            target += "?" + parts.query
        if not _REQUEST_TARGET.fullmatch(target) or not parts.hostname.isascii():
            raise CallbackRefused("it holds characters a URL may not hold unencoded")
        return cls(scheme, parts.hostname.lower(), port or (443 if scheme == "https" else 80), target)

    @property
    def host_header(self) -> str:
        """The Host header: the name, with the port when it is not the scheme's own."""
        default = 443 if self.scheme == "https" else 80
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == default else f"{host}:{self.port}"


def embedded_ipv4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address carries (none for most)."""
    found = []
    if ip in _NAT64 or any(ip in net for net in _IPV4_ITSELF):
        found.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    if ip.sixtofour is not None:
        found.append(ip.sixtofour)
    if ip.teredo is not None:
        found.extend(ip.teredo)  # the Teredo server, and the client behind its NAT
    return found


def is_allowed_address(address: str, *, allow_private: bool = False) -> bool:
    """True when the app may connect to `address`: a global unicast address (and so is any IPv4 address it
    carries), or any with `allow_private`."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])  # an IPv6 zone index is not part of the address
    except ValueError:
        return False
    if allow_private:
        return True
    if isinstance(ip, ipaddress.IPv6Address):
        if ip in _LOCAL_NAT64 or not all(_is_public(carried) for carried in embedded_ipv4(ip)):
            return False
        if any(ip in net for net in _IPV4_ITSELF):
            return True  # ::ffff:20.50.2.1 is 20.50.2.1 (ipaddress calls the whole ::/8 reserved)
    return _is_public(ip)


def _is_public(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if ip in METADATA_ADDRESSES or ip.is_multicast or ip.is_unspecified or ip.is_loopback or ip.is_link_local:
        return False
    return ip.is_global


def resolve(callback: Callback, *, allow_private: bool = False, resolver: Resolver | None = None,
            timeout: float = DNS_SECONDS) -> list[str]:
    """The addresses to connect to for `callback`, every one of them allowed.

    :raises CallbackRefused: `http` or a port other than 443 without `allow_private`, or an address that is not
        allowed (one is enough: a name that resolves to a public and a private address is refused, whichever a
        client would pick).
    :raises CallbackUnresolved: the name does not resolve, or not within `timeout` seconds.
    """
    if callback.scheme != "https" and not allow_private:
        raise CallbackRefused("it must use https")
    if callback.port != CALLBACK_PORT and not allow_private:
        raise CallbackRefused(f"it must use port {CALLBACK_PORT} (the https default)")
    try:
        literal = ipaddress.ip_address(callback.host)
    except ValueError:
        literal = None
    if literal is not None:
        addresses = [str(literal)]
    else:
        addresses = _lookup(callback.host, callback.port, resolver or socket.getaddrinfo, timeout)
    refused = [address for address in addresses if not is_allowed_address(address, allow_private=allow_private)]
    if refused:
        raise CallbackRefused(NOT_PUBLIC)
    return addresses


_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _lookup(host: str, port: int, resolver: Resolver, timeout: float) -> list[str]:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(8, thread_name_prefix="callback-dns")
    future = _pool.submit(resolver, host, port, 0, socket.SOCK_STREAM)
    try:
        found = future.result(timeout=timeout)
    except FutureTimeout:
        raise CallbackUnresolved("its host name did not resolve in time") from None
    except (OSError, UnicodeError):
        raise CallbackUnresolved("its host name does not resolve") from None
    addresses = list(dict.fromkeys(str(entry[4][0]) for entry in found if entry[0] in (socket.AF_INET,
                                                                                       socket.AF_INET6)))
    if not addresses:
        raise CallbackUnresolved("its host name does not resolve to an address")
    return addresses
