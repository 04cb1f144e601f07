"""The dashboard's connection to an agent: its local HTTP API, nothing else.

Where the agent is comes from a locator, asked again before every poll:

- `StateDirLocator(state_dir)`: the agent running on this machine. Its URL is
  in `<state>/local_api.json` and its token in `<state>/api_token`; a
  restarted agent may listen on another port, and re-reading finds it.
- `FixedLocator(url, token)`: `--agent URL --token T`, e.g. a headless rig
  watched through an SSH tunnel.

Every failure (no agent, refused connection, timeout, refused token, a
reply this schema cannot read) is one `AgentUnavailable` with a sentence
for people; the dashboard shows it and keeps polling.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol, Self, TypeVar

import aiohttp

from agent.api.schema import (
    LOCAL_API_FILE_NAME,
    TOKEN_FILE_NAME,
    ControlResponse,
    ErrorResponse,
    LogsResponse,
    MetricsResponse,
    PeersResponse,
    SchemaError,
    StatusResponse,
    from_json,
)

DEFAULT_TIMEOUT_S = 5.0  # per request; a training agent answers in milliseconds, its event loop stays free
T = TypeVar("T")


class AgentUnavailable(Exception):
    """The agent cannot be reached or did not answer as expected; `str()` says why, for people."""


@dataclass(frozen=True)
class AgentAddress:
    url: str  # e.g. http://127.0.0.1:8471
    token: str  # the agent's API token


class AgentLocator(Protocol):
    def locate(self) -> AgentAddress: ...

    def describe(self) -> str: ...


@dataclass(frozen=True)
class FixedLocator:
    url: str
    token: str

    def locate(self) -> AgentAddress:
        return AgentAddress(self.url.rstrip("/"), self.token)

    def describe(self) -> str:
        return self.url


@dataclass(frozen=True)
class StateDirLocator:
    state_dir: Path

    def locate(self) -> AgentAddress:
        try:
            url = json.loads((self.state_dir / LOCAL_API_FILE_NAME).read_text())["url"]
            token = (self.state_dir / TOKEN_FILE_NAME).read_text().strip()
        except (OSError, ValueError, KeyError, TypeError):
            raise AgentUnavailable(
                f"no agent is running on {self.state_dir} (no {LOCAL_API_FILE_NAME} there); "
                "start one with `neuroshard run`") from None
        return AgentAddress(str(url).rstrip("/"), token)

    def describe(self) -> str:
        return str(self.state_dir)


class AgentClient:
    """Typed GET/POST on the local API; `async with` owns the HTTP session."""

    def __init__(self, locator: AgentLocator, *, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        self.locator = locator
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._session: aiohttp.ClientSession | None = None
        self.url: str | None = None  # where the last request went

    async def __aenter__(self) -> Self:
        self._session = aiohttp.ClientSession(timeout=self._timeout)
        return self

    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None,
                        trace: TracebackType | None) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def status(self) -> StatusResponse:
        return await self._request("GET", "/v1/status", StatusResponse)

    async def peers(self) -> PeersResponse:
        return await self._request("GET", "/v1/peers", PeersResponse)

    async def metrics(self, since_seq: int = -1) -> MetricsResponse:
        return await self._request("GET", f"/v1/metrics?since={since_seq}", MetricsResponse)

    async def logs(self, since_seq: int = -1) -> LogsResponse:
        return await self._request("GET", f"/v1/logs?since={since_seq}", LogsResponse)

    async def set_paused(self, paused: bool) -> ControlResponse:
        path = "/v1/control/pause" if paused else "/v1/control/resume"
        return await self._request("POST", path, ControlResponse)

    async def _request(self, method: str, path: str, kind: type[T]) -> T:
        if self._session is None:
            raise RuntimeError("use `async with AgentClient(...)` before requests")
        address = self.locator.locate()
        self.url = address.url
        headers = {"Authorization": f"Bearer {address.token}"}
        try:
            async with self._session.request(method, address.url + path, headers=headers) as response:
                body: Any = await response.json(content_type=None)
                if response.status >= 400:
                    raise AgentUnavailable(f"the agent at {address.url} refused {path}: {_error_text(body)}")
                return from_json(kind, body)
        except TimeoutError:
            raise AgentUnavailable(f"the agent at {address.url} did not answer in "
                                   f"{self._timeout.total:.0f} s") from None
        except aiohttp.ClientConnectorError as error:
            raise AgentUnavailable(f"no agent answers at {address.url} ({error.os_error.strerror or error})") from None
        except (aiohttp.ClientError, ValueError, SchemaError) as error:
            raise AgentUnavailable(f"the agent at {address.url} answered something unexpected: {error}") from None


def _error_text(body: Any) -> str:
    try:
        return from_json(ErrorResponse, body).error.message
    except SchemaError:
        return str(body)[:200]
