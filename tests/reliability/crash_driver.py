"""A roll that kills its own process at a named step: the crash points of the reliability suite.

``python -m tests.reliability.crash_driver API_URL FOLDER STEP [HTTP_PORT]`` rolls fleet ``app`` to
version 2 with the real roll (:func:`salt_immutable.fleetops.roll_fleet`), the real adapter and the stand-in
Salt (keys in ``FOLDER/keys.json``, locks and history in ``FOLDER/state``: the files a rerun reads), behind
the NodeBalancer when ``HTTP_PORT`` is given. When the roll reaches ``STEP`` (one of :data:`STEPS`) the
process says so on stderr and ends with ``os._exit(137)``, as ``kill -9`` would end it: no ``finally``, no
lock release, no history update. A roll that never reaches ``STEP`` ends normally (exit 0).

Each step wraps one method of the provider or the stand-in *here*, in the driver: product code is untouched.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

from tests.reliability.harness import World

KILLED = 137
CRASH_DEADLINE = 30  # no gate is meant to time out here: room for a busy machine


@dataclass(frozen=True)
class Step:
    """Kill the process ``when`` (``before``/``after``) ``side`` (``provider``/``salt``) runs ``method``
    with arguments that ``matches(args, kwargs)``."""

    side: str
    method: str
    when: str
    matches: object = staticmethod(lambda args, kwargs: True)


def server_label(args, kwargs):
    return not args[0].endswith("-src")


STEPS = {
    "after-key-accept": Step("salt", "accept_new_key", "after"),
    "after-create": Step("provider", "create_instance", "after", server_label),
    "during-running-gate": Step("provider", "wait_for_status", "before", lambda args, kw: args[1] == "running"),
    "after-firewall-gate": Step("provider", "instance_firewalls", "after"),
    "during-minion-gate": Step("salt", "wait_for_minion", "before"),
    "during-boot-states": Step("salt", "call", "before", lambda args, kw: args[1] == "saltutil.sync_all"),
    "after-release-gate": Step("salt", "call", "after", lambda args, kw: args[1] == "immutable.release"),
    "after-node-create": Step("provider", "create_node", "after"),
    "after-tag-svc-in": Step("provider", "set_instance_tags", "after", lambda args, kw: "svc:in" in args[1]),
    "after-tag-svc-drain": Step("provider", "set_instance_tags", "after", lambda args, kw: "svc:drain" in args[1]),
    "after-node-drain": Step("provider", "update_node", "after", lambda args, kw: kw.get("mode") == "drain"),
    "after-node-remove": Step("provider", "delete_node", "after"),
    "after-delete-before-key-delete": Step("salt", "delete_key", "before"),
    "during-bake-capture": Step("provider", "capture_image", "after"),
}


def kill_at(target, name, step):
    """Wrap ``target.<step.method>`` so that the process dies at ``step``."""
    method = getattr(target, step.method)

    def wrapped(*args, **kwargs):
        hit = step.matches(args, kwargs)
        if hit and step.when == "before":
            die(name)
        result = method(*args, **kwargs)
        if hit:
            die(name)
        return result

    setattr(target, step.method, wrapped)


def die(name):
    print(f"crash_driver: killed at {name}", file=sys.stderr, flush=True)
    os._exit(KILLED)


def main(argv):
    api_url, folder, name = argv[:3]
    http_port = int(argv[3]) if len(argv) > 3 else None
    world = World(api_url, Path(folder))
    step = STEPS[name]
    kill_at(world.provider if step.side == "provider" else world.salt, name, step)
    options = {"progress_deadline": CRASH_DEADLINE}
    options.update({"nodebalancer": True, "http_port": http_port} if http_port else {})
    report = world.roll("2", **options)
    print(f"crash_driver: {name} never reached; the roll ended {report['outcome']}: {report['failure']}",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
