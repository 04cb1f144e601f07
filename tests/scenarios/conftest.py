"""Fixtures of the multi-node scenarios."""

from __future__ import annotations

from peer_agents import launcher  # noqa: F401  (real agent processes, killed at teardown)
