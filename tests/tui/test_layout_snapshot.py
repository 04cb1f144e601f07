"""Layout snapshots at 120×40 and 80×24: the screen as text, compared with tests/tui/snapshots/.

Our own equivalent of pytest-textual-snapshot (which pins older pytest
versions): run the app with App.run_test at a size against a real local API
serving fixed data, export the screen as plain text, normalise what varies
from run to run (the API's port, clock times), compare with the committed
file. After an intended change, regenerate with
    NEUROSHARD_UPDATE_SNAPSHOTS=1 .venv/bin/python -m pytest tests/tui/test_layout_snapshot.py
and review the diff of the .txt files like code.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from fixed_agent import make_history, make_logs, make_peers, make_status, serve
from waiting import until

from tui.app import DashboardApp
from tui.client import StateDirLocator
from tui.log_pane import LogPane
from tui.peers_pane import PeersPane
from tui.training_pane import TrainingPane

SNAPSHOTS = Path(__file__).parent / "snapshots"
UPDATE = os.environ.get("NEUROSHARD_UPDATE_SNAPSHOTS") == "1"
VOLATILE = ((re.compile(r"127\.0\.0\.1:\d+"), "127.0.0.1:PORT"), (re.compile(r"\b\d\d:\d\d:\d\d\b"), "hh:mm:ss"))


def normalise(screen: str) -> str:
    for pattern, replacement in VOLATILE:
        screen = pattern.sub(replacement, screen)
    return "\n".join(line.rstrip() for line in screen.splitlines()) + "\n"


async def render(tmp_path: Path, size: tuple[int, int], *, in_quorum: bool) -> str:
    peers = make_peers(6)
    history = make_history(400, interval_s=10.0)
    async with serve(tmp_path, peers=peers, status=lambda: make_status(peers, in_quorum=in_quorum),
                     history=history, logs=make_logs()):
        app = DashboardApp(StateDirLocator(tmp_path), refresh_s=3600)  # one poll: nothing changes under the lens
        async with app.run_test(size=size) as pilot:
            await until(pilot, lambda: app.query_one(PeersPane).row_count == 6
                        and app.query_one(TrainingPane).chart.point_count > 0
                        and "validation loss" in app.query_one(LogPane).text, what="the first poll drawn")
            await pilot.pause()
            return normalise(app.screen_text())


@pytest.mark.parametrize("name, size, in_quorum", [
    ("alone_120x40", (120, 40), False),
    ("alone_80x24", (80, 24), False),
    ("quorum_120x40", (120, 40), True),
])
async def test_layout_matches_the_snapshot(tmp_path, name, size, in_quorum):
    screen = await render(tmp_path, size, in_quorum=in_quorum)
    path = SNAPSHOTS / f"{name}.txt"
    if UPDATE:
        path.write_text(screen)
    assert path.exists(), f"no snapshot {path}; make it with NEUROSHARD_UPDATE_SNAPSHOTS=1 and review it"
    assert screen == path.read_text(), f"the {name} layout changed; the screen now:\n{screen}"


async def test_every_pane_is_in_view_at_120x40_without_scrolling(tmp_path):
    screen = await render(tmp_path, (120, 40), in_quorum=True)
    for title in ("Node", "Training", "Network", "Quorum", "Cohort sync", "Earnings", "Peers", "Log"):
        assert f"─ {title} ─" in screen, title
    for seen in ("T3 · 72.4 ms/layer", "onnx on cpu", "└→9e3779b1", "48 ms degraded", "trimmed", "12.3456 NEURO", "Small",
                 "validation loss 1.3012", "q Quit", "p Pause/resume"):
        assert seen in screen, seen
