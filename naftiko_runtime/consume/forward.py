"""Forwarding (``forward`` adapters): which headers go upstream, and the answer's body bounded in time."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Mapping

import anyio

from naftiko_runtime.consume.request import Resolved, cookie_header, header_items
from naftiko_runtime.errors import UpstreamTimeout

__all__ = ["HOP_BY_HOP", "connection_tokens", "forward_headers", "until_deadline"]

HOP_BY_HOP = frozenset({
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "proxy-connection", "te",
    "trailer", "trailers", "transfer-encoding", "upgrade",
})


def forward_headers(inbound: Mapping[str, str], resolved: Resolved, ref: str,
                user_agent: str) -> list[tuple[str, str | bytes]]:
    """The headers a forwarded request carries: the caller's, minus hop-by-hop ones and those this
    consumer sets itself, plus its own (cookies merged), with a User-Agent."""
    header_items(resolved.headers, ref)  # configured values: no CR/LF/NUL (raises InputError)
    items = list(inbound.items())
    dropped = HOP_BY_HOP | {"host", "content-length"}
    dropped |= connection_tokens(v for k, v in items if k.lower() == "connection")
    configured = {name.lower() for name, _ in resolved.headers}
    out = [(k, v) for k, v in items if k.lower() not in dropped and k.lower() not in configured]
    out += resolved.headers
    if resolved.cookies:
        cookie = cookie_header(resolved.cookies)
        existing = [v for k, v in out if k.lower() == "cookie"]
        out = [(k, v) for k, v in out if k.lower() != "cookie"]
        out.append(("Cookie", "; ".join([*existing, cookie])))
    if not any(k.lower() == "user-agent" for k, _ in out):
        out.append(("User-Agent", user_agent))
    return [(k, _header_bytes(v)) for k, v in out]


def connection_tokens(values: Iterable[str]) -> set[str]:
    """Header names listed in Connection headers: hop-by-hop for this exchange only."""
    return {token.strip().lower() for value in values for token in value.split(",") if token.strip()}


def _header_bytes(value: str) -> str | bytes:
    """Inbound header text (decoded as latin-1 by the server) back to its original bytes."""
    if value.isascii():
        return value
    try:
        return value.encode("latin-1")
    except UnicodeEncodeError:
        return value.encode()


async def until_deadline(chunks: AsyncIterator[bytes], deadline: float, ref: str, total: float) -> AsyncIterator[bytes]:
    """A forwarded body cut at the exchange's total deadline (a slow, endless body ends there)."""
    iterator = chunks.__aiter__()
    while True:
        try:
            with anyio.fail_after(max(0.0, deadline - anyio.current_time())):
                chunk = await iterator.__anext__()
        except StopAsyncIteration:
            return
        except TimeoutError:
            raise UpstreamTimeout(f"{ref} did not finish its answer within the total time limit of {total:g} s",
                                  operation=ref) from None
        yield chunk
