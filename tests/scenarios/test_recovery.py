"""Recovery: SIGKILL the middle stage of a training quorum of real agents.

With a spare holder of the middle layers, the founder replaces the lost
member (same layers, same quorum id) and training goes on; without one, the
quorum dissolves and the survivors carry on (looking for a new quorum). No
process crashes, and every survivor's last checkpoint loads.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from typing import Any

from peer_agents import AgentProcess, wait_for
from pipeline_agents import PipelineLauncher, pipeline_launcher, step_losses  # noqa: F401

from agent.checkpoint import CheckpointStore
from agent.model.arch import TINY
from agent.model.parameters import StageSpec
from agent.runtime.select import create_runtime

COMMON = ("--seed", "0", "--checkpoint-every", "5")
LAYERS = {"initiator": (0, 1), "middle": (1, 2), "spare": (1, 2), "finisher": (2, 3)}


def status(agent: AgentProcess) -> dict[str, Any]:
    try:
        return dict(agent.api_get("/v1/status")["node"])
    except OSError:
        return {}


def start(launcher: PipelineLauncher, names: list[str]) -> dict[str, AgentProcess]:
    agents: dict[str, AgentProcess] = {}
    for name in names:
        start_, stop = LAYERS[name]
        agents[name] = launcher.start(name, *COMMON, layers=f"{start_}-{stop}", runtime="onnx",
                                      bootstrap=agents.get("initiator"))
    return agents


def wait_steps(initiator: AgentProcess, count: int, timeout_s: float = 40.0) -> dict[int, float]:
    wait_for(lambda: len(step_losses(initiator)) >= count, timeout_s=timeout_s,
             what=f"{count} pipeline steps:\n{initiator.log_tail(20)}", interval_s=0.3)
    return step_losses(initiator)


def stop_cleanly_and_load_checkpoints(survivors: list[AgentProcess]) -> None:
    for agent in survivors:
        assert agent.process.poll() is None, f"{agent.name} died:\n{agent.log_tail(40)}"
    for agent in survivors:
        assert agent.stop() == 0, agent.log_tail(40)
        start_, stop = LAYERS[agent.name]
        spec = StageSpec(TINY, start_, stop)
        latest = CheckpointStore(agent.state_dir / "checkpoints", spec).latest()
        assert latest is not None and latest.step > 0
        create_runtime("onnx", spec, threads=1).load(latest.state)


def check_status_command(agent: AgentProcess) -> None:
    """`neuroshard status --json` has /v1/status's field names; the table names the mode and its reason."""
    command = [sys.executable, "-m", "agent.cli", "status", "--state-dir", str(agent.state_dir)]
    printed = json.loads(subprocess.run([*command, "--json"], capture_output=True, check=True, timeout=30).stdout)
    api = agent.api_get("/v1/status")
    assert set(printed) == set(api) and set(printed["node"]) == set(api["node"])
    assert printed["node"]["mode"] == "pipeline" and printed["node"]["quorum_id"] is None
    table = subprocess.run(command, capture_output=True, check=True, timeout=30, text=True).stdout
    assert "mode" in table and api["node"]["node_id"][:16] in table


def test_a_spare_takes_over_the_killed_middle_stage_and_the_loss_keeps_falling(
    pipeline_launcher: PipelineLauncher,  # noqa: F811
) -> None:
    agents = start(pipeline_launcher, ["initiator", "middle", "spare", "finisher"])
    initiator = agents["initiator"]
    before = wait_steps(initiator, 8)
    serving = [name for name in ("middle", "spare") if status(agents[name]).get("stage") == 1]
    assert len(serving) == 1, serving
    killed, spare = agents[serving[0]], agents[{"middle": "spare", "spare": "middle"}[serving[0]]]
    quorum_id = status(initiator)["quorum_id"]
    killed.signal(signal.SIGKILL)
    killed.process.wait()
    killed_at = max(before)
    after = wait_steps(initiator, killed_at + 12)
    spare_status = status(spare)
    assert (spare_status["quorum_id"], spare_status["stage"]) == (quorum_id, 1)
    losses = [after[step] for step in sorted(after)]
    assert losses[-1] < losses[0]
    assert min(losses[-3:]) < after[killed_at + 1]  # still falling after the replacement
    stop_cleanly_and_load_checkpoints([initiator, spare, agents["finisher"]])


def test_without_a_spare_the_quorum_dissolves_and_the_survivors_carry_on(
    pipeline_launcher: PipelineLauncher,  # noqa: F811
) -> None:
    agents = start(pipeline_launcher, ["initiator", "middle", "finisher"])
    initiator, finisher = agents["initiator"], agents["finisher"]
    wait_steps(initiator, 6)
    agents["middle"].signal(signal.SIGKILL)
    agents["middle"].process.wait()

    def dissolved() -> bool:
        return all(status(agent).get("quorum_id", "x") is None for agent in (initiator, finisher))

    wait_for(dissolved, timeout_s=30, what=f"the quorum to dissolve:\n{initiator.log_tail(20)}", interval_s=0.3)
    reason = status(initiator)["mode_reason"]
    assert "no quorum yet" in reason or "dissolved" in reason, reason
    check_status_command(initiator)
    stop_cleanly_and_load_checkpoints([initiator, finisher])
