"""Key Vault: the org's client secret, versioned, behind the bearer challenge the SDK expects."""

from __future__ import annotations

import re

from sandbox.credentials import VAULT_RESOURCE, ClientSecret, SecretVersion, TokenStore
from sandbox.state import Failure, Faults, Stats
from sandbox.wire import Reply, Request, new_id, reason

SECRET_NAME = re.compile(r"^[0-9a-zA-Z-]{1,127}$")
API_VERSION = re.compile(r"^(7\.\d+|\d{4}-\d{2}-\d{2})(-preview(\.\d+)?)?$")
TOKEN_PROBLEMS = {
    "missing": "AKV10000: Request is missing a Bearer or PoP token.",
    "unknown": "AKV10032: Invalid token: the sandbox did not issue it.",
    "revoked": "AKV10032: Invalid token: it has been revoked.",
    "expired": "AKV10032: Invalid token: it has expired.",
    "audience": f"AKV10022: Invalid audience. Expected {VAULT_RESOURCE}.",
}
KV_CODES = {400: "BadParameter", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound", 409: "Conflict",
            429: "Throttled", 500: "InternalServerError", 503: "ServiceUnavailable"}


class KeyVault:
    """`/secrets/{name}[/{version}]`; the org's client secret is its only secret."""

    def __init__(self, *, url: str, tenant_id: str, secret_name: str, secret: ClientSecret, tokens: TokenStore,
                 stats: Stats, faults: Faults) -> None:
        self.url = url
        self.tenant_id = tenant_id
        self.name = secret_name
        self.secret = secret
        self.tokens = tokens
        self.stats = stats
        self.faults = faults

    def rotate(self) -> str:
        """Store a fresh secret as a new version; Entra ID accepts only the newest one from now on."""
        return self.secret.rotate()

    def handle(self, request: Request, rest: str) -> Reply:
        token = request.bearer()
        problem = self.tokens.check(token, VAULT_RESOURCE)
        if problem is not None:
            if token is not None:
                self.stats.count_rejected("secretReads")
            return self.challenge(TOKEN_PROBLEMS[problem])
        self.stats.count("secretReads")
        failure = self.faults.strike("keyVault")
        if failure is not None:
            return self.fault_reply(failure)
        api_version = request.params.get("api-version")
        if not api_version or not API_VERSION.match(api_version):
            return self.error(400, "BadParameter", "The request URI contains an invalid or missing api-version "
                                                   "query parameter.")
        if request.method != "GET":
            return self.error(405, "BadParameter",
                              f"The {request.method} method is not supported by this sandbox vault.")
        parts = rest.split("/") if rest else []
        if not parts:
            return Reply(200, {"value": [{"id": f"{self.url}/secrets/{self.name}",
                                          "attributes": self._attributes(self.secret.current())}],
                               "nextLink": None}, self._headers())
        name = parts[0]
        version = parts[1] if len(parts) > 1 else ""
        if len(parts) > 2 or not SECRET_NAME.match(name):
            return self.error(400, "BadParameter", f"The secret name '{name}' is not valid.")
        if name.lower() != self.name.lower():
            return self.error(404, "SecretNotFound",
                              f"A secret with (name/id) {name} was not found in this key vault. If you recently "
                              "deleted this secret you may be able to recover it using the correct recovery command.")
        found = self.secret.find(version)
        if found is None:
            return self.error(404, "SecretNotFound",
                              f"A secret with (name/id) {name}/{version} was not found in this key vault.")
        return Reply(200, {"value": found.value, "id": f"{self.url}/secrets/{self.name}/{found.version}",
                           "attributes": self._attributes(found)}, self._headers())

    def _attributes(self, version: SecretVersion) -> dict:
        return {"enabled": True, "created": version.created, "updated": version.created,
                "recoveryLevel": "Recoverable+Purgeable", "recoverableDays": 90}

    def _headers(self) -> dict[str, str]:
        return {"x-ms-request-id": new_id(), "x-ms-keyvault-service-version": "1.9.sandbox",
                "Cache-Control": "no-cache"}

    def challenge(self, message: str) -> Reply:
        """401 with the challenge the SDK follows to learn the authority and the resource to ask a token for."""
        return self.error(401, "Unauthorized", message, {"WWW-Authenticate": self._challenge_header()})

    def _challenge_header(self) -> str:
        authority = f"{self.url}/{self.tenant_id}"
        return f'Bearer authorization="{authority}", resource="{VAULT_RESOURCE}"'

    def error(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Reply:
        return Reply(status, {"error": {"code": code, "message": message}}, {**self._headers(), **(headers or {})})

    def fault_reply(self, failure: Failure) -> Reply:
        status = failure.status
        headers = {"Retry-After": str(failure.retry_after)} if failure.retry_after is not None else {}
        if status == 401:
            headers["WWW-Authenticate"] = self._challenge_header()
        return self.error(status, KV_CODES.get(status, "Error"), f"{reason(status)} (sandbox fault).", headers)
