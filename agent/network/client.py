"""Sending signed requests to peers: one aiohttp session per node, timeouts from config.

A peer that cannot be reached (connect error, timeout, 5xx, garbage reply)
is backed off exponentially by address and left out until its wait is over:
`call` then fails at once with PeerUnavailableError, without touching the
network. A peer that answers with a 4xx refused *us*; that is reported as
PeerRefusedError with its code and does not back the peer off.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

import aiohttp

from ..errors import AgentError
from ..wire.envelope import (
    Envelope,
    Sealer,
    decode_envelope,
    encode_envelope,
    unpack_body,
)
from ..wire.errors import ErrorCode, WireError
from ..wire.verify import EnvelopeVerifier
from .backoff import Backoff
from .config import NetworkConfig
from .http import MSGPACK_CONTENT_TYPE, READ_CHUNK_BYTES
from .messages import require_reply_to

logger = logging.getLogger(__name__)


class PeerRequestError(AgentError, ConnectionError):
    """A request to a peer did not produce a verified reply."""

    def __init__(self, address: str, message: str) -> None:
        super().__init__(f"{address}: {message}")
        self.address = address


class PeerUnavailableError(PeerRequestError):
    """Unreachable, timed out, broken, or still backed off after earlier failures."""


class PeerRefusedError(PeerRequestError):
    """The peer answered with an error body; `code` is its machine-readable reason."""

    def __init__(
        self, address: str, status: int, code: str, message: str, *, details: dict[str, Any] | None = None
    ) -> None:
        super().__init__(address, f"refused with {status} {code}: {message}")
        self.status = status
        self.code = code
        self.details = details or {}


@dataclass(frozen=True)
class VerifiedReply:
    envelope: Envelope
    payload: dict[str, Any]

    @property
    def sender(self) -> str:
        return self.envelope.sender_node_id


def create_client_session(config: NetworkConfig) -> aiohttp.ClientSession:
    """The node's one session; every request inherits these timeouts."""
    timeout = aiohttp.ClientTimeout(total=config.request_timeout_s, sock_connect=config.connect_timeout_s)
    return aiohttp.ClientSession(timeout=timeout, raise_for_status=False)


class PeerClient:
    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        sealer: Sealer,
        verifier: EnvelopeVerifier,
        backoff: Backoff,
        config: NetworkConfig,
    ) -> None:
        self._session = session
        self._sealer = sealer
        self._verifier = verifier
        self.backoff = backoff
        self._config = config

    async def call(
        self,
        address: str,
        path: str,
        *,
        message_type: str,
        payload: dict[str, Any],
        reply_type: str,
        expected_node_id: str | None = None,
        sequence: int = 0,
        response_limit_bytes: int | None = None,
        timeout_s: float | None = None,
    ) -> VerifiedReply:
        """POST a signed `message_type` to http://address/path and verify the signed answer.

        `expected_node_id`: the reply must be signed by that node (mDNS TXT id,
        exchange record), else PeerRefusedError with code node_id_mismatch.
        `timeout_s`: this whole request's limit instead of the session's
        request_timeout_s (large transfers over slow links need more).
        """
        if self.backoff.is_waiting(address):
            retry_in_s = self.backoff.retry_in_s(address)
            raise PeerUnavailableError(address, f"left out after failures; next try in {retry_in_s:.1f} s")
        request = self._sealer.seal(message_type, payload, sequence=sequence)
        limit_bytes = response_limit_bytes or self._config.control_body_limit_bytes
        try:
            status, data = await self._post(
                f"http://{address}{path}", encode_envelope(request), limit_bytes, timeout_s
            )
        except (TimeoutError, aiohttp.ClientError, OSError, _TooLargeError) as error:
            self._fail(address)
            raise PeerUnavailableError(address, f"{type(error).__name__}: {error}") from None
        if status != 200:
            return self._refused(address, status, data)
        reply = self._verify_reply(address, data, reply_type=reply_type, request_nonce=request.nonce)
        if expected_node_id is not None and reply.sender != expected_node_id:
            raise PeerRefusedError(
                address, 200, str(ErrorCode.NODE_ID_MISMATCH),
                f"answer signed by {reply.sender[:16]}…, expected {expected_node_id[:16]}…",
            )
        self.backoff.record_success(address)
        return reply

    def _verify_reply(self, address: str, data: bytes, *, reply_type: str, request_nonce: bytes) -> VerifiedReply:
        try:
            reply = self._verifier.verify_request(decode_envelope(data), expected_type=reply_type)
            reply_payload = unpack_body(reply.body)
            require_reply_to(reply_payload, request_nonce)
        except WireError as error:
            # A peer that answers garbage is as useless as one that does not answer.
            self._fail(address)
            raise PeerUnavailableError(address, f"bad reply ({error.code}): {error}") from None
        return VerifiedReply(reply, reply_payload)

    async def _post(self, url: str, body: bytes, limit_bytes: int, timeout_s: float | None) -> tuple[int, bytes]:
        headers = {"Content-Type": MSGPACK_CONTENT_TYPE}
        options: dict[str, Any] = {}
        if timeout_s is not None:  # else the session's (passing None would mean no limit at all)
            options["timeout"] = aiohttp.ClientTimeout(total=timeout_s, sock_connect=self._config.connect_timeout_s)
        async with self._session.post(url, data=body, headers=headers, **options) as response:
            chunks, received = [], 0
            async for chunk in response.content.iter_chunked(READ_CHUNK_BYTES):
                received += len(chunk)
                if received > limit_bytes:
                    raise _TooLargeError(f"reply over {limit_bytes} bytes")
                chunks.append(chunk)
            return response.status, b"".join(chunks)

    def _refused(self, address: str, status: int, data: bytes) -> VerifiedReply:
        if status >= 500:
            self._fail(address)
            raise PeerUnavailableError(address, f"server error {status}")
        try:
            error = json.loads(data)["error"]
            code, message = str(error["code"]), str(error["message"])
            details = error.get("details") if isinstance(error.get("details"), dict) else None
        except (ValueError, KeyError, TypeError, AttributeError):
            code, message, details = "unknown", data[:200].decode("utf-8", "replace"), None
        raise PeerRefusedError(address, status, code, message, details=details)

    def _fail(self, address: str) -> None:
        delay_s = self.backoff.record_failure(address)
        logger.debug("peer %s failed; leaving it out for %.1f s", address, delay_s)


class _TooLargeError(Exception):
    pass
