"""What a virtual node sees: the NetworkViews the simulator hands to the rules.

The rules take a `NetworkView`, "what one node can see of the network". At
small scale that is everyone; at internet scale no node sees 100,000 peers,
so the simulator gives each decision the view such a node would have:

- **Formation** (and replacement): the founder plus free candidates it looks
  up — free, admitted holders of the tiers formation may pick (its own ±1),
  drawn from its own region once the network is Large (DESIGN §7: "regional
  clustering" from 500 nodes), up to `formation_candidates` of them. Busy
  nodes are never candidates, so leaving them out changes nothing; n goes to
  the rule as `network_size`. At n <= `sample_size` every free candidate is
  in the view: the decision is exactly the one a full view gives.
- **Mode selection**: every online node while n <= `sample_size` (exact);
  beyond that a uniform sample of `sample_size` (>= 500) online nodes plus the
  deciders. The §7 values mode selection reads (target replicas, spot-check
  probability) are constant from n = 500 on, so the sample decides with the
  same thresholds; what it counts (verifiers, data servers) are the sample's,
  as they would be for a node whose peer table holds that many peers.

Unadmitted nodes (Sybils, slashed nodes) are visible — they count in n — but
never offered as candidates: founders apply the admission rule first.
"""

from __future__ import annotations

from collections.abc import Sequence

from coordinator_free.network_view import NetworkView
from coordinator_free.types import NodeId

from .hardware import COLLUDE
from .world import World

# DESIGN §7: regional clustering from the Large phase on.
REGIONAL_FROM_NETWORK_SIZE = 500


def formation_tiers(tier: int) -> list[int]:
    return [t for t in (tier - 1, tier, tier + 1) if 1 <= t <= 4]


def candidate_rows(
    world: World, near: int, tiers: Sequence[int], *, colluders_only: bool = False
) -> list[int]:
    """Free candidates a node at row `near` finds for these tiers (not including itself)."""
    table, views = world.table, world.scenario.views
    everyone = world.network_size <= views.sample_size
    count = len(world.pools) if everyone else views.formation_candidates
    if colluders_only:
        rows = world.pools.draw_colluders(world.prng, tiers=tiers, count=count)
    else:
        regional = world.network_size >= REGIONAL_FROM_NETWORK_SIZE
        regions = [table.fixed(near).region] if regional else range(world.pools.regions)
        rows = world.pools.draw(world.prng, tiers=tiers, regions=regions, count=count)
    return [row for row in rows if row != near]


def formation_view(
    world: World, founder: int
) -> tuple[NetworkView, dict[NodeId, float]]:
    record = world.table.fixed(founder)
    rows = candidate_rows(
        world,
        founder,
        formation_tiers(record.tier),
        colluders_only=record.behaviour == COLLUDE,
    )
    return _view_with_latency(world, founder, rows)


def replacement_view(
    world: World, anchor: int, tiers: Sequence[int]
) -> tuple[NetworkView, dict[NodeId, float]]:
    """Free candidates near the quorum's founder (`anchor`), for find_replacement."""
    return _view_with_latency(world, anchor, candidate_rows(world, anchor, tiers))


def _view_with_latency(
    world: World, anchor: int, rows: list[int]
) -> tuple[NetworkView, dict[NodeId, float]]:
    """The anchor and `rows` as a view, with each row's round trip from the anchor."""
    table = world.table
    anchor_record = table.fixed(anchor)
    between_ms = world.region_latency_rows_ms[anchor_record.region]
    jitter_ms = anchor_record.jitter_ms
    latency = {}
    # A few dozen rows: plain Python beats numpy's per-call cost.
    for record in table.fixed_records(rows):
        latency[record.node_id] = between_ms[record.region] + jitter_ms + record.jitter_ms
    nodes = table.views([anchor, *rows])
    return NetworkView(tuple(nodes), world.depth), latency


def mode_view(world: World, deciders: Sequence[int]) -> NetworkView:
    """The view mode selection reads; every decider is in it."""
    table, size = world.table, world.scenario.views.sample_size
    if world.network_size <= size:
        rows = world.online.items
    else:
        rows = list(dict.fromkeys([*world.online.draw(world.prng, size), *deciders]))
    return NetworkView(tuple(table.views(rows)), world.depth)
