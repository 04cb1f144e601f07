"""The dashboard against a real agent training the tiny model alone on 127.0.0.1 (App.run_test)."""

from __future__ import annotations

import re

import pytest
from waiting import until

from tui.app import DashboardApp
from tui.client import StateDirLocator
from tui.connection_bar import ConnectionBar
from tui.node_pane import NodePane
from tui.training_pane import TrainingPane

REFRESH_S = 0.2  # polls per second in tests: quick to notice, light on two cores
SIZE = (120, 40)
STEP = re.compile(r"step ([\d,]+)")


def shown_step(app: DashboardApp) -> int | None:
    match = STEP.search(app.query_one(TrainingPane).text)
    return int(match.group(1).replace(",", "")) if match else None


async def settled_step(pilot, live_agent) -> int:
    """The agent's step once two reads half a second apart agree."""
    previous = live_agent.status()["node"]["step"]
    for _ in range(20):
        await pilot.pause(0.5)
        current = live_agent.status()["node"]["step"]
        if current == previous:
            return current
        previous = current
    pytest.fail(f"the step counter kept moving after pausing (now {previous})")


async def test_node_pane_shows_tier_and_runtime_and_the_loss_chart_gains_points(live_agent):
    app = DashboardApp(StateDirLocator(live_agent.state_dir), refresh_s=REFRESH_S)
    async with app.run_test(size=SIZE) as pilot:
        node_pane = app.query_one(NodePane)
        await until(pilot, lambda: "onnx on cpu" in node_pane.text, what="the runtime in the node pane")
        truth = live_agent.status()["node"]
        assert f"tier    {truth['tier']} · " in node_pane.text
        assert truth["node_id"][:8] in node_pane.text
        chart = app.query_one(TrainingPane).chart
        first = await until(pilot, lambda: chart.point_count >= 2 and chart.point_count, what="loss points")
        await until(pilot, lambda: chart.point_count > first, what="more loss points")
        assert "loss" in app.screen_text() and "SOLO" in node_pane.text


async def test_p_pauses_the_step_counter_and_p_again_restarts_it(live_agent):
    app = DashboardApp(StateDirLocator(live_agent.state_dir), refresh_s=REFRESH_S)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: (shown_step(app) or 0) >= 2, what="training steps")
        await pilot.press("p")
        await until(pilot, lambda: "paused" in app.query_one(NodePane).text, what="the paused state")
        paused_at = await settled_step(pilot, live_agent)  # the step in flight when p was pressed may still end
        await until(pilot, lambda: shown_step(app) == paused_at, what="the dashboard to show the paused step")
        await pilot.pause(1.5)  # several polls and, were it running, ~15 steps of the tiny model
        assert live_agent.status()["node"]["step"] == paused_at
        assert shown_step(app) == paused_at
        await pilot.press("p")
        await until(pilot, lambda: (shown_step(app) or 0) > paused_at, what="steps after resuming")
        assert "training" in app.query_one(NodePane).text


async def test_a_stopped_agent_shows_disconnected_and_a_restarted_one_reconnects(live_agent):
    app = DashboardApp(StateDirLocator(live_agent.state_dir), refresh_s=REFRESH_S)
    async with app.run_test(size=SIZE) as pilot:
        bar = app.query_one(ConnectionBar)
        await until(pilot, lambda: (shown_step(app) or 0) >= 1, what="training steps")
        node_text = app.query_one(NodePane).text
        live_agent.stop()
        await until(pilot, lambda: bar.connected is False, what="the disconnected state")
        assert "agent unreachable" in app.screen_text()
        assert app.query_one("#panes").has_class("-stale")
        assert app.query_one(NodePane).text.splitlines()[0] == node_text.splitlines()[0]  # last data kept
        live_agent.start()  # same state directory, new port: the dashboard must find it by itself
        await until(pilot, lambda: bar.connected is True, what="reconnection")
        await until(pilot, lambda: shown_step(app) is not None, what="training data after reconnecting")
        assert not app.query_one("#panes").has_class("-stale")
        assert "connected" in app.screen_text()
