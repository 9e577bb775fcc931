"""Fixtures of the canvas's multi-process tests."""

from __future__ import annotations

import pytest
import zmq


@pytest.fixture
def ctx():
    """A ZeroMQ context of the test's own, closed with it."""
    context = zmq.Context()
    yield context
    context.destroy(0)
