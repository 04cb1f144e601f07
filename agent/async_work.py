"""ASYNC mode (`--mode async`, or a T5 node under `--mode auto`): the async contributor in a loop.

Fetch the current weights of every layer from the holders in the peer table,
train `cohort.async_steps` inner steps on genesis data with the node's solo
trainer (its runtime is whole-model: agent/cohort/async_contributor.py says
why), submit Δ to the round the holders are in, repeat. A failed attempt
(no holders yet, a holder refusing) is logged, shown in the status and
retried after a heartbeat interval; the node never advertises layers while
ASYNC, so no cohort round waits for it as a holder.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from coordinator_free.peer_health import PeerState

from .cohort.async_contributor import AsyncContributionError, AsyncContributor
from .cohort.transfer import CohortTransfer
from .network.peer_table import PeerInfo

if TYPE_CHECKING:
    from .node import Node

log = logging.getLogger(__name__)


@dataclass
class AsyncReport:
    """What the status shows of this node's async contributions."""

    accepted: int = 0  # contributions every holder accepted
    last_round: int | None = None  # the round the last accepted one went to
    last_holders: int = 0  # holders that accepted the last one
    last_error: str | None = None  # why the last attempt failed, if it did
    phase: str = "waiting"  # "fetching and training", "waiting for holders"...


class AsyncWork:
    def __init__(self, node: Node) -> None:
        self.node = node
        self.report = AsyncReport()

    def _alive_peers(self) -> list[PeerInfo]:
        peers = self.node.peers
        return [p for p in peers.peers() if p.state is PeerState.ALIVE] if peers is not None else []

    async def run(self, *, until: asyncio.Event) -> None:
        """Contribute until `until` is set (a switch or a stop); one documented loop."""
        node = self.node
        network = node.config.network
        if node.peers is None or network is None or node.trainer is None:
            self.report.phase = "no network: nothing to contribute to"
            await until.wait()
            return
        trainer = node.trainer
        transfer = CohortTransfer(node.peers.client, call_timeout_s=node.config.cohort.call_timeout_s,
                                  body_limit_bytes=network.tensor_body_limit_bytes)
        loop = asyncio.get_running_loop()

        def train_step() -> str:
            metrics = trainer.train_step()
            loop.call_soon_threadsafe(node._record, metrics)
            return metrics.batch_id

        contributor = AsyncContributor(arch=node.arch, runtime=trainer.runtime, transfer=transfer,
                                       peers=self._alive_peers, train_step=train_step,
                                       steps=node.config.cohort.async_steps)
        while not until.is_set():
            await node._running.wait()
            if until.is_set():
                break
            self.report.phase = "fetching weights, training, submitting"
            try:
                submitted = await contributor.contribute_once()
            except AsyncContributionError as error:
                self.report.last_error, self.report.phase = str(error), "retrying"
                log.info("async contribution not made: %s", error)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(until.wait(), timeout=network.heartbeat_interval_s)
                continue
            report = self.report
            report.accepted += 1
            report.last_round, report.last_holders, report.last_error = (submitted.round_number,
                                                                         len(submitted.holders), None)
            node.on_event("async", {"round": submitted.round_number, "batches": submitted.batches,
                                    "holders": len(submitted.holders), "step": trainer.step})
        self.report.phase = "stopped"
