"""HTTP plumbing shared by the peer server and the local API: JSON errors, bounded bodies.

Every error leaves as {"error": {"code": ..., "message": ...}} with a 4xx (or,
for a bug of ours, a 500 whose text points at the log). aiohttp's own
HTTPExceptions (404, 405 from the router) are converted too.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from ..wire.errors import ErrorCode, WireError

logger = logging.getLogger(__name__)

READ_CHUNK_BYTES = 64 * 1024
MSGPACK_CONTENT_TYPE = "application/x-neuroshard-msgpack"

_CODES_BY_STATUS = {
    401: ErrorCode.UNAUTHORIZED,
    404: ErrorCode.NOT_FOUND,
    405: ErrorCode.METHOD_NOT_ALLOWED,
    413: ErrorCode.BODY_TOO_LARGE,
}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def json_error(code: ErrorCode, message: str, status: int) -> web.Response:
    return web.json_response({"error": {"code": str(code), "message": message}}, status=status)


def wire_error_response(error: WireError) -> web.Response:
    return web.json_response(error.to_json(), status=error.http_status)


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except WireError as error:
        logger.debug("refused %s %s from %s: %s", request.method, request.path, request.remote, error)
        return wire_error_response(error)
    except web.HTTPException as error:
        if error.status < 400:
            raise
        code = _CODES_BY_STATUS.get(error.status, ErrorCode.BAD_REQUEST)
        message = {
            ErrorCode.NOT_FOUND: f"no endpoint {request.path}; endpoints live under /v1/",
            ErrorCode.METHOD_NOT_ALLOWED: f"{request.method} is not allowed on {request.path}",
        }.get(code, error.reason)
        return json_error(code, message, error.status)
    except Exception:  # a bug of ours: never a crash, never a stack trace to the peer
        logger.exception("internal error answering %s %s", request.method, request.path)
        return json_error(ErrorCode.INTERNAL, "internal error in the agent; see its log", 500)


async def read_body_limited(request: web.Request, limit_bytes: int) -> bytes:
    """The request body, refused with body_too_large as soon as it passes `limit_bytes`.

    Streams, so an oversized body costs at most `limit_bytes` of memory, even
    when it lies about (or omits) its Content-Length.
    """
    declared = request.content_length
    if declared is not None and declared > limit_bytes:
        raise WireError(ErrorCode.BODY_TOO_LARGE, f"body of {declared} bytes is over this endpoint's limit of {limit_bytes}")
    chunks: list[bytes] = []
    received = 0
    async for chunk in request.content.iter_chunked(READ_CHUNK_BYTES):
        received += len(chunk)
        if received > limit_bytes:
            raise WireError(ErrorCode.BODY_TOO_LARGE, f"body is over this endpoint's limit of {limit_bytes} bytes")
        chunks.append(chunk)
    return b"".join(chunks)
