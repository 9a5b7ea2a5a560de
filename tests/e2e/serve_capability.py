"""Start ``serve`` for end-to-end tests, the way ``naftiko serve`` will.

    python tests/e2e/serve_capability.py PATH... [--address A] [--port N] [--transport http|stdio]
                                         [--upstream NS=URL]... [--allowed-host H]...

Capabilities are built without the validator (the e2e tests use known-good files); the environment
is the process's own. Exit code is ``serve``'s.
"""

from __future__ import annotations

import argparse
import os
import sys

import anyio

from naftiko_runtime.expose.server import serve
from naftiko_runtime.load import load_paths
from naftiko_runtime.model import build
from naftiko_runtime.runtime import Runtime


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("paths", nargs="+")
    parser.add_argument("--address")
    parser.add_argument("--port", type=int)
    parser.add_argument("--transport", choices=["http", "stdio"])
    parser.add_argument("--upstream", action="append", default=[])
    parser.add_argument("--allowed-host", action="append", default=[])
    args = parser.parse_args(argv)
    env = dict(os.environ)
    docs, problems = load_paths(args.paths, env=env)
    broken = [str(d) for doc in docs for d in doc.diagnostics] + [str(p) for p in problems]
    if broken:
        print("\n".join(broken), file=sys.stderr)
        return 1
    upstreams = dict(value.split("=", 1) for value in args.upstream)
    runtime = Runtime([build(doc) for doc in docs], env=env, upstreams=upstreams)
    return anyio.run(
        lambda: serve(
            runtime, address=args.address, port=args.port, transport=args.transport, allowed_hosts=args.allowed_host
        )
    )


if __name__ == "__main__":
    sys.exit(main())
