"""Seeds of the randomised sync tests: each case carries its seed in its test id (``[seed-N]``) and in
its failure messages, and ``CLINIC_AGENT_FAULT_SEED=N`` runs exactly that case again.

The seeds are fresh on every run, yet every pytest-xdist worker of one run must collect the same test
ids: they are drawn from the run's id (``PYTEST_XDIST_TESTRUNUID``, the same in all workers) and the
order of the calls, which collection makes the same in every worker.
"""

from __future__ import annotations

import itertools
import os
import random

import pytest
from _pytest.mark import ParameterSet

ENV = "CLINIC_AGENT_FAULT_SEED"
_calls = itertools.count()


def _source() -> random.Random:
    """Where this call's seeds come from: the run's id and the call's place in collection, or the OS."""
    run = os.environ.get("PYTEST_XDIST_TESTRUNUID")
    return random.Random(f"{run}/{next(_calls)}") if run else random.SystemRandom()


def seed_params(count: int) -> list[ParameterSet]:
    """``count`` fresh seeds as parameters with ids ``seed-N``; with CLINIC_AGENT_FAULT_SEED=N, just N."""
    chosen = os.environ.get(ENV)
    source = _source()
    seeds = [int(chosen)] if chosen else [source.randrange(1 << 30) for _ in range(count)]
    return [pytest.param(seed, id=f"seed-{seed}") for seed in seeds]


def replay(seed: int) -> str:
    """How to run this case again, for assertion messages."""
    return f"[seed-{seed}] rerun it with {ENV}={seed}"
