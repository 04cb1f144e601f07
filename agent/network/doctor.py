"""`neuroshard doctor`: can this machine join the network? One plain verdict, a fix per failure.

Checks: state directory writable, clock sane, the peer port free (or held by
our own agent) and reachable on the chosen interfaces, multicast (mDNS) send
and receive on each chosen interface, onnxruntime present, torch present or
not (found with importlib.util.find_spec, never imported: importing torch
takes seconds and gigabytes).

Known limit: the multicast check loops a query through this machine's own
stack on the interface; it proves sockets, group membership and local
firewall rules, not that a switch or router between hosts passes mDNS.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import errno
import importlib.util
import json
import os
import shutil
import socket
import subprocess
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from zeroconf import IPVersion
from zeroconf.asyncio import AsyncServiceInfo, AsyncZeroconf

from .cli_args import network_config_from_args
from .config import NetworkConfig
from .interfaces import Interface, InterfaceError, choose_interfaces, list_interfaces

DOCTOR_SERVICE_TYPE = "_nsdoctor._tcp.local."  # not ours: peers never see the probe
MULTICAST_TIMEOUT_S = 4.0
EARLIEST_PLAUSIBLE_YEAR = 2024
LATEST_PLAUSIBLE_YEAR = 2100


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""  # what to do, when not ok

    @property
    def failed(self) -> bool:
        return not self.ok


def run_checks(args: argparse.Namespace, state_dir: Path) -> list[Check]:
    config = network_config_from_args(args)
    checks = [check_state_dir(state_dir), check_clock()]
    try:
        interfaces = choose_interfaces(config.interfaces, include_virtual=config.include_virtual_interfaces)
    except InterfaceError as error:
        return [*checks, Check("interfaces", False, str(error), "pass --interface with one of the listed names")]
    checks.append(describe_interfaces(interfaces))
    checks.append(check_port(config, interfaces))
    checks.extend(check_multicast(interface) for interface in interfaces)
    checks.append(check_module("onnxruntime", required=True))
    checks.append(check_module("torch", required=False))
    return checks


def print_report(checks: list[Check]) -> None:
    width = max(len(check.name) for check in checks)
    print("neuroshard doctor")
    for check in checks:
        print(f"  {'ok  ' if check.ok else 'FAIL'}  {check.name.ljust(width)}  {check.detail}")
        if check.failed and check.fix:
            print(f"        {' ' * width}  fix: {check.fix}")
    failures = sum(check.failed for check in checks)
    if failures:
        print(f"verdict: {failures} problem{'s' if failures > 1 else ''} found; fix "
              f"{'them' if failures > 1 else 'it'} and run `neuroshard doctor` again")
    else:
        print("verdict: all good, this machine can join the network")


def check_state_dir(state_dir: Path) -> Check:
    try:
        state_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=state_dir, prefix=".doctor-") as probe:
            probe.write(b"ok")
            probe.flush()
    except OSError as error:
        return Check("state directory", False, f"{state_dir} is not writable ({error.strerror or error})",
                     "pass --state-dir with a directory you own, or fix its permissions")
    return Check("state directory", True, f"{state_dir} is writable")


def check_clock() -> Check:
    now = datetime.datetime.now(datetime.UTC)
    if not EARLIEST_PLAUSIBLE_YEAR <= now.year <= LATEST_PLAUSIBLE_YEAR:
        return Check("clock", False, f"the system clock says {now:%Y-%m-%d %H:%M} UTC, which cannot be right",
                     "set the time and enable NTP (sudo timedatectl set-ntp true)")
    synced = _ntp_synchronized()
    if synced is False:
        return Check("clock", False, f"{now:%Y-%m-%d %H:%M:%S} UTC but not NTP-synchronized; peers refuse "
                     "messages more than 30 s off", "enable NTP: sudo timedatectl set-ntp true")
    suffix = ", NTP-synchronized" if synced else " (NTP state unknown)"
    return Check("clock", True, f"{now:%Y-%m-%d %H:%M:%S} UTC{suffix}")


def describe_interfaces(interfaces: list[Interface]) -> Check:
    chosen = {interface.name for interface in interfaces}
    skipped = sorted({i.name for i in list_interfaces() if i.name not in chosen and i.is_virtual})
    detail = "mDNS on " + ", ".join(f"{i.name} ({i.ipv4})" for i in interfaces)
    if skipped:
        detail += f"; skipped virtual: {', '.join(skipped)}"
    return Check("interfaces", True, detail)


def check_port(config: NetworkConfig, interfaces: list[Interface]) -> Check:
    name = f"port {config.port}"
    with socket.socket() as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            listener.bind((config.host, config.port))
        except OSError as error:
            if error.errno != errno.EADDRINUSE:
                return Check(name, False, f"cannot bind {config.host}:{config.port} ({error.strerror})",
                             "pick another --port or --host")
            owner = _running_agent_node_id(config.port)
            if owner:
                return Check(name, True, f"in use by a running neuroshard agent (node {owner[:12]}…)")
            return Check(name, False, f"{config.port} is in use by another program",
                         f"stop that program or run with --port {config.port + 10}")
        listener.listen()
        port = listener.getsockname()[1]
        unreachable = [i.ipv4 for i in interfaces if not _can_connect(i.ipv4, port)]
    if unreachable:
        return Check(name, False, f"free, but not reachable on {', '.join(unreachable)}",
                     f"allow TCP port {port} in the firewall (e.g. sudo ufw allow {port}/tcp)")
    return Check(name, True, f"free and reachable on {', '.join(i.ipv4 for i in interfaces)}")


def check_multicast(interface: Interface) -> Check:
    name = f"multicast {interface.name}"
    try:
        answered = asyncio.run(_multicast_round_trip(interface.ipv4))
    except OSError as error:
        return Check(name, False, f"cannot open mDNS sockets on {interface.ipv4} ({error})",
                     "check that no firewall or other program blocks UDP port 5353")
    if not answered:
        return Check(name, False, f"an mDNS query on {interface.ipv4} got no answer from this very machine",
                     "allow multicast (UDP 5353, 224.0.0.251) on this interface, or pick another with --interface")
    return Check(name, True, f"mDNS query and answer went through on {interface.ipv4}")


def check_module(module: str, *, required: bool) -> Check:
    present = importlib.util.find_spec(module) is not None
    if module == "torch":
        detail = "installed (GPU and fast-CPU training available)" if present else \
            "not installed: this agent runs ONNX Runtime only (fine on edge devices)"
        return Check(module, True, detail)
    if present or not required:
        return Check(module, True, "installed" if present else "not installed")
    return Check(module, False, "not installed; the agent cannot compute without it",
                 f"pip install {module} (or re-run install.sh)")


async def _multicast_round_trip(address: str) -> bool:
    """Register a throwaway service on one responder, resolve it from another: both via multicast."""
    responder = AsyncZeroconf(interfaces=[address], ip_version=IPVersion.V4Only)
    asker = AsyncZeroconf(interfaces=[address], ip_version=IPVersion.V4Only)
    name = f"doctor-{os.urandom(4).hex()}.{DOCTOR_SERVICE_TYPE}"
    info = AsyncServiceInfo(DOCTOR_SERVICE_TYPE, name, port=9, addresses=[socket.inet_aton(address)])
    try:
        await (await responder.async_register_service(info))
        try:
            probe = AsyncServiceInfo(DOCTOR_SERVICE_TYPE, name)
            return await probe.async_request(asker.zeroconf, MULTICAST_TIMEOUT_S * 1000)
        finally:
            await (await responder.async_unregister_service(info))
    finally:
        await asyncio.gather(asker.async_close(), responder.async_close())


def _can_connect(address: str, port: int) -> bool:
    try:
        socket.create_connection((address, port), timeout=2.0).close()
    except OSError:
        return False
    return True


def _running_agent_node_id(port: int) -> str | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/info", timeout=2.0) as response:
            return str(json.loads(response.read())["node_id"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _ntp_synchronized() -> bool | None:
    """systemd's view of NTP sync; None where there is no timedatectl to ask."""
    if shutil.which("timedatectl") is None:
        return None
    try:
        result = subprocess.run(["timedatectl", "show", "-p", "NTPSynchronized", "--value"],
                                capture_output=True, text=True, timeout=5, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    value = result.stdout.strip()
    return {"yes": True, "no": False}.get(value)
