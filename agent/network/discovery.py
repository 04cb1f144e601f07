"""mDNS discovery (DESIGN.md §6): advertise _neuroshard._tcp.local., browse, resolve, report finds.

A find is only a rumour: the service greets it with a signed hello and the
TXT node id must match the key that answers.

The instance name is `ns-<node id prefix>-<boot id>`: one per process, so
two processes with one identity (a copied state directory) both appear and
each sees the other's TXT with its own node id and another boot id; the
later-started one says so and stops (DuplicateNodeError). A name per node id
alone would instead make the copy's registration collide, which zeroconf
only notices if the first answers the probe in time; under load it may not,
and then neither ever sees the other.

zeroconf's async register/update/unregister return an awaitable that
finishes after the announcements: both awaits are needed.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from zeroconf import IPVersion, NonUniqueNameException, ServiceStateChange, Zeroconf
from zeroconf.asyncio import AsyncServiceBrowser, AsyncServiceInfo, AsyncZeroconf

from coordinator_free.constants import MDNS_SERVICE_TYPE, PROTOCOL_VERSION

from .hello import DuplicateNodeError, duplicate_message, is_later_copy
from .interfaces import Interface
from .messages import Advert
from .records import OwnRecord

logger = logging.getLogger(__name__)

INSTANCE_PREFIX = "ns-"
NODE_ID_PREFIX_CHARS = 24  # DNS labels stop at 63 bytes: "ns-" + 24 + "-" + 16-char boot id


@dataclass(frozen=True)
class FoundService:
    """What one resolved mDNS service claims (unverified until its hello)."""

    node_id: str
    hosts: tuple[str, ...]
    port: int
    network: str
    boot_id: str
    started_ns: int
    protocol_version: int
    arch_name: str
    arch_version: int


def instance_name(node_id: str, boot_id: str) -> str:
    return f"{INSTANCE_PREFIX}{node_id[:NODE_ID_PREFIX_CHARS]}-{boot_id}.{MDNS_SERVICE_TYPE}"


def txt_properties(node_id: str, record: OwnRecord, advert: Advert) -> dict[str, str]:
    layers = "" if advert.layer_start is None else f"{advert.layer_start}-{advert.layer_stop}"
    return {
        "id": node_id, "net": record.network, "proto": str(PROTOCOL_VERSION),
        "arch": advert.arch_name, "archv": str(advert.arch_version), "vocabv": str(advert.vocab_version),
        "tier": advert.tier or "", "layers": layers, "port": str(record.port),
        "boot": record.boot_id, "since": str(record.started_ns),
    }


def parse_found(info: AsyncServiceInfo) -> FoundService | None:
    """The claims of a resolved service, or None if its TXT is not ours or malformed."""
    raw = info.properties or {}
    text = {key.decode("utf-8", "replace"): (value or b"").decode("utf-8", "replace") for key, value in raw.items()}
    try:
        return FoundService(
            node_id=text["id"], hosts=tuple(info.parsed_addresses(IPVersion.V4Only)), port=int(info.port or 0),
            network=text["net"], boot_id=text["boot"], started_ns=int(text["since"]),
            protocol_version=int(text["proto"]), arch_name=text["arch"], arch_version=int(text["archv"]),
        )
    except (KeyError, ValueError):
        logger.debug("ignored mDNS service %s with malformed TXT %s", info.name, text)
        return None


class MdnsDiscovery:
    def __init__(
        self,
        *,
        interfaces: list[Interface],
        node_id: str,
        own_record: OwnRecord,
        advert_provider: Callable[[], Advert],
        resolve_timeout_s: float,
        on_found: Callable[[FoundService], None],
        on_gone: Callable[[str, str], None],
        report_duplicate: Callable[[str], None],
        spawn: Callable[[Coroutine[Any, Any, Any]], None],
    ) -> None:
        self._interfaces = interfaces
        self._node_id = node_id
        self._own = own_record
        self._advert_provider = advert_provider
        self._resolve_timeout_s = resolve_timeout_s
        self._on_found = on_found
        self._on_gone = on_gone
        self._report_duplicate = report_duplicate
        self._spawn = spawn
        self._zeroconf: AsyncZeroconf | None = None
        self._browser: AsyncServiceBrowser | None = None
        self._info: AsyncServiceInfo | None = None
        self._finds_by_name: dict[str, FoundService] = {}

    async def start(self) -> None:
        """Register our service (probing for a twin), then browse for others."""
        addresses = [interface.ipv4 for interface in self._interfaces]
        self._zeroconf = AsyncZeroconf(interfaces=addresses, ip_version=IPVersion.V4Only)
        self._info = self._service_info()
        try:
            await (await self._zeroconf.async_register_service(self._info))
        except NonUniqueNameException:
            # Same node id *and* boot id: only a copied process image could do that.
            await self._zeroconf.async_close()
            self._zeroconf = None
            raise DuplicateNodeError(duplicate_message(self._node_id, "on this network (its mDNS name is taken)")) from None
        logger.info("mDNS: advertising %s on %s", self._info.name, ", ".join(addresses))
        self._browser = AsyncServiceBrowser(self._zeroconf.zeroconf, [MDNS_SERVICE_TYPE], handlers=[self._on_change])

    async def refresh(self) -> None:
        """Re-announce if what the TXT says (tier, layers, versions) changed."""
        if self._zeroconf is None or self._info is None:
            return
        info = self._service_info()
        if info.properties != self._info.properties:
            self._info = info
            await (await self._zeroconf.async_update_service(info))

    async def stop(self) -> None:
        """Say goodbye (TTL 0 records) and close the sockets."""
        if self._browser is not None:
            await self._browser.async_cancel()
            self._browser = None
        if self._zeroconf is not None:
            if self._info is not None:
                await (await self._zeroconf.async_unregister_service(self._info))
            await self._zeroconf.async_close()
            self._zeroconf = None

    def _service_info(self) -> AsyncServiceInfo:
        properties = txt_properties(self._node_id, self._own, self._advert_provider())
        name = instance_name(self._node_id, self._own.boot_id)
        return AsyncServiceInfo(
            MDNS_SERVICE_TYPE, name, port=self._own.port,
            properties=properties,
            # Explicit: register fills a missing server in, but update asserts it is there.
            server=name.removesuffix("." + MDNS_SERVICE_TYPE) + ".local.",
            addresses=[socket.inet_aton(interface.ipv4) for interface in self._interfaces],
        )

    def _on_change(
        self, zeroconf: Zeroconf, service_type: str, name: str, state_change: ServiceStateChange
    ) -> None:
        # Called on the event loop by the browser; must not block, so work is spawned.
        if state_change is ServiceStateChange.Removed:
            found = self._finds_by_name.pop(name, None)
            if found is not None and found.node_id != self._node_id:
                self._on_gone(found.node_id, found.boot_id)
        else:
            self._spawn(self._resolve(name))

    async def _resolve(self, name: str) -> None:
        if self._zeroconf is None:
            return
        info = AsyncServiceInfo(MDNS_SERVICE_TYPE, name)
        if not await info.async_request(self._zeroconf.zeroconf, self._resolve_timeout_s * 1000):
            logger.debug("mDNS: %s did not resolve in %.1f s", name, self._resolve_timeout_s)
            return
        found = parse_found(info)
        if found is None or found.network != self._own.network or found.protocol_version != PROTOCOL_VERSION:
            return
        self._finds_by_name[name] = found
        if found.node_id != self._node_id:
            self._on_found(found)
        elif found.boot_id != self._own.boot_id:
            self._on_twin(found)

    def _on_twin(self, found: FoundService) -> None:
        where = ", ".join(f"{host}:{found.port}" for host in found.hosts) or "an unknown address"
        if is_later_copy((self._own.started_ns, self._own.boot_id), (found.started_ns, found.boot_id)):
            self._report_duplicate(duplicate_message(self._node_id, where))
        else:
            logger.warning("a copy of this node's identity started at %s; it should stop by itself", where)
