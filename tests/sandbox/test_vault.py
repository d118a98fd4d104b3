"""Key Vault: the bearer challenge and secret reads, with the real azure-keyvault-secrets SDK."""

from __future__ import annotations

import pytest
from azure.core.exceptions import ResourceNotFoundError
from azure.identity import ClientSecretCredential, DefaultAzureCredential, ManagedIdentityCredential
from azure.keyvault.secrets import SecretClient

from tests.sandbox.conftest import CLIENT, SECRET, SECRET_NAME, TENANT, VAULT


@pytest.fixture
def identity_environment(sandbox, sdk_environment):
    sdk_environment.setenv("IDENTITY_ENDPOINT", f"{sandbox.url}/msi/token")
    sdk_environment.setenv("IDENTITY_HEADER", sandbox.server.identity_header)
    return sdk_environment


@pytest.mark.parametrize("credential_type", [ManagedIdentityCredential, DefaultAzureCredential])
def test_secret_client_with_managed_identity(sandbox, identity_environment, credential_type):
    client = SecretClient(sandbox.url, credential_type(), verify_challenge_resource=False)
    secret = client.get_secret(SECRET_NAME)
    assert secret.value == SECRET
    assert secret.id is not None and secret.id.startswith(f"{sandbox.url}/secrets/{SECRET_NAME}/")
    assert secret.properties.enabled is True
    stats = sandbox.stats()
    assert (stats["secretReads"], stats["identityTokens"], stats["tokens"]) == (1, 1, 0)


def test_secret_client_with_the_app_registration(sandbox, sdk_environment):
    credential = ClientSecretCredential(TENANT, CLIENT, SECRET, authority=sandbox.url, disable_instance_discovery=True)
    client = SecretClient(sandbox.url, credential, verify_challenge_resource=False)
    assert client.get_secret(SECRET_NAME).value == SECRET


def test_unknown_secret_is_secret_not_found(sandbox, identity_environment):
    client = SecretClient(sandbox.url, ManagedIdentityCredential(), verify_challenge_resource=False)
    with pytest.raises(ResourceNotFoundError) as raised:
        client.get_secret("no-such-secret")
    assert raised.value.error is not None and raised.value.error.code == "SecretNotFound"


def test_the_challenge(sandbox):
    response = sandbox.get(f"/secrets/{SECRET_NAME}/", params={"api-version": "7.5"})
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == (
        f'Bearer authorization="{sandbox.url}/{TENANT}", resource="{VAULT}"')
    assert response.json() == {"error": {"code": "Unauthorized",
                                         "message": "AKV10000: Request is missing a Bearer or PoP token."}}
    assert sandbox.stats()["secretReads"] == 0


def test_a_token_for_the_org_is_refused(sandbox):
    response = sandbox.get(f"/secrets/{SECRET_NAME}", params={"api-version": "7.5"},
                           headers={"Authorization": f"Bearer {sandbox.org_token}"})
    assert response.status_code == 401
    assert "AKV10022" in response.json()["error"]["message"]
    assert "WWW-Authenticate" in response.headers
    assert sandbox.stats()["secretReads"] == 0


def test_read_by_version_and_api_version_check(sandbox):
    headers = {"Authorization": f"Bearer {sandbox.identity_token(VAULT)}"}
    latest = sandbox.get(f"/secrets/{SECRET_NAME}", params={"api-version": "2025-07-01"}, headers=headers).json()
    version = latest["id"].rsplit("/", 1)[1]
    again = sandbox.get(f"/secrets/{SECRET_NAME}/{version}", params={"api-version": "7.6"}, headers=headers)
    assert again.json()["value"] == SECRET
    assert sandbox.get(f"/secrets/{SECRET_NAME}/{'0' * 32}", params={"api-version": "7.6"},
                       headers=headers).status_code == 404
    missing = sandbox.get(f"/secrets/{SECRET_NAME}", headers=headers)
    assert missing.status_code == 400
    assert missing.json()["error"]["code"] == "BadParameter"
    assert sandbox.stats()["secretReads"] == 4
