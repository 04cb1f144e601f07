"""The simulation loop: discrete events between steps, aggregated work at each step.

    for each step [t, t + step_s):
        draw this step's arrivals (times uniform in the step)
        pop and apply every event before t + step_s, in time order:
            arrivals, departures and crashes, quorum checks, growth's claim
            window, governance phases, the storm
        at t + step_s:
            credit every quorum's batches; train solo and async nodes
            slow members report; free nodes found quorums; modes are chosen
            proofs are spot-checked; cohort syncs run; data and inference
            are served; rewards accrue; growth is checked; the ledger folds
            one row of the time series

The clock is `World.now_s`, advanced only here: nothing reads a real clock,
so the same scenario and seed give the same run on any machine.
"""

from __future__ import annotations

import gc
import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from .decisions import formation_pass, latency_pass, mode_pass
from .economy import accrue_rewards, flush_ledger, serve_data
from .events import EventKind
from .governance import on_phase_end, open_next
from .growth_driver import growth_step, on_grace_end
from .inference import serve_inference
from .membership import (
    arrive,
    create_nodes,
    depart,
    schedule_arrivals,
    start_storm,
    update_edges,
)
from .metrics import Recorder
from .proofs import check_proofs
from .quorum_life import run_check
from .quorums import credit_all
from .scenario import Scenario
from .training import advance_network_step, run_sync_rounds, train_alone
from .world import World

ProgressCallback = Callable[[int, int, World], None]


@dataclass(frozen=True)
class SimulationResult:
    scenario: Scenario
    world: World  # the final state, for checks beyond the summary
    recorder: Recorder  # the time series
    events_processed: int  # discrete events popped from the queue


class Simulation:
    def __init__(
        self, scenario: Scenario, *, progress: ProgressCallback | None = None
    ) -> None:
        self.scenario = scenario
        self.world = World(scenario)
        self.recorder = Recorder()
        self.progress = progress
        self._next_ledger_s = scenario.economy.ledger_period_h * 3600.0

    def run(self) -> SimulationResult:
        with _fewer_collections():
            return self._run()

    def _run(self) -> SimulationResult:
        self._begin()
        world, step_s = self.world, self.scenario.step_s
        steps = max(1, math.ceil(self.scenario.duration_s / step_s))
        for index in range(steps):
            start_s = index * step_s
            self._step(start_s, min(start_s + step_s, self.scenario.duration_s))
            if self.progress is not None:
                self.progress(index + 1, steps, world)
        self._finish()
        return SimulationResult(
            self.scenario, world, self.recorder, world.queue.processed
        )

    def _begin(self) -> None:
        world, scenario = self.world, self.scenario
        rows = list(create_nodes(world, 1, genesis=True))
        if scenario.population.initial_nodes > 1:
            rows.extend(create_nodes(world, scenario.population.initial_nodes - 1))
        for row in rows:
            arrive(world, int(row))
        if scenario.storm.at_h >= 0:
            world.queue.push(scenario.storm.at_h * 3600.0, EventKind.STORM)
        for index, at_h in enumerate(scenario.vocabulary.proposals_at_h):
            world.queue.push(at_h * 3600.0, EventKind.GOVERNANCE, index, 1)

    def _dispatch(self, kind: EventKind, a: int, b: int) -> None:
        world = self.world
        if kind is EventKind.ARRIVAL:
            arrive(world, a)
        elif kind is EventKind.DEPARTURE:
            depart(world, a, crash=bool(b))
        elif kind is EventKind.QUORUM_CHECK:
            run_check(world, a, b)
        elif kind is EventKind.GRACE_END:
            on_grace_end(world)
        elif kind is EventKind.GOVERNANCE:
            (open_next if b else on_phase_end)(world, a)
        elif kind is EventKind.STORM:
            start_storm(world)

    def _step(self, start_s: float, end_s: float) -> None:
        world, dt = self.world, end_s - start_s
        schedule_arrivals(world, start_s, end_s)
        while (event := world.queue.pop_before(end_s)) is not None:
            world.now_s = max(world.now_s, event[0])
            self._dispatch(*event[1:])
        world.now_s = end_s
        credit_all(world, end_s)
        train_alone(world, dt)
        latency_pass(world)
        formation_pass(world)
        mode_pass(world)
        fake_batches = check_proofs(world)
        real_batches = self._real_batches() - fake_batches
        world.tallies.real_batches += real_batches
        world.tallies.fake_batches += fake_batches
        advance_network_step(world)
        run_sync_rounds(world)
        serve_data(world)
        serve_inference(world, dt)
        accrue_rewards(world, dt)
        growth_step(world)
        if end_s >= self._next_ledger_s:
            flush_ledger(world)
            self._next_ledger_s += self.scenario.economy.ledger_period_h * 3600.0
        update_edges(world)
        self.recorder.record(world, real_batches=real_batches, dt=dt)
        world.book.step_batches[:] = 0.0
        world.table.own_batches[: world.table.count] = 0.0

    def _real_batches(self) -> float:
        world = self.world
        live = np.fromiter(
            (r is not None for r in world.book.records), bool, len(world.book.records)
        )
        table, count = world.table, world.table.count
        alone = table.own_batches[:count][table.online[:count]].sum()
        return float(world.book.step_batches[live].sum() + alone)

    def _finish(self) -> None:
        world = self.world
        flush_ledger(world)
        if world.edge_uncovered_since_s is not None:
            world.tallies.edge_uncovered_s += world.now_s - world.edge_uncovered_since_s
            world.edge_uncovered_since_s = None
        if world.edge_watch_since_s is not None:
            world.tallies.edge_watch_s = world.now_s - world.edge_watch_since_s


@contextmanager
def _fewer_collections() -> Iterator[None]:
    """Python's cyclic collector, tuned for a run's millions of long-lived records.

    With the default thresholds a generation-0 collection every 700
    allocations promotes, and the resulting full collections traverse every
    quorum state and node record again and again: a fifth of a 100,000-node
    run. The records hold no cycles the run depends on collecting promptly,
    so collections are made rarer for the run and the thresholds restored.
    """
    saved = gc.get_threshold()
    gc.set_threshold(200_000, 20, 1000)
    try:
        yield
    finally:
        gc.set_threshold(*saved)


def run_scenario(
    scenario: Scenario, *, progress: ProgressCallback | None = None
) -> SimulationResult:
    return Simulation(scenario, progress=progress).run()
