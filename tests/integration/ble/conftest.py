"""Fixtures for the BLE link: a bumble world of emulated health devices, closed after each test."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.integration.ble.blelink_support import World


@pytest.fixture
async def world() -> AsyncIterator[World]:
    opened = World()
    try:
        yield opened
    finally:
        await opened.close()
