"""A networking-only agent: identity, peer server, discovery, heartbeats, local API.

    python -m agent.network.peer_daemon --state-dir D [--host 127.0.0.1] [--port 0]
        [--peer h:p ...] [--interface 127.0.0.1] [--config-json '{...}']

Multi-process tests (and anyone debugging the network) run this until the
full Node exists. Once listening it writes <state>/ports.json atomically:
{"node_id", "peer_port", "local_api_port", "local_api_url", "pid"}. SIGTERM
or SIGINT stops it cleanly (mDNS goodbye). Exit codes: 0 clean stop,
2 bad arguments, 3 another agent runs with this identity.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys
import time
from pathlib import Path

from coordinator_free.constants import PROTOCOL_VERSION

from ..api.local import LocalApi
from ..api.schema import NodeStatus, StatusResponse
from ..errors import AgentError
from ..identity import load_or_create_identity
from ..storage import write_atomic
from .cli_args import add_network_arguments, network_config_from_args
from .config import NetworkConfig
from .hello import DuplicateNodeError
from .messages import Advert
from .service import PeerService

logger = logging.getLogger(__name__)

PORTS_FILE_NAME = "ports.json"
EXIT_DUPLICATE_NODE = 3
AGENT_VERSION = "peer-daemon"


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m agent.network.peer_daemon", description=__doc__.split("\n")[0])
    parser.add_argument("--state-dir", type=Path, required=True, help="identity, token and ports.json live here")
    parser.add_argument("--tier", default="T3", help="tier to advertise (no benchmark runs here)")
    parser.add_argument("--layers", default="0-11", help="half-open layer range to advertise, START-STOP")
    parser.add_argument("--arch", default="genesis", help="architecture name to advertise")
    parser.add_argument("--log-level", default="INFO")
    add_network_arguments(parser)
    return parser.parse_args(argv)


def build_config(args: argparse.Namespace) -> NetworkConfig:
    # A daemon is a test and debugging tool: loopback and free ports unless told otherwise.
    base = NetworkConfig(host="127.0.0.1", port=0, local_api_port=0)
    return network_config_from_args(args, base)


def build_advert(args: argparse.Namespace) -> Advert:
    start_text, _, stop_text = args.layers.partition("-")
    return Advert(arch_name=args.arch, arch_version=1, vocab_version=1, tier=args.tier,
                  layer_start=int(start_text), layer_stop=int(stop_text))


async def run_daemon(args: argparse.Namespace) -> int:
    config = build_config(args)
    identity = load_or_create_identity(args.state_dir)
    advert = build_advert(args)
    started_s = time.monotonic()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signal_number in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signal_number, stop.set)

    async with PeerService(config, identity, lambda: advert) as peers:

        def status() -> StatusResponse:
            node = NodeStatus(
                node_id=identity.node_id, agent_version=AGENT_VERSION, protocol_version=PROTOCOL_VERSION,
                arch_name=advert.arch_name, arch_version=advert.arch_version, vocab_version=advert.vocab_version,
                network=config.network_name, peer_port=peers.port, uptime_s=time.monotonic() - started_s,
                paused=False, tier=advert.tier, layer_start=advert.layer_start, layer_stop=advert.layer_stop,
            )
            return StatusResponse(node=node, peer_counts=peers.peer_counts())

        async with LocalApi(config, args.state_dir, status_provider=status, peers_provider=peers.peer_views) as api:
            ports = {"node_id": identity.node_id, "peer_port": peers.port, "local_api_port": api.port,
                     "local_api_url": api.url, "pid": os.getpid()}
            write_atomic(args.state_dir / PORTS_FILE_NAME, json.dumps(ports).encode())
            logger.info("peer daemon ready: %s", ports)
            await stop.wait()
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_arguments(argv)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return asyncio.run(run_daemon(args))
    except DuplicateNodeError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_DUPLICATE_NODE
    except (AgentError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
