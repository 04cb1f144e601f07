"""`neuroshard id`, `peers` and `doctor`: functions from parsed args to an exit code.

The lead's agent/cli.py registers them (same pattern for `id` with
add_id_arguments / run_id):

    peers = sub.add_parser("peers", help="table of known peers of the running agent")
    add_peers_arguments(peers)            # include_state_dir=False if the parser has one
    peers.set_defaults(handler=run_peers)
    doctor = sub.add_parser("doctor", help="check this machine can join the network")
    add_doctor_arguments(doctor)
    doctor.set_defaults(handler=run_doctor)

`peers` asks the running agent's local API (URL from <state>/local_api.json,
token from <state>/api_token); it never starts networking itself.
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, TypeVar

from ..api.schema import (
    LOCAL_API_FILE_NAME,
    TOKEN_FILE_NAME,
    PeersResponse,
    PeerView,
    SchemaError,
    from_json,
    to_json,
)
from ..config import default_state_dir
from ..errors import AgentError
from ..identity import load_or_create_identity
from .cli_args import add_network_arguments

T = TypeVar("T")

EXIT_OK = 0
EXIT_PROBLEM = 1
API_TIMEOUT_S = 5.0


def add_id_arguments(parser: argparse.ArgumentParser, *, include_state_dir: bool = True) -> None:
    if include_state_dir:
        add_state_dir_argument(parser)


def run_id(args: argparse.Namespace) -> int:
    """Print this node's id (hex SHA-256 of its public key), creating the identity if new."""
    state_dir: Path = args.state_dir or default_state_dir()
    try:
        identity = load_or_create_identity(state_dir)
    except (AgentError, OSError) as error:
        print(f"cannot read or create the identity in {state_dir}: {error}", file=sys.stderr)
        return EXIT_PROBLEM
    print(identity.node_id)
    return EXIT_OK


def add_state_dir_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--state-dir", type=Path, default=None,
                        help="the agent's state directory (default: the platform's user data dir)")


def add_peers_arguments(parser: argparse.ArgumentParser, *, include_state_dir: bool = True) -> None:
    if include_state_dir:
        add_state_dir_argument(parser)
    parser.add_argument("--agent", default=None, metavar="URL",
                        help="local API of the agent to ask (default: the one running on --state-dir)")
    parser.add_argument("--json", action="store_true", help="print the peers as JSON")


def add_doctor_arguments(parser: argparse.ArgumentParser, *, include_state_dir: bool = True) -> None:
    if include_state_dir:
        add_state_dir_argument(parser)
    add_network_arguments(parser)


def ask_running_agent(args: argparse.Namespace, path: str, kind: type[T]) -> T | None:
    """GET `path` from the running agent's local API as `kind`; None after printing what went wrong.

    The agent is `--agent URL` with its token from --state-dir, or the one running on --state-dir.
    """
    state_dir: Path = args.state_dir or default_state_dir()
    try:
        url = args.agent or json.loads((state_dir / LOCAL_API_FILE_NAME).read_text())["url"]
        token = (state_dir / TOKEN_FILE_NAME).read_text().strip()
    except (OSError, ValueError, KeyError, TypeError):
        print(f"no running agent found for state directory {state_dir} (no {LOCAL_API_FILE_NAME} or "
              f"{TOKEN_FILE_NAME} there). Start one with `neuroshard run`, or pass --state-dir", file=sys.stderr)
        return None
    try:
        return from_json(kind, _get_json(f"{url}{path}", token))
    except urllib.error.HTTPError as error:
        print(f"the agent at {url} refused: {_error_text(error)}", file=sys.stderr)
    except (urllib.error.URLError, OSError) as error:
        print(f"no agent answers at {url} ({getattr(error, 'reason', error)}); is it running? "
              f"Start it with `neuroshard run`", file=sys.stderr)
    except (ValueError, SchemaError) as error:
        print(f"the agent at {url} answered something unexpected: {error}", file=sys.stderr)
    return None


def run_peers(args: argparse.Namespace) -> int:
    response = ask_running_agent(args, "/v1/peers", PeersResponse)
    if response is None:
        return EXIT_PROBLEM
    peers = response.peers
    if args.json:
        print(json.dumps(to_json(list(peers)), indent=1))
    else:
        print(format_peer_table(peers))
    return EXIT_OK


def format_peer_table(peers: tuple[PeerView, ...] | list[PeerView]) -> str:
    if not peers:
        return "no peers known yet (run `neuroshard doctor` if you expected some)"
    header = ("NODE", "ADDRESS", "FOUND BY", "TIER", "LAYERS", "STATE", "LAST HEARTBEAT")
    rows = [header] + [
        (
            peer.node_id[:12],
            peer.address,
            ",".join(peer.found_by),
            peer.tier or "-",
            "-" if peer.layer_start is None else f"{peer.layer_start}-{peer.layer_stop}",
            peer.state,
            "never" if peer.last_heartbeat_age_s is None else f"{peer.last_heartbeat_age_s:.1f} s ago",
        )
        for peer in peers
    ]
    widths = [max(len(row[column]) for row in rows) for column in range(len(header))]
    return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
                     for row in rows)


def run_doctor(args: argparse.Namespace) -> int:
    from .doctor import print_report, run_checks  # zeroconf and sockets only when asked

    state_dir: Path = args.state_dir or default_state_dir()
    checks = run_checks(args, state_dir)
    print_report(checks)
    return EXIT_PROBLEM if any(check.failed for check in checks) else EXIT_OK


def _get_json(url: str, token: str) -> Any:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=API_TIMEOUT_S) as response:
        return json.loads(response.read())


def _error_text(error: urllib.error.HTTPError) -> str:
    try:
        detail = json.loads(error.read())["error"]
        return f"{error.code} {detail['code']}: {detail['message']}"
    except (ValueError, KeyError, TypeError):
        return f"HTTP {error.code}"
