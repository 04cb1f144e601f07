"""Keys as a person uses them: ? help, tab through panes (scrolling at 80×24), / filter, s sort, q quit."""

from __future__ import annotations

from fixed_agent import make_history, make_logs, make_peers, make_status, serve
from waiting import until

from tui.app import DashboardApp
from tui.client import StateDirLocator
from tui.help_screen import HelpScreen
from tui.peers_pane import PeersPane

PEERS = make_peers(40)


async def run_dashboard(tmp_path, size):
    api = serve(tmp_path, peers=PEERS, status=lambda: make_status(PEERS), history=make_history(50, interval_s=1.0),
                logs=make_logs())
    return api, DashboardApp(StateDirLocator(tmp_path), refresh_s=3600)


async def test_help_opens_and_closes(tmp_path):
    api, app = await run_dashboard(tmp_path, (120, 40))
    async with api, app.run_test(size=(120, 40)) as pilot:
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        assert "pause / resume contributing" in app.screen_text()
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)


async def test_tab_reaches_every_pane_and_scrolls_it_into_view_on_80x24(tmp_path):
    api, app = await run_dashboard(tmp_path, (80, 24))
    async with api, app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: app.query_one(PeersPane).row_count == 40, what="the peers")
        seen = []
        for _ in range(8):
            await pilot.press("tab")
            await pilot.pause()
            focused = app.focused
            assert focused is not None
            pane = next(node for node in focused.ancestors_with_self if node.id in
                        ("node", "training", "network", "quorum", "cohort", "earnings", "peers", "log"))
            seen.append(pane.id)
            assert app.screen.region.contains_region(focused.region), f"{pane.id} focused but out of view"
        assert set(seen) == {"node", "training", "network", "quorum", "cohort", "earnings", "peers", "log"}


async def test_slash_filters_the_peers_and_escape_clears_it(tmp_path):
    api, app = await run_dashboard(tmp_path, (120, 40))
    async with api, app.run_test(size=(120, 40)) as pilot:
        pane = app.query_one(PeersPane)
        await until(pilot, lambda: pane.row_count == 40, what="the peers")
        await pilot.press("slash")
        await pilot.press(*"offline")
        assert pane.row_count == 4  # every tenth peer is offline
        assert "4 of 40 peers matching 'offline'" in pane.text
        await pilot.press("q")  # typed into the filter, not a quit
        assert app.is_running and pane.row_count == 0
        await pilot.press("escape")
        assert pane.row_count == 40 and pane.filter_text == ""


async def test_s_cycles_the_sort_column_and_r_reverses_it(tmp_path):
    api, app = await run_dashboard(tmp_path, (120, 40))
    async with api, app.run_test(size=(120, 40)) as pilot:
        pane = app.query_one(PeersPane)
        await until(pilot, lambda: pane.row_count == 40, what="the peers")
        pane.table.focus()
        await pilot.press("s")
        assert pane.sort_column == "heartbeat"  # after "state" comes the last column
        first = pane.table.get_row_at(0)[-1]
        await pilot.press("r")
        assert pane.sort_reverse and pane.table.get_row_at(0)[-1] != first
        assert "30 s" == pane.table.get_row_at(0)[-1]  # the oldest heartbeat of the 40 first after reversing


async def test_q_quits(tmp_path):
    api, app = await run_dashboard(tmp_path, (80, 24))
    async with api, app.run_test(size=(80, 24)) as pilot:
        await pilot.press("q")
        await pilot.pause()
        assert not app.is_running
