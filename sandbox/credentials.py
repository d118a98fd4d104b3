"""What the identity services hand out and the other services check: minted tokens and the org's client secret.

Entra ID and the managed identity endpoint mint tokens that the vault and the org accept; Key Vault serves the
client secret that the token endpoint accepts. Both live here, apart from the services that share them.
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
import uuid
from dataclasses import dataclass

from sandbox.wire import new_id

VAULT_RESOURCE = "https://vault.azure.net"
STORAGE_RESOURCE = "https://storage.azure.com"  # Table Storage reached with an identity (Azurite --oauth basic)


def normalize_resource(resource: str) -> str:
    """`https://org/` and `https://org` name the same resource (Dataverse is often asked for `{org}//.default`)."""
    return resource.strip().rstrip("/").lower()


@dataclass(frozen=True)
class Token:
    audience: str  # normalized resource
    app_id: str
    expires_at: float  # real clock: moving the sandbox clock never expires a token
    generation: int


class TokenStore:
    """Every token minted, with its audience and expiry; revoking bumps a generation that older tokens miss."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tokens: dict[str, Token] = {}
        self._generation = 0

    def mint(self, audience: str, app_id: str, tenant_id: str, issuer: str, lifetime: int) -> tuple[str, Token]:
        now = time.time()
        record = Token(audience, app_id, now + lifetime, self._generation)
        claims = {"aud": audience, "iss": issuer, "iat": int(now), "nbf": int(now), "exp": int(record.expires_at),
                  "appid": app_id, "tid": tenant_id, "oid": app_id, "sub": app_id, "ver": "1.0",
                  "jti": new_id()}
        # Shaped like a JWT so people can decode it while debugging; the sandbox only trusts its own records.
        token = ".".join((_b64({"typ": "JWT", "alg": "none"}), _b64(claims), secrets.token_urlsafe(24)))
        with self._lock:
            if len(self._tokens) > 50_000:
                self._tokens = {k: v for k, v in self._tokens.items() if v.expires_at > now}
            self._tokens[token] = record
        return token, record

    def check(self, token: str | None, audience: str) -> str | None:
        """None when the token is good for `audience`, else why it is refused."""
        if token is None:
            return "missing"
        record = self._tokens.get(token)
        if record is None:
            return "unknown"
        if record.generation < self._generation:
            return "revoked"
        if record.expires_at <= time.time():
            return "expired"
        if record.audience != audience:
            return "audience"
        return None

    def app_id(self, token: str) -> str | None:
        record = self._tokens.get(token)
        return record.app_id if record else None

    def revoke_all(self) -> int:
        with self._lock:
            self._generation += 1
            return sum(1 for t in self._tokens.values() if t.generation < self._generation)


def _b64(obj: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj, separators=(",", ":")).encode()).rstrip(b"=").decode()


@dataclass(frozen=True)
class SecretVersion:
    version: str
    value: str
    created: int


class ClientSecret:
    """The org app's client secret, versioned as the vault stores it; the newest version is the one that works."""

    def __init__(self, initial: str) -> None:
        self._lock = threading.Lock()
        self._versions = [SecretVersion(uuid.uuid4().hex, initial, int(time.time()))]

    def current(self) -> SecretVersion:
        return self._versions[-1]

    def find(self, version: str) -> SecretVersion | None:
        """The given version (any letter case), or the current one when `version` is empty."""
        if not version:
            return self._versions[-1]
        for candidate in self._versions:
            if candidate.version == version.lower():
                return candidate
        return None

    def rotate(self) -> str:
        """Store a fresh secret as a new version; Entra ID accepts only the newest one from now on."""
        # Shaped like a real Entra client secret value (40 chars with the `8Q~` marker).
        value = secrets.token_urlsafe(27)[:3] + "8Q~" + secrets.token_urlsafe(30)[:34]
        version = SecretVersion(uuid.uuid4().hex, value, int(time.time()))
        with self._lock:
            self._versions.append(version)
        return version.version
