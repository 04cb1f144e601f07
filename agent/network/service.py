"""PeerService: identity + peer server + client + discovery + heartbeats + exchange, one lifetime.

    async with PeerService(config, identity, advert_provider) as peers:
        peers.peers()          # list[PeerInfo], the table as data
        peers.port             # bound peer port (config.port may be 0)
        await peers.client.call(...)   # signed request to a peer

Every background task lives in one TaskGroup entered with the service: a
fatal condition (this process is the later copy of a duplicated identity)
cancels the owner's task and leaves `async with` as DuplicateNodeError. On
exit the order is: stop loops, mDNS goodbye, close the server, close the
client session.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections import Counter
from collections.abc import Callable, Coroutine, Iterable
from types import TracebackType
from typing import Any, Self

from aiohttp import web

from coordinator_free.constants import PROTOCOL_VERSION
from coordinator_free.peer_health import PeerHealthTimings, is_contactable
from coordinator_free.types import NodeId

from ..api.schema import PeerView
from ..identity import Identity
from ..wire.envelope import Sealer, VersionStamp
from ..wire.verify import EnvelopeVerifier, VerifyPolicy
from .backoff import Backoff
from .client import PeerClient, create_client_session
from .config import NetworkConfig
from .discovery import FoundService, MdnsDiscovery
from .exchange import EXCHANGE_PATH, PeerExchange
from .heartbeat import HEARTBEAT_PATH, Heartbeats
from .hello import HELLO_PATH, DuplicateNodeError, Greeter
from .interfaces import advertised_addresses, choose_interfaces
from .messages import HEARTBEAT, HELLO, PEER_EXCHANGE, Advert
from .peer_table import FOUND_BY_MDNS, PeerInfo, PeerTable
from .records import OwnRecord
from .server import PeerServerState, create_peer_app, signed_route

logger = logging.getLogger(__name__)

BOOT_ID_BYTES = 8


def _health_timings(config: NetworkConfig) -> PeerHealthTimings:
    return PeerHealthTimings(
        heartbeat_interval_s=config.heartbeat_interval_s,
        degraded_after_missed_heartbeats=config.degraded_after_missed_heartbeats,
        offline_after_s=config.offline_after_s, forget_after_s=config.forget_after_s,
    )


class PeerService:
    def __init__(
        self,
        config: NetworkConfig,
        identity: Identity,
        advert_provider: Callable[[], Advert],
        *,
        extra_routes: Iterable[web.RouteDef] = (),
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.identity = identity
        self.node_id = identity.node_id
        self._advert_provider = advert_provider
        self._clock = clock
        self._extra_routes = list(extra_routes)
        self.interfaces = choose_interfaces(config.interfaces, include_virtual=config.include_virtual_interfaces)
        self.sealer = Sealer(identity, self.versions)
        policy = VerifyPolicy(max_clock_skew_s=config.max_clock_skew_s, nonce_window_s=config.nonce_window_s,
                              record_max_age_s=config.record_max_age_s)
        self.verifier = EnvelopeVerifier(policy, self.versions, clock)
        self.table = PeerTable(_health_timings(config), clock)
        self.own_record = OwnRecord(
            sealer=self.sealer, advert_provider=advert_provider, network=config.network_name,
            addresses=self._advertised_addresses(), boot_id=os.urandom(BOOT_ID_BYTES).hex(),
            refresh_s=min(config.heartbeat_interval_s, config.record_max_age_s / 4), clock=clock,
        )
        self._stack = contextlib.AsyncExitStack()
        self._group: asyncio.TaskGroup | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._fatal: asyncio.Future[None] | None = None
        self._stopping = False
        self._runner: web.AppRunner | None = None
        self.client: PeerClient  # set on enter
        self.discovery: MdnsDiscovery | None = None
        self.greeter: Greeter  # set on enter

    def _advertised_addresses(self) -> tuple[str, ...]:
        # Loopback is only advertised when it is all we have (tests, --interface 127.0.0.1).
        routable = [interface for interface in self.interfaces if not interface.is_loopback]
        return advertised_addresses(host=self.config.host, advertise=self.config.advertise_addresses,
                                    interfaces=routable or self.interfaces)

    # ------------------------------------------------------------ public API
    @property
    def port(self) -> int:
        return self.own_record.port

    def versions(self) -> VersionStamp:
        advert = self._advert_provider()
        return VersionStamp(arch_name=advert.arch_name, arch_version=advert.arch_version,
                            vocab_version=advert.vocab_version, protocol_version=PROTOCOL_VERSION)

    def peers(self) -> list[PeerInfo]:
        """Every known peer, sorted by node id."""
        return self.table.snapshot()

    def peer_views(self) -> list[PeerView]:
        """The table in the local API's schema (LocalApi's peers_provider)."""
        now_s = self._clock()
        return [
            PeerView(
                node_id=peer.node_id, address=peer.address, found_by=peer.found_by, state=peer.state.value,
                tier=peer.tier, layer_start=peer.layer_start, layer_stop=peer.layer_stop,
                arch_version=peer.arch_version, vocab_version=peer.vocab_version,
                last_heartbeat_age_s=None if peer.last_heartbeat_at_s is None else now_s - peer.last_heartbeat_at_s,
                quorum_id=peer.quorum_id, queue_depth=peer.queue_depth,
                free_capacity_fraction=peer.free_capacity_fraction, step=peer.step,
            )
            for peer in self.table.snapshot()
        ]

    def peer_counts(self) -> dict[str, int]:
        """How many peers are in each state (for StatusResponse.peer_counts)."""
        return dict(Counter(peer.state.value for peer in self.table.snapshot()))

    def spawn(self, coroutine: Coroutine[Any, Any, Any]) -> None:
        """Run short-lived work owned by the service; its failures are logged, not fatal."""
        if self._group is None or self._stopping or self._fatal is None or self._fatal.done():
            coroutine.close()  # not running (yet, or any more): the work is moot
            return
        self._start_task(self._guarded(coroutine))

    def report_duplicate(self, message: str) -> None:
        """This process is the later copy of a duplicated identity: stop the service."""
        if self._fatal is not None and not self._fatal.done():
            logger.error("%s", message)
            self._fatal.set_exception(DuplicateNodeError(message))

    # ------------------------------------------------------------- lifetime
    async def __aenter__(self) -> Self:
        try:
            await self._start()
        except BaseException:
            await self._stack.aclose()
            raise
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        try:
            await self._stack.__aexit__(kind, error, trace)
        except BaseExceptionGroup as group:
            duplicate = group.subgroup(DuplicateNodeError)
            if duplicate is not None:
                raise duplicate.exceptions[0] from None
            raise

    async def _start(self) -> None:
        session = await self._stack.enter_async_context(create_client_session(self.config))
        self.client = PeerClient(session, sealer=self.sealer, verifier=self.verifier, config=self.config,
                                 backoff=Backoff(base_s=self.config.backoff_base_s, cap_s=self.config.backoff_cap_s))
        self.greeter = greeter = Greeter(
            client=self.client, table=self.table, verifier=self.verifier, own_record=self.own_record,
            node_id=self.node_id, report_duplicate=self.report_duplicate, max_peers=self.config.max_peers,
        )
        heartbeats = Heartbeats(client=self.client, table=self.table, verifier=self.verifier, greeter=greeter,
                                own_record=self.own_record, advert_provider=self._advert_provider, config=self.config)
        exchange = PeerExchange(client=self.client, table=self.table, verifier=self.verifier, greeter=greeter,
                                own_record=self.own_record, node_id=self.node_id, config=self.config,
                                spawn=self.spawn)
        self._fatal = asyncio.get_running_loop().create_future()
        self._group = await self._stack.enter_async_context(asyncio.TaskGroup())
        # Runs before the group's exit (LIFO), so loops are cancelled and the
        # goodbye sent before the group waits for its tasks.
        self._stack.push_async_callback(self._shutdown)
        self._start_task(self._watch_fatal())
        await self._start_server(greeter, heartbeats, exchange)
        if self.config.mdns_enabled:
            await self._start_discovery(greeter)
        for loop in (heartbeats.run_sender(), heartbeats.run_judge(), exchange.run(), self._refresh_mdns()):
            self._start_task(loop)

    async def _shutdown(self) -> None:
        self._stopping = True  # mDNS callbacks during the goodbye must not start new work
        for task in list(self._tasks):
            task.cancel()
        if self.discovery is not None:
            try:
                await self.discovery.stop()  # the goodbye
            except Exception:
                logger.exception("mDNS goodbye failed; peers will notice by missed heartbeats")
        if self._runner is not None:
            await self._runner.cleanup()

    def _start_task(self, coroutine: Coroutine[Any, Any, Any]) -> None:
        assert self._group is not None  # only called while the service runs
        task = self._group.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _start_server(self, greeter: Greeter, heartbeats: Heartbeats, exchange: PeerExchange) -> None:
        limit = self.config.control_body_limit_bytes
        routes = [
            signed_route(HELLO_PATH, message_type=HELLO, body_limit_bytes=limit, handler=greeter.handle_hello),
            signed_route(HEARTBEAT_PATH, message_type=HEARTBEAT, body_limit_bytes=limit,
                         handler=heartbeats.handle_heartbeat),
            signed_route(EXCHANGE_PATH, message_type=PEER_EXCHANGE, body_limit_bytes=limit,
                         handler=exchange.handle_exchange),
        ]
        state = PeerServerState(sealer=self.sealer, verifier=self.verifier, info=self._info)
        app = create_peer_app(state=state, routes=routes, extra_routes=self._extra_routes,
                              largest_body_bytes=max(limit, self.config.tensor_body_limit_bytes))
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.config.host, self.config.port)
        try:
            await site.start()
        except OSError as error:
            raise OSError(error.errno, f"cannot listen on {self.config.host}:{self.config.port} for peers "
                                       f"({error.strerror}); is another agent running? Pick another --port") from None
        self.own_record.port = self._runner.addresses[0][1]
        logger.info("peer server on %s:%d, node id %s", self.config.host, self.port, self.node_id)

    async def _start_discovery(self, greeter: Greeter) -> None:
        def on_found(found: FoundService) -> None:
            peer = self.table.get(NodeId(found.node_id))
            if peer is not None and is_contactable(peer.state) and peer.boot_id == found.boot_id:
                self.table.add_found_by(peer.node_id, FOUND_BY_MDNS)
                return
            self.spawn(greeter.greet(found.hosts, found.port, expected_node_id=found.node_id,
                                     found_by=FOUND_BY_MDNS))

        self.discovery = MdnsDiscovery(
            interfaces=self.interfaces, node_id=self.node_id, own_record=self.own_record,
            advert_provider=self._advert_provider, resolve_timeout_s=self.config.mdns_resolve_timeout_s,
            on_found=on_found, on_gone=lambda node_id, boot_id: self.table.record_goodbye(NodeId(node_id), boot_id),
            report_duplicate=self.report_duplicate,
            spawn=self.spawn,
        )
        try:
            await self.discovery.start()
        except BaseException:
            self.discovery = None  # start cleaned up after itself
            raise

    def _info(self) -> dict[str, Any]:
        versions = self.versions()
        return {"node_id": self.node_id, "protocol_version": PROTOCOL_VERSION, "network": self.config.network_name,
                "arch_name": versions.arch_name, "arch_version": versions.arch_version,
                "vocab_version": versions.vocab_version}

    async def _refresh_mdns(self) -> None:
        while True:
            await asyncio.sleep(self.config.heartbeat_interval_s)
            if self.discovery is not None:
                try:
                    await self.discovery.refresh()
                except Exception:  # a failed re-announce must not take the node down
                    logger.exception("mDNS re-announce failed; peers keep the previous TXT until the next try")

    async def _watch_fatal(self) -> None:
        assert self._fatal is not None  # set before this task starts
        await self._fatal

    async def _guarded(self, coroutine: Coroutine[Any, Any, Any]) -> None:
        try:
            await coroutine
        except DuplicateNodeError:
            raise
        except Exception:
            logger.exception("background peer work failed")
