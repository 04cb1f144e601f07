"""`--mode auto` and `--mode async` with real agents on 127.0.0.1.

- Three agents with partial claims (--layers) under auto: the first, alone,
  trains SOLO; once the three claims cover every layer they form a quorum
  (status shows its members); when the middle stage is SIGKILLed and nobody
  else holds its layer, the quorum dissolves and the survivors switch to
  SOLO (every layer) and keep stepping, instead of retrying formation.
- A holder and a `--mode async` agent: the async agent's contribution is
  accepted into the holder's cohort round with weight √batches, normalised.
"""

from __future__ import annotations

import json
import math
import re
import signal
import subprocess
import sys
import urllib.request
from typing import Any

import pytest
from cohort_agents import FAST_COHORT, logged_rounds
from peer_agents import AgentProcess, wait_for
from pipeline_agents import PipelineLauncher, pipeline_launcher, step_losses  # noqa: F401

# Switch after two agreeing re-selections (heartbeat 0.5 s) and 1 s in a mode.
FAST_MODES = {"mode_hold_evaluations": 2, "mode_min_dwell_s": 1.0}
AUTO = ("--mode", "auto", "--seed", "0", "--checkpoint-every", "50", "--validate-every", "100000",
        "--sync-interval", "100000")


def status(agent: AgentProcess) -> dict[str, Any]:
    try:
        return dict(agent.api_get("/v1/status"))
    except OSError:
        return {}


def node(agent: AgentProcess) -> dict[str, Any]:
    return dict(status(agent).get("node") or {})


def test_auto_agents_go_solo_then_pipeline_then_solo_when_their_quorum_dissolves(
    pipeline_launcher: PipelineLauncher,  # noqa: F811
) -> None:
    start = pipeline_launcher.start
    initiator = start("initiator", *AUTO, layers="0-1", runtime="onnx", pipeline=FAST_MODES)
    wait_for(lambda: node(initiator).get("step", 0) > 0, timeout_s=20, what="the lone agent to train")
    alone = node(initiator)
    assert alone["mode"] == "solo" and "alone" in alone["mode_reason"], alone
    assert (alone["layer_claim_start"], alone["layer_claim_stop"]) == (0, 1)
    middle = start("middle", *AUTO, layers="1-2", runtime="onnx", pipeline=FAST_MODES, bootstrap=initiator)
    finisher = start("finisher", *AUTO, layers="2-3", runtime="onnx", pipeline=FAST_MODES, bootstrap=initiator)

    wait_for(lambda: len(step_losses(initiator)) >= 3, timeout_s=40, interval_s=0.3,
             what=f"pipeline steps of the auto quorum:\n{initiator.log_tail(30)}")
    quorum = status(initiator)["quorum"]
    assert [(m["layer_start"], m["layer_stop"]) for m in quorum["members"]] == [(0, 1), (1, 2), (2, 3)]
    assert [m["node_id"] for m in quorum["members"]] == [initiator.node_id, middle.node_id, finisher.node_id]
    assert quorum["members"][0]["is_self"] and quorum["session_remaining_s"] > 0
    assert node(finisher)["mode"] == "pipeline" and node(finisher)["stage"] == 2
    command = [sys.executable, "-m", "agent.cli", "status", "--state-dir", str(initiator.state_dir)]
    table = subprocess.run(command, capture_output=True, check=True, timeout=30, text=True).stdout
    assert f"*{initiator.node_id[:8]}[0,1)" in table and f"{finisher.node_id[:8]}[2,3)" in table, table

    middle.signal(signal.SIGKILL)
    middle.process.wait()
    survivors = (initiator, finisher)
    wait_for(lambda: all(node(agent).get("mode") == "solo" for agent in survivors), timeout_s=40, interval_s=0.3,
             what=f"the survivors to train SOLO:\n{initiator.log_tail(30)}")
    for agent in survivors:
        first = node(agent)
        unheld = re.search(r"layer\(s\) \[([0-9, ]+)\]", first["mode_reason"])
        assert first["quorum_id"] is None and unheld and "1" in unheld[1].split(", "), first
        assert status(agent)["quorum"] is None
        wait_for(lambda agent=agent, first=first: node(agent).get("step", 0) > first["step"], timeout_s=20,
                 what=f"{agent.name}'s step counter to move")
        assert agent.process.poll() is None, agent.log_tail(40)
    for agent in survivors:
        assert agent.stop() == 0, agent.log_tail(40)


def resume(agent: AgentProcess) -> None:
    request = urllib.request.Request(f"{agent.ports['local_api_url']}/v1/control/resume", method="POST", data=b"",
                                     headers={"Authorization": f"Bearer {agent.token}"})
    with urllib.request.urlopen(request, timeout=5):
        pass


def test_an_async_agent_contribution_is_accepted_with_the_rule_weight(
    pipeline_launcher: PipelineLauncher,  # noqa: F811
) -> None:
    interval, async_steps = 40, 5
    cohort = ("--sync-interval", str(interval), "--validate-every", "100000", "--checkpoint-every", "100000",
              "--cohort-json", json.dumps(FAST_COHORT | {"async_steps": async_steps}))
    holder = pipeline_launcher.start("holder", "--mode", "solo", "--paused", "--max-steps", "200", *cohort,
                                     layers="0-3", runtime="onnx")
    contributor = pipeline_launcher.start("async", "--mode", "async", *cohort, layers="0-3", runtime="onnx",
                                          bootstrap=holder, pipeline=FAST_MODES)
    wait_for(lambda: (node(contributor).get("async_accepted") or 0) >= 1, timeout_s=40, interval_s=0.3,
             what=f"an accepted async contribution:\n{contributor.log_tail(20)}")
    async_status = node(contributor)
    assert async_status["mode"] == "async" and async_status["layer_start"] is None, async_status
    resume(holder)
    prefix = contributor.node_id[:12]
    wait_for(lambda: any(prefix in weights for weights, _ in logged_rounds(holder).values()), timeout_s=40,
             interval_s=0.3, what=f"a holder round counting the async contribution:\n{holder.log_tail(20)}")
    weights = next(weights for weights, _ in logged_rounds(holder).values() if prefix in weights)
    expected = math.sqrt(async_steps) / (math.sqrt(interval) + math.sqrt(async_steps))
    assert weights[prefix] == pytest.approx(expected, abs=1e-3), weights


def test_whole_model_claims_make_one_member_quorums(launcher) -> None:  # the peer_agents fixture (conftest)
    """Tiny fits every node's memory: each claims every layer by scarcity, and with a peer is a quorum of one."""
    arguments = ("--mode", "auto", "--pipeline-config-json", json.dumps(FAST_MODES), "--sync-interval", "100000",
                 "--validate-every", "100000", "--no-mdns")
    a = launcher.start("a", *arguments)
    b = launcher.start("b", *arguments, "--peer", f"127.0.0.1:{a.peer_port}")
    resume(a)
    resume(b)
    wait_for(lambda: all(node(agent).get("mode") == "pipeline" for agent in (a, b)), timeout_s=30, interval_s=0.3,
             what=f"one-member quorums:\n{a.log_tail(20)}")
    for agent in (a, b):
        state = node(agent)
        assert (state["layer_claim_start"], state["layer_claim_stop"]) == (0, 3), state
        assert (state["layer_start"], state["layer_stop"]) == (0, 3) and "one member" in state["mode_reason"]
        first = state["step"]
        wait_for(lambda agent=agent, first=first: node(agent).get("step", 0) > first, timeout_s=20,
                 what=f"{agent.name} to keep training")
