"""History Bundles and the sync cursor."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sync.errors import MappingError, PlatformProtocolError
from sync.fhir.history import parse_history, since


def test_history_shows_writes_and_deletions_newest_first() -> None:
    page = parse_history(
        {
            "resourceType": "Bundle",
            "type": "history",
            "link": [{"relation": "next", "url": "http://h/fhir/Condition/_history?_count=2&_offset=2"}],
            "entry": [
                {
                    "fullUrl": "http://h/fhir/Condition/c1",
                    "request": {"method": "DELETE", "url": "Condition/c1"},
                    "response": {
                        "status": "200 OK",
                        "etag": 'W/"3"',
                        "lastModified": "2026-11-25T10:00:00.123Z",
                    },
                },
                {
                    "fullUrl": "http://h/fhir/Condition/c1",
                    "resource": {"resourceType": "Condition", "id": "c1", "meta": {"versionId": "2"}},
                    "request": {"method": "PUT", "url": "Condition/c1"},
                    "response": {"status": "200 OK"},
                },
            ],
        }
    )
    gone, written = page.entries
    assert (gone.deleted, gone.resource_id, gone.version_id, gone.resource) == (True, "c1", "3", None)
    assert gone.last_modified == datetime(2026, 11, 25, 10, 0, 0, 123000, tzinfo=UTC)
    assert (written.deleted, written.version_id, written.status) == (False, "2", 200)
    assert page.next_url == "http://h/fhir/Condition/_history?_count=2&_offset=2"


def test_the_cursor_is_utc_milliseconds_rounded_down() -> None:
    moment = datetime(2026, 11, 25, 18, 0, 46, 999999, tzinfo=timezone(timedelta(hours=8)))
    assert since(moment) == "2026-11-25T10:00:46.999Z"
    with pytest.raises(MappingError):
        since(datetime(2026, 1, 1))


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=15,
)
entries = st.fixed_dictionaries(
    {},
    optional={
        "request": st.fixed_dictionaries(
            {"method": st.sampled_from(["PUT", "DELETE", "GET"]) | json_values},
            optional={"url": st.sampled_from(["Patient/1", "Patient/1/_history/2", "x"]) | json_values},
        )
        | json_values,
        "response": st.fixed_dictionaries(
            {}, optional={"status": json_values, "etag": json_values, "lastModified": json_values}
        ),
        "resource": json_values,
        "fullUrl": json_values,
    },
)


@given(
    st.fixed_dictionaries(
        {"resourceType": st.just("Bundle"), "type": st.just("history")},
        optional={"entry": st.lists(entries | json_values, max_size=3) | json_values, "link": json_values},
    )
    | json_values
)
def test_history_parser_raises_only_protocol_errors(body: Any) -> None:
    with contextlib.suppress(PlatformProtocolError):
        parse_history(body)
