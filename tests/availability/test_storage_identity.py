"""Snapshots and the shared state in Table Storage reached with a managed identity instead of a connection string.

Azurite runs here over HTTPS with `--oauth basic`, so it takes bearer tokens for https://storage.azure.com;
the sandbox's identity endpoint mints them for the app's user-assigned identity. The app is configured
only with Functions' identity-based settings (`AzureWebJobsStorage__tableServiceUri`, `__credential`,
`__clientId`; `AVAILABILITY_STATE_STORAGE__...` for the shared state's own account), as it would be in Azure
without a storage key.
"""

from __future__ import annotations

import subprocess
import time
import uuid
from pathlib import Path

import pytest
import requests
import trustme

from devtools.stack import AZURITE_ACCOUNT, azurite_command, free_port
from tests.availability.scenario import CHAT
from tests.availability.snapshots.test_history_api import DAILY, trigger

pytestmark = pytest.mark.usefixtures("clean_sandbox")


@pytest.fixture(scope="module")
def oauth_azurite(stack, tmp_path_factory):
    """An Azurite Table service over HTTPS that accepts bearer tokens; yields (endpoint, CA bundle)."""
    folder: Path = tmp_path_factory.mktemp("oauth-azurite")
    ca = trustme.CA()
    served = ca.issue_cert("127.0.0.1", "localhost")
    served.private_key_pem.write_to_path(str(folder / "key.pem"))
    (folder / "cert.pem").write_bytes(b"".join(pem.bytes() for pem in served.cert_chain_pems))
    bundle = folder / "trusted-cas.pem"
    bundle.write_bytes(Path(stack.sandbox_settings()["REQUESTS_CA_BUNDLE"]).read_bytes() + b"\n" + ca.cert_pem.bytes())
    port = free_port()
    log = (folder / "azurite.log").open("wb")
    process = subprocess.Popen(
        [str(azurite_command()), "--tableHost", "127.0.0.1", "--tablePort", str(port), "--oauth", "basic",
         "--cert", str(folder / "cert.pem"), "--key", str(folder / "key.pem"), "--inMemoryPersistence",
         "--disableTelemetry", "--skipApiVersionCheck"],
        stdout=log, stderr=subprocess.STDOUT, cwd=folder)
    endpoint = f"https://127.0.0.1:{port}/{AZURITE_ACCOUNT}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                requests.get(endpoint, timeout=2, verify=str(bundle))
                break
            except requests.ConnectionError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError("Azurite with OAuth did not start:\n"
                                         + (folder / "azurite.log").read_text(errors="replace")) from None
                time.sleep(0.2)
        yield endpoint, str(bundle)
    finally:
        process.terminate()
        process.wait(10)
        log.close()


def identity_settings(endpoint: str, bundle: str, client_id: str, *, sdk_setting: bool = False) -> dict[str, str]:
    """Identity-based storage settings; the user-assigned identity in `__clientId`, or in AZURE_CLIENT_ID."""
    identity = {"AZURE_CLIENT_ID": client_id} if sdk_setting else {"AzureWebJobsStorage__clientId": client_id}
    return {"AzureWebJobsStorage": "", "AzureWebJobsStorage__tableServiceUri": endpoint,
            "AzureWebJobsStorage__credential": "managedidentity", **identity,
            "REQUESTS_CA_BUNDLE": bundle, "SNAPSHOT_TABLE": f"Identity{uuid.uuid4().hex[:16]}",
            "SNAPSHOT_SCHEDULE": DAILY, "SNAPSHOT_WORKSTREAMS": CHAT}


def identity_of_the_app(stack) -> str:
    """The client id of the app's system-assigned identity, as the identity endpoint tells it."""
    response = requests.get(stack.sandbox["identityEndpoint"],
                            params={"api-version": "2019-08-01", "resource": "https://vault.azure.net"},
                            headers={"X-IDENTITY-HEADER": stack.sandbox["identityHeader"]},
                            verify=stack.sandbox["caBundle"], timeout=10)
    return response.json()["client_id"]


@pytest.mark.parametrize("sdk_setting", [False, True], ids=["storage-clientId", "AZURE_CLIENT_ID"])
def test_the_timer_writes_and_the_api_reads_with_a_user_assigned_identity(oauth_azurite, fresh_gateway, stack,
                                                                          sandbox, sdk_setting):
    endpoint, bundle = oauth_azurite
    # Without a token, this Azurite refuses: the rows below can only have come through the identity.
    assert requests.get(f"{endpoint}/Tables", timeout=5, verify=bundle).status_code in (401, 403)
    gateway = fresh_gateway(**identity_settings(endpoint, bundle, stack.sandbox["userAssignedIdentityClientId"],
                                                sdk_setting=sdk_setting))
    assert trigger(gateway)["lastResult"] == "Succeeded"
    response = gateway.get("snapshots")
    assert response.status_code == 200, response.text
    rows = response.json()["snapshots"]
    assert [(r["workstreamId"], r["status"], r["error"]) for r in rows] == [(CHAT, "available", None)]
    # One token for storage, from the user-assigned identity; one for the vault, from the identity the Azure
    # SDKs pick (AZURE_CLIENT_ID, else the system-assigned one); each reused.
    issued = sandbox.stats()["identityTokensIssued"]
    user, system = stack.sandbox["userAssignedIdentityClientId"], identity_of_the_app(stack)
    vault_identity = user if sdk_setting else system
    assert issued == {f"{user} https://storage.azure.com": 1, f"{vault_identity} https://vault.azure.net": 1}


def test_an_identity_not_assigned_to_the_app_is_a_configuration_error(oauth_azurite, fresh_gateway):
    endpoint, bundle = oauth_azurite
    gateway = fresh_gateway(**identity_settings(endpoint, bundle, str(uuid.uuid4())))
    response = gateway.get("snapshots")
    assert response.status_code == 503, response.text
    error = response.json()["error"]
    assert error["code"] == "configuration_error" and "AzureWebJobsStorage" in error["message"]


def test_the_shared_state_lives_in_an_account_of_its_own_reached_with_the_identity(oauth_azurite, fresh_gateway,
                                                                                   stack):
    from azure.data.tables import TableServiceClient

    from availability.tables import service_from_connection_string
    from devtools.sandbox_client import SandboxIdentity

    endpoint, bundle = oauth_azurite
    table = f"State{uuid.uuid4().hex[:16]}"
    gateway = fresh_gateway(AVAILABILITY_STATE_STORAGE__tableServiceUri=endpoint,
                            AVAILABILITY_STATE_STORAGE__credential="managedidentity",
                            AVAILABILITY_STATE_STORAGE__clientId=stack.sandbox["userAssignedIdentityClientId"],
                            AVAILABILITY_STATE_TABLE=table, REQUESTS_CA_BUNDLE=bundle)
    response = gateway.post("availability/before-conversation", {"workstreamId": CHAT})
    assert response.status_code == 200, response.text
    time.sleep(0.3)  # the answer is written once its caller has it
    identity = SandboxIdentity(stack.sandbox["identityEndpoint"], stack.sandbox["identityHeader"], bundle)
    own = TableServiceClient(endpoint, credential=identity, connection_verify=bundle).get_table_client(table)
    rows = list(own.list_entities())
    assert [row for row in rows if "-g" in row["PartitionKey"]]  # the check's answer, in the state's own account
    host = service_from_connection_string(stack.storage_connection)
    assert table not in {found.name for found in host.list_tables()}  # nothing of it in AzureWebJobsStorage
