"""Fixtures for the sandbox tests: in-process servers over real HTTPS, and a small client for them."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sandbox import SandboxServer, load_scenario  # noqa: E402

SCENARIOS = Path(__file__).parent / "scenarios"
TENANT = "11111111-1111-1111-1111-111111111111"
CLIENT = "22222222-2222-2222-2222-222222222222"
SECRET = "initial-secret-value"
SECRET_NAME = "dataverse-client-secret"
BEFORE = "CCaaS_GetRepresentativeAvailabilityBeforeConversation"
FOR = "CCaaS_GetRepresentativeAvailabilityForConversation"

# The basic scenario's ids.
Q_EN, Q_FR, Q_PREMIUM, Q_VOICE, Q_NIGHT, Q_EDGE = (f"0000000{i}-0000-0000-0000-00000000000a" for i in range(1, 7))
W_CHAT, W_PHONE, W_MESSAGING, W_RETIRED = (f"0000000{c}-0000-0000-0000-00000000000b" for c in "abcd")
C_FR, C_PLAIN, C_EDGE = (f"000000a{i}-0000-0000-0000-00000000000c" for i in range(1, 4))
MIN_DATE = "0001-01-01T00:00:00Z"
MAX_DATE = "9999-12-31T23:59:59Z"
VAULT = "https://vault.azure.net"
SDK_ENVIRONMENT = ("AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_CLIENT_SECRET", "AZURE_AUTHORITY_HOST",
                   "AZURE_FEDERATED_TOKEN_FILE", "MSI_ENDPOINT", "MSI_SECRET", "IDENTITY_SERVER_THUMBPRINT",
                   "IMDS_ENDPOINT", "IDENTITY_ENDPOINT", "IDENTITY_HEADER")


class Client:
    """Talks to one running sandbox over HTTPS, trusting its CA."""

    def __init__(self, server: SandboxServer) -> None:
        self.server = server
        self.url = server.url
        self.ca = str(server.ca_path)
        self.session = requests.Session()

    def request(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        # `verify` per request: requests lets REQUESTS_CA_BUNDLE from the environment override `session.verify`.
        return self.session.request(method, url, verify=self.ca, timeout=30, **kwargs)

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("GET", self.url + path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("POST", self.url + path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("DELETE", self.url + path, **kwargs)

    # -- control ---------------------------------------------------------------------------------------------

    def control(self, method: str, path: str, body: Any = None) -> dict[str, Any]:
        response = self.request(method, f"{self.url}/_sandbox/{path}", json=body)
        assert response.status_code in (200, 201), response.text
        return response.json()

    def stats(self) -> dict[str, Any]:
        return self.control("GET", "stats")

    def at(self, now: str) -> None:
        """Freeze the sandbox clock at `now`, so answers are exact."""
        self.control("POST", "clock", {"now": now, "frozen": True})

    def fault(self, **fault: Any) -> dict[str, Any]:
        return self.control("POST", "faults", fault)

    # -- tokens ----------------------------------------------------------------------------------------------

    def token(self, resource: str | None = None, secret: str | None = None) -> str:
        """A client-credential token from the v2 endpoint (for the org unless `resource` says otherwise)."""
        response = self.token_response(resource, secret)
        assert response.status_code == 200, response.text
        return response.json()["access_token"]

    def token_response(self, resource: str | None = None, secret: str | None = None, **form: str):
        """The v2 token endpoint's answer; the scenario's own secret unless `secret` is given."""
        org = self.server.scenario.org
        data = {"grant_type": "client_credentials", "client_id": org.client_id,
                "client_secret": org.client_secret if secret is None else secret,
                "scope": f"{resource or self.url}/.default", **form}
        return self.post(f"/{org.tenant_id}/oauth2/v2.0/token", data=data)

    def identity_token(self, resource: str) -> str:
        response = self.get("/msi/token", params={"api-version": "2019-08-01", "resource": resource},
                            headers={"X-IDENTITY-HEADER": self.server.identity_header})
        assert response.status_code == 200, response.text
        return response.json()["access_token"]

    # -- the org ---------------------------------------------------------------------------------------------

    def action(self, name: str, body: Any, token: str | None = None, **kwargs: Any) -> requests.Response:
        headers = {"Authorization": f"Bearer {token or self.org_token}", "OData-Version": "4.0",
                   "OData-MaxVersion": "4.0", "Accept": "application/json"}
        headers.update(kwargs.pop("headers", {}))
        if isinstance(body, (bytes, str)):
            return self.post(f"/api/data/v9.2/{name}", data=body, headers=headers, **kwargs)
        return self.post(f"/api/data/v9.2/{name}", json=body, headers=headers, **kwargs)

    def before(self, workstream: str, items: dict[str, Any] | None = None,
               engagement: dict[str, Any] | None = None, **extra: Any) -> requests.Response:
        body: dict[str, Any] = {"ApiVersion": "1.0", "LiveWorkStreamId": workstream}
        if items is not None:
            body["CustomContextItems"] = json.dumps(context_items(items))
        if engagement is not None:
            body["ChannelEngagementContext"] = json.dumps(engagement)
        body.update(extra)
        return self.action(BEFORE, body)

    def for_conversation(self, conversation: str, items: dict[str, Any] | None = None, **extra: Any):
        body: dict[str, Any] = {"ApiVersion": "1.0", "ConversationId": conversation}
        if items is not None:
            body["CustomContextItems"] = json.dumps(context_items(items))
        body.update(extra)
        return self.action(FOR, body)

    def query(self, path: str, token: str | None = None, **kwargs: Any) -> requests.Response:
        headers = {"Authorization": f"Bearer {token or self.org_token}", **kwargs.pop("headers", {})}
        return self.get(f"/api/data/v9.2/{path}", headers=headers, **kwargs)

    @property
    def org_token(self) -> str:
        if not hasattr(self, "_org_token"):
            self._org_token = self.token()
        return self._org_token


def context_items(items: dict[str, Any]) -> dict[str, Any]:
    """Short form (`{"Language": "fr", "Tier": 2}`) → the upstream's context items."""
    return {name: {"value": value, "isDisplayable": True,
                   "datatype": "192350001" if isinstance(value, int) else "192350000"}
            for name, value in items.items()}


def start_server(scenario: str | Path, cert_dir: Path) -> SandboxServer:
    path = scenario if isinstance(scenario, Path) else SCENARIOS / scenario
    return SandboxServer(load_scenario(path), cert_dir=cert_dir).start()


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    """The basic scenario's sandbox, shared by the session: tests reset it rather than restart it."""
    started = start_server("basic.toml", tmp_path_factory.mktemp("sandbox-certs"))
    yield started
    started.stop()


@pytest.fixture
def sandbox(server) -> Iterator[Client]:
    """A client of the shared sandbox, with stats, faults and clock reset before and after the test."""
    client = Client(server)
    client.control("POST", "reset")
    yield client
    client.control("POST", "reset")


@pytest.fixture
def own_sandbox(tmp_path):
    """A sandbox of the test's own, for irreversible moves (rotating the secret, revoking tokens)."""
    started: list[SandboxServer] = []

    def start(scenario: str = "basic.toml") -> Client:
        server = start_server(scenario, tmp_path / f"certs-{len(started)}")
        started.append(server)
        return Client(server)

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def sdk_environment(monkeypatch, server):
    """Environment for the unmodified Azure SDKs: trust the sandbox CA, nothing else ambient."""
    for name in SDK_ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(server.ca_path))
    return monkeypatch
