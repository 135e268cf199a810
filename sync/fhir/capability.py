"""What a FHIR server says it can do (its CapabilityStatement), reduced to what sync must choose.

Servers differ: SEKMET 0.1.1 defines no search parameters for FamilyMemberHistory, so a
conditional create (``ifNoneExist: identifier=...``) of one is refused with 400; the regional
platform may refuse client-chosen ids instead. ``Capabilities.create_by`` tells the engine which
effectively-once create a resource type allows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from sync.errors import PlatformProtocolError

CreateBy = Literal["conditional-create", "put-client-id"]


@dataclass(frozen=True, slots=True)
class ResourceCapability:
    """One resource type's interactions and search parameters."""

    interactions: frozenset[str] = frozenset()
    search_params: frozenset[str] = frozenset()
    conditional_create: bool = False
    update_create: bool = False


@dataclass(frozen=True, slots=True)
class Capabilities:
    """The server's capabilities by resource type."""

    resources: dict[str, ResourceCapability] = field(default_factory=dict)
    system_interactions: frozenset[str] = frozenset()

    def searchable(self, resource_type: str, param: str) -> bool:
        """True if the server searches ``resource_type`` by ``param``."""
        found = self.resources.get(resource_type)
        return found is not None and param in found.search_params

    def create_by(self, resource_type: str) -> CreateBy | None:
        """How to create ``resource_type`` so that a replay duplicates nothing.

        None when the statement does not say (SEKMET leaves FamilyMemberHistory out altogether);
        PUT to a client id is then the better guess, and a 4xx will park the entry if it is wrong.
        """
        found = self.resources.get(resource_type)
        if found is None:
            return None
        if found.conditional_create and "identifier" in found.search_params:
            return "conditional-create"
        if found.update_create and "update" in found.interactions:
            return "put-client-id"
        return None


def parse_capabilities(statement: Any) -> Capabilities:
    """Parse a CapabilityStatement; raises PlatformProtocolError on anything else."""
    if not isinstance(statement, dict) or statement.get("resourceType") != "CapabilityStatement":
        raise PlatformProtocolError("the platform's /metadata is not a CapabilityStatement")
    rests = [r for r in _list(statement.get("rest")) if isinstance(r, dict) and r.get("mode", "server") == "server"]
    if not rests:
        raise PlatformProtocolError("the platform's CapabilityStatement describes no server REST interface")
    rest = rests[0]
    resources: dict[str, ResourceCapability] = {}
    for item in _list(rest.get("resource")):
        if isinstance(item, dict) and isinstance(item.get("type"), str):
            resources[item["type"]] = ResourceCapability(
                interactions=_codes(item.get("interaction"), "code"),
                search_params=_codes(item.get("searchParam"), "name"),
                conditional_create=item.get("conditionalCreate") is True,
                update_create=item.get("updateCreate") is True,
            )
    return Capabilities(resources, _codes(rest.get("interaction"), "code"))


def _codes(value: Any, key: str) -> frozenset[str]:
    return frozenset(i[key] for i in _list(value) if isinstance(i, dict) and isinstance(i.get(key), str))


def _list(value: Any) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise PlatformProtocolError("the platform's CapabilityStatement has an array that is not one")
    return value
