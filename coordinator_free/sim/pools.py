"""Who is free to join a quorum, indexed by region and tier, for founders' lookups.

A founder at internet scale does not scan every peer: it asks the network
(DHT records carry each node's quorum id, tier and layers) for free holders
near its tier. The simulator answers that question from these pools in O(k)
for k candidates, instead of O(n) numpy work over all nodes per formation.

A pool is an indexed set: a list plus each member's position, so adding,
removing (swap with the last) and drawing k members are O(1) each, and the
order — hence every draw — depends only on the sequence of operations, never
on hashing: the same seed gives the same run. Draws use the world's
`random.Random` (seeded from the scenario): for a few items out of many it is
several times cheaper than a numpy call.
"""

from __future__ import annotations

import random
from collections.abc import Iterable


class IndexedSet:
    def __init__(self) -> None:
        self.items: list[int] = []
        self._position: dict[int, int] = {}

    def __len__(self) -> int:
        return len(self.items)

    def __contains__(self, item: int) -> bool:
        return item in self._position

    def add(self, item: int) -> None:
        if item not in self._position:
            self._position[item] = len(self.items)
            self.items.append(item)

    def discard(self, item: int) -> None:
        position = self._position.pop(item, None)
        if position is None:
            return
        last = self.items.pop()
        if position < len(self.items):
            self.items[position] = last
            self._position[last] = position

    def draw(self, rng: random.Random, count: int) -> list[int]:
        """Up to `count` distinct members, at random (all of them when there are few).

        A few out of many (the usual case: a founder's 24 out of thousands):
        uniform indices, redrawn on a repeat, about 3× cheaper than
        `random.sample`'s integer draws; otherwise `random.sample`.
        """
        items = self.items
        size = len(items)
        if size <= count:
            return list(items)
        if 4 * count > size:
            return rng.sample(items, count)
        uniform, seen, chosen = rng.random, set(), []
        while len(chosen) < count:
            index = int(uniform() * size)
            if index not in seen:
                seen.add(index)
                chosen.append(items[index])
        return chosen


class FreePools:
    """Free, admitted, pipeline-tier layer holders by (region, tier); colluders apart, by tier only."""

    def __init__(self, regions: int) -> None:
        self.regions = regions
        self._pools = {
            (region, tier): IndexedSet()
            for region in range(regions)
            for tier in range(1, 5)
        }
        self._colluders = {tier: IndexedSet() for tier in range(1, 5)}
        self._where: dict[int, tuple[int, int, bool]] = {}

    def __len__(self) -> int:
        return len(self._where)

    def __contains__(self, node: int) -> bool:
        return node in self._where

    def members(self) -> list[int]:
        """Every free node, in the order they became free."""
        return list(self._where)

    def add(self, node: int, *, region: int, tier: int, colluder: bool) -> None:
        if node in self._where:
            return
        self._where[node] = (region, tier, colluder)
        (self._colluders[tier] if colluder else self._pools[(region, tier)]).add(node)

    def discard(self, node: int) -> None:
        where = self._where.pop(node, None)
        if where is None:
            return
        region, tier, colluder = where
        (self._colluders[tier] if colluder else self._pools[(region, tier)]).discard(
            node
        )

    def draw(
        self,
        rng: random.Random,
        *,
        tiers: Iterable[int],
        regions: Iterable[int],
        count: int,
    ) -> list[int]:
        """Up to `count` free nodes of these tiers in these regions, spread over the pools."""
        pools = [
            self._pools[(r, t)]
            for r in regions
            for t in tiers
            if len(self._pools[(r, t)])
        ]
        return _draw_from(pools, rng, count)

    def draw_colluders(
        self, rng: random.Random, *, tiers: Iterable[int], count: int
    ) -> list[int]:
        pools = [self._colluders[t] for t in tiers if len(self._colluders[t])]
        return _draw_from(pools, rng, count)


def _draw_from(pools: list[IndexedSet], rng: random.Random, count: int) -> list[int]:
    if not pools:
        return []
    total = sum(len(pool) for pool in pools)
    chosen: list[int] = []
    for pool in pools:
        # Each pool gives its share of `count`, in proportion to its size, at least one.
        share = max(1, round(count * len(pool) / total))
        chosen.extend(pool.draw(rng, share))
    return chosen[: max(count, len(pools))]
