"""Entra ID and the managed identity endpoint, with the real azure-identity SDK and with plain requests."""

from __future__ import annotations

import base64
import json
import time

import pytest
from azure.core.exceptions import ClientAuthenticationError
from azure.identity import ClientSecretCredential, DefaultAzureCredential, ManagedIdentityCredential

from tests.sandbox.conftest import CLIENT, SECRET, TENANT, VAULT


def error_of(response) -> dict:
    body = response.json()
    assert set(body) >= {"error", "error_description", "error_codes", "timestamp", "trace_id", "correlation_id"}
    return body


# -- the SDK ------------------------------------------------------------------------------------------------

def test_client_secret_credential_with_the_sandbox_as_authority(sandbox, sdk_environment):
    credential = ClientSecretCredential(TENANT, CLIENT, SECRET, authority=sandbox.url, disable_instance_discovery=True)
    token = credential.get_token(f"{sandbox.url}/.default")
    assert 3500 < token.expires_on - time.time() <= 3600
    assert sandbox.query("WhoAmI", token=token.token).status_code == 200
    # MSAL caches the token: a second call asks nothing.
    assert credential.get_token(f"{sandbox.url}/.default").token == token.token
    assert sandbox.stats()["tokens"] == 1


def test_the_authority_host_variable_works_too(sandbox, sdk_environment):
    sdk_environment.setenv("AZURE_AUTHORITY_HOST", sandbox.url)
    credential = ClientSecretCredential(TENANT, CLIENT, SECRET, disable_instance_discovery=True)
    assert sandbox.query("WhoAmI", token=credential.get_token(f"{sandbox.url}/.default").token).status_code == 200


def test_the_sdk_reports_a_wrong_secret(sandbox, sdk_environment):
    credential = ClientSecretCredential(TENANT, CLIENT, "wrong", authority=sandbox.url, disable_instance_discovery=True)
    with pytest.raises(ClientAuthenticationError, match="AADSTS7000215"):
        credential.get_token(f"{sandbox.url}/.default")


def test_managed_identity_and_default_credentials(sandbox, sdk_environment):
    sdk_environment.setenv("IDENTITY_ENDPOINT", f"{sandbox.url}/msi/token")
    sdk_environment.setenv("IDENTITY_HEADER", sandbox.server.identity_header)
    for credential in (ManagedIdentityCredential(), DefaultAzureCredential()):
        token = credential.get_token(f"{VAULT}/.default")
        assert 3500 < token.expires_on - time.time() <= 3600
    assert sandbox.stats()["identityTokens"] == 2


# -- the v2 and v1 token endpoints --------------------------------------------------------------------------

def test_openid_configuration_names_the_token_endpoint(sandbox):
    response = sandbox.get(f"/{TENANT}/v2.0/.well-known/openid-configuration")
    assert response.status_code == 200
    document = response.json()
    assert document["token_endpoint"] == f"{sandbox.url}/{TENANT}/oauth2/v2.0/token"
    assert document["issuer"] == f"{sandbox.url}/{TENANT}/v2.0"
    assert document["authorization_endpoint"] == f"{sandbox.url}/{TENANT}/oauth2/v2.0/authorize"
    assert sandbox.get(document["jwks_uri"].removeprefix(sandbox.url)).json() == {"keys": []}


def test_v2_token(sandbox):
    response = sandbox.token_response()
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"token_type", "expires_in", "ext_expires_in", "access_token"}
    assert (body["token_type"], body["expires_in"], body["ext_expires_in"]) == ("Bearer", 3599, 3599)
    assert response.headers["Cache-Control"].startswith("no-store")


def test_v1_token(sandbox):
    response = sandbox.post(f"/{TENANT}/oauth2/token", data={
        "grant_type": "client_credentials", "client_id": CLIENT, "client_secret": SECRET, "resource": sandbox.url})
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["resource"] == sandbox.url
    assert body["expires_in"] == "3599"  # the v1 endpoint writes numbers as strings
    assert abs(int(body["expires_on"]) - (time.time() + 3599)) < 5
    assert sandbox.query("WhoAmI", token=body["access_token"]).status_code == 200


def test_client_secret_basic_authentication(sandbox):
    response = sandbox.post(f"/{TENANT}/oauth2/v2.0/token", auth=(CLIENT, SECRET),
                            data={"grant_type": "client_credentials", "scope": f"{sandbox.url}/.default"})
    assert response.status_code == 200


@pytest.mark.parametrize("change, status, error, code", [
    ({"client_secret": "wrong"}, 401, "invalid_client", 7000215),
    ({"client_secret": ""}, 401, "invalid_client", 7000216),
    ({"client_id": "33333333-3333-3333-3333-333333333333"}, 400, "unauthorized_client", 700016),
    ({"grant_type": "password"}, 400, "unsupported_grant_type", 70003),
    ({"grant_type": ""}, 400, "invalid_request", 900144),
    ({"scope": "https://127.0.0.1/whatever"}, 400, "invalid_scope", 1002012),
    ({"scope": "https://graph.microsoft.com/.default"}, 400, "invalid_resource", 500011),
])
def test_v2_token_errors(sandbox, change, status, error, code):
    data = {"grant_type": "client_credentials", "client_id": CLIENT, "client_secret": SECRET,
            "scope": f"{sandbox.url}/.default", **change}
    response = sandbox.post(f"/{TENANT}/oauth2/v2.0/token", data=data)
    assert response.status_code == status
    body = error_of(response)
    assert body["error"] == error
    assert body["error_codes"] == [code]
    assert body["error_description"].startswith(f"AADSTS{code}: ")
    assert SECRET not in response.text


def test_unknown_tenant(sandbox):
    other = "99999999-9999-9999-9999-999999999999"
    response = sandbox.post(f"/{other}/oauth2/v2.0/token", data={
        "grant_type": "client_credentials", "client_id": CLIENT, "client_secret": SECRET,
        "scope": f"{sandbox.url}/.default"})
    assert response.status_code == 400
    assert error_of(response)["error_codes"] == [90002]
    discovery = sandbox.get(f"/{other}/v2.0/.well-known/openid-configuration")
    assert discovery.status_code == 400
    assert error_of(discovery)["error"] == "invalid_tenant"


def test_v1_token_needs_a_known_resource(sandbox):
    form = {"grant_type": "client_credentials", "client_id": CLIENT, "client_secret": SECRET}
    assert error_of(sandbox.post(f"/{TENANT}/oauth2/token", data=form))["error_codes"] == [900144]
    response = sandbox.post(f"/{TENANT}/oauth2/token", data={**form, "resource": "https://example.org"})
    assert error_of(response)["error_codes"] == [500011]


def test_correlation_id_is_echoed(sandbox):
    response = sandbox.post(f"/{TENANT}/oauth2/v2.0/token", headers={"client-request-id": "abc-123"},
                            data={"grant_type": "client_credentials", "client_id": CLIENT, "client_secret": "x",
                                  "scope": f"{sandbox.url}/.default"})
    assert response.headers["client-request-id"] == "abc-123"
    assert response.json()["correlation_id"] == "abc-123"


# -- the managed identity endpoint --------------------------------------------------------------------------

def identity(sandbox, header: str | None, **params: str):
    headers = {} if header is None else {"X-IDENTITY-HEADER": header}
    return sandbox.get("/msi/token", params={"api-version": "2019-08-01", "resource": VAULT, **params},
                       headers=headers)


def test_identity_token(sandbox):
    response = identity(sandbox, sandbox.server.identity_header)
    assert response.status_code == 200
    body = response.json()
    assert body["resource"] == VAULT
    assert body["token_type"] == "Bearer"
    assert isinstance(body["expires_on"], str) and abs(int(body["expires_on"]) - time.time() - 3599) < 5
    assert set(body) == {"access_token", "expires_on", "resource", "token_type", "client_id"}


def test_user_assigned_identity_token_for_storage(sandbox):
    user = sandbox.server.info()["userAssignedIdentityClientId"]
    system = identity(sandbox, sandbox.server.identity_header).json()
    response = identity(sandbox, sandbox.server.identity_header, resource="https://storage.azure.com", client_id=user)
    assert response.status_code == 200
    body = response.json()
    assert body["client_id"] == user != system["client_id"]
    claims = json.loads(base64.urlsafe_b64decode(body["access_token"].split(".")[1] + "=="))
    # What Azurite's --oauth basic checks: a v1 issuer and the storage audience.
    assert claims["iss"] == f"https://sts.windows.net/{TENANT}/" and claims["aud"] == "https://storage.azure.com"
    assert claims["appid"] == user


@pytest.mark.parametrize("header, params, status", [
    (None, {}, 400),
    ("wrong", {}, 401),
    ("GOOD", {"api-version": "2017-09-01"}, 400),
    ("GOOD", {"resource": ""}, 400),
    ("GOOD", {"resource": "https://graph.microsoft.com"}, 400),
    ("GOOD", {"client_id": "0f7d0d59-6a5b-4c38-9e8c-3f5b1d1c2a10"}, 400),  # not assigned to the app
    ("GOOD", {"mi_res_id": "/subscriptions/x/resourceGroups/y/providers/z/id"}, 400),
])
def test_identity_errors(sandbox, header, params, status):
    header = sandbox.server.identity_header if header == "GOOD" else header
    response = identity(sandbox, header, **params)
    assert response.status_code == status
    assert response.json()["statusCode"] == status
    assert sandbox.server.identity_header not in response.text
    assert sandbox.stats()["identityTokens"] == 1
