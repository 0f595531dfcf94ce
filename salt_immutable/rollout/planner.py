"""PURE: observed fleet → the next batch of a roll.

The roll is a reconciler: observe the fleet, :func:`plan` one batch, act it out, observe again. Each
plan is computed from a snapshot alone, so a roll killed anywhere is finished by the next one: what
it needs is in the snapshot (the servers' tags), nothing in memory.

A server is in one of three states, read from its tags:

- ``pending``: created, not yet through every gate (a create of this roll, or one a killed roll left);
- ``in_service``: passed every gate and takes traffic; *available* while it is also healthy;
- ``draining``: on its way out (its NodeBalancer node drains, then it is destroyed).

The rules, as the Kubernetes Deployment controller's (``surge`` and ``unavailable`` are servers,
see :mod:`salt_immutable.rollout.math`):

- never more than ``count + surge`` servers exist (draining and pending ones included);
- never fewer than ``count - unavailable`` servers are available: a server is drained only while the
  others keep that many available, so old servers go only once enough new ones passed every gate;
- an unhealthy server is not available: an unhealthy new one is never put in service and holds old
  ones back; an unhealthy old one is drained first, at no cost to availability;
- a pending server that cannot pass its gates any more (its boot failed) or that belongs to another
  version is removed: it never took traffic, so it needs no draining;
- a server the goal marks for replacement (``Goal.replace``: a drifted one) counts as old although it
  runs the goal's version: it is replaced like one.
"""

from dataclasses import dataclass, field

from salt_immutable import names

PENDING, IN_SERVICE, DRAINING = "pending", "in_service", "draining"
CREATE, ADMIT, DRAIN, REMOVE = "create", "admit", "drain", "remove"


@dataclass(frozen=True)
class Server:
    """A server of the fleet as the planner sees it."""

    label: str
    version: str | None
    generation: int
    state: str
    healthy: bool = True


@dataclass(frozen=True)
class Goal:
    """What the fleet must become; ``surge`` and ``unavailable`` are already numbers of servers."""

    fleet: str
    version: str
    count: int
    surge: int
    unavailable: int
    generation: int  # the generation new servers are labelled with
    replace: frozenset = frozenset()  # labels to replace although they run ``version`` (drifted servers)

    def outdated(self, server):
        """True for a server that must make way: another version, or marked for replacement."""
        return server.version != self.version or server.label in self.replace


@dataclass(frozen=True)
class Action:
    """One step of a batch: ``kind`` is create, admit, drain or remove; ``label`` the server's label."""

    kind: str
    label: str
    reason: str


@dataclass(frozen=True)
class Plan:
    """The next batch (``actions``, to run concurrently) and what the snapshot says of the fleet."""

    actions: tuple
    complete: bool
    waiting: str = ""  # why nothing can be done now although the fleet is not complete
    counts: dict = field(default_factory=dict)

    def of_kind(self, kind):
        """The labels of this plan's ``kind`` actions."""
        return [action.label for action in self.actions if action.kind == kind]


def plan(goal, servers):
    """The next batch that moves ``servers`` (a snapshot) towards ``goal``; see the module doc."""
    servers = list(servers)
    stale = [s for s in servers if s.state == PENDING and (not s.healthy or goal.outdated(s))]
    draining = [s for s in servers if s.state == DRAINING]
    live = [s for s in servers if s not in stale and s not in draining]
    new = [s for s in live if not goal.outdated(s)]
    old = [s for s in live if goal.outdated(s)]
    available = [s for s in live if s.state == IN_SERVICE and s.healthy]
    min_available = max(0, goal.count - goal.unavailable)

    actions = [Action(REMOVE, s.label, _stale_reason(s, goal)) for s in stale]
    actions += [Action(DRAIN, s.label, "it was draining when an earlier roll stopped") for s in draining]
    pending = [s for s in new if s.state == PENDING]
    surplus = sorted(pending, key=lambda s: (s.generation, s.label), reverse=True)[: max(0, len(new) - goal.count)]
    actions += [Action(REMOVE, s.label, "pending and above the fleet's count") for s in surplus]
    actions += [Action(ADMIT, s.label, "created by an earlier roll; not through its gates yet")
                for s in pending if s not in surplus]
    actions += _creates(goal, servers, new)
    actions += _drains(goal, [s for s in new if s not in surplus], old, available, min_available)
    counts = {
        "total": len(servers), "new": len(new), "old": len(old), "draining": len(draining),
        "available": len(available), "min_available": min_available, "max_total": goal.count + goal.surge,
    }
    complete = not actions and not old and not draining and len(new) == goal.count and all(
        s.state == IN_SERVICE and s.healthy for s in new
    )
    waiting = "" if actions or complete else _waiting_reason(new, old, available, min_available)
    return Plan(tuple(actions), complete, waiting, counts)


def simulate(goal, servers, limit=10000):
    """The batches a roll from ``servers`` would run if every action succeeded (what ``test=True`` shows).

    Stops when the plan is complete or has nothing to do (an unhealthy server it must wait for).
    """
    world = {server.label: server for server in servers}
    batches = []
    for _ in range(limit):
        result = plan(goal, world.values())
        if not result.actions:
            return batches
        batches.append(result)
        for action in result.actions:
            if action.kind in (DRAIN, REMOVE):
                world.pop(action.label)
            else:
                world[action.label] = Server(action.label, goal.version, goal.generation, IN_SERVICE)
    raise ValueError(f"the roll of {goal.fleet} to {goal.version} did not converge in {limit} batches")


def _stale_reason(server, goal):
    if server.label in goal.replace:
        return "pending and marked for replacement: never in service"
    if server.version != goal.version:
        return f"pending server of version {server.version}, not {goal.version}: never in service"
    return "its boot failed: it can never pass its gates"


def _creates(goal, servers, new):
    """New servers: as many as the fleet lacks, within ``count + surge`` servers in all."""
    room = goal.count + goal.surge - len(servers)
    wanted = goal.count - len(new)
    number = min(room, wanted)
    if number <= 0:
        return []
    reason = (f"{len(new)} of {goal.count} servers run {goal.version}; "
              f"{len(servers)} servers exist of {goal.count + goal.surge} allowed")
    taken = {s.label for s in servers}
    labels = []
    index = 1
    while len(labels) < number:
        label = names.server_label(goal.fleet, goal.generation, index)
        if label not in taken:
            labels.append(label)
        index += 1
    return [Action(CREATE, label, reason) for label in labels]


def _drains(goal, new, old, available, min_available):
    """Old servers (and new ones above ``count``) to drain, keeping ``min_available`` available."""
    in_service_new = [s for s in new if s.state == IN_SERVICE]
    extras = sorted(in_service_new, key=_drain_order)[: max(0, len(new) - goal.count)]
    candidates = sorted([s for s in old if s.state == IN_SERVICE], key=_drain_order) + extras
    budget = len(available) - min_available
    chosen = []
    for server in candidates:
        if not server.healthy:
            chosen.append(Action(DRAIN, server.label, "unhealthy and to be replaced: it serves nothing"))
        elif budget > 0:
            budget -= 1
            why = "above the fleet's count" if server in extras else _outdated_reason(server, goal)
            chosen.append(Action(DRAIN, server.label,
                                 f"{why}; {len(available)} available, at least {min_available} must stay"))
    return chosen


def _outdated_reason(server, goal):
    if server.version == goal.version:
        return "marked for replacement (drift)"
    return f"runs {server.version}, not {goal.version}"


def _drain_order(server):
    """Unhealthy first, then the oldest generation, then the lowest label."""
    return (server.healthy, server.generation, server.label)


def _waiting_reason(new, old, available, min_available):
    unhealthy = [s.label for s in new if s.state == IN_SERVICE and not s.healthy]
    if unhealthy:
        return f"{', '.join(unhealthy)} in service but unhealthy: old servers stay until it recovers"
    if old and len(available) <= min_available:
        return f"{len(available)} available, at least {min_available} must stay: no old server can go yet"
    return "waiting for the fleet to settle"
