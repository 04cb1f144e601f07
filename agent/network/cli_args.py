"""argparse flags of the networking parts, and the NetworkConfig they build.

The lead's `neuroshard run` calls `add_network_arguments(parser)` and
`network_config_from_args(args)`. Order of
precedence: NetworkConfig defaults < --network-config-json < explicit flags.
"""

from __future__ import annotations

import argparse

from .config import NetworkConfig, network_config_from_json


def add_network_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("network")
    group.add_argument("--host", default=None, help="address the peer server binds (default 0.0.0.0: every interface)")
    group.add_argument("--port", type=int, default=None, help="peer server TCP port (default 8470; 0: any free port)")
    group.add_argument("--peer", action="append", default=None, metavar="HOST:PORT",
                       help="a peer to greet at start, beyond the LAN (repeatable)")
    group.add_argument("--interface", action="append", default=None, metavar="NAME|IPv4",
                       help="interface for mDNS (repeatable; default: physical interfaces, no docker/bridges)")
    group.add_argument("--no-mdns", action="store_true", default=None, help="neither advertise nor browse on mDNS")
    group.add_argument("--network", default=None, metavar="NAME", help="network name; peers of another name are ignored")
    group.add_argument("--local-api-port", type=int, default=None,
                       help="local API port on 127.0.0.1 (default 8471; 0: any free port)")
    group.add_argument("--network-config-json", "--config-json", dest="network_config_json", default=None,
                       metavar="JSON", help="any NetworkConfig fields as a JSON object, e.g. shorter timings")


def network_config_from_args(args: argparse.Namespace, base: NetworkConfig | None = None) -> NetworkConfig:
    config = base or NetworkConfig()
    if args.network_config_json:
        config = network_config_from_json(args.network_config_json, config)
    flags = {
        "host": args.host,
        "port": args.port,
        "bootstrap_peers": tuple(args.peer) if args.peer else None,
        "interfaces": tuple(args.interface) if args.interface else None,
        "mdns_enabled": False if args.no_mdns else None,
        "network_name": args.network,
        "local_api_port": args.local_api_port,
    }
    return config.replace(**{name: value for name, value in flags.items() if value is not None})
