"""The HTTP transport to a host (the org, Table Storage): one pooled `requests.Session` with the CA bundle and
proxies settled once.

requests would otherwise re-read them (a scan of os.environ, a .netrc lookup) on every call, which is a good
part of a call's CPU when the upstream is fast. The values come from `Settings`, which reads the environment.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlsplit

import requests


def pooled_session(url: str, pool_size: int, *, ca_bundle: str | None = None,
                   proxies: Mapping[str, str] | None = None) -> requests.Session:
    """A Session for the host of `url`: `pool_size` kept connections, no retries of its own."""
    session = requests.Session()
    session.trust_env = False
    session.verify = ca_bundle or True
    proxies = dict(proxies or {})
    bypass = proxies.pop("no", "")
    session.proxies = {} if _bypassed(urlsplit(url).hostname or "", bypass) else proxies
    adapter = requests.adapters.HTTPAdapter(pool_connections=1, pool_maxsize=pool_size, max_retries=0)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


def _bypassed(host: str, no_proxy: str) -> bool:
    """True when `host` is listed in `no_proxy` (curl's rules: `*`, names and their subdomains)."""
    for entry in (e.strip().lower().lstrip(".") for e in no_proxy.split(",")):
        if entry == "*" or (entry and (host.lower() == entry or host.lower().endswith("." + entry))):
            return True
    return False
