"""``python -m linode_emu``: serve the emulator until SIGTERM or SIGINT.

Prints ``linode_emu listening on http://HOST:PORT`` (one line, flushed) once it accepts requests.
The token may come from ``LINODE_EMU_TOKEN`` instead of ``--token`` (kept out of the process list); with
namespace machines and no token, a random one is made and printed once on stderr
(``linode_emu token: ...``). A host that is not loopback is refused unless ``--allow-remote``.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading

from linode_emu import delays
from linode_emu.machines import DRIVER_NAMES, MachineError, default_driver_name
from linode_emu.server import EmulatorServer, UnsafeListenError


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m linode_emu", description="A local Linode API v4 emulator."
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="loopback address to listen on (default: 127.0.0.1; see --allow-remote)"
    )
    parser.add_argument(
        "--allow-remote",
        action="store_true",
        help="allow a --host that is not loopback: whoever reaches the API runs machines as root on this host",
    )
    parser.add_argument("--port", type=int, default=0, help="port to listen on (default: 0, a free port)")
    parser.add_argument("--state-dir", required=True, help="folder holding the emulator's state.json")
    parser.add_argument(
        "--time-scale", type=float, default=1.0, help="multiplier of every simulated delay (default: 1.0)"
    )
    parser.add_argument(
        "--machines",
        choices=DRIVER_NAMES,
        help="what stands behind a Linode: a real OS in Linux namespaces, or nothing "
        "(default: namespace where the kernel allows it, else none)",
    )
    parser.add_argument(
        "--token",
        default=os.environ.get("LINODE_EMU_TOKEN"),
        help="the only bearer token accepted (default: $LINODE_EMU_TOKEN; else, with namespace machines, "
        "a random one printed once on stderr as 'linode_emu token: ...', and without machines any token)",
    )
    parser.add_argument(
        "--hide",
        action="append",
        default=[],
        metavar="PATH",
        help="a host path machines must not see, besides the state dir, /root, /home and /tmp (repeatable)",
    )
    parser.add_argument("--no-rate-limits", action="store_true", help="never answer 429 Too many requests")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    machines = args.machines or default_driver_name()
    try:
        server = EmulatorServer(
            args.state_dir,
            host=args.host,
            port=args.port,
            time_scale=args.time_scale,
            token=args.token or None,
            rate_limits=not args.no_rate_limits,
            machines=machines,
            hide=args.hide,
            allow_remote=args.allow_remote,
        ).start()
    except (MachineError, UnsafeListenError) as err:
        print(f"linode_emu: {err}", file=sys.stderr)
        return 2
    try:
        if server.token != args.token:
            print(f"linode_emu token: {server.token}", file=sys.stderr, flush=True)
        print(f"linode_emu listening on {server.url}", flush=True)
        print(f"linode_emu machines: {machines}", file=sys.stderr, flush=True)
        while not stop.wait(delays.real("main_poll")):
            pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
