"""Bundle building, response/outcome/searchset parsing, and the wire format."""

from __future__ import annotations

import contextlib
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from fhir.resources.R4B.bundle import Bundle
from hypothesis import given, settings
from hypothesis import strategies as st

from sync.errors import MappingError, PlatformProtocolError
from sync.fhir import bundle, wire
from sync.fhir.common import bundle_reference, entry_url, identifier_value

R1 = "0f8fad5b-d9cb-469f-a165-70867728950e"
C1 = "7c9e6679-7425-40de-944b-e07fc1f90ae7"
PATIENT = {
    "resourceType": "Patient",
    "identifier": [{"system": "urn:ietf:rfc:3986", "value": f"urn:uuid:{R1}"}],
}


def test_conditional_create_carries_if_none_exist_and_a_urn_uuid_full_url() -> None:
    entry = bundle.create(PATIENT, R1).to_fhir()
    assert entry == {
        "fullUrl": entry_url(R1),
        "resource": PATIENT,
        "request": {
            "method": "POST",
            "url": "Patient",
            "ifNoneExist": f"identifier=urn:ietf:rfc:3986|urn:uuid:{R1}",
        },
    }


def test_put_to_a_client_id_sets_the_id_and_if_match_only_for_updates() -> None:
    first = bundle.put({**PATIENT, "id": "stale"}, "r1").to_fhir()
    assert first["request"] == {"method": "PUT", "url": "Patient/r1"}
    assert first["resource"]["id"] == "r1"
    update = bundle.put(PATIENT, "r1", version_id="7", record_id=R1).to_fhir()
    assert update["request"] == {"method": "PUT", "url": "Patient/r1", "ifMatch": 'W/"7"'}
    assert update["fullUrl"] == entry_url(R1)


def test_a_full_url_is_never_the_identifier_value_a_server_would_rewrite() -> None:
    assert identifier_value(R1) == f"urn:uuid:{R1}"  # as records already on platforms carry it
    for record_id in (R1, C1, "ble:AA:BB"):
        url = entry_url(record_id)
        assert url != identifier_value(record_id)
        assert url == entry_url(record_id)  # stable: a retry refers to the same entry
        assert str(uuid.UUID(url.removeprefix("urn:uuid:"))) == url.removeprefix("urn:uuid:")
        assert bundle_reference(record_id) == {"reference": url}


@pytest.mark.parametrize("version", ["", 'a"b', "a b"])
def test_a_version_id_that_cannot_be_an_etag_is_refused(version: str) -> None:
    with pytest.raises(MappingError):
        bundle.put(PATIENT, "r1", version_id=version)


def test_transaction_and_batch_are_valid_r4_bundles() -> None:
    entries = [
        bundle.create(PATIENT, R1),
        bundle.put(PATIENT, "r2", version_id="3"),
        bundle.delete("Patient", "r3"),
        bundle.delete_by_identifier("Condition", C1),
        bundle.read("Patient", "r4"),
    ]
    for built in (bundle.transaction(entries), bundle.batch(entries)):
        Bundle.model_validate(built)
    assert bundle.transaction(entries)["type"] == "transaction"
    assert bundle.delete_by_identifier("Condition", C1).url == (f"Condition?identifier=urn:ietf:rfc:3986|urn:uuid:{C1}")


def test_a_record_id_that_is_not_a_uuid_still_gets_a_valid_stable_urn_uuid() -> None:
    first, again = bundle.create(PATIENT, "ble:AA:BB"), bundle.create(PATIENT, "ble:AA:BB")
    assert first.full_url == again.full_url
    assert first.full_url is not None
    assert str(uuid.UUID(first.full_url.removeprefix("urn:uuid:"))) == first.full_url.removeprefix("urn:uuid:")


def test_two_entries_with_one_full_url_are_refused() -> None:
    with pytest.raises(MappingError, match="fullUrl"):
        bundle.transaction([bundle.create(PATIENT, R1), bundle.create(PATIENT, R1)])


SEKMET_RESPONSE = {
    "resourceType": "Bundle",
    "type": "transaction-response",
    "entry": [
        {
            "fullUrl": "http://127.0.0.1:8091/fhir/Patient/abc",
            "resource": {"resourceType": "Patient", "id": "abc", "meta": {"versionId": "1"}},
            "response": {
                "status": "201 Created",
                "location": "http://127.0.0.1:8091/fhir/Patient/abc/_history/1",
                "etag": 'W/"1"',
                "lastModified": "2026-11-25T20:33:15.793Z",
            },
        },
        {"response": {"status": "200", "location": "Observation/o-9/_history/4"}},
        {
            "response": {
                "status": "404 Not Found",
                "outcome": {
                    "resourceType": "OperationOutcome",
                    "issue": [{"severity": "error", "code": "not-found", "diagnostics": "Patient/zzz not found"}],
                },
            }
        },
    ],
}


def test_transaction_response_gives_status_id_version_and_time_per_entry() -> None:
    created, found, missing = bundle.parse_response(SEKMET_RESPONSE, kind="transaction", expected=3)
    assert (created.status, created.created, created.resource_type, created.resource_id) == (
        201,
        True,
        "Patient",
        "abc",
    )
    assert created.version_id == "1"
    assert created.last_modified == datetime(2026, 11, 25, 20, 33, 15, 793000, tzinfo=UTC)
    assert (found.status, found.ok, found.created, found.resource_id, found.version_id) == (
        200,
        True,
        False,
        "o-9",
        "4",
    )
    assert (missing.ok, missing.reason) == (False, "error not-found: Patient/zzz not found")


def test_an_answer_with_fewer_entries_than_requests_is_a_protocol_error() -> None:
    with pytest.raises(PlatformProtocolError, match="cut short"):
        bundle.parse_response(SEKMET_RESPONSE, kind="transaction", expected=4)


def test_a_batch_response_is_not_a_transaction_response() -> None:
    with pytest.raises(PlatformProtocolError, match="batch-response"):
        bundle.parse_response({**SEKMET_RESPONSE, "type": "batch-response"}, kind="transaction")


@pytest.mark.parametrize(("etag", "version"), [('W/"1"', "1"), ('"abc-2"', "abc-2"), ('W/"x.y"', "x.y"), ("17", "17")])
def test_version_ids_are_opaque_text_from_the_etag(etag: str, version: str) -> None:
    assert bundle.version_from_etag(etag) == version


def test_last_modified_accepts_http_dates_too() -> None:
    assert bundle.parse_last_modified("Wed, 25 Nov 2026 20:33:15 GMT") == datetime(2026, 11, 25, 20, 33, 15, tzinfo=UTC)


def test_operation_outcome_becomes_one_line_naming_the_place() -> None:
    outcome = {
        "resourceType": "OperationOutcome",
        "issue": [
            {"severity": "information", "code": "informational", "diagnostics": "checked"},
            {
                "severity": "error",
                "code": "structure",
                "diagnostics": "Invalid date\n 1949-13-01",
                "expression": ["Patient.birthDate"],
            },
            {"severity": "error", "code": "required", "details": {"text": "name is required"}},
        ],
    }
    assert bundle.parse_outcome(outcome) == (
        "error structure: Invalid date 1949-13-01 (at Patient.birthDate); error required: name is required"
    )


def test_a_long_outcome_is_cut_to_a_readable_line() -> None:
    outcome = {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": "x", "diagnostics": "y" * 1000}],
    }
    assert len(bundle.parse_outcome(outcome)) == 300


def test_searchset_pages_split_matches_includes_and_warnings() -> None:
    page = bundle.parse_searchset(
        {
            "resourceType": "Bundle",
            "type": "searchset",
            "total": 41,
            "link": [
                {"relation": "self", "url": "http://h/fhir/Patient?_count=2&_offset=0"},
                {"relation": "next", "url": "http://h/fhir/Patient?_count=2&_offset=2"},
            ],
            "entry": [
                {"resource": {"resourceType": "Patient", "id": "1"}, "search": {"mode": "match"}},
                {"resource": {"resourceType": "Patient", "id": "2"}},
                {"resource": {"resourceType": "Organization", "id": "o"}, "search": {"mode": "include"}},
                {
                    "resource": {
                        "resourceType": "OperationOutcome",
                        "issue": [
                            {
                                "severity": "warning",
                                "code": "not-supported",
                                "diagnostics": "unknown parameter foo",
                            }
                        ],
                    },
                    "search": {"mode": "outcome"},
                },
            ],
        }
    )
    assert [r["id"] for r in page.resources] == ["1", "2"]
    assert [r["id"] for r in page.included] == ["o"]
    assert page.warnings == ["warning not-supported: unknown parameter foo"]
    assert (page.total, page.next_url) == (41, "http://h/fhir/Patient?_count=2&_offset=2")


def test_the_last_page_has_no_next_url() -> None:
    page = bundle.parse_searchset({"resourceType": "Bundle", "type": "searchset", "total": 0})
    assert (page.resources, page.next_url) == ([], None)


# Fuzzing: parsers raise PlatformProtocolError and nothing else ----------------------------------------

scalars = st.none() | st.booleans() | st.integers() | st.text(max_size=12) | st.decimals(allow_nan=False)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=15,
)
statuses = st.sampled_from(["200 OK", "201 Created", "412", "abc", "", "999", "20"]) | st.text(max_size=6)
responses = st.fixed_dictionaries(
    {},
    optional={
        "status": statuses | json_values,
        "location": st.sampled_from(["Patient/1/_history/2", "http://x/fhir/Observation/a", "//", "x"]) | json_values,
        "etag": st.sampled_from(['W/"1"', '"2"', "W/", '""', "a b"]) | json_values,
        "lastModified": st.sampled_from(
            ["2026-01-01T00:00:00Z", "Wed, 25 Nov 2026 20:33:15 GMT", "2026-01-01T00:00:00", "x"]
        )
        | json_values,
        "outcome": st.fixed_dictionaries({"resourceType": st.just("OperationOutcome"), "issue": json_values})
        | json_values,
    },
)
entries = st.fixed_dictionaries(
    {}, optional={"response": responses | json_values, "resource": json_values, "fullUrl": json_values}
)
response_bundles = st.fixed_dictionaries(
    {
        "resourceType": st.just("Bundle") | json_values,
        "type": st.sampled_from(["transaction-response", "batch-response", "searchset"]),
    },
    optional={
        "entry": st.lists(entries | json_values, max_size=4) | json_values,
        "link": json_values,
        "total": json_values,
    },
)


@settings(max_examples=400, deadline=None)
@given(response_bundles | json_values, st.sampled_from(["transaction", "batch"]), st.none() | st.integers(0, 4))
def test_response_parser_raises_only_protocol_errors(body: Any, kind: Any, expected: int | None) -> None:
    with contextlib.suppress(PlatformProtocolError):
        results = bundle.parse_response(body, kind=kind, expected=expected)
        assert all(100 <= r.status <= 599 for r in results)


@settings(max_examples=300, deadline=None)
@given(response_bundles | json_values)
def test_searchset_parser_raises_only_protocol_errors(body: Any) -> None:
    with contextlib.suppress(PlatformProtocolError):
        page = bundle.parse_searchset(body)
        assert all(isinstance(r, dict) for r in page.resources)


@settings(max_examples=300, deadline=None)
@given(
    st.fixed_dictionaries({"resourceType": st.just("OperationOutcome")}, optional={"issue": json_values}) | json_values
)
def test_outcome_parser_raises_only_protocol_errors(body: Any) -> None:
    with contextlib.suppress(PlatformProtocolError):
        assert "\n" not in bundle.parse_outcome(body)


@given(st.binary(max_size=64) | st.text(max_size=64).map(str.encode))
def test_wire_loads_raises_only_protocol_errors(data: bytes) -> None:
    with contextlib.suppress(PlatformProtocolError):
        wire.loads(data)


def test_wire_rejects_nan_and_truncated_json() -> None:
    for data in (b'{"value": NaN}', b'{"resourceType": "Bund', b"\xff\xfe"):
        with pytest.raises(PlatformProtocolError):
            wire.loads(data)


@given(st.decimals(allow_nan=False, allow_infinity=False))
def test_wire_writes_decimals_exactly(value: Decimal) -> None:
    back = wire.loads(wire.dumps({"value": value}))["value"]
    assert str(back) == str(value) if not isinstance(back, int) else back == value


def test_wire_keeps_two_decimal_places_and_chinese_text() -> None:
    assert wire.dumps({"v": Decimal("2.00"), "n": "张三"}) == '{"v":2.00,"n":"张三"}'.encode()


def test_wire_refuses_binary_floats() -> None:
    with pytest.raises(MappingError, match="Decimal"):
        wire.dumps({"v": 2.0})
