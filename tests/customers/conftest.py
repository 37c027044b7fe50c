"""The fake Remnawave panel over real HTTP, and a client of it, for the customers' tests."""

from __future__ import annotations

import pytest

from tenantctl.customers.panel import PanelClient
from tenantctl.testing.fake_remnawave import FakeRemnawave

PANEL_KEY = "rw-operator-key-5f2c9a"


@pytest.fixture
async def fake():
    async with FakeRemnawave(api_key=PANEL_KEY) as panel:
        yield panel


@pytest.fixture
async def panel(fake):
    async with PanelClient(fake.url, PANEL_KEY) as client:
        yield client
