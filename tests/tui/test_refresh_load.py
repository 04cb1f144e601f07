"""500 peers and a week of metric history through the real API: everything is shown, nothing is lost.

How long a refresh takes under this load is measured by benchmarks/dashboard_refresh.py
(docs/PERFORMANCE_dashboard.md), not asserted here.
"""

from __future__ import annotations

from dataclasses import replace

from fixed_agent import make_history, make_logs, make_peers, make_status, serve
from waiting import until

from tui.app import DashboardApp
from tui.client import StateDirLocator
from tui.peers_pane import PeersPane
from tui.training_pane import TrainingPane

WEEK_SAMPLES = 7 * 24 * 360  # a step every 10 s for a week


async def test_500_peers_and_a_week_of_history_are_shown(tmp_path):
    peers = make_peers(500)
    history = make_history(WEEK_SAMPLES, interval_s=10.0)
    loss_points = [p for p in history.points() if p.loss is not None]
    assert len(loss_points) <= history.capacity_points
    async with serve(tmp_path, peers=peers, status=lambda: make_status(peers), history=history, logs=make_logs()):
        app = DashboardApp(StateDirLocator(tmp_path), refresh_s=3600)
        async with app.run_test(size=(120, 40)) as pilot:
            pane, chart = app.query_one(PeersPane), app.query_one(TrainingPane).chart
            await until(pilot, lambda: pane.row_count == 500 and chart.point_count, what="the first refresh")
            assert chart.point_count == len(loss_points)
            assert "-7 d" in app.screen_text()  # the chart spans the whole week
            assert "500 peers" in pane.text
            pane.sort_by("heartbeat", reverse=False)
            ages = [peer.last_heartbeat_age_s for peer in peers]
            assert pane.table.get_row_at(0)[-1] == f"{min(ages):.0f} s"
            assert pane.table.get_row_at(499)[-1] == f"{max(ages):.0f} s"


async def test_a_refresh_with_new_heartbeats_updates_cells_in_place_and_keeps_the_cursor(tmp_path):
    peers = make_peers(500)
    async with serve(tmp_path, peers=peers, status=lambda: make_status(peers), history=make_history(10, interval_s=1),
                     logs=make_logs()):
        app = DashboardApp(StateDirLocator(tmp_path), refresh_s=3600)
        async with app.run_test(size=(120, 40)) as pilot:
            pane = app.query_one(PeersPane)
            await until(pilot, lambda: pane.row_count == 500, what="the peers")
            pane.table.move_cursor(row=250)
            chosen = pane.table.get_row_at(250)[0]
            older = tuple(replace(p, last_heartbeat_age_s=(p.last_heartbeat_age_s or 0) + 1) for p in peers)
            pane.show_peers(older)  # same rows, same order (sorted by state): cells change in place
            await pilot.pause()
            assert pane.table.cursor_row == 250 and pane.table.get_row_at(250)[0] == chosen
            pane.show_peers(older[:100] + older[101:])  # one peer gone: its row goes, the cursor stays on its peer
            await pilot.pause()
            assert pane.row_count == 499 and pane.table.get_row_at(pane.table.cursor_row)[0] == chosen
            pane.sort_by("heartbeat")  # every row moves: re-sorted in place, the cursor still on its peer
            await pilot.pause()
            assert pane.table.get_row_at(pane.table.cursor_row)[0] == chosen
            ages = [pane.table.get_row_at(row)[-1] for row in range(499)]
            assert ages == sorted(ages, key=lambda text: float(text.split()[0]))
            assert len(pane.table.shown_ids) == 499 == len(set(pane.table.shown_ids))
