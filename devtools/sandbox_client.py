"""The one client of the sandbox: its control endpoints (docs/sandbox.md), its managed-identity endpoint as a token
credential, and the app built against it with the transports a local stand-in needs.

Tests, the benchmarks and the demo backfill use it; the product never does.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import requests

from availability.app import App, Transports
from availability.settings import load_settings


class SandboxControl:
    """The sandbox's control endpoints, for arranging, moving the clock and counting."""

    def __init__(self, url: str, ca_bundle: str) -> None:
        self.url = url.rstrip("/")
        self.ca_bundle = ca_bundle
        self.session = requests.Session()

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        # verify per request: a REQUESTS_CA_BUNDLE in the environment would override a session-wide one
        response = self.session.request(method, self.url + path, timeout=10, verify=self.ca_bundle, **kwargs)
        response.raise_for_status()
        return response.json() if response.content else None

    def stats(self) -> dict:
        return self._call("GET", "/_sandbox/stats")

    def info(self) -> dict:
        return self._call("GET", "/_sandbox/info")

    def requests(self, limit: int = 1000) -> list[dict]:
        """The sandbox's last requests, oldest first: `at` (ISO time), `method`, `path`, `status`, `ms`."""
        return self._call("GET", "/_sandbox/requests", params={"limit": limit})["requests"]

    def fault(self, target: str, **fault: Any) -> None:
        self._call("POST", "/_sandbox/faults", json={"target": target, **fault})

    def clear_faults(self) -> None:
        self._call("DELETE", "/_sandbox/faults")

    def set_clock(self, now: str, *, frozen: bool = False) -> None:
        self._call("POST", "/_sandbox/clock", json={"now": now, **({"frozen": True} if frozen else {})})

    def telemetry(self) -> dict:
        return self._call("GET", "/_sandbox/telemetry")

    def clock(self) -> dict:
        return self._call("GET", "/_sandbox/clock")

    def reset_clock(self) -> None:
        self._call("POST", "/_sandbox/clock", json={"reset": True})

    def reset(self) -> None:
        self._call("POST", "/_sandbox/reset")

    def rotate_secret(self) -> None:
        self._call("POST", "/_sandbox/rotate-secret")

    def revoke_tokens(self) -> None:
        self._call("POST", "/_sandbox/revoke-tokens")

    def close(self) -> None:
        self.session.close()


class SandboxIdentity:
    """A token credential on the sandbox's managed-identity endpoint, asked as App Service's identity is asked.

    In Azure `DefaultAzureCredential` finds that endpoint in the environment; an app built in-process against
    the sandbox gets this credential instead, so nothing has to patch the environment.
    """

    def __init__(self, endpoint: str, header: str, ca_bundle: str) -> None:
        self._endpoint = endpoint
        self._header = header
        self._ca_bundle = ca_bundle
        self._session = requests.Session()

    def get_token(self, *scopes: str, **_: Any) -> Any:
        from azure.core.credentials import AccessToken

        resource = scopes[0].removesuffix("/.default")
        response = self._session.get(self._endpoint, params={"api-version": "2019-08-01", "resource": resource},
                                     headers={"X-IDENTITY-HEADER": self._header}, timeout=10, verify=self._ca_bundle)
        if response.status_code != 200:
            from azure.core.exceptions import ClientAuthenticationError

            raise ClientAuthenticationError(message=f"The identity endpoint answered HTTP {response.status_code}.")
        body = response.json()
        return AccessToken(body["access_token"], int(body.get("expires_on") or time.time() + 3600))

    def close(self) -> None:
        self._session.close()


def sandbox_app(app_settings: Mapping[str, str], **transports: Any) -> App:
    """The app for `app_settings` (a stack's `appSettings`) with the transports the sandbox needs."""
    settings = load_settings(app_settings)
    identity = SandboxIdentity(app_settings["IDENTITY_ENDPOINT"], app_settings["IDENTITY_HEADER"],
                               app_settings["REQUESTS_CA_BUNDLE"])
    return App(settings, Transports(vault_credential=identity, verify_vault_challenge=False, **transports))
