"""Tokens for the org: the client secret from Key Vault (managed identity) feeding a ClientSecretCredential.

- The secret is read once and kept in memory; reads are single-flight, and a failed read is not
  remembered, so the app recovers by itself when the vault comes back.
- Tokens for `{DATAVERSE_URL}/.default` are kept until five minutes before they expire; one refresh runs
  at a time in the background and every caller waits for it only as long as its own time budget allows;
  a failed refresh answers for the callers behind it for two seconds instead of each trying again (the
  back-off while Entra ID fails); the next refresh starts from a new credential, since MSAL would otherwise
  keep answering a refusal it remembers (up to a minute) without asking again.
- When the token endpoint refuses the secret (it was rotated in the vault), the secret is read again once
  and the token request retried: no restart needed.
- `DATAVERSE_CLIENT_SECRET` replaces the vault for local development (with a warning in Azure).

azure-identity and azure-keyvault-secrets are imported on first use, never at app import.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ..errors import AvailabilityError, ConfigurationError, UpstreamAuthFailed, UpstreamTimeout, UpstreamUnavailable
from ..settings import Settings

if TYPE_CHECKING:
    from azure.core.credentials import AccessToken, TokenCredential

log = logging.getLogger(__name__)

REFRESH_MARGIN = 300.0  # seconds before expiry when a cached token is renewed
FAILURE_MEMORY = 2.0  # seconds a failed refresh answers for the calls that queued behind it
_REFUSED_SECRET = ("AADSTS7000215", "AADSTS7000222", "invalid_client")  # wrong or expired secret
_CLIENT_OPTIONS = {"connection_timeout": 3, "read_timeout": 8, "retry_total": 1, "retry_backoff_factor": 0.2}


class DataverseCredential:
    """Hands out bearer tokens for the org; `invalidate()` forces a fresh one (after a 401 from the org)."""

    def __init__(
        self,
        settings: Settings,
        *,
        vault_credential: Any = None,
        verify_vault_challenge: bool = True,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """:keyword vault_credential: the identity that reads Key Vault (default: `DefaultAzureCredential`, the
            managed identity in Azure).
        :keyword verify_vault_challenge: check that the vault's 401 challenge names a parent domain of the vault
            (off only for a local stand-in, whose host can never be a subdomain of the real resource).
        """
        settings.require("dataverse_url", "tenant_id", "client_id", "key_vault_url")
        self._settings = settings
        self._scope = f"{settings.dataverse_url}/.default"
        self._vault_identity_given = vault_credential
        self._verify_vault_challenge = verify_vault_challenge
        # The CA bundle of every SDK call, from settings: the SDKs would read the environment themselves.
        self._client_options: dict[str, Any] = dict(_CLIENT_OPTIONS)
        if settings.ca_bundle:
            self._client_options["connection_verify"] = settings.ca_bundle
        self._clock = clock
        self._lock = threading.Lock()
        self._secret: str | None = None
        self._secret_version: str | None = None
        self._credential: TokenCredential | None = None
        self._vault_identity: Any = vault_credential
        self._token: AccessToken | None = None
        self._renew_credential = False
        self._pending: Future[AccessToken] | None = None  # the refresh under way, shared by every caller
        self._failure: tuple[AvailabilityError, float] | None = None  # the last refresh's error, and when
        self._worker: ThreadPoolExecutor | None = None
        if settings.client_secret:
            self._secret = settings.client_secret
            if settings.running_in_azure:
                log.warning("DATAVERSE_CLIENT_SECRET is set in Azure: keep the secret in Key Vault instead "
                            "(KEY_VAULT_URL) and remove the setting.")

    def token(self, deadline: float | None = None) -> str:
        """A bearer token for the org, from memory while it is fresh.

        :param deadline: `time.monotonic()` by which to give up waiting (`UpstreamTimeout`); the refresh
            itself goes on in the background and serves the calls that come after.
        """
        token = self._token
        if token is not None and token.expires_on - self._clock() > REFRESH_MARGIN:
            return token.token
        with self._lock:
            token = self._token
            if token is not None and token.expires_on - self._clock() > REFRESH_MARGIN:
                return token.token
            if self._failure is not None and time.monotonic() - self._failure[1] < FAILURE_MEMORY:
                raise self._failure[0]  # the refresh that just failed speaks for this call too
            if self._pending is None:
                if self._worker is None:
                    self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="token")
                self._pending = self._worker.submit(self._refresh)
            pending = self._pending
        timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
        try:
            return pending.result(timeout).token
        except FutureTimeout:
            raise UpstreamTimeout(message="Entra ID or Key Vault did not answer within the time budget.") from None

    def invalidate(self, stale_token: str) -> None:
        """Forget `stale_token` (refused by the org) so the next `token()` asks Entra ID for a new one."""
        with self._lock:
            if self._token is not None and self._token.token == stale_token:
                self._token = None
                self._renew_credential = True  # a new credential has an empty MSAL cache

    def _refresh(self) -> AccessToken:
        """One token refresh (the only one running); its outcome is kept for the callers that follow."""
        try:
            token = self._acquire()
        except AvailabilityError as error:
            failure: AvailabilityError = error
        except Exception:  # a bug or an SDK surprise still answers in the API's terms
            log.exception("Token refresh failed unexpectedly")
            failure = UpstreamUnavailable(message="A token for Dynamics 365 could not be obtained.")
        else:
            with self._lock:
                self._token, self._failure, self._pending = token, None, None
            return token
        with self._lock:
            self._failure, self._pending = (failure, time.monotonic()), None
        raise failure

    # -- internals (run by the one refresh worker) --
    def _acquire(self) -> AccessToken:
        from azure.core.exceptions import ClientAuthenticationError

        if self._renew_credential:
            self._renew_credential, self._credential = False, None
        if self._secret is None:
            self._read_secret()
        try:
            return self._client_credential().get_token(self._scope)
        except ClientAuthenticationError as exc:
            error = _token_error(exc)
            # MSAL remembers a refusal (4xx, up to a minute) or a 5xx and would fail the next calls without
            # asking: start afresh. FAILURE_MEMORY still spaces the attempts while Entra ID keeps failing.
            self._credential = None
            if not _secret_refused(exc) or self._settings.client_secret:
                raise error from None
            previous = self._secret_version
            log.info("The token endpoint refused the client secret; reading it again from Key Vault")
            self._read_secret()
            if self._secret_version == previous:
                raise UpstreamAuthFailed(message="Entra ID refused the app's client secret, and Key Vault holds "
                                                 "no newer one.") from None
            try:
                return self._client_credential().get_token(self._scope)
            except ClientAuthenticationError as retry_exc:
                raise _token_error(retry_exc) from None

    def _client_credential(self) -> TokenCredential:
        if self._credential is None:
            from azure.identity import AzureAuthorityHosts, ClientSecretCredential

            options: dict[str, Any] = dict(self._client_options)
            authority = self._settings.authority_host
            if authority:
                options["authority"] = authority
                # Instance discovery asks Microsoft about an authority it does not know: only clouds it knows.
                known = {f"https://{host}" for host in vars(AzureAuthorityHosts).values() if isinstance(host, str)}
                options["disable_instance_discovery"] = authority.lower() not in known
            assert self._secret is not None  # read before any credential is made
            self._credential = ClientSecretCredential(
                self._settings.required("tenant_id"), self._settings.required("client_id"), self._secret, **options)
        return self._credential

    def _read_secret(self) -> None:
        from azure.core.exceptions import AzureError, ClientAuthenticationError, ResourceNotFoundError

        settings = self._settings
        vault = settings.key_vault_url
        try:
            try:
                secret = self._secret_client().get_secret(settings.client_secret_name)
            except ClientAuthenticationError:
                # The vault refused our identity's cached token (revoked): start over with a fresh identity.
                self._vault_identity = None
                secret = self._secret_client().get_secret(settings.client_secret_name)
        except ResourceNotFoundError:
            raise ConfigurationError(
                message=f"Key Vault {_host(vault)} has no secret named '{settings.client_secret_name}' "
                        f"(DATAVERSE_CLIENT_SECRET_NAME).", setting="DATAVERSE_CLIENT_SECRET_NAME") from None
        except ValueError:
            # The vault's 401 challenge named a resource that is not a parent domain of the vault's host.
            raise ConfigurationError(
                message=f"Key Vault {_host(vault)} asked for a token of another resource than a vault; check "
                        "KEY_VAULT_URL.", setting="KEY_VAULT_URL") from None
        except AzureError as exc:
            raise ConfigurationError(
                message=f"Key Vault {_host(vault)} could not be read ({_describe(exc)}); check KEY_VAULT_URL and "
                        "the app's managed identity access to the vault.", setting="KEY_VAULT_URL") from None
        if not secret.value:
            raise ConfigurationError(message=f"The Key Vault secret '{settings.client_secret_name}' is empty.",
                                     setting="DATAVERSE_CLIENT_SECRET_NAME")
        if secret.value != self._secret:
            self._credential = None
        self._secret = secret.value
        self._secret_version = secret.properties.version

    def _secret_client(self) -> Any:
        from azure.keyvault.secrets import SecretClient

        return SecretClient(
            self._settings.required("key_vault_url"), self._vault_credential(),
            verify_challenge_resource=self._verify_vault_challenge, **self._client_options)

    def _vault_credential(self) -> Any:
        # Kept: it caches its own token for the vault, so a re-read after rotation costs one request.
        if self._vault_identity is None:
            if self._vault_identity_given is not None:
                self._vault_identity = self._vault_identity_given
            else:
                from azure.identity import DefaultAzureCredential

                # Managed identity in Azure (and the sandbox's identity endpoint locally); a developer's
                # Azure CLI / VS Code sign-in otherwise.
                self._vault_identity = DefaultAzureCredential(exclude_interactive_browser_credential=True,
                                                              **self._client_options)
        return self._vault_identity


def _secret_refused(exc: Exception) -> bool:
    text = str(exc)
    return any(marker in text for marker in _REFUSED_SECRET)


def _token_error(exc: Exception) -> Exception:
    status = getattr(getattr(exc, "response", None), "status_code", None)
    if status is not None and (status >= 500 or status == 429):
        return UpstreamUnavailable(message=f"Entra ID could not issue a token (HTTP {status}).")
    if status is None and "AADSTS" not in str(exc) and "invalid_" not in str(exc):
        return UpstreamUnavailable(message="Entra ID could not be reached to issue a token.")
    return UpstreamAuthFailed(message="Entra ID refused the app's credentials (tenant, client id or secret).")


def _describe(exc: Exception) -> str:
    status = getattr(getattr(exc, "response", None), "status_code", None)
    if status:
        return f"HTTP {status}"
    return type(exc).__name__


def _host(url: str | None) -> str:
    return urlsplit(url or "").netloc or "(unset)"
