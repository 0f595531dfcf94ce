"""The ``salt-immutable`` shell command: the extension's file root, and the lab."""

import argparse
import json
import sys

from salt_immutable import demo, lab, loader
from salt_immutable.errors import ImmutableError


def build_parser():
    parser = argparse.ArgumentParser(prog="salt-immutable", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser(
        "file-root",
        help="print the folder to add to the master's file_roots so minions can sync _modules/immutable.py",
    )
    demo_parser = commands.add_parser("demo", help="bake the example fleet on the lab and serve it from the image")
    demo_parser.add_argument("--dir", default=".demo-lab", help="the lab's folder (default: ./.demo-lab)")
    lab_parser = commands.add_parser("lab", help="a salt-master and the Linode emulator in one folder")
    verbs = lab_parser.add_subparsers(dest="verb", required=True)
    for verb, text in (("up", "start the lab"), ("status", "what runs"), ("down", "stop everything")):
        sub = verbs.add_parser(verb, help=text)
        sub.add_argument("--dir", default="lab", help="the lab's folder (default: ./lab)")
        if verb == "up":
            sub.add_argument("--state-tree", help="your state tree (default: the package's example salt/)")
            sub.add_argument("--pillar-tree", help="your pillar tree (default: the package's example pillar/)")
            sub.add_argument("--time-scale", type=float, default=0.05, help="emulated cloud delays (default: 0.05)")
            sub.add_argument("--machines", default="namespace", choices=("namespace", "none"))
    return parser


def run_lab(args):
    if args.verb == "up":
        info = lab.up(args.dir, args.state_tree, args.pillar_tree, args.time_scale, args.machines)
        print(json.dumps(info, indent=2))
        print(f"\nThe lab runs. Try:\n  {info['salt_run']}\nStop it with:\n  salt-immutable lab down --dir {args.dir}")
        return 0
    if args.verb == "status":
        info = lab.status(args.dir)
        print(json.dumps(info, indent=2))
        return 0 if info["running"] else 3
    print(json.dumps(lab.down(args.dir), indent=2))
    return 0


def main(argv=None):
    """Parse the command line and run the chosen subcommand; returns the exit code."""
    args = build_parser().parse_args(argv)
    if args.command == "file-root":
        print(loader.FACES)
        return 0
    try:
        if args.command == "demo":
            return demo.run(args.dir)
        return run_lab(args)
    except ImmutableError as err:
        print(f"salt-immutable: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
