"""Waiting inside a running Textual app until what a person would see has happened."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

import pytest
from textual.pilot import Pilot

T = TypeVar("T")
DEFAULT_TIMEOUT_S = 45.0  # generous on two shared cores; a passing test returns as soon as it holds


async def until(pilot: Pilot, probe: Callable[[], T], *, what: str, timeout_s: float = DEFAULT_TIMEOUT_S) -> T:
    """Let the app run until `probe()` is truthy; fail naming `what` (and the screen) after timeout_s."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            screen = pilot.app.screen_text() if hasattr(pilot.app, "screen_text") else ""
            pytest.fail(f"timed out after {timeout_s} s waiting for {what}; the screen:\n{screen}")
        await pilot.pause(0.1)
