"""CapabilityStatement parsing: how each resource type can be created effectively once."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sync.errors import PlatformProtocolError
from sync.fhir.capability import parse_capabilities

STATEMENT = {
    "resourceType": "CapabilityStatement",
    "rest": [
        {
            "mode": "server",
            "interaction": [{"code": "transaction"}, {"code": "batch"}],
            "resource": [
                {
                    "type": "Observation",
                    "interaction": [{"code": "create"}, {"code": "update"}],
                    "searchParam": [{"name": "identifier", "type": "token"}],
                    "conditionalCreate": True,
                    "updateCreate": True,
                },
                {"type": "Device", "interaction": [{"code": "update"}], "updateCreate": True},
                {"type": "Basic", "interaction": [{"code": "create"}]},
            ],
        }
    ],
}


def test_conditional_create_needs_both_the_flag_and_an_identifier_search() -> None:
    capabilities = parse_capabilities(STATEMENT)
    assert capabilities.create_by("Observation") == "conditional-create"
    assert capabilities.create_by("Device") == "put-client-id"
    assert capabilities.create_by("Basic") is None
    assert capabilities.create_by("Patient") is None
    assert capabilities.searchable("Observation", "identifier")
    assert capabilities.system_interactions == {"transaction", "batch"}


def test_something_else_is_a_protocol_error() -> None:
    with pytest.raises(PlatformProtocolError):
        parse_capabilities({"resourceType": "Bundle"})


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=15,
)


@given(
    st.fixed_dictionaries(
        {"resourceType": st.just("CapabilityStatement")},
        optional={"rest": st.lists(st.dictionaries(st.sampled_from(["mode", "resource", "interaction"]), json_values))},
    )
    | json_values
)
def test_parser_raises_only_protocol_errors(statement: Any) -> None:
    with contextlib.suppress(PlatformProtocolError):
        parse_capabilities(statement)
