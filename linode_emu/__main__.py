"""``python -m linode_emu``: serve the emulator until SIGTERM or SIGINT.

Prints ``linode_emu listening on http://HOST:PORT`` (one line, flushed) once it accepts requests.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from linode_emu.machines import DRIVER_NAMES
from linode_emu.server import EmulatorServer


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m linode_emu", description="A local Linode API v4 emulator."
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port to listen on (default: 0, a free port)")
    parser.add_argument("--state-dir", required=True, help="folder holding the emulator's state.json")
    parser.add_argument(
        "--time-scale", type=float, default=1.0, help="multiplier of every simulated delay (default: 1.0)"
    )
    parser.add_argument(
        "--machines", choices=DRIVER_NAMES, default="none", help="what stands behind a Linode"
    )
    parser.add_argument("--token", help="the only bearer token accepted (default: any)")
    parser.add_argument("--no-rate-limits", action="store_true", help="never answer 429 Too many requests")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    server = EmulatorServer(
        args.state_dir,
        host=args.host,
        port=args.port,
        time_scale=args.time_scale,
        token=args.token,
        rate_limits=not args.no_rate_limits,
        machines=args.machines,
    ).start()
    try:
        print(f"linode_emu listening on {server.url}", flush=True)
        while not stop.wait(0.2):
            pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
