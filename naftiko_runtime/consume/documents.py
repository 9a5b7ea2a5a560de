"""Small JSON documents the server fetches for itself (an authorization server's metadata and keys):
no redirects, a short timeout and a size limit, whatever the other side sends."""

from __future__ import annotations

import logging
from typing import Any

import httpx2

from naftiko_runtime import jsontext

__all__ = ["MAX_DOCUMENT_BYTES", "DocumentUnavailable", "document_client", "get_json"]

logger = logging.getLogger("naftiko.auth")
MAX_DOCUMENT_BYTES = 1024 * 1024


class DocumentUnavailable(Exception):
    """The document could not be fetched, was too large or is not JSON (the reason is logged)."""


def document_client() -> httpx2.AsyncClient:
    return httpx2.AsyncClient(timeout=httpx2.Timeout(10.0), follow_redirects=False)


async def get_json(client: httpx2.AsyncClient, url: str, limit: int = MAX_DOCUMENT_BYTES) -> Any:
    try:
        async with client.stream("GET", url, headers={"Accept": "application/json"}) as response:
            if response.status_code != 200:
                raise DocumentUnavailable
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > limit:
                    logger.warning("%s is larger than %d bytes: not used", url, limit)
                    raise DocumentUnavailable
    except httpx2.HTTPError as exc:
        logger.warning("cannot fetch %s: %s", url, type(exc).__name__)
        raise DocumentUnavailable from None
    try:
        return jsontext.loads(bytes(body))
    except ValueError:
        raise DocumentUnavailable from None
