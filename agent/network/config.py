"""NetworkConfig: every setting of peers, discovery, heartbeats and the local API.

CLI flags map onto these fields (agent.network.cli_commands.add_network_arguments);
tests shrink the timings here, never by patching constants.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any

from coordinator_free.constants import (
    DEGRADED_AFTER_MISSED_HEARTBEATS,
    HEARTBEAT_INTERVAL_S,
    MAX_CLOCK_SKEW_S,
    OFFLINE_AFTER_S,
    PEER_FORGET_AFTER_S,
)

from ..errors import AgentError

DEFAULT_PEER_PORT = 8470
DEFAULT_LOCAL_API_PORT = 8471
KIB = 1024
MIB = 1024 * KIB


class NetworkConfigError(AgentError, ValueError):
    """A network setting is out of range or of the wrong type."""


@dataclass(frozen=True)
class NetworkConfig:
    # --- peer server
    host: str = "0.0.0.0"  # address the peer server binds; "0.0.0.0" = every interface
    port: int = DEFAULT_PEER_PORT  # peer server TCP port; 0 = any free port (tests)
    advertise_addresses: tuple[str, ...] = ()  # IPv4 addresses put in our records; () = derived
    network_name: str = "main"  # peers of another network name are ignored (test nets)
    # --- discovery
    mdns_enabled: bool = True  # advertise and browse _neuroshard._tcp.local.
    interfaces: tuple[str, ...] = ()  # mDNS interfaces, by name or IPv4; () = physical ones
    include_virtual_interfaces: bool = False  # also docker/bridge/veth/VPN interfaces when auto
    bootstrap_peers: tuple[str, ...] = ()  # "host:port" peers to greet at start, beyond the LAN
    mdns_resolve_timeout_s: float = 3.0  # wait for a found service's SRV/TXT/A records, s
    # --- membership timings
    heartbeat_interval_s: float = HEARTBEAT_INTERVAL_S  # between heartbeats to each peer, s
    degraded_after_missed_heartbeats: int = DEGRADED_AFTER_MISSED_HEARTBEATS  # count
    offline_after_s: float = OFFLINE_AFTER_S  # silence before a peer is offline, s
    forget_after_s: float = PEER_FORGET_AFTER_S  # silence before a peer leaves the table, s
    exchange_interval_s: float = HEARTBEAT_INTERVAL_S  # between peer-exchange rounds, s
    exchange_fanout: int = 4  # peers asked per exchange round, count
    max_records_per_exchange: int = 256  # records returned per exchange answer, count
    max_peers: int = 4096  # peer table size; new nodes' hellos are refused beyond it, count
    # --- security
    max_clock_skew_s: float = MAX_CLOCK_SKEW_S  # refuse messages further off than this, s
    nonce_window_s: float = 300.0  # remember seen nonces this long, s (≥ 2 × skew)
    record_max_age_s: float = 600.0  # refuse forwarded records older than this, s
    # --- client
    connect_timeout_s: float = 3.0  # TCP connect to a peer, s
    request_timeout_s: float = 10.0  # one whole request to a peer, s
    backoff_base_s: float = 1.0  # first wait after a peer fails, s; doubles per failure
    backoff_cap_s: float = 300.0  # longest wait between tries of a failing peer, s
    # --- body limits, per endpoint kind
    control_body_limit_bytes: int = 64 * KIB  # hello, heartbeat, exchange request
    exchange_response_limit_bytes: int = 4 * MIB  # an exchange answer full of records
    tensor_body_limit_bytes: int = 256 * MIB  # pipeline endpoints (issue 5), streamed
    # --- local API (dashboard, scripts)
    local_api_host: str = "127.0.0.1"  # loopback only unless you know why
    local_api_port: int = DEFAULT_LOCAL_API_PORT  # 0 = any free port

    def __post_init__(self) -> None:
        for name in ("port", "local_api_port"):
            if not 0 <= getattr(self, name) <= 65535:
                raise NetworkConfigError(f"{name} must be 0..65535, got {getattr(self, name)}")
        positive = ("heartbeat_interval_s", "offline_after_s", "forget_after_s", "exchange_interval_s",
                    "max_clock_skew_s", "connect_timeout_s", "request_timeout_s", "backoff_base_s",
                    "mdns_resolve_timeout_s")
        for name in positive:
            if not getattr(self, name) > 0:
                raise NetworkConfigError(f"{name} must be positive, got {getattr(self, name)}")
        if self.nonce_window_s < 2 * self.max_clock_skew_s:
            raise NetworkConfigError(
                f"nonce_window_s ({self.nonce_window_s}) must be ≥ 2 × max_clock_skew_s "
                f"({self.max_clock_skew_s}) or replays slip through"
            )
        if not self.heartbeat_interval_s * self.degraded_after_missed_heartbeats < self.offline_after_s:
            raise NetworkConfigError(
                f"offline_after_s ({self.offline_after_s}) must exceed degraded_after_missed_heartbeats × "
                f"heartbeat_interval_s ({self.degraded_after_missed_heartbeats} × {self.heartbeat_interval_s})"
            )
        if not self.offline_after_s < self.forget_after_s:
            raise NetworkConfigError(f"forget_after_s ({self.forget_after_s}) must exceed offline_after_s")
        if self.record_max_age_s > self.forget_after_s:
            # We forget a peer's last sequence when we forget the peer; an older
            # record must be refused by age by then, or it could be replayed.
            raise NetworkConfigError("record_max_age_s must not exceed forget_after_s")
        if self.backoff_cap_s < self.backoff_base_s:
            raise NetworkConfigError("backoff_cap_s must be ≥ backoff_base_s")
        for address in self.bootstrap_peers:
            parse_peer_address(address)

    def replace(self, **changes: Any) -> NetworkConfig:
        return dataclasses.replace(self, **changes)


def parse_peer_address(text: str) -> tuple[str, int]:
    """"host:port" → (host, port), with the expected form in the error."""
    host, separator, port_text = text.rpartition(":")
    if not separator or not host or not port_text.isdigit() or not 0 < int(port_text) <= 65535:
        raise NetworkConfigError(f"peer address {text!r} must look like host:port, e.g. 192.168.1.20:{DEFAULT_PEER_PORT}")
    return host, int(port_text)


def network_config_from_mapping(values: dict[str, Any], base: NetworkConfig | None = None) -> NetworkConfig:
    """`base` with the fields in `values` replaced; unknown names and wrong types are errors."""
    base = base or NetworkConfig()
    fields = {field.name: field for field in dataclasses.fields(NetworkConfig)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise NetworkConfigError(f"unknown network settings {unknown}; known: {sorted(fields)}")
    changes: dict[str, Any] = {}
    for name, value in values.items():
        default = getattr(base, name)
        if isinstance(default, tuple):
            if not isinstance(value, (list, tuple)) or not all(isinstance(item, str) for item in value):
                raise NetworkConfigError(f"{name} must be a list of strings, got {value!r}")
            value = tuple(value)
        elif isinstance(default, bool) or isinstance(value, bool):
            if not isinstance(value, bool) or not isinstance(default, bool):
                raise NetworkConfigError(f"{name} must be {type(default).__name__}, got {value!r}")
        elif isinstance(default, float) and isinstance(value, int):
            value = float(value)
        elif not isinstance(value, type(default)):
            raise NetworkConfigError(f"{name} must be {type(default).__name__}, got {value!r}")
        changes[name] = value
    return dataclasses.replace(base, **changes)


def network_config_from_json(text: str, base: NetworkConfig | None = None) -> NetworkConfig:
    try:
        values = json.loads(text)
    except json.JSONDecodeError as error:
        raise NetworkConfigError(f"network config is not valid JSON: {error}") from None
    if not isinstance(values, dict):
        raise NetworkConfigError("network config JSON must be an object of field names to values")
    return network_config_from_mapping(values, base)
