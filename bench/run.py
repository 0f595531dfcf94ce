"""``python -m bench.run [--only roll,api,bake,scale] [--quick]``: measure the figures, write the results.

``roll`` and ``api`` share their rolls (figure 2 counts figure 1's requests); ``bake`` runs on the lab under
``flock /tmp/si-integration.lock`` in a process of its own; ``--quick`` leaves out the roll of 30 servers and
fills the scale account with 300 Linodes and 60 images.
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import api, bake, emulator, report, roll, scale

FIGURES = ("roll", "api", "bake", "scale")
SCALE_TIME_SCALE = 0.01  # plan and status wait for nothing: the scale account needs no realistic delays


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=",".join(FIGURES),
                        help=f"comma-separated figures to measure (default: all of {','.join(FIGURES)})")
    parser.add_argument("--quick", action="store_true", help="rolls of 1, 3 and 10 only; a smaller scale account")
    args = parser.parse_args(argv)
    args.only = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = sorted(set(args.only) - set(FIGURES))
    if unknown:
        parser.error(f"unknown figure(s) {', '.join(unknown)}; known: {', '.join(FIGURES)}")
    return args


def roll_figures(only, quick, folder):
    """Figures 1 and 2 from one series of rolls."""
    with emulator.running(roll.TIME_SCALE) as emu:
        emu.rate_limits(True, window_scale=roll.TIME_SCALE)
        measured = roll.measure(emu, folder / "rolls", roll.QUICK_SIZES if quick else roll.SIZES)
    figures = {"roll": roll.figure(measured), "api": api.figure(api.economy(measured["rolls"]))}
    return {name: figures[name] for name in ("roll", "api") if name in only}, measured


def bake_figure(folder):
    """Figure 3, measured on the lab by ``python -m bench.bake`` under the integration lock."""
    out_file = folder / "bake.json"
    try:
        subprocess.run(bake.locked_command(out_file), check=True, timeout=bake.LOCK_WAIT + bake.BAKE_TIMEOUT)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as err:
        return bake.not_measured(f"{err}"), None
    measured = json.loads(out_file.read_text())
    return bake.figure(measured), measured


def scale_figure(folder, quick):
    with emulator.running(SCALE_TIME_SCALE) as emu:
        measured = scale.measure(emu, folder / "scale", quick)
    return scale.figure(measured), measured


def measure(only, quick):
    """``(figures, raw measurements)`` of the figures named in ``only``."""
    figures, raw = {}, {}
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        folder = Path(tmp)
        if {"roll", "api"} & set(only):
            rolled, raw["rolls"] = roll_figures(only, quick, folder)
            figures.update(rolled)
        if "bake" in only:
            figures["bake"], raw["bake"] = bake_figure(folder)
        if "scale" in only:
            figures["scale"], raw["scale"] = scale_figure(folder, quick)
    return figures, raw


def main(argv=None):
    args = parse_args(argv)
    started, clock = datetime.datetime.now(datetime.timezone.utc), time.monotonic()
    figures, raw = measure(args.only, args.quick)
    run = {"command": " ".join(["python -m bench.run", *(argv if argv is not None else sys.argv[1:])]).strip(),
           "started": started.strftime("%Y-%m-%d %H:%M UTC"), "seconds": round(time.monotonic() - clock, 1),
           "platform": f"{platform.system()} {platform.machine()}, Python {platform.python_version()}",
           "quick": args.quick}
    paths = report.write({"run": run, "figures": figures, "measurements": raw})
    for figure in figures.values():
        print(f"{figure['title']}: {figure['value']} -> {figure['verdict']}")
    print("written: " + ", ".join(str(path) for path in paths))
    return 0


if __name__ == "__main__":
    sys.exit(main())
