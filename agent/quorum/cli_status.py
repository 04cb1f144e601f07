"""`neuroshard status`: what the running agent is doing, for people (a table) or scripts (--json).

--json prints /v1/status exactly as the local API sends it, so scripts see
the same field names as the API; the table shows the fields people ask for
first (mode and why, quorum and stage, step, loss, throughput, checkpoint).
"""

from __future__ import annotations

import argparse
import json

from ..api.schema import (
    StatusResponse,
    to_json,
)
from ..network.cli_commands import add_peers_arguments, ask_running_agent

EXIT_OK = 0
EXIT_PROBLEM = 1


def add_status_arguments(parser: argparse.ArgumentParser) -> None:
    add_peers_arguments(parser)  # the same --state-dir, --agent and --json


def run_status(args: argparse.Namespace) -> int:
    response = ask_running_agent(args, "/v1/status", StatusResponse)
    if response is None:
        return EXIT_PROBLEM
    print(json.dumps(to_json(response), indent=1) if args.json else format_status(response))
    return EXIT_OK


def _number(value: float | None, digits: int = 4) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def _pipeline(response: StatusResponse) -> str:
    """The quorum's stages in order: who runs which layers, its tier and health; `*` marks this node."""
    quorum = response.quorum
    if quorum is None:
        return "-"
    stages = " → ".join(f"{'*' if m.is_self else ''}{m.node_id[:8]}[{m.layer_start},{m.layer_stop}) "
                        f"{m.tier or '?'} {m.health}" for m in quorum.members)
    left = "" if quorum.session_remaining_s is None else f", session {quorum.session_remaining_s:.0f} s left"
    return f"{stages} ({quorum.state}{left})"


def format_status(response: StatusResponse) -> str:
    node = response.node
    layers = "-" if node.layer_start is None else f"[{node.layer_start}, {node.layer_stop})"
    quorum = "-" if node.quorum_id is None else f"{node.quorum_id[:16]}… stage {node.stage}"
    rows = [
        ("node", f"{node.node_id[:16]}… ({node.arch_name} v{node.arch_version}, vocab v{node.vocab_version})"),
        ("mode", f"{node.mode}: {node.mode_reason}" if node.mode_reason else node.mode),
        ("activity", node.activity or "-"),
        ("tier", f"{node.tier or '-'} ({_number(node.compute_speed_ms, 1)} ms/layer on {node.runtime or '-'})"),
        ("layers", layers),
        ("quorum", quorum),
        ("pipeline", _pipeline(response)),
        ("step", str(node.step)),
        ("loss", _number(node.loss)),
        ("validation loss", _number(node.validation_loss)),
        ("tokens/s", _number(node.tokens_per_s, 0)),
        ("last checkpoint", "-" if node.checkpoint_age_s is None else f"{node.checkpoint_age_s:.0f} s ago"),
        ("peers", ", ".join(f"{count} {state}" for state, count in sorted(response.peer_counts.items())) or "none"),
    ]
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"{name:<{width}}  {value}" for name, value in rows)
