"""Cohort messages over the PeerService client: one call per peer, each with its own timeout.

A peer that fails or refuses is data, not an exception: it is logged and the
round goes on without it (the agreement rule in rounds.py decides what counts).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from ..network.client import PeerClient, PeerRefusedError, PeerRequestError
from ..network.peer_table import PeerInfo
from . import messages as m
from .handoff import HandoffError, WeightsSnapshot, decode_snapshot

log = logging.getLogger(__name__)
RETRY_PAUSE_S = 0.2  # between tries while a holder has not applied the round asked for


class CohortRefusedError(PeerRequestError):
    """A holder refused a contribution; `code` is its reason (e.g. wrong_start_weights)."""

    def __init__(self, address: str, refusal: m.Refusal, next_round: int | None) -> None:
        super().__init__(address, f"refused with {refusal.code}: {refusal.message}")
        self.code = refusal.code
        self.next_round = next_round


class CohortTransfer:
    def __init__(self, client: PeerClient, *, call_timeout_s: float, body_limit_bytes: int) -> None:
        self.client = client
        self.call_timeout_s = call_timeout_s
        self.body_limit_bytes = body_limit_bytes

    async def call(self, peer: PeerInfo, path: str, message_type: str, reply_type: str,
                   payload: dict[str, Any]) -> dict[str, Any]:
        """One signed call with this component's timeout; raises PeerRequestError or CohortRefusedError."""
        # The call's own limit, not the session's short control-message one: a
        # layer's Δ or weights are megabytes, slow links need the time.
        reply = await self.client.call(
            peer.address, path, message_type=message_type, payload=payload, reply_type=reply_type,
            expected_node_id=peer.node_id, response_limit_bytes=self.body_limit_bytes,
            timeout_s=self.call_timeout_s,
        )
        refusal = m.read_refusal(reply.payload)
        if refusal is not None:
            next_round = reply.payload.get("next_round")
            raise CohortRefusedError(peer.address, refusal, next_round if isinstance(next_round, int) else None)
        return reply.payload

    async def send(self, peer: PeerInfo, path: str, message_type: str, reply_type: str,
                   payload: dict[str, Any]) -> bool:
        """Like call, but a failure is logged and returns False (the round goes on without the peer)."""
        try:
            await self.call(peer, path, message_type, reply_type, payload)
        except (PeerRequestError, PeerRefusedError) as error:
            log.info("cohort %s to %s: %s", message_type, peer.node_id[:12], error)
            return False
        return True

    async def fetch_weights(self, peer: PeerInfo, layers: list[int], shapes: dict[int, dict[str, tuple[int, ...]]],
                            *, min_round: int, wait_s: float) -> WeightsSnapshot | None:
        """θ_start of `layers` from `peer` once it applied `min_round`; None when it cannot be had."""
        deadline = time.monotonic() + wait_s
        wanted = {layer: shapes[layer] for layer in layers}
        while True:
            try:
                payload = await self.call(peer, m.WEIGHTS_PATH, m.WEIGHTS, m.WEIGHTS_REPLY,
                                          m.weights_request(layers, min_round))
                return decode_snapshot(_bytes(payload, "body"), str(payload.get("sha256")), wanted)
            except CohortRefusedError as error:
                if error.code != m.NOT_READY or time.monotonic() > deadline:
                    log.warning("weights from %s: %s", peer.node_id[:12], error)
                    return None
            except (PeerRequestError, HandoffError) as error:
                log.warning("weights from %s refused here: %s", peer.node_id[:12], error)
                return None
            await asyncio.sleep(RETRY_PAUSE_S)


def _bytes(payload: dict[str, Any], key: str) -> bytes:
    value = payload.get(key)
    if not isinstance(value, bytes):
        raise HandoffError(f"weights reply field {key!r} must be bytes")
    return value
