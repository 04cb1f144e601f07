"""CohortConfig: timings and sizes of cohort sync; tests shrink them, never patch constants."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import AgentError


class CohortConfigError(AgentError, ValueError):
    """A cohort-sync setting is out of range."""


@dataclass(frozen=True)
class CohortConfig:
    sync_interval_steps: int | None = None  # inner steps between syncs; None: coordinator_free.scale by network size
    contribution_wait_s: float = 60.0  # how long a round waits for the cohort's pseudo-gradients, s
    commit_wait_s: float = 15.0  # how long a round waits for the members' commits, s
    call_timeout_s: float = 30.0  # one contribution, commit or weights call to one peer, s
    join_wait_s: float = 5.0  # on a first start, how long to look for a holder to fetch weights from, s
    adopt_wait_s: float = 20.0  # how long a holder that diverged waits for the canonical weights, s
    recent_start_rounds: int = 8  # θ_start hashes remembered, so async contributions up to this old are accepted, rounds
    async_steps: int = 20  # inner steps an async contributor trains per contribution, steps

    def __post_init__(self) -> None:
        if self.sync_interval_steps is not None and self.sync_interval_steps < 1:
            raise CohortConfigError(f"sync interval must be at least 1 step, got {self.sync_interval_steps}")
        for name in ("contribution_wait_s", "commit_wait_s", "call_timeout_s", "adopt_wait_s", "join_wait_s"):
            if not getattr(self, name) > 0:
                raise CohortConfigError(f"{name} must be positive, got {getattr(self, name)}")
        if self.recent_start_rounds < 1 or self.async_steps < 1:
            raise CohortConfigError("recent_start_rounds and async_steps must be at least 1")
