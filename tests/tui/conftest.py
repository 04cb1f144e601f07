"""Fixtures of the dashboard tests."""

from __future__ import annotations

from live_agent import live_agent  # noqa: F401  (a real training agent, stopped at teardown)
