"""Settings: the documented defaults, and a malformed or missing setting named in the error."""

import pytest

from availability.errors import ConfigurationError
from availability.settings import load_settings

ORG = {"DATAVERSE_URL": "https://contoso.crm.dynamics.com/", "DATAVERSE_TENANT_ID": "contoso.onmicrosoft.com",
       "DATAVERSE_CLIENT_ID": "00000000-0000-4000-8000-000000000001",
       "KEY_VAULT_URL": "https://contoso.vault.azure.net"}


def test_defaults_are_the_contracts():
    settings = load_settings({})
    assert settings.client_secret_name == "dataverse-client-secret"
    assert settings.cache_seconds == 15 and settings.stale_seconds == 300
    assert settings.snapshot_schedule == "0 */5 * * * *"
    assert settings.snapshot_workstreams is None  # auto
    assert settings.snapshot_table == "AvailabilitySnapshots"
    assert settings.snapshot_retention_days == 90
    assert settings.timeout_seconds == 20
    # Half of Dataverse's 6,000 requests per 5 minutes per user; below its 52 concurrent requests per user.
    assert settings.max_calls_per_minute == 600 and settings.max_concurrent_calls == 24


def test_values_are_normalized():
    ids = " 22222222-0000-4000-8000-000000000001 , 22222222-0000-4000-8000-000000000001,"
    settings = load_settings({**ORG, "SNAPSHOT_WORKSTREAMS": ids, "AVAILABILITY_CACHE_SECONDS": "0"})
    assert settings.dataverse_url == "https://contoso.crm.dynamics.com"
    assert settings.tenant_id == "contoso.onmicrosoft.com"
    assert settings.snapshot_workstreams == ("22222222-0000-4000-8000-000000000001",)
    assert settings.cache_seconds == 0
    settings.require("dataverse_url", "tenant_id", "client_id", "key_vault_url")


@pytest.mark.parametrize("name, value", [
    ("DATAVERSE_URL", "contoso.crm.dynamics.com"),
    ("DATAVERSE_URL", "http://contoso.crm.dynamics.com"),
    ("DATAVERSE_CLIENT_ID", "not-a-guid"),
    ("DATAVERSE_TENANT_ID", "not a tenant"),
    ("KEY_VAULT_URL", "ftp://vault"),
    ("DATAVERSE_CLIENT_SECRET_NAME", "bad_name!"),
    ("AVAILABILITY_CACHE_SECONDS", "fifteen"),
    ("AVAILABILITY_STALE_SECONDS", "-1"),
    ("AVAILABILITY_TIMEOUT_SECONDS", "60"),
    ("AVAILABILITY_MAX_CALLS_PER_MINUTE", "-1"),
    ("AVAILABILITY_MAX_CONCURRENT_CALLS", "many"),
    ("AVAILABILITY_STATE_STORAGE__tableServiceUri", "ststate.table.core.windows.net"),
    ("AVAILABILITY_STATE_STORAGE__clientSecret", "a-service-principal-secret"),
    ("AVAILABILITY_STATE_STORAGE__credential", "connectionstring"),
    ("SNAPSHOT_SCHEDULE", "*/5 * * * *"),
    ("SNAPSHOT_WORKSTREAMS", "abc"),
    ("SNAPSHOT_TABLE", "1bad"),
    ("SNAPSHOT_RETENTION_DAYS", "0"),
    ("AzureWebJobsStorage__tableServiceUri", "contosohistory.table.core.windows.net"),
    ("AzureWebJobsStorage__clientSecret", "a-service-principal-secret"),
    ("AzureWebJobsStorage__credential", "connectionstring"),
])
def test_a_malformed_setting_is_named(name, value):
    with pytest.raises(ConfigurationError) as raised:
        load_settings({**ORG, name: value})
    assert raised.value.setting == name
    assert name in raised.value.message and value not in ("", None)


def test_a_missing_setting_is_named_and_a_local_secret_replaces_the_vault():
    with pytest.raises(ConfigurationError) as raised:
        load_settings({**ORG, "DATAVERSE_URL": ""}).require("dataverse_url")
    assert "DATAVERSE_URL" in raised.value.message
    without_vault = {k: v for k, v in ORG.items() if k != "KEY_VAULT_URL"}
    with pytest.raises(ConfigurationError, match="KEY_VAULT_URL"):
        load_settings(without_vault).require("key_vault_url")
    load_settings({**without_vault, "DATAVERSE_CLIENT_SECRET": "s"}).require("key_vault_url")


def test_a_storage_client_id_names_a_user_assigned_identity_only_with_credential_managedidentity():
    client_id = "0f7d0d59-6a5b-4c38-9e8c-3f5b1d1c2a10"
    assert load_settings({"AzureWebJobsStorage__clientId": client_id}).storage_client_id is None
    managed = {"AzureWebJobsStorage__credential": "managedidentity", "AzureWebJobsStorage__clientId": client_id}
    assert load_settings(managed).storage_client_id == client_id
    with pytest.raises(ConfigurationError) as raised:
        load_settings({**managed, "AzureWebJobsStorage__clientId": "not-a-guid"})
    assert raised.value.setting == "AzureWebJobsStorage__clientId"


def test_the_secret_never_shows_in_the_settings_repr():
    assert "hunter2" not in repr(load_settings({**ORG, "DATAVERSE_CLIENT_SECRET": "hunter2"}))


def test_the_shared_state_has_a_storage_account_of_its_own_when_one_is_named():
    host = {"AzureWebJobsStorage__credential": "managedidentity",
            "AzureWebJobsStorage__clientId": "0f7d0d59-6a5b-4c38-9e8c-3f5b1d1c2a10",
            "AzureWebJobsStorage__tableServiceUri": "https://sthost.table.core.windows.net"}
    settings = load_settings(host)
    assert settings.state_storage == settings.storage and settings.shared_state == "table"
    state = {"AVAILABILITY_STATE_STORAGE__credential": "managedidentity",
             "AVAILABILITY_STATE_STORAGE__clientId": "1a2b3c4d-6a5b-4c38-9e8c-3f5b1d1c2a10",
             "AVAILABILITY_STATE_STORAGE__tableServiceUri": "https://ststate.table.core.windows.net/"}
    settings = load_settings({**host, **state})
    own = settings.state_storage
    assert (own.name, own.table_uri, own.client_id) == (
        "AVAILABILITY_STATE_STORAGE", "https://ststate.table.core.windows.net", "1a2b3c4d-6a5b-4c38-9e8c-3f5b1d1c2a10")
    assert settings.storage.table_uri == "https://sthost.table.core.windows.net"  # the host's own is untouched
    assert load_settings(state).shared_state == "table"  # shared wherever there is storage to share through
    with_key = load_settings({"AVAILABILITY_STATE_STORAGE": "DefaultEndpointsProtocol=https;AccountName=s;"
                                                            "AccountKey=secretkey=="})
    assert with_key.state_storage.connection_string and "secretkey" not in repr(with_key)
