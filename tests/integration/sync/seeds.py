"""Seeds of the randomised sync tests: each case carries its seed in its test id (``[seed-N]``) and in
its failure messages, and ``CLINIC_AGENT_FAULT_SEED=N`` runs exactly that case again."""

from __future__ import annotations

import os
import random

import pytest
from _pytest.mark import ParameterSet

ENV = "CLINIC_AGENT_FAULT_SEED"


def seed_params(count: int) -> list[ParameterSet]:
    """``count`` fresh seeds as parameters with ids ``seed-N``; with CLINIC_AGENT_FAULT_SEED=N, just N."""
    chosen = os.environ.get(ENV)
    seeds = [int(chosen)] if chosen else [random.SystemRandom().randrange(1 << 30) for _ in range(count)]
    return [pytest.param(seed, id=f"seed-{seed}") for seed in seeds]


def replay(seed: int) -> str:
    """How to run this case again, for assertion messages."""
    return f"[seed-{seed}] rerun it with {ENV}={seed}"
