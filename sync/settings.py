"""The ``[sync]`` settings sync runs with, read and checked once with the rest of agent.toml."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

DEFAULT_NAMESPACE_BASE: Final = "https://namespace-not-set.invalid/clinic-agent"
"""The namespace when agent.toml sets none (``[platform] namespace``): ``.invalid`` (RFC 2606) so that
it can never be taken for a real one; the platform team must choose the real base before a clinic
goes live (``sync.fhir.codes`` builds the namespace on it)."""


@dataclass(frozen=True, slots=True)
class SyncSettings:
    """The ``[sync]`` section."""

    interval_s: float = 300.0  # a sync (mostly a pull) this often while the link holds
    retry_min_s: float = 5.0  # first wait after a failed probe; doubles up to retry_max_s
    retry_max_s: float = 600.0
    batch_size: int = 50
    max_batch: int = 200
    page_size: int = 200
    attempts: int = 6
    connect_timeout_s: float = 10.0
    read_timeout_s: float = 30.0
    gzip: bool = False  # compress request bodies (SEKMET refuses them; real platforms take them)
    max_clock_skew_s: float = 900.0
    wait_s: float = 120.0  # how long `sync` waits for a run started through the daemon
