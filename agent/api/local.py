"""The local HTTP API for the dashboard and scripts (DESIGN.md §5, §16).

Binds 127.0.0.1 by default; every request needs `Authorization: Bearer
<token>` where the token is the state directory's `api_token` (mode 0600,
made on first start), compared in constant time. Content comes from
callables the Node passes in, so this module knows no trainer or peer
internals:

    async with LocalApi(config, state_dir, status_provider=..., peers_provider=...,
                        control=...) as api:
        api.port, api.url
"""

from __future__ import annotations

import hmac
import inspect
import json
import logging
import os
import secrets
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import TracebackType
from typing import Self

from aiohttp import web

from ..network.config import NetworkConfig
from ..network.http import error_middleware
from ..storage import write_atomic
from ..wire.errors import ErrorCode, WireError
from .schema import (
    LOCAL_API_FILE_NAME,
    TOKEN_FILE_NAME,
    ControlResponse,
    LogsResponse,
    MetricsResponse,
    PeersResponse,
    PeerView,
    StatusResponse,
    to_json,
)

logger = logging.getLogger(__name__)

TOKEN_BYTES = 32
CONTROL_BODY_LIMIT_BYTES = 4096  # control requests carry no body worth the name

StatusProvider = Callable[[], StatusResponse]
PeersProvider = Callable[[], list[PeerView]]
# since_seq -> what is newer than it (-1: everything kept)
MetricsProvider = Callable[[int], MetricsResponse]
LogsProvider = Callable[[int], LogsResponse]
# pause(True) / pause(False); returns whether training is paused afterwards
PauseControl = Callable[[bool], bool | Awaitable[bool]]

TOKEN_KEY = web.AppKey("local_api_token", str)


def load_or_create_token(state_dir: Path) -> str:
    """The API token in `state_dir`, created (mode 0600) on first use."""
    path = state_dir / TOKEN_FILE_NAME
    if not path.exists():
        write_atomic(path, secrets.token_urlsafe(TOKEN_BYTES).encode(), mode=0o600)
    token = path.read_text().strip()
    if not token:
        raise WireError(ErrorCode.UNAUTHORIZED, f"{path} is empty; delete it and restart the agent to make a new token")
    return token


def read_local_api_url(state_dir: Path) -> str:
    """The URL the running agent of `state_dir` wrote on start (for the CLI and dashboard)."""
    data = json.loads((state_dir / LOCAL_API_FILE_NAME).read_text())
    return str(data["url"])


@web.middleware
async def _require_token(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]):
    expected = request.app[TOKEN_KEY].encode()
    offered = request.headers.get("Authorization", "")
    scheme, _, token = offered.partition(" ")
    # compare_digest on bytes of any length: no early exit that leaks the token by timing
    if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), expected):
        raise WireError(
            ErrorCode.UNAUTHORIZED,
            f"missing or wrong API token; send 'Authorization: Bearer <token>' with the token from "
            f"the agent's state directory ({TOKEN_FILE_NAME})",
        )
    return await handler(request)


class LocalApi:
    def __init__(
        self,
        config: NetworkConfig,
        state_dir: Path,
        *,
        status_provider: StatusProvider,
        peers_provider: PeersProvider,
        control: PauseControl | None = None,
        metrics_provider: MetricsProvider | None = None,
        logs_provider: LogsProvider | None = None,
    ) -> None:
        self._config = config
        self._state_dir = state_dir
        self._status_provider = status_provider
        self._peers_provider = peers_provider
        self._control = control
        self._metrics_provider = metrics_provider
        self._logs_provider = logs_provider
        self.token = load_or_create_token(state_dir)
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://{self._config.local_api_host}:{self.port}"

    def create_app(self) -> web.Application:
        # error_middleware is outermost, so a refused token becomes a JSON 401
        app = web.Application(middlewares=[error_middleware, _require_token], client_max_size=CONTROL_BODY_LIMIT_BYTES)
        app[TOKEN_KEY] = self.token
        app.router.add_get("/v1/status", self._status)
        app.router.add_get("/v1/peers", self._peers)
        app.router.add_get("/v1/metrics", self._metrics)
        app.router.add_get("/v1/logs", self._logs)
        app.router.add_post("/v1/control/pause", self._pause)
        app.router.add_post("/v1/control/resume", self._resume)
        return app

    async def __aenter__(self) -> Self:
        if self._config.local_api_host not in ("127.0.0.1", "localhost", "::1"):
            logger.warning("the local API listens on %s: anyone who can reach it and has the token can "
                           "pause this node", self._config.local_api_host)
        self._runner = web.AppRunner(self.create_app(), access_log=None, handle_signals=False)
        await self._runner.setup()
        try:
            await web.TCPSite(self._runner, self._config.local_api_host, self._config.local_api_port).start()
        except OSError as error:
            await self._runner.cleanup()
            raise OSError(error.errno, f"cannot listen on {self._config.local_api_host}:"
                                       f"{self._config.local_api_port} for the local API ({error.strerror}); "
                                       "is another agent running with this port? Pick another one") from None
        self.port = self._runner.addresses[0][1]
        document = {"url": self.url, "pid": os.getpid()}
        write_atomic(self._state_dir / LOCAL_API_FILE_NAME, json.dumps(document).encode(), mode=0o600)
        logger.info("local API on %s", self.url)
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        (self._state_dir / LOCAL_API_FILE_NAME).unlink(missing_ok=True)
        if self._runner is not None:
            await self._runner.cleanup()

    async def _status(self, request: web.Request) -> web.Response:
        return web.json_response(to_json(self._status_provider()))

    async def _peers(self, request: web.Request) -> web.Response:
        return web.json_response(to_json(PeersResponse(peers=tuple(self._peers_provider()))))

    async def _metrics(self, request: web.Request) -> web.Response:
        if self._metrics_provider is None:
            return web.json_response(to_json(MetricsResponse(points=())))
        return web.json_response(to_json(self._metrics_provider(_since_seq(request))))

    async def _logs(self, request: web.Request) -> web.Response:
        if self._logs_provider is None:
            return web.json_response(to_json(LogsResponse(lines=())))
        return web.json_response(to_json(self._logs_provider(_since_seq(request))))

    async def _pause(self, request: web.Request) -> web.Response:
        return await self._set_paused(True)

    async def _resume(self, request: web.Request) -> web.Response:
        return await self._set_paused(False)

    async def _set_paused(self, paused: bool) -> web.Response:
        if self._control is None:
            raise WireError(ErrorCode.NOT_FOUND, "this agent has nothing to pause (no trainer is running)")
        result = self._control(paused)
        if inspect.isawaitable(result):
            result = await result
        return web.json_response(to_json(ControlResponse(paused=bool(result))))


def _since_seq(request: web.Request) -> int:
    """The ?since= sequence number (-1 when absent: everything)."""
    text = request.query.get("since")
    if text is None:
        return -1
    try:
        return int(text)
    except ValueError:
        raise WireError(ErrorCode.BAD_REQUEST, f"?since= must be an integer sequence number, got {text!r}") from None
