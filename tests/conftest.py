"""Hooks of the whole run: the contract held strictly, and the reliability figures printed again at its end.

They live here, not in tests/reliability, because under pytest-xdist the process that prints the
summary collects no tests and so never loads a sub-directory's conftest; each test's figures reach
it in the ``user_properties`` of its report (tests/reliability/harness.py ``Figures``).
"""

from __future__ import annotations

import os

import pytest

from clinic_agent.api.contract import STRICT

# Every request and reply through the daemon or the registry is held against the contract's shapes
# (clinic_agent/api/shapes.py), in this process and in the daemons and commands the tests start.
os.environ[STRICT] = "strict"

from tests.support import RELIABILITY_FIGURE

FIGURES: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Gather the figures of a finished test (from this process or from an xdist worker)."""
    if report.when == "teardown":
        FIGURES.extend(str(value) for name, value in report.user_properties if name == RELIABILITY_FIGURE)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print every reliability test's figures, passed or not."""
    if FIGURES:
        terminalreporter.section("reliability figures")
        for line in FIGURES:
            terminalreporter.write_line(line)
