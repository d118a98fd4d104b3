"""The error hierarchy: contract codes, HTTP statuses, bodies."""

import pytest

from availability.errors import (
    AvailabilityError,
    ConfigurationError,
    InvalidRequest,
    NotFound,
    StorageError,
    StorageTimeout,
    StorageUnavailable,
    Unauthorized,
    UpstreamAuthFailed,
    UpstreamError,
    UpstreamThrottled,
    UpstreamTimeout,
    UpstreamUnavailable,
)

# The contract's error table (docs/api.md), row by row.
CONTRACT = [
    (InvalidRequest, 400, "invalid_request"),
    (Unauthorized, 401, "unauthorized"),
    (NotFound, 404, "not_found"),
    (UpstreamAuthFailed, 502, "upstream_auth_failed"),
    (UpstreamThrottled, 503, "upstream_throttled"),
    (UpstreamUnavailable, 503, "upstream_unavailable"),
    (ConfigurationError, 503, "configuration_error"),
    (UpstreamTimeout, 504, "upstream_timeout"),
]


@pytest.mark.parametrize(("cls", "status", "code"), CONTRACT)
def test_each_class_carries_its_contract_code_and_status(cls, status, code):
    error = cls()
    assert (error.status, error.code) == (status, code)
    assert isinstance(error, AvailabilityError)
    # Class-level too, so the HTTP layer can map a class without building one.
    assert (cls.status, cls.code) == (status, code)


@pytest.mark.parametrize(("cls", "status", "code"), CONTRACT)
def test_default_message_is_a_sentence(cls, status, code):
    message = cls().message
    assert message and message[0].isupper() and message.endswith(".")
    assert str(cls()) == message


def test_upstream_family():
    for cls in (UpstreamAuthFailed, UpstreamThrottled, UpstreamUnavailable, UpstreamTimeout):
        assert issubclass(cls, UpstreamError)
    for other in (InvalidRequest, Unauthorized, NotFound, ConfigurationError):
        assert not issubclass(other, UpstreamError)


@pytest.mark.parametrize(("cls", "status", "code"), [(StorageUnavailable, 503, "upstream_unavailable"),
                                                      (StorageTimeout, 504, "upstream_timeout")])
def test_storage_trouble_has_classes_of_its_own_with_the_codes_callers_know(cls, status, code):
    assert (cls.status, cls.code) == (status, code) and issubclass(cls, StorageError)
    assert not issubclass(cls, UpstreamError)  # the org's errors mean the org
    assert cls().message.startswith("Table storage") and cls().message.endswith(".")


def test_body_with_target():
    error = InvalidRequest(message="workstreamId is required.", target="workstreamId")
    assert error.to_body() == {
        "error": {"code": "invalid_request", "message": "workstreamId is required.", "target": "workstreamId"}
    }


def test_body_without_target_has_no_target_key():
    body = UpstreamTimeout().to_body()
    assert set(body["error"]) == {"code", "message"}
    assert body["error"]["code"] == "upstream_timeout"


def test_message_may_be_given_positionally_or_by_keyword():
    assert NotFound("No such workstream.").message == NotFound(message="No such workstream.").message


def test_retry_after_only_when_given():
    assert UpstreamUnavailable().retry_after is None
    assert InvalidRequest(target="x").retry_after is None


def test_throttled_carries_retry_after_in_whole_seconds_rounded_up():
    error = UpstreamThrottled(retry_after=2.1)
    assert error.retry_after == 3
    assert "3 seconds" in error.message
    assert UpstreamThrottled(retry_after=1).message.endswith("in 1 second.")
    assert UpstreamThrottled(retry_after=-5).retry_after == 0
    assert UpstreamThrottled().retry_after is None


def test_throttled_keeps_a_given_message():
    assert UpstreamThrottled("Slow down.", retry_after=10).message == "Slow down."


def test_configuration_error_names_the_setting():
    error = ConfigurationError(setting="DATAVERSE_URL")
    assert error.setting == "DATAVERSE_URL"
    assert "DATAVERSE_URL" in error.message
    assert "DATAVERSE_URL" in error.to_body()["error"]["message"]


def test_configuration_error_with_own_message():
    error = ConfigurationError(message="Key Vault could not be read (KEY_VAULT_URL).", setting="KEY_VAULT_URL")
    assert error.message == "Key Vault could not be read (KEY_VAULT_URL)."
    assert error.setting == "KEY_VAULT_URL"
    assert ConfigurationError().setting is None


def test_errors_are_raisable_and_catchable_by_base():
    with pytest.raises(AvailabilityError) as caught:
        raise UpstreamAuthFailed()
    assert caught.value.status == 502


def test_repr_names_class_and_target():
    assert repr(InvalidRequest("Bad.", target="timeZone")) == "InvalidRequest('Bad.', target='timeZone')"
