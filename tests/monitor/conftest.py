"""tests/conftest.py defines its own ``snapshot`` fixture; the Textual snapshot tests here need syrupy's."""

from __future__ import annotations

import pytest
import syrupy


@pytest.fixture
def snapshot(request: pytest.FixtureRequest):
    """syrupy's ``snapshot`` (what pytest-textual-snapshot's ``snap_compare`` builds on)."""
    return syrupy.snapshot.__wrapped__(request)
