"""Helpers of the cohort-sync scenarios: resume real agents and read their sync rounds from /v1/status."""

from __future__ import annotations

import ast
import json
import re
import urllib.request
from typing import Any

from peer_agents import wait_for

FAST_COHORT = {"contribution_wait_s": 20.0, "commit_wait_s": 5.0, "call_timeout_s": 10.0,
               "join_wait_s": 3.0, "adopt_wait_s": 10.0}


def cohort_args(*, sync_interval: int, max_steps: int, **overrides: Any) -> tuple[str, ...]:
    return ("--sync-interval", str(sync_interval), "--max-steps", str(max_steps),
            "--validate-every", "1000", "--checkpoint-every", "1000",
            "--cohort-json", json.dumps(FAST_COHORT | overrides))


def resume_when_ready(*agents) -> None:
    """Resume each agent once every one has finished setting up (its cohort joined, "node ready" printed).

    An agent's API answers before its setup ends. Resumed early, one agent could
    train while the other is still joining; the late one would then copy the
    trained one's weights at its start (the join rule), and the round-1
    canonical rule a test means to check would never be needed.
    """
    for agent in agents:
        wait_for(lambda agent=agent: "node ready:" in agent.log_path.read_text(errors="replace"), timeout_s=60,
                 what=f"agent {agent.name} to finish its setup")
    for agent in agents:
        resume(agent)


def resume(agent) -> None:
    request = urllib.request.Request(f"{agent.ports['local_api_url']}/v1/control/resume", method="POST", data=b"",
                                     headers={"Authorization": f"Bearer {agent.token}"})
    with urllib.request.urlopen(request, timeout=5):
        pass


_ROUND_LINE = re.compile(r"cohort round (\d+): weights (\{.*?\}) left out (\[.*?\])")


def logged_rounds(agent) -> dict[int, tuple[dict[str, float], list[str]]]:
    """{round: (weights by node-id prefix, left-out prefixes)} from the agent's log lines."""
    rounds = {}
    for match in _ROUND_LINE.finditer(agent.log_path.read_text(errors="replace")):
        rounds[int(match.group(1))] = (ast.literal_eval(match.group(2)), ast.literal_eval(match.group(3)))
    return rounds


def outer_state(agent):
    """The agent's cohort state file (θ_start hashes, last round), written at every sync."""
    from agent.cohort.outer import load_state

    directory = next((agent.state_dir / "cohort").iterdir())
    state = load_state(directory)
    assert state is not None
    return state
