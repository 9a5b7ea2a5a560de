"""A small TCP load balancer for the scale run when no haproxy is at hand: round robin per connection.

    python benchmarks/balancer.py --port N --backend 127.0.0.1:P1 --backend 127.0.0.1:P2

Each accepted connection is paired with a new connection to the next backend and bytes are copied
both ways until either side closes (like a Kubernetes Service, which balances connections, not
requests). It is Python on asyncio, so it spends CPU of its own on every byte: on a small machine
it competes with the servers behind it, which the scale report shows as the balancer's CPU.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools


async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except (ConnectionError, OSError):
        pass
    finally:
        with contextlib.suppress(ConnectionError, OSError):
            writer.close()


async def serve(port: int, backends: list[tuple[str, int]]) -> None:
    turn = itertools.cycle(backends)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        host, backend_port = next(turn)
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(host, backend_port)
        except OSError:
            writer.close()
            return
        await asyncio.gather(pipe(reader, upstream_writer), pipe(upstream_reader, writer))

    server = await asyncio.start_server(handle, "127.0.0.1", port, backlog=1024)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--backend", action="append", required=True, metavar="HOST:PORT")
    args = parser.parse_args()
    backends = [(b.rsplit(":", 1)[0], int(b.rsplit(":", 1)[1])) for b in args.backend]
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args.port, backends))


if __name__ == "__main__":
    main()
