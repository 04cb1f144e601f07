"""Which network interfaces mDNS uses, chosen on purpose rather than "all of them".

Auto mode takes every interface with an IPv4 address except loopback and the
virtual ones container runtimes, hypervisors and VPNs create (docker0, br-…,
veth…, virbr…, …): announcing there reaches no other machine, and answers
from there advertise addresses peers cannot route to. `--interface` (a name
or an IPv4 address, repeatable) overrides the choice, and is how tests pick
127.0.0.1.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

import ifaddr

from ..errors import AgentError

VIRTUAL_INTERFACE_PREFIXES = (
    "docker", "br-", "veth", "virbr", "vboxnet", "vmnet", "cni", "flannel", "cali", "kube",
    "lxc", "lxd", "podman", "tun", "tap", "wg", "zt", "tailscale", "utun", "ifb", "dummy",
)


class InterfaceError(AgentError, ValueError):
    """An interface asked for does not exist or has no IPv4 address."""


@dataclass(frozen=True)
class Interface:
    name: str  # e.g. "eth0"
    ipv4: str  # one IPv4 address of it

    @property
    def is_loopback(self) -> bool:
        return ipaddress.IPv4Address(self.ipv4).is_loopback

    @property
    def is_virtual(self) -> bool:
        return self.name.startswith(VIRTUAL_INTERFACE_PREFIXES)


def list_interfaces() -> list[Interface]:
    """Every (interface, IPv4 address) pair of this machine, in the OS's order."""
    found = []
    for adapter in ifaddr.get_adapters():
        for ip in adapter.ips:
            if ip.is_IPv4 and isinstance(ip.ip, str):
                found.append(Interface(name=adapter.nice_name, ipv4=ip.ip))
    return found


def choose_interfaces(requested: tuple[str, ...], *, include_virtual: bool = False) -> list[Interface]:
    """The interfaces to announce and browse on; never empty (falls back to loopback)."""
    available = list_interfaces()
    if requested:
        return [_find(item, available) for item in requested]
    chosen = [i for i in available if not i.is_loopback and (include_virtual or not i.is_virtual)]
    return chosen or [i for i in available if i.is_loopback][:1] or [Interface("lo", "127.0.0.1")]


def advertised_addresses(
    *, host: str, advertise: tuple[str, ...], interfaces: list[Interface]
) -> tuple[str, ...]:
    """The IPv4 addresses our records tell peers to use: explicit, else the bound host, else interfaces."""
    if advertise:
        return advertise
    if host not in ("0.0.0.0", ""):
        return (host,)
    return tuple(dict.fromkeys(interface.ipv4 for interface in interfaces)) or ("127.0.0.1",)


def _find(item: str, available: list[Interface]) -> Interface:
    for interface in available:
        if item in (interface.name, interface.ipv4):
            return interface
    known = ", ".join(f"{i.name} ({i.ipv4})" for i in available) or "none"
    raise InterfaceError(
        f"no interface {item!r} with an IPv4 address on this machine; available: {known}. "
        "Pass --interface with one of those names or addresses"
    )
