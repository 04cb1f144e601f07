"""The status and advert fields of a node in PIPELINE mode (agent/status.py calls these)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..node import Node


def held_layers(node: Node) -> tuple[int, int] | None:
    """The half-open layer range this node holds: its stage's, or every layer when it trains SOLO."""
    if node.work is not None:
        return node.work.layers if node.work.runtime is not None else None
    return (0, node.arch.layer_count) if node.trainer is not None else None


def quorum_id_of(node: Node) -> str | None:
    return node.work.quorum.quorum_id if node.work is not None else None


def pipeline_status_fields(node: Node) -> dict[str, object]:
    """NodeStatus fields that differ from SOLO's while this node works as a quorum stage."""
    work = node.work
    assert work is not None
    layers = held_layers(node)
    layout = work.stage.layout
    return {
        "mode": work.mode.value,
        "mode_reason": work.quorum.reason,
        "layer_start": layers[0] if layers else None,
        "layer_stop": layers[1] if layers else None,
        "step": work.inner_steps,
        "inner_step": work.inner_steps,
        "quorum_id": layout.quorum_id if layout else None,
        "stage": layout.position if layout else None,
        "activity": "paused" if node.status.paused else ("training" if layout else "forming a quorum"),
    }
