"""Shared test fixtures."""

from __future__ import annotations

import datetime as dt

import pytest

from edge.config import Config, default_config
from edge.core.state import Instant

MONDAY_10AM = dt.datetime(2026, 11, 23, 10, 0, 0)


@pytest.fixture
def config() -> Config:
    """The packaged default configuration."""
    return default_config()


def at(t: float, start: dt.datetime = MONDAY_10AM) -> Instant:
    """An instant ``t`` seconds after ``start``."""
    return Instant(t, start + dt.timedelta(seconds=t))
