"""Nodes coming and going: arrivals, sessions, crashes, the storm, claims, admission.

Arrivals follow the scenario's population curve: the network aims at
initial × (final / initial)^(t / T) nodes (constant when initial = final),
and each step brings Poisson(shortfall + expected departures) new nodes at
uniform times. Sessions are exponential with the scenario's mean; a share of
departures are crashes (no goodbye). The storm picks a share of the online
nodes and makes them leave spread over its duration, and lowers the target
by the same share (the leavers do not come back; arrivals replace only
ordinary departures).

A joining node's claim is `claims.choose_layer_claim` on the current holder
counts (a grace window's new depth while one is open). A node whose memory
holds the whole model has exactly one possible window, so the rule's answer
does not depend on the counts; it is computed once per depth and reused.
Admission is `admission.decide_admission`, again whenever a node's stake
changes and for everyone when n crosses the enforcement size.
"""

from __future__ import annotations

import dataclasses
import math
from typing import TYPE_CHECKING

import numpy as np

from coordinator_free.admission import decide_admission, is_admission_enforced
from coordinator_free.claims import choose_layer_claim
from coordinator_free.network_view import LayerRange, Mode
from coordinator_free.scale import target_replicas_per_layer
from coordinator_free.tiers import layer_memory_bytes, max_layers_for_memory

from .economy import endow
from .events import EventKind
from .hardware import SLOW, SYBIL, draw_arrivals
from .quorum_life import member_gone
from .quorums import offer_to_pools
from .scenario import Adversaries

if TYPE_CHECKING:
    from .world import World

# DESIGN §7: from 20 nodes on the network must keep both ends of the model held.
EDGE_WATCH_FROM_NETWORK_SIZE = 20


def create_nodes(world: World, count: int, *, genesis: bool = False) -> np.ndarray:
    """Rows for `count` new nodes with their hardware and intent (still offline)."""
    scenario, table = world.scenario, world.table
    hardware, adversaries = scenario.hardware, scenario.adversaries
    if genesis and scenario.population.first_node_tier:
        shares = [0.0] * 5
        shares[scenario.population.first_node_tier - 1] = 1.0
        hardware = dataclasses.replace(hardware, tier_shares=tuple(shares))
        adversaries = Adversaries()
    drawn = draw_arrivals(
        world.rng,
        count,
        hardware=hardware,
        regions=scenario.regions,
        adversaries=adversaries,
    )
    rows = table.new_rows(count)
    world.economy.reserve(table.capacity)
    per_layer = layer_memory_bytes(scenario.model.parameters_per_layer)
    table.tier[rows], table.speed_ms[rows] = drawn.tiers, drawn.speeds_ms
    table.memory_bytes[rows], table.region[rows] = drawn.memory_bytes, drawn.regions
    table.jitter_ms[rows], table.behaviour[rows] = drawn.jitter_ms, drawn.behaviours
    slow = drawn.behaviours == SLOW
    table.actual_ms[rows] = np.where(
        slow, drawn.speeds_ms * adversaries.slow_factor, drawn.speeds_ms
    )
    table.max_layers[rows] = [
        max_layers_for_memory(int(m), per_layer) for m in drawn.memory_bytes
    ]
    for row, behaviour in zip(rows, drawn.behaviours, strict=True):
        if behaviour == SYBIL:
            table.host[row] = -1 - world.sybil_count // max(
                1, adversaries.sybils_per_host
            )
            world.sybil_count += 1
        else:
            table.host[row] = row
    return rows


def claim_for(world: World, row: int, depth: int) -> LayerRange | None:
    max_layers = int(world.table.max_layers[row])
    world.table.ensure_layers(depth)
    holders = world.table.holders[:depth]
    target = target_replicas_per_layer(world.network_size)
    if max_layers >= depth:
        cached = world.full_claims.get(depth)
        if cached is None:
            cached = world.full_claims[depth] = choose_layer_claim(
                max_layers, holders, target
            )
        return cached
    return choose_layer_claim(max_layers, holders, target)


def arrive(world: World, row: int) -> None:
    table, now_s = world.table, world.now_s
    table.joined_s[row] = now_s
    table.mode_since_s[row] = table.theta_start_s[row] = table.retry_s[row] = now_s
    table.reputation[row] = world.scenario.inference.new_reputation
    table.set_online(row, True)
    world.online.add(row)
    table.set_claim(row, claim_for(world, row, world.claim_depth))
    if table.behaviour[row] != SYBIL:
        endow(world, row, world.scenario.economy.stake_neuro)
    world.tallies.arrivals += 1
    _check_enforcement(world)
    refresh_admission(world, row)
    world.mode_dirty.add(row)
    _schedule_departure(world, row)
    update_edges(world)


def _schedule_departure(world: World, row: int) -> None:
    population = world.scenario.population
    if row == 0 and population.first_node_stays:
        return
    session_s = world.rng.exponential(population.mean_session_h * 3600.0)
    crash = world.rng.random() < population.crash_share
    world.queue.push(world.now_s + session_s, EventKind.DEPARTURE, row, int(crash))


def depart(world: World, row: int, *, crash: bool) -> None:
    table = world.table
    if not table.online[row] or (
        row == 0 and world.scenario.population.first_node_stays
    ):
        return
    if table.quorum[row] >= 0:
        member_gone(world, row, graceful=not crash)
    world.pools.discard(row)
    world.online.discard(row)
    if table.admitted[row]:
        world.host_admitted[int(table.host[row])] -= 1
        table.admitted[row] = False
    table.set_online(row, False)
    table.left_s[row] = world.now_s
    table.set_mode(row, Mode.IDLE, world.now_s)
    world.mode_dirty.discard(row)
    world.tallies.departures += 1
    world.tallies.crashes += int(crash)
    _check_enforcement(world)
    update_edges(world)


def refresh_admission(world: World, row: int) -> None:
    """Apply the admission rule to an online node; lose a quorum seat with it."""
    table = world.table
    if not table.online[row]:
        return
    host = int(table.host[row])
    was = bool(table.admitted[row])
    if was:
        world.host_admitted[host] -= 1
    decision = decide_admission(
        float(table.stake[row]),
        admitted_on_host=world.host_admitted[host],
        network_size=world.network_size,
    )
    table.admitted[row] = decision.admitted and not table.caught[row]
    if table.admitted[row]:
        world.host_admitted[host] += 1
    elif table.behaviour[row] == SYBIL and (was or table.joined_s[row] == world.now_s):
        world.tallies.sybils_refused += 1
    if was != bool(table.admitted[row]):
        world.mode_dirty.add(row)
        if not table.admitted[row] and table.quorum[row] >= 0:
            member_gone(world, row, graceful=True)
    offer_to_pools(world, row)


def _check_enforcement(world: World) -> None:
    enforced = is_admission_enforced(world.network_size)
    if enforced != world.admission_enforced:
        world.admission_enforced = enforced
        for row in list(world.online.items):
            refresh_admission(world, row)


def target_nodes(world: World, at_s: float) -> float:
    population = world.scenario.population
    fraction = min(1.0, at_s / world.scenario.duration_s)
    growth = (population.final_nodes / population.initial_nodes) ** fraction
    return population.initial_nodes * growth * world.target_factor


def schedule_arrivals(world: World, start_s: float, end_s: float) -> None:
    population = world.scenario.population
    online = world.table.online_count
    leaving = online * (end_s - start_s) / (population.mean_session_h * 3600.0)
    expected = max(0.0, target_nodes(world, end_s) - online) + leaving
    count = int(world.rng.poisson(expected))
    if count == 0:
        return
    rows = create_nodes(world, count)
    for row, at_s in zip(
        rows, np.sort(world.rng.uniform(start_s, end_s, count)), strict=True
    ):
        world.queue.push(float(at_s), EventKind.ARRIVAL, int(row))


def start_storm(world: World) -> None:
    storm = world.scenario.storm
    candidates = [row for row in world.online.items if row != 0]
    leaving = math.floor(storm.share * len(candidates))
    chosen = (
        world.rng.choice(np.array(candidates), size=leaving, replace=False)
        if leaving
        else []
    )
    duration_s = storm.duration_h * 3600.0
    crash_share = world.scenario.population.crash_share
    for row in chosen:
        at_s = world.now_s + float(world.rng.uniform(0.0, duration_s))
        world.queue.push(
            at_s, EventKind.DEPARTURE, int(row), int(world.rng.random() < crash_share)
        )
    world.target_factor *= 1.0 - storm.share
    world.storm_started_s = world.now_s


def update_edges(world: World) -> None:
    """Account the time the embedding (layer 0) or the head (last layer) has no online holder."""
    now_s, depth, holders = world.now_s, world.depth, world.table.holders
    if world.edge_watch_since_s is None:
        if world.network_size < EDGE_WATCH_FROM_NETWORK_SIZE:
            return
        world.edge_watch_since_s = now_s
    uncovered = holders[0] == 0 or holders[depth - 1] == 0
    if uncovered and world.edge_uncovered_since_s is None:
        world.edge_uncovered_since_s = now_s
    elif not uncovered and world.edge_uncovered_since_s is not None:
        world.tallies.edge_uncovered_s += now_s - world.edge_uncovered_since_s
        world.edge_uncovered_since_s = None
