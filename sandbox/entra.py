"""Entra ID (v2 and v1 client-credential token endpoints, OIDC discovery) and the App Service managed identity
endpoint."""

from __future__ import annotations

import base64
import secrets
import time
import uuid
from datetime import UTC, datetime
from urllib.parse import parse_qs, unquote

from sandbox.credentials import STORAGE_RESOURCE, VAULT_RESOURCE, ClientSecret, TokenStore, normalize_resource
from sandbox.scenario import Org
from sandbox.state import Failure, Faults, Stats
from sandbox.wire import Reply, Request, new_id, reason

IDENTITY_API_VERSION = "2019-08-01"
# Scopes MSAL may add to any request; they do not name a resource.
OIDC_SCOPES = {"openid", "profile", "offline_access", "email"}


class EntraId:
    """`/{tenant}/oauth2/v2.0/token`, `/{tenant}/oauth2/token`, OIDC discovery and JWKS."""

    def __init__(self, *, url: str, org: Org, secret: ClientSecret, tokens: TokenStore, stats: Stats,
                 faults: Faults) -> None:
        self.url = url
        self.org = org
        self.secret = secret
        self.tokens = tokens
        self.stats = stats
        self.faults = faults
        # The org is reached at the sandbox's own URL, so that URL is a resource too.
        self.resources = {normalize_resource(url), VAULT_RESOURCE, STORAGE_RESOURCE}
        # A managed identity is its own service principal, not the org's application user. The app has a
        # system-assigned identity and one user-assigned identity (asked for by its client id).
        self.identity_client_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{url}/msi/{org.tenant_id}"))
        self.user_identity_client_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{url}/msi/user/{org.tenant_id}"))

    def handle(self, request: Request, tenant: str, rest: str) -> Reply | None:
        if rest == "v2.0/.well-known/openid-configuration" and request.method == "GET":
            return self.discovery(request, tenant, v2=True)
        if rest == ".well-known/openid-configuration" and request.method == "GET":
            return self.discovery(request, tenant, v2=False)
        if rest in ("discovery/v2.0/keys", "discovery/keys") and request.method == "GET":
            return Reply(200, {"keys": []})
        if rest == "oauth2/v2.0/token":
            return self.token(request, tenant, v2=True)
        if rest == "oauth2/token":
            return self.token(request, tenant, v2=False)
        return None

    def known_tenant(self, tenant: str) -> bool:
        return tenant.lower() == self.org.tenant_id

    def discovery(self, request: Request, tenant: str, *, v2: bool) -> Reply:
        if not self.known_tenant(tenant):
            return self.error(request, 400, "invalid_tenant", 90002, self._tenant_not_found(tenant))
        base = f"{self.url}/{self.org.tenant_id}"
        version = "/v2.0" if v2 else ""
        oauth = f"{base}/oauth2{version}"
        document = {
            "token_endpoint": f"{oauth}/token",
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
            "jwks_uri": f"{base}/discovery{version}/keys",
            "response_modes_supported": ["query", "fragment", "form_post"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "issuer": f"{base}/v2.0" if v2 else f"{self.url}/{self.org.tenant_id}/",
            "request_uri_parameter_supported": False,
            "userinfo_endpoint": f"{self.url}/oidc/userinfo",
            "authorization_endpoint": f"{oauth}/authorize",
            "device_authorization_endpoint": f"{oauth}/devicecode",
            "http_logout_supported": True,
            "frontchannel_logout_supported": True,
            "end_session_endpoint": f"{oauth}/logout",
            "claims_supported": ["sub", "iss", "aud", "exp", "iat", "auth_time", "acr", "nonce", "tid", "ver"],
            "kerberos_endpoint": f"{base}/kerberos",
            "tenant_region_scope": "EU",
            "cloud_instance_name": "sandbox.local",
            "cloud_graph_host_name": "graph.sandbox.local",
            "msgraph_host": "graph.sandbox.local",
            "rbac_url": "https://pas.sandbox.local",
        }
        return Reply(200, document)

    def token(self, request: Request, tenant: str, *, v2: bool) -> Reply:
        stats = self.stats
        if request.method != "POST":
            return self.error(request, 405, "invalid_request", 900561,
                              "The endpoint only accepts POST requests. Received a GET request.")
        stats.count("tokens")
        failure = self.faults.strike("token")
        if failure is not None:
            return self.fault_reply(request, failure)
        if not self.known_tenant(tenant):
            stats.count_rejected("tokens")
            return self.error(request, 400, "invalid_request", 90002, self._tenant_not_found(tenant))
        form = {k: v[0] for k, v in parse_qs(request.body.decode("utf-8", "replace"), keep_blank_values=True).items()}
        client_id, secret = form.get("client_id"), form.get("client_secret")
        basic = _basic_credentials(request.header("authorization"))
        if basic:
            client_id, secret = client_id or basic[0], secret or basic[1]
        grant_type = form.get("grant_type")
        refused = self._refusal(request, form, grant_type, client_id, secret, tenant)
        if refused is not None:
            stats.count_rejected("tokens")
            return refused
        if v2:
            resource, error = self._resource_from_scope(request, form.get("scope"))
        else:
            resource, error = self._resource(request, form.get("resource"))
        if error is not None:
            stats.count_rejected("tokens")
            return error
        lifetime = self.org.token_lifetime_seconds
        token, record = self.tokens.mint(normalize_resource(resource), self.org.client_id,
                                                 self.org.tenant_id, self._issuer(), lifetime)
        headers = self._headers(request)
        if v2:
            return Reply(200, {"token_type": "Bearer", "expires_in": lifetime, "ext_expires_in": lifetime,
                               "access_token": token}, headers)
        now = int(time.time())
        # The v1 endpoint writes its numbers as strings.
        return Reply(200, {"token_type": "Bearer", "expires_in": str(lifetime), "ext_expires_in": str(lifetime),
                           "expires_on": str(int(record.expires_at)), "not_before": str(now),
                           "resource": resource, "access_token": token}, headers)

    def _refusal(self, request: Request, form: dict[str, str], grant_type: str | None, client_id: str | None,
                 secret: str | None, tenant: str) -> Reply | None:
        if not grant_type:
            return self.error(request, 400, "invalid_request", 900144,
                              "The request body must contain the following parameter: 'grant_type'.")
        if grant_type != "client_credentials":
            return self.error(request, 400, "unsupported_grant_type", 70003,
                              f"The app requested an unsupported grant type '{grant_type}'.")
        if not client_id:
            return self.error(request, 400, "invalid_request", 900144,
                              "The request body must contain the following parameter: 'client_id'.")
        if client_id.lower() != self.org.client_id:
            return self.error(request, 400, "unauthorized_client", 700016,
                              f"Application with identifier '{client_id}' was not found in the directory "
                              f"'{tenant}'. This can happen if the application has not been installed by the "
                              "administrator of the tenant or consented to by any user in the tenant. You may have "
                              "sent your authentication request to the wrong tenant.")
        if not secret:
            return self.error(request, 401, "invalid_client", 7000216,
                              "'client_assertion', 'client_secret' or 'request' is required for the "
                              "'client_credentials' grant type.")
        if not secrets.compare_digest(secret.encode(), self.secret.current().value.encode()):
            return self.error(request, 401, "invalid_client", 7000215,
                              "Invalid client secret provided. Ensure the secret being sent in the request is the "
                              "client secret value, not the client secret ID, for a secret added to app "
                              f"'{client_id}'.")
        return None

    def _resource_from_scope(self, request: Request, scope: str | None) -> tuple[str, Reply | None]:
        if not scope:
            return "", self.error(request, 400, "invalid_request", 900144,
                                  "The request body must contain the following parameter: 'scope'.")
        scopes = [s for s in scope.split() if s not in OIDC_SCOPES]
        if len(scopes) != 1 or not scopes[0].endswith("/.default"):
            return "", self.error(request, 400, "invalid_scope", 1002012,
                                  f"The provided value for scope {scope} is not valid. Client credential flows must "
                                  "have a scope value with /.default suffixed to the resource identifier "
                                  "(application ID URI).")
        return self._resource(request, scopes[0][: -len(".default")])

    def _resource(self, request: Request, resource: str | None) -> tuple[str, Reply | None]:
        if not resource:
            return "", self.error(request, 400, "invalid_request", 900144,
                                  "The request body must contain the following parameter: 'resource'.")
        if normalize_resource(resource) not in self.resources:
            return "", self.error(request, 400, "invalid_resource", 500011,
                                  f"The resource principal named {resource} was not found in the tenant named "
                                  f"{self.org.tenant_id}. This can happen if the application has not been installed "
                                  "by the administrator of the tenant or consented to by any user in the tenant.")
        return resource, None

    def _issuer(self) -> str:
        return f"{self.url}/{self.org.tenant_id}/"

    def _tenant_not_found(self, tenant: str) -> str:
        return (f"Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing "
                "into the correct cloud. Check with your subscription administrator, this may happen if there are "
                "no active subscriptions for the tenant.")

    def _headers(self, request: Request) -> dict[str, str]:
        headers = {"Cache-Control": "no-store, no-cache", "Pragma": "no-cache", "x-ms-request-id": new_id()}
        client_request_id = request.header("client-request-id")
        if client_request_id:
            headers["client-request-id"] = client_request_id[:100]
        return headers

    def error(self, request: Request, status: int, error: str, code: int, description: str,
              headers: dict[str, str] | None = None) -> Reply:
        """An error in Entra ID's OAuth shape (`error`, `error_description` with the AADSTS code, `error_codes`)."""
        all_headers = self._headers(request)
        all_headers.update(headers or {})
        trace = all_headers["x-ms-request-id"]
        correlation = all_headers.get("client-request-id") or new_id()
        stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%SZ")
        body = {
            "error": error,
            "error_description": f"AADSTS{code}: {description} Trace ID: {trace} Correlation ID: {correlation} "
                                 f"Timestamp: {stamp}",
            "error_codes": [code],
            "timestamp": stamp,
            "trace_id": trace,
            "correlation_id": correlation,
            "error_uri": f"{self.url}/error?code={code}",
        }
        return Reply(status, body, all_headers)

    def fault_reply(self, request: Request, failure: Failure) -> Reply:
        status = failure.status
        headers = {"Retry-After": str(failure.retry_after)} if failure.retry_after is not None else {}
        if status == 429 or status >= 500:
            return self.error(request, status, "temporarily_unavailable", 90033,
                              "A transient error has occurred. Please try again.", headers)
        return self.error(request, status, "invalid_request", 90000, f"{reason(status)} (sandbox fault).", headers)


class ManagedIdentity:
    """App Service's `IDENTITY_ENDPOINT` (`/msi/token`): tokens for the app's own managed identity."""

    def __init__(self, *, entra: EntraId, identity_header: str, tokens: TokenStore, stats: Stats,
                 faults: Faults) -> None:
        self.entra = entra
        self.org = entra.org
        self.identity_header = identity_header
        self.tokens = tokens
        self.stats = stats
        self.faults = faults

    def handle(self, request: Request) -> Reply:
        stats = self.stats
        if request.method != "GET":
            return self.error(405, "The endpoint only accepts GET requests.")
        stats.count("identityTokens")
        failure = self.faults.strike("identity")
        if failure is not None:
            return self.fault_reply(failure)
        header = request.header("x-identity-header")
        if header is None:
            stats.count_rejected("identityTokens")
            return self.error(400, "The X-IDENTITY-HEADER header is required.")
        if not secrets.compare_digest(header.encode(), self.identity_header.encode()):
            stats.count_rejected("identityTokens")
            return self.error(401, "The X-IDENTITY-HEADER header is not valid.")
        params = request.params
        if params.get("api-version") != IDENTITY_API_VERSION:
            stats.count_rejected("identityTokens")
            return self.error(400, f"Unsupported api-version '{params.get('api-version', '')}'. "
                                   f"Use {IDENTITY_API_VERSION}.")
        resource = params.get("resource")
        if not resource:
            stats.count_rejected("identityTokens")
            return self.error(400, "The resource parameter is required.")
        if normalize_resource(resource) not in self.entra.resources:
            stats.count_rejected("identityTokens")
            return self.error(400, f"AADSTS500011: The resource principal named {resource} was not found in the "
                                   f"tenant named {self.org.tenant_id}.")
        identity = self.entra.identity_client_id
        wanted = params.get("client_id")
        if wanted is not None:
            if wanted.lower() != self.entra.user_identity_client_id:
                stats.count_rejected("identityTokens")
                return self.error(400, "Unable to load the proper Managed Identity. No user-assigned identity with "
                                       f"client id {wanted} is assigned to this app.")
            identity = self.entra.user_identity_client_id
        if any(params.get(name) for name in ("principal_id", "mi_res_id", "object_id")):
            stats.count_rejected("identityTokens")
            return self.error(400, "The sandbox knows its user-assigned identity by client_id only.")
        lifetime = self.org.token_lifetime_seconds
        tenant = self.org.tenant_id
        # Managed identity tokens are v1 access tokens, issued by sts.windows.net like Azure's.
        token, record = self.tokens.mint(normalize_resource(resource), identity, tenant,
                                         f"https://sts.windows.net/{tenant}/", lifetime)
        stats.count_identity_token(identity, normalize_resource(resource))
        return Reply(200, {"access_token": token, "expires_on": str(int(record.expires_at)), "resource": resource,
                           "token_type": "Bearer", "client_id": identity})

    def error(self, status: int, message: str, headers: dict[str, str] | None = None) -> Reply:
        """App Service's identity endpoint answers errors as `{"statusCode", "message", "correlationId"}`."""
        return Reply(status, {"statusCode": status, "message": message, "correlationId": new_id()}, headers or {})

    def fault_reply(self, failure: Failure) -> Reply:
        headers = {"Retry-After": str(failure.retry_after)} if failure.retry_after is not None else {}
        return self.error(failure.status, f"{reason(failure.status)} (sandbox fault).", headers)


def _basic_credentials(value: str | None) -> tuple[str, str] | None:
    """client_secret_basic: `Basic base64(urlencode(id):urlencode(secret))`."""
    if not value or not value.lower().startswith("basic "):
        return None
    try:
        decoded = base64.b64decode(value[6:].strip()).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return None
    client_id, sep, secret = decoded.partition(":")
    return (unquote(client_id), unquote(secret)) if sep else None
