"""AgentClient and AgentFeed over a real LocalApi: clear reasons when unreachable, incremental history, resets."""

from __future__ import annotations

import json
import socket

import pytest
from fixed_agent import make_history, make_logs, make_peers, make_status, serve

from agent.metrics import MetricsHistory
from tui.client import AgentClient, AgentUnavailable, FixedLocator, StateDirLocator
from tui.feed import AgentFeed

PEERS = make_peers(3)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def test_nobody_listening_is_a_sentence_not_a_traceback():
    locator = FixedLocator(f"http://127.0.0.1:{free_port()}", "t")
    with pytest.raises(AgentUnavailable, match=r"no agent answers at http://127\.0\.0\.1:\d+"):
        async with AgentClient(locator, timeout_s=2) as client:
            await client.status()


async def test_no_agent_in_the_state_directory_says_how_to_start_one(tmp_path):
    with pytest.raises(AgentUnavailable, match="no agent is running on .*neuroshard run"):
        async with AgentClient(StateDirLocator(tmp_path)) as client:
            await client.status()


async def test_a_wrong_token_is_reported_with_the_agents_reason(tmp_path):
    async with serve(tmp_path, peers=PEERS, status=lambda: make_status(PEERS), history=MetricsHistory(),
                     logs=make_logs()) as api:
        with pytest.raises(AgentUnavailable, match="refused /v1/status: missing or wrong API token"):
            async with AgentClient(FixedLocator(api.url, "wrong")) as client:
                await client.status()


async def test_feed_fetches_history_incrementally(tmp_path):
    history = make_history(10, interval_s=1.0, validate_every=0)
    async with serve(tmp_path, peers=PEERS, status=lambda: make_status(PEERS), history=history, logs=make_logs()):
        async with AgentClient(StateDirLocator(tmp_path)) as client:
            feed = AgentFeed(client)
            first = await feed.poll()
            assert [p.step for p in first.points] == list(range(1, 11)) and len(first.peers) == 3
            history.record_step(step=11, loss=0.5, tokens_per_s=1.0)
            second = await feed.poll()
            assert [p.step for p in second.points] == list(range(1, 12))  # one new point, none twice
            assert second.generation == first.generation and len(second.log_lines) == 5


async def test_feed_bounds_its_copy_by_refetching_the_agents_downsampled_one(tmp_path):
    history = make_history(600, interval_s=1.0, validate_every=0)
    async with serve(tmp_path, peers=PEERS, status=lambda: make_status(PEERS), history=history, logs=make_logs()):
        async with AgentClient(StateDirLocator(tmp_path)) as client:
            feed = AgentFeed(client, max_points=100)
            await feed.poll()
            for step in range(601, 800):
                history.record_step(step=step, loss=0.5, tokens_per_s=1.0)
            snapshot = await feed.poll()
            assert [p.seq for p in snapshot.points] == [p.seq for p in history.points()]


async def test_after_a_failed_poll_the_history_of_a_restarted_agent_replaces_the_old_one(tmp_path):
    async with serve(tmp_path, peers=PEERS, status=lambda: make_status(PEERS),
                     history=make_history(50, interval_s=1.0, validate_every=0), logs=make_logs()):
        client = AgentClient(StateDirLocator(tmp_path))
        async with client:
            feed = AgentFeed(client)
            old = await feed.poll()
            assert len(old.points) == 50
    async with client:
        with pytest.raises(AgentUnavailable):
            await feed.poll()
        restarted = make_history(60, interval_s=1.0, validate_every=0)  # numbered from 0 again, and further
        async with serve(tmp_path, peers=PEERS, status=lambda: make_status(PEERS), history=restarted,
                         logs=make_logs()):
            new = await feed.poll()
    assert [p.seq for p in new.points] == [p.seq for p in restarted.points()]
    assert new.generation > old.generation


async def test_state_dir_locator_reads_the_url_again_each_time(tmp_path):
    locator = StateDirLocator(tmp_path)
    (tmp_path / "api_token").write_text("secret\n")
    (tmp_path / "local_api.json").write_text(json.dumps({"url": "http://127.0.0.1:1/"}))
    assert locator.locate().url == "http://127.0.0.1:1" and locator.locate().token == "secret"
    (tmp_path / "local_api.json").write_text(json.dumps({"url": "http://127.0.0.1:2"}))
    assert locator.locate().url == "http://127.0.0.1:2"


async def test_an_agent_url_and_token_reach_an_agent_elsewhere(tmp_path):
    """`neuroshard dashboard --agent URL --token T`: no state directory involved."""
    async with serve(tmp_path, peers=PEERS, status=lambda: make_status(PEERS), history=MetricsHistory(),
                     logs=make_logs()) as api:
        async with AgentClient(FixedLocator(api.url + "/", api.token)) as client:
            status = await client.status()
            with pytest.raises(AgentUnavailable, match="refused /v1/control/pause: this agent has nothing to pause"):
                await client.set_paused(True)  # this fixed agent has no trainer: its refusal reaches the person
    assert status.node.node_id.startswith("3a7f9c21")
