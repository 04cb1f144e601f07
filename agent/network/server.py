"""The peer HTTP server: a versioned API (/v1/...) built by an app factory, run elsewhere.

Every peer endpoint takes one signed envelope and answers with one signed
envelope whose body carries `in_reply_to` = the request's nonce. Other parts
add endpoints with `signed_route` (issue 5's pipeline endpoints) and pass
them to `create_peer_app(extra_routes=...)`; the order of checks on every
request is: body limit, envelope structure, type, node id, body hash,
signature, versions, clock skew, nonce, record sequence — then the handler.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from ..wire.envelope import (
    Envelope,
    Sealer,
    decode_envelope,
    encode_envelope,
    unpack_body,
)
from ..wire.verify import EnvelopeVerifier
from .http import MSGPACK_CONTENT_TYPE, error_middleware, read_body_limited


@dataclass(frozen=True)
class SignedReply:
    message_type: str  # the reply's envelope type
    payload: dict[str, Any] = field(default_factory=dict)  # body; in_reply_to is added
    sequence: int = 0  # > 0 when the reply is a record


@dataclass(frozen=True)
class SignedRequest:
    """What a signed endpoint's handler receives: verified envelope and decoded body."""

    http: web.Request
    envelope: Envelope
    payload: dict[str, Any]

    @property
    def sender(self) -> str:
        return self.envelope.sender_node_id


SignedHandler = Callable[[SignedRequest], Awaitable[SignedReply]]


@dataclass(frozen=True)
class PeerServerState:
    sealer: Sealer
    verifier: EnvelopeVerifier
    info: Callable[[], dict[str, Any]]  # unsigned facts for GET /v1/info (doctor, humans)


PEER_SERVER_STATE = web.AppKey("peer_server_state", PeerServerState)


def signed_route(path: str, *, message_type: str, body_limit_bytes: int, handler: SignedHandler) -> web.RouteDef:
    """A POST endpoint that accepts one verified `message_type` envelope of ≤ body_limit_bytes."""

    async def endpoint(request: web.Request) -> web.Response:
        state = request.app[PEER_SERVER_STATE]
        data = await read_body_limited(request, body_limit_bytes)
        envelope = state.verifier.verify_request(decode_envelope(data), expected_type=message_type)
        reply = await handler(SignedRequest(request, envelope, unpack_body(envelope.body)))
        sealed = state.sealer.seal(
            reply.message_type, {**reply.payload, "in_reply_to": envelope.nonce}, sequence=reply.sequence
        )
        return web.Response(body=encode_envelope(sealed), content_type=MSGPACK_CONTENT_TYPE)

    return web.post(path, endpoint)


async def _info(request: web.Request) -> web.Response:
    return web.json_response(request.app[PEER_SERVER_STATE].info())


def create_peer_app(
    *,
    state: PeerServerState,
    routes: Iterable[web.RouteDef],
    extra_routes: Iterable[web.RouteDef] = (),
    largest_body_bytes: int,
) -> web.Application:
    """The peer API: GET /v1/info plus `routes` (membership) and `extra_routes` (other parts)."""
    # client_max_size only bounds request.read()/post(); signed routes stream with
    # their own per-endpoint limits, this is the backstop for anything else.
    app = web.Application(middlewares=[error_middleware], client_max_size=largest_body_bytes)
    app[PEER_SERVER_STATE] = state
    app.router.add_get("/v1/info", _info)
    app.router.add_routes(list(routes))
    app.router.add_routes(list(extra_routes))
    return app
