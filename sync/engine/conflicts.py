"""What to do locally when the platform's copy of a record is not the one we last agreed on.

Three cases, decided against the base copy (the last-synced version):

- nothing waits to be sent here: the platform's version replaces the local one (fast-forward);
- both sides changed different fields: the three-way merge takes each side's change, the result
  becomes the local record and is queued to go back with If-Match on the platform's version;
- both sides changed the same field differently: the merged record keeps the doctor's value on
  screen, the conflict goes to the inbox, and the record is held (not sent) until it is resolved.
  Neither side is ever silently overwritten.

A fourth case has no base copy at all: a resident registered here and a Patient the platform
already held (written by another clinic or a hospital) turn out to be one person, by the national
ID card number. ``adoption`` joins them: what both sides say alike joins silently, what only one
side knows is taken from it, and what they say differently goes to the doctor.
"""

from __future__ import annotations

from typing import Any

from clinic_agent.core.sync_values import ConflictDraft, FieldValues, LocalState, OutboxAfter, Record, Write
from sync.engine.mapping import comparable, with_remote
from sync.merge import MISSING, RECORD, merge

_HAS_LOCAL_CHANGES = ("pending", "conflict", "parked")


def reconcile(
    state: LocalState, remote: Record, *, remote_id: str | None, remote_version: str | None, action: str
) -> Write:
    """The local write that takes in the platform's version of a record."""
    local_cmp = comparable(state.record)
    remote_cmp = comparable(remote)
    if state.outbox not in _HAS_LOCAL_CHANGES:
        return Write(
            entity=state.entity,
            record=with_remote(state.record, remote_cmp),
            expected_version=state.record.version,
            remote_id=remote_id,
            remote_version=remote_version,
            base=remote_cmp,
            outbox="keep",
            action=action,
            content_changed=remote_cmp != local_cmp,
        )
    # The platform holds exactly what we last sent (its reply was lost): that is the common ancestor.
    base = remote_cmp if state.sent is not None and state.sent == remote_cmp else state.base
    result = merge(base, local_cmp, remote_cmp)
    merged = result.merged if result.merged is not None else local_cmp
    conflict = None
    if result.conflicts:
        fields = tuple(
            FieldValues(c.field, _plain(c.base), _plain(c.local), _plain(c.remote)) for c in result.conflicts
        )
        conflict = ConflictDraft(kind="fields", fields=fields, remote_version=remote_version, remote=remote_cmp)
        outbox = "conflict"
    elif state.outbox in ("conflict", "parked"):
        outbox = "keep"  # held for the doctor, or refused: only a person releases it
    elif merged == remote_cmp:
        outbox = "done"
    else:
        outbox = "pending"
    return Write(
        entity=state.entity,
        record=with_remote(state.record, merged),
        expected_version=state.record.version,
        remote_id=remote_id,
        remote_version=remote_version,
        base=remote_cmp,
        outbox=outbox,  # type: ignore[arg-type]
        action="sync.conflict" if conflict else action,
        content_changed=merged != local_cmp,
        conflict=conflict,
    )


def deleted_versus_edited(
    state: LocalState, remote: Record, *, remote_id: str | None, remote_version: str | None
) -> Write | None:
    """A record deleted here that the platform changed since this PC last saw it: the doctor decides.

    The three-way merge would take the deletion (a field changed here only) over the platform's edit
    (other fields changed there only), and the DELETE would then take the edit away with it. None when
    the platform's copy holds nothing new (its version moved on, its content did not).
    """
    remote_cmp = comparable(remote)
    if not state.record.deleted or state.base is None or remote_cmp == state.base:
        return None
    draft = ConflictDraft(
        kind="delete",
        fields=(FieldValues(RECORD, state.base, None, remote_cmp),),
        remote_version=remote_version,
        remote=remote_cmp,
    )
    return Write(
        entity=state.entity,
        record=state.record,
        expected_version=state.record.version,
        remote_id=remote_id,
        remote_version=remote_version,  # a DELETE the doctor confirms goes with If-Match on this version
        base=remote_cmp,
        outbox="conflict",
        action="sync.conflict",
        content_changed=False,
        conflict=draft,
    )


def adoption(state: LocalState, remote: Record, *, remote_id: str | None, remote_version: str | None) -> Write:
    """A local record and the platform's copy of the same person, with no common ancestor, made one."""
    local_cmp, remote_cmp = comparable(state.record), comparable(remote)
    result = merge({}, _known(local_cmp), _known(remote_cmp))
    merged = {**local_cmp, **(result.merged or {})}
    conflict = None
    if result.conflicts:
        fields = tuple(FieldValues(c.field, None, _plain(c.local), _plain(c.remote)) for c in result.conflicts)
        conflict = ConflictDraft(kind="fields", fields=fields, remote_version=remote_version, remote=remote_cmp)
    outbox: OutboxAfter = "conflict" if conflict else ("done" if merged == remote_cmp else "pending")
    return Write(
        entity=state.entity,
        record=with_remote(state.record, merged),
        expected_version=state.record.version,
        remote_id=remote_id,
        remote_version=remote_version,
        base=remote_cmp,  # from now on the platform's copy is what both sides last agreed on
        outbox=outbox,
        action="sync.conflict" if conflict else "sync.adopt",
        content_changed=merged != local_cmp,
        conflict=conflict,
    )


def _known(fields: dict[str, Any]) -> dict[str, Any]:
    """Only what a side actually knows: an empty value is no opinion against the other side's."""
    return {k: v for k, v in fields.items() if v not in (None, "", [], (), {})}


def adopt(entity: str, remote: Record, *, remote_id: str | None, remote_version: str | None) -> Write:
    """A record made upstream (a hospital's diagnosis): it joins the local file as it is."""
    return Write(
        entity=entity,
        record=remote,
        expected_version=None,
        remote_id=remote_id,
        remote_version=remote_version,
        base=comparable(remote),
        outbox="keep",
        action="sync.pull",
    )


def _plain(value: Any) -> Any:
    return None if value is MISSING else value
