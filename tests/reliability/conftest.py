"""Shared fixtures of the crash, power-loss, disk-full, I/O-error and leakage tests.

Every randomised test takes its seed from ``RELIABILITY_SEED`` when set (to replay a run) or draws
one, and reports it with its figures; the figures of every test are printed again at the end of the run.
"""

from __future__ import annotations

import os
import random

import pytest

from tests.reliability.harness import Figures


@pytest.fixture
def figures(request: pytest.FixtureRequest) -> Figures:
    """Where a test reports its seed, counts and time."""
    return Figures(request.node.name, request.node.user_properties)


@pytest.fixture
def seed(figures: Figures) -> int:
    """The run's seed: RELIABILITY_SEED to replay, otherwise a fresh one (reported either way)."""
    value = int(os.environ.get("RELIABILITY_SEED") or random.SystemRandom().randrange(1 << 32))
    figures.report(f"seed={value} (replay with RELIABILITY_SEED={value})")
    return value
