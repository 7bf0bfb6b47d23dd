"""The fuzzing case that found `?limit=²` answering 500: text of Unicode digits (superscripts, other scripts,
circled and fraction forms), which `str.isdigit()` and `int()` each accept in part, sent wherever the API reads a
number. Every one is refused with a 4xx problem, never a server error."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import HealthCheck, given, settings as hypothesis_settings, strategies as st

from smartcompute.numbers import decimal_number, is_whole_number, whole_number
from tests.billing.signing import body_for, headers_for

# Decimal digits of every script (Nd, which int() reads), superscripts and circled digits (No, which isdigit()
# accepts), Roman numerals (Nl), with ASCII digits mixed in so that half-valid text is tried too.
DIGIT_LIKE = st.text(
    st.characters(categories=("Nd", "No", "Nl")) | st.sampled_from("0123456789"), min_size=1, max_size=6
).filter(lambda text: not text.isascii())


def _integer_query_parameters(client) -> list[tuple[str, str]]:
    """(path, name) of every integer query parameter of an operation without path parameters, from the
    OpenAPI document, so that a parameter added later is fuzzed too."""
    found = []
    for path, operations in client.get("/v1/openapi.json").get_json()["paths"].items():
        for method, operation in operations.items():
            for parameter in operation.get("parameters", []):
                if (
                    method == "get"
                    and "{" not in path
                    and parameter["in"] == "query"
                    and parameter["schema"].get("type") == "integer"
                ):
                    found.append((path, parameter["name"]))
    return found


def test_every_integer_query_parameter_is_found(client):
    assert ("/v1/jobs", "limit") in _integer_query_parameters(client)


@hypothesis_settings(max_examples=150, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(value=DIGIT_LIKE, pick=st.integers(min_value=0))
def test_unicode_digits_in_a_query_number_are_a_422(client, staff_owner_headers, value, pick):
    parameters = _integer_query_parameters(client)
    path, name = parameters[pick % len(parameters)]
    response = client.get(path, query_string={name: value}, headers=staff_owner_headers)
    assert response.status_code == 422, (path, name, value, response.get_data(as_text=True))
    assert response.mimetype == "application/problem+json"


@hypothesis_settings(max_examples=60, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(value=DIGIT_LIKE)
def test_unicode_digits_in_a_webhook_timestamp_are_refused_as_a_bad_signature(client, settings, value):
    body = body_for("standard-webhooks", payment_id=str(uuid.uuid4()), status="pending")
    headers = {**headers_for("standard-webhooks", settings.STANDARD_WEBHOOKS_SECRET, body), "webhook-timestamp": value}
    response = client.post("/v1/webhooks/payments/standard-webhooks", data=body, headers=headers)
    assert response.status_code == 401, (value, response.get_data(as_text=True))


@pytest.mark.parametrize("text", ["²", "٣", "１０", "1_000", " 7", "+7", "-7", "", "7.0", "ⅷ"])
def test_only_ascii_digits_are_a_whole_number(text):
    assert not is_whole_number(text)
    with pytest.raises(ValueError, match="is not a whole number written in the digits 0-9"):
        whole_number(text)


@pytest.mark.parametrize("text", ["²", "٣.5", "NaN", "Infinity", "-1", "1e", "", "1,5", "0x10"])
def test_only_ascii_decimals_are_a_decimal_number(text):
    with pytest.raises(ValueError, match="is not a decimal number written in the digits 0-9"):
        decimal_number(text)


def test_ascii_numbers_still_read():
    assert whole_number("0042") == 42 and str(decimal_number("1e-05")) == "0.00001"
    assert str(decimal_number("10")) == "10" and str(decimal_number(".5")) == "0.5"
