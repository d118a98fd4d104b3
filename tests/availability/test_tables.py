"""Table Storage as the app reaches it: azure-core's errors as the gateway's storage errors (with the codes callers
know), per-call options that end a storage request in the time it has, and tables made on first need (Azurite)."""

from __future__ import annotations

import logging
import time

import pytest

from availability.errors import ConfigurationError, StorageTimeout, StorageUnavailable, UpstreamError
from availability.tables import (
    EnsuredTable,
    errors_translated,
    options_until,
    options_within,
    service_from_connection_string,
    translate,
)
from devtools.stack import Stack
from tests.availability.conftest import RequestCounter, unique_table


def test_storage_failures_are_storage_errors_answered_with_the_codes_callers_know() -> None:
    from azure.core.exceptions import ServiceRequestError, ServiceResponseTimeoutError

    unreachable = translate(ServiceRequestError("Connection refused"))
    slow = translate(ServiceResponseTimeoutError("Read timed out"))
    assert isinstance(unreachable, StorageUnavailable) and (unreachable.status, unreachable.code) == (
        503, "upstream_unavailable")
    assert isinstance(slow, StorageTimeout) and (slow.status, slow.code) == (504, "upstream_timeout")
    # Not the org's trouble: nothing that handles the org's errors takes them for its own.
    assert not isinstance(unreachable, UpstreamError) and not isinstance(slow, UpstreamError)


def test_refused_credentials_name_the_setting() -> None:
    from azure.core.exceptions import ClientAuthenticationError

    refused = translate(ClientAuthenticationError("Server failed to authenticate the request."))
    assert isinstance(refused, ConfigurationError) and refused.setting == "AzureWebJobsStorage"


def test_what_the_caller_handles_is_left_to_it() -> None:
    from azure.core.exceptions import ResourceModifiedError, ResourceNotFoundError

    assert translate(ResourceNotFoundError("TableNotFound")) is None  # no table yet: an empty answer, or create it
    assert translate(ResourceModifiedError("UpdateConditionNotSatisfied")) is None  # read again, decide again
    assert translate(ValueError("a bug")) is None  # a bug stays a bug (the answer is internal_error)
    with pytest.raises(ValueError), errors_translated():
        raise ValueError("a bug")


def test_the_operators_log_line_never_holds_a_shared_access_signature(caplog: pytest.LogCaptureFixture) -> None:
    from azure.core.exceptions import ServiceRequestError

    with caplog.at_level(logging.WARNING, logger="availability.tables"), pytest.raises(StorageUnavailable):
        with errors_translated():
            raise ServiceRequestError("GET https://acct.table.core.windows.net/T?sv=2024&sig=SECRETSIG failed")
    assert "ServiceRequestError" in caplog.text and "SECRETSIG" not in caplog.text


def test_a_storage_request_gets_the_time_it_has_and_a_retry_only_when_two_fit() -> None:
    short = options_within(2.0)
    assert short["connection_timeout"] <= 2.0 / 3 and short["connection_timeout"] + short["read_timeout"] <= 2.0
    assert short["retry_total"] == 0 and short["retry_status"] == 0 and short["timeout"] == 2.0
    roomy = options_within(30.0)  # two attempts of 3 s + 6 s fit
    assert (roomy["connection_timeout"], roomy["read_timeout"], roomy["retry_total"]) == (3.0, 6.0, 1)
    shared_state = options_within(1.0, connect=0.25, read=0.5)  # a request's own storage work
    assert (shared_state["connection_timeout"], shared_state["read_timeout"], shared_state["retry_total"]) == (
        0.25, 0.5, 0)


def test_a_deadline_bounds_the_request_and_one_passed_sends_none() -> None:
    assert options_until(None) == {}  # the client's own timeouts and retries (the timers' writes)
    assert options_until(time.monotonic() + 10)["timeout"] <= 10
    with pytest.raises(StorageTimeout, match="Too late"):
        options_until(time.monotonic() + 0.05, message="Too late.")


def test_a_table_is_made_once_and_again_once_it_was_found_gone(stack: Stack) -> None:
    counter = RequestCounter()
    assert stack.storage_connection is not None  # Azurite runs
    client = service_from_connection_string(stack.storage_connection, raw_response_hook=counter).get_table_client(
        unique_table())
    try:
        made = EnsuredTable(client)
        made.ensure()
        made.ensure(time.monotonic() + 5)
        assert [method for method, url in counter.requests] == ["POST"]  # one create in all
        client.delete_table()
        made.forget()  # as a write that found it gone does
        made.ensure()
        client.create_entity({"PartitionKey": "p", "RowKey": "r"})  # there again
        assert [method for method, url in counter.requests].count("POST") == 3  # two creates and the insert
    finally:
        client.delete_table()


def test_a_conditional_write_that_lost_reaches_its_caller_as_such(stack: Stack) -> None:
    from azure.core import MatchConditions
    from azure.core.exceptions import ResourceModifiedError
    from azure.data.tables import UpdateMode

    assert stack.storage_connection is not None  # Azurite runs
    client = service_from_connection_string(stack.storage_connection).get_table_client(unique_table())
    client.create_table()
    try:
        first = client.create_entity({"PartitionKey": "p", "RowKey": "r", "Value": 1})
        client.update_entity({"PartitionKey": "p", "RowKey": "r", "Value": 2}, mode=UpdateMode.REPLACE)
        with pytest.raises(ResourceModifiedError), errors_translated():
            client.update_entity({"PartitionKey": "p", "RowKey": "r", "Value": 3}, mode=UpdateMode.REPLACE,
                                 etag=first["etag"], match_condition=MatchConditions.IfNotModified)
    finally:
        client.delete_table()
