"""Serve a bundled simulator on its own: `python -m naftiko_runtime.sandbox hms --port 8080`."""

from __future__ import annotations

import argparse
import sys

import uvicorn

from . import SANDBOXES


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m naftiko_runtime.sandbox", description="Serve a bundled API simulator."
    )
    parser.add_argument("name", choices=sorted(SANDBOXES), help="which simulator to serve")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8080, help="port to bind (default 8080)")
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # usage errors exit 2, --help exits 0
        return exc.code if isinstance(exc.code, int) else 2
    app = SANDBOXES[args.name]()
    url = f"http://{args.host}:{args.port}"
    print(f"{args.name} simulator on {url} (also under {url}/v2); any bearer token is accepted", flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level="info")
    return 0


if __name__ == "__main__":
    sys.exit(main())
