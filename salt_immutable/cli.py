"""The ``salt-immutable`` shell command."""

import argparse
import sys

from salt_immutable import loader


def main(argv=None):
    """Parse the command line and run the chosen subcommand; returns the exit code."""
    parser = argparse.ArgumentParser(prog="salt-immutable", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser(
        "file-root",
        help="print the folder to add to the master's file_roots so minions can sync _modules/immutable.py",
    )
    args = parser.parse_args(argv)
    if args.command == "file-root":
        print(loader.FACES)
    return 0


if __name__ == "__main__":
    sys.exit(main())
