"""Determinism, the simulator's own bookkeeping against the rules' views, and the CLI."""

from __future__ import annotations

import argparse
import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest

from coordinator_free.network_view import NetworkView
from coordinator_free.sim.cli import add_simulate_arguments, run_simulate
from coordinator_free.sim.engine import run_scenario
from coordinator_free.sim.metrics import COLUMNS
from coordinator_free.sim.scenario import (
    ScenarioError,
    load_scenario,
    scenario_from_mapping,
    with_overrides,
)
from coordinator_free.sim.summary import summarize

SMALL = {
    "name": "small",
    "days": 0.25,
    "seed": 11,
    "population": {"initial_nodes": 40, "final_nodes": 60, "mean_session_h": 12.0},
    "adversaries": {"share": 0.2, "lazy": 1.0, "sybil": 1.0, "collude": 1.0},
    "vocabulary": {
        "proposals_at_h": [1.0],
        "discussion_h": 1.0,
        "voting_h": 1.0,
        "grace_h": 1.0,
    },
    "economy": {"ledger_period_h": 0.5},
}


def _summary(seed: int) -> dict:
    scenario = scenario_from_mapping({**SMALL, "seed": seed})
    return summarize(run_scenario(scenario))


def test_the_same_seed_gives_the_same_summary_and_another_seed_another() -> None:
    first, again, other = _summary(11), _summary(11), _summary(12)
    assert json.dumps(first, sort_keys=True) == json.dumps(again, sort_keys=True)
    assert json.dumps(first, sort_keys=True) != json.dumps(other, sort_keys=True)


def test_holder_counts_and_memory_match_a_view_of_the_online_nodes() -> None:
    result = run_scenario(scenario_from_mapping(SMALL))
    world = result.world
    online = world.online.items
    view = NetworkView(tuple(world.table.view(row) for row in online), world.depth)
    assert np.array_equal(view.holder_counts, world.table.holders[: world.depth])
    assert view.total_memory_bytes == world.table.online_memory_bytes
    assert view.size == world.network_size
    for slot in world.book.live_slots():
        record = world.book.records[int(slot)]
        assert [world.table.node_id(row) for row in record.members] == [
            m.node_id for m in record.state.members
        ]


def test_governance_runs_a_proposal_to_its_end() -> None:
    scenario = scenario_from_mapping({**SMALL, "days": 0.25})
    summary = summarize(run_scenario(scenario))
    vocabulary = summary["vocabulary"]
    assert vocabulary["proposals"] == 1
    assert vocabulary["activated"] + vocabulary["rejected"] == 1
    assert vocabulary["version"] == 1 + vocabulary["activated"]


def test_every_built_in_scenario_loads_and_a_typo_is_refused(tmp_path: Path) -> None:
    for name in ("genesis-to-1000", "steady-100k", "churn-storm", "adversarial-10pct"):
        assert load_scenario(name).name == name
    broken = tmp_path / "broken.toml"
    broken.write_text('name = "x"\n[population]\ninitial_node = 3\n', encoding="utf-8")
    with pytest.raises(ScenarioError, match="initial_node"):
        load_scenario(str(broken))
    with pytest.raises(ScenarioError, match="no scenario"):
        load_scenario("no-such-scenario")
    grown = with_overrides(load_scenario("genesis-to-1000"), nodes=50, days=0.5, seed=3)
    assert (
        grown.population.initial_nodes,
        grown.population.final_nodes,
        grown.days,
    ) == (1, 50, 0.5)
    steady = with_overrides(load_scenario("churn-storm"), nodes=50)
    assert steady.population.initial_nodes == steady.population.final_nodes == 50


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_simulate_arguments(parser)
    return parser.parse_args(argv)


def test_cli_prints_the_summary_and_writes_series_and_charts(tmp_path: Path) -> None:
    scenario = tmp_path / "tiny.toml"
    scenario.write_text(
        'name = "tiny"\ndays = 0.1\n[population]\ninitial_nodes = 30\nfinal_nodes = 30\n',
        encoding="utf-8",
    )
    out, err = io.StringIO(), io.StringIO()
    code = run_simulate(
        _args(str(scenario), "--seed", "2", "--out", str(tmp_path / "out")),
        stdout=out,
        stderr=err,
    )
    assert code == 0
    assert (
        "phases (first reached, hours)" in out.getvalue()
        and "honest nodes wrongly slashed" in out.getvalue()
    )
    assert "100%" in err.getvalue()  # the progress bar reached the end
    with (tmp_path / "out" / "series.csv").open(encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    assert tuple(rows[0]) == COLUMNS and len(rows) == 1 + 29  # 0.1 day in 300 s steps
    pytest.importorskip("matplotlib")
    assert (tmp_path / "out" / "quorums.png").stat().st_size > 1000


def test_cli_refuses_a_bad_scenario_with_a_usage_error() -> None:
    err = io.StringIO()
    assert (
        run_simulate(
            _args("no-such-scenario", "--quiet"), stdout=io.StringIO(), stderr=err
        )
        == 2
    )
    assert "no scenario" in err.getvalue()
