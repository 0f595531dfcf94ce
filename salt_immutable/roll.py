"""EFFECTS: the roll — replace a fleet's servers with servers booted from its proven image.

A reconciler, as ARCHITECTURE §5 describes it: observe the fleet (a constant number of API reads),
:func:`~salt_immutable.rollout.planner.plan` the next batch, act the batch out concurrently, observe
again, until the fleet matches its goal. The cloud is the record: every server carries its version,
generation and roll in tags, and its service state (``svc:in``, ``svc:drain``) is tagged as it
changes, so a roll killed anywhere is finished by the next one with no duplicate and no orphaned key.

A new server passes every gate before it serves: running → minion answers → boot states → verify
(saltcheck, zero changes) → release = image provenance → HTTP check → NodeBalancer node UP by the
NodeBalancer's own check → warmup. Only then is it tagged ``svc:in``. An old server is tagged
``svc:drain`` first, then its node drains, is removed, and the Linode and its minion key are deleted.
"""

from __future__ import annotations

import collections
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from salt_immutable import checks, names, seed
from salt_immutable import firewall as firewalls
from salt_immutable.bake import PROVEN_TAG, ROLE_TAG_PREFIX, http_url
from salt_immutable.errors import (
    CheckFailed,
    CheckpointFailed,
    GateFailed,
    ImmutableError,
    ProviderTimeout,
    RollError,
)
from salt_immutable.rollout import planner
from salt_immutable.rollout.math import fenceposts

SVC_IN, SVC_DRAIN, QUARANTINE = "svc:in", "svc:drain", "quarantine"
GEN_PREFIX, ROLL_PREFIX, VERSION_PREFIX = "gen:", "roll:", "version:"
SERVER_ROLE = "server"
UNKNOWN = "unknown"  # the version of a fleet Linode that carries no version tag
DELETING = "deleting"
SETTLE_PAUSE = 2.0  # seconds between two observations while the fleet settles
STATE_TIMEOUT = 1800
# The managed NodeBalancer config's health check (Linode's minimum interval is 2 s).
HEALTH_CHECK = {"check_interval": 5, "check_timeout": 3, "check_attempts": 2}


def server_tags(fleet, version, generation, roll_id):
    """The tags a new server is created with; ``svc:*`` tags are added as it moves."""
    return (names.PROJECT_TAG, names.fleet_tag(fleet), names.version_tag(version),
            f"{GEN_PREFIX}{generation}", f"{ROLL_PREFIX}{roll_id}")


def tag_value(tags, prefix):
    """The value of the first tag starting with ``prefix``, or None."""
    return next((tag[len(prefix):] for tag in tags if tag.startswith(prefix)), None)


def generation_of(server):
    """The generation a server's tags give it (0 when it has none)."""
    value = tag_value(server.tags, GEN_PREFIX)
    return int(value) if value and value.isdigit() else 0


def service_state(tags):
    """pending, in_service or draining, as the tags say."""
    if SVC_DRAIN in tags:
        return planner.DRAINING
    return planner.IN_SERVICE if SVC_IN in tags else planner.PENDING


def is_server(linode):
    """Fleet Linodes that are servers: not bake builders or candidates, not quarantined ones, and not one
    being deleted (its delete was sent: planning its drain again would only send it again)."""
    return (QUARANTINE not in linode.tags and linode.status != DELETING
            and not any(tag.startswith(ROLE_TAG_PREFIX) for tag in linode.tags))


@dataclass(frozen=True)
class Balancer:
    """A fleet's NodeBalancer config; nodes are ``private-ip:backend_port``."""

    nodebalancer: object  # model.NodeBalancerRef
    config: object  # model.NodeBalancerConfigRef
    backend_port: int

    def address(self, server):
        return f"{server.private_ip}:{self.backend_port}"

    def describe(self):
        """The NodeBalancer as status shows it."""
        nodebalancer = self.nodebalancer
        address = f"{nodebalancer.ipv4}:{self.config.port}"
        return {"id": nodebalancer.id, "label": nodebalancer.label, "address": address}


def find_balancer(provider, fleet):
    """The fleet's NodeBalancer and config: ``(Balancer | None, operations still needed)``.

    Reads only. A managed NodeBalancer (by label) or its config that does not exist yet comes back
    as None with the operations that would create it; an adopted one (by id) must exist with a
    config on the port.
    """
    spec = fleet.nodebalancer
    if spec is None:
        return None, []
    if spec.managed:
        nodebalancer = provider.find_nodebalancer(spec.label)
        if nodebalancer is None:
            return None, [f"create NodeBalancer {spec.label} in {fleet.linode.region}",
                          f"create its config on port {spec.port} checking {fleet.tests.http.path}"]
    else:
        nodebalancer = provider.get_nodebalancer(spec.id)
    config = next((c for c in provider.list_nodebalancer_configs(nodebalancer.id) if c.port == spec.port), None)
    if config is None:
        if not spec.managed:
            raise RollError(f"roll {fleet.name}: NodeBalancer {spec.id} has no config on port {spec.port}")
        return None, [f"create a config on port {spec.port} of NodeBalancer {spec.label}"]
    return Balancer(nodebalancer, config, fleet.tests.http.port), []


def ensure_balancer(provider, fleet):
    """The fleet's NodeBalancer config, creating a managed NodeBalancer and its config when missing."""
    balancer, missing = find_balancer(provider, fleet)
    if balancer is not None or not missing:
        return balancer
    spec = fleet.nodebalancer
    nodebalancer = provider.find_nodebalancer(spec.label) or provider.create_nodebalancer(
        spec.label, fleet.linode.region, tags=(names.PROJECT_TAG, names.fleet_tag(fleet.name))
    )
    config = provider.create_nodebalancer_config(
        nodebalancer.id, spec.port, protocol="http", check="http", check_path=fleet.tests.http.path, **HEALTH_CHECK
    )
    return Balancer(nodebalancer, config, fleet.tests.http.port)


@dataclass(frozen=True)
class Snapshot:
    """One observation of a fleet: its servers and their NodeBalancer nodes (by address)."""

    servers: tuple
    nodes: dict
    balancer: Balancer | None

    def node_of(self, server):
        if self.balancer is None or server.private_ip is None:
            return None
        return self.nodes.get(self.balancer.address(server))

    def healthy(self, server):
        """In service: running and its node not DOWN. Pending: its boot has not failed."""
        if service_state(server.tags) == planner.PENDING:
            return server.status not in ("offline", "stopped")
        if server.status != "running":
            return False
        node = self.node_of(server)  # a server without a node (a NodeBalancer added later) still serves
        return node is None or node.status != "DOWN"

    def view(self):
        """The servers as the planner sees them."""
        return [
            planner.Server(s.label, tag_value(s.tags, VERSION_PREFIX), generation_of(s), service_state(s.tags),
                           self.healthy(s))
            for s in self.servers
        ]

    def by_label(self, label):
        return next((s for s in self.servers if s.label == label), None)

    def versions(self):
        """How many servers run each version (``unknown`` for a server without a version tag)."""
        return dict(collections.Counter(tag_value(s.tags, VERSION_PREFIX) or UNKNOWN for s in self.servers))

    def summary(self, now):
        """Every server, for status and roll returns."""
        rows = []
        for server in sorted(self.servers, key=lambda s: s.label):
            node = self.node_of(server)
            rows.append({
                "label": server.label, "id": server.id, "version": tag_value(server.tags, VERSION_PREFIX),
                "generation": generation_of(server), "state": service_state(server.tags),
                "healthy": self.healthy(server), "status": server.status, "private_ip": server.private_ip,
                "node": {"mode": node.mode, "status": node.status} if node else None,
                "age_seconds": round(now - server.created.timestamp()) if server.created else None,
            })
        return rows


def observe(provider, fleet, balancer):
    """A :class:`Snapshot` of ``fleet``: one listing of its Linodes and one of its nodes."""
    linodes = provider.list_fleet(fleet.name)
    nodes = provider.list_nodes(balancer.nodebalancer.id, balancer.config.id) if balancer else []
    return Snapshot(tuple(s for s in linodes if is_server(s)), {n.address: n for n in nodes}, balancer), linodes


def goal_for(fleet, version, generation, replace=()):
    surge, unavailable = fenceposts(fleet.rollout.max_surge, fleet.rollout.max_unavailable, fleet.count)
    return planner.Goal(fleet.name, version, fleet.count, surge, unavailable, generation, frozenset(replace))


def next_generation(linodes):
    return max((generation_of(s) for s in linodes), default=0) + 1


def orphan_keys(key_ids, fleet, linodes):
    """Minion keys named like the fleet's servers with no Linode of that label (a roll died between
    accepting the key and creating the Linode)."""
    labels = {s.label for s in linodes}
    return [key for key in key_ids if names.is_server_label(fleet, key) and key not in labels]


def delete_orphan_keys(salt, fleet, linodes, say):
    """Delete the :func:`orphan_keys` of ``fleet`` on the master, saying so."""
    for key in orphan_keys(salt.key_ids(), fleet, linodes):
        say(f"deleting the key of {key}: no Linode has that label (an earlier roll stopped)")
        salt.delete_key(key)


class Timeline:
    """What happened to which server, when: the events of a roll's record, in seconds since it started.

    Each event is ``{"at": seconds, "server": label or None (fleet-wide), "event": kind, ...}``; the kinds
    are ``created``, ``gate`` (``gate``: its name), ``failed`` (``gate``), ``in_service``, ``draining``,
    ``destroyed``, ``quarantined``, and fleet-wide ``batch``, ``checkpoint``, ``approved``, ``rejected``,
    ``checkpoint_timeout`` and ``rollback``. :mod:`salt_immutable.timeline` draws them.
    """

    def __init__(self, clock):
        self.clock, self.origin, self.events = clock, clock(), []

    def mark(self, server, kind, **extra):
        self.events.append({"at": round(self.clock() - self.origin, 2), "server": server, "event": kind, **extra})


def approval_tag(fleet):
    """The master event that approves (or rejects) a checkpoint of ``fleet``'s roll."""
    return f"salt/immutable/{fleet}/roll/approval"


def answers_checkpoint(roll_id):
    """Whether an approval event is for roll ``roll_id`` and came from the master (``immutable.approve``,
    a reactor, salt-api). A minion's ``event.send`` reaches the bus too, under any tag, but the master marks
    it with the minion's ``id`` and ``cmd: _minion_event``: code on a server must not approve its own roll."""
    return lambda data: data.get("roll_id") == roll_id and "id" not in data and data.get("cmd") != "_minion_event"


@dataclass
class RollJob:
    """Everything one roll of one fleet needs; the Salt and Linode sides are injected."""

    fleet: object  # spec.FleetSpec
    version: str
    image: object  # model.ImageRef, proven
    provider: object
    salt: object  # master.SaltMaster
    master_address: str
    master_port: int
    roll_id: str
    balancer: Balancer | None = None
    firewall: object = None  # model.FirewallRef every new server is created behind, or None
    quarantine: bool = False
    replace: tuple = ()  # labels of servers to replace although they run ``version`` (drifted ones)
    progress: object = None
    fire: object = None
    fence: object = None  # called before each batch: raises when the fleet lock was lost
    after_batch: object = None  # called after each batch (the roll's record is saved there)
    checkpoints: tuple = ()  # batch numbers after which the roll waits for approval
    timeline: Timeline | None = None
    clock: object = time.monotonic
    sleep: object = time.sleep
    created: list = field(default_factory=list)
    destroyed: list = field(default_factory=list)
    batches: list = field(default_factory=list)
    peak: int = 0


class Roll:
    """Converge ``job.fleet`` onto ``job.version``: run batches until the plan is complete.

    :meth:`converge` raises :class:`~salt_immutable.errors.GateFailed` (after removing or quarantining
    the servers that failed) or :class:`~salt_immutable.errors.ProviderTimeout` when the fleet makes no
    progress for ``rollout:progress_deadline`` seconds.
    """

    def __init__(self, job: RollJob):
        self.job = job
        self.fleet = job.fleet
        self.rollout = job.fleet.rollout
        if job.timeline is None:
            job.timeline = Timeline(job.clock)

    # ------------------------------------------------------------------ the loop

    def converge(self):
        snapshot, linodes = self.observe()
        delete_orphan_keys(self.job.salt, self.fleet.name, linodes, self.say)
        goal = goal_for(self.fleet, self.job.version, next_generation(linodes), self.job.replace)
        self.generation = goal.generation
        stalled = checkpoint = None
        while True:
            result = planner.plan(goal, snapshot.view())
            if result.complete:
                return snapshot
            if checkpoint is not None:
                self.checkpoint(checkpoint)
                checkpoint = None
            elif not result.actions:
                stalled = stalled or self.deadline()
                stalled.check("roll", self.fleet.name, f"no progress: {result.waiting}")
                self.say(f"waiting: {result.waiting}")
                self.job.sleep(SETTLE_PAUSE)
            else:
                stalled = None
                self.run_batch(result, snapshot)
                checkpoint = len(self.job.batches) if len(self.job.batches) in self.job.checkpoints else None
            snapshot, _ = self.observe()

    def observe(self):
        return observe(self.job.provider, self.fleet, self.job.balancer)

    def deadline(self):
        return self.job.provider.deadline(self.rollout.progress_deadline)

    def run_batch(self, result, snapshot):
        if self.job.fence is not None:
            self.job.fence()
        number = len(self.job.batches) + 1
        self.mark(None, "batch", batch=number)
        counts = result.counts
        self.job.peak = max(self.job.peak, counts["total"] + len(result.of_kind(planner.CREATE)))
        self.say(f"batch {number}: " + "; ".join(f"{a.kind} {a.label} ({a.reason})" for a in result.actions))
        started = self.job.clock()
        deadline = self.deadline()
        with ThreadPoolExecutor(max_workers=len(result.actions)) as pool:
            futures = [pool.submit(self.act, action, snapshot, deadline) for action in result.actions]
        failures = [f.exception() for f in futures if f.exception() is not None]
        seconds = round(self.job.clock() - started, 2)
        self.job.batches.append({"actions": [f"{a.kind} {a.label}" for a in result.actions], "seconds": seconds})
        self.fire("batch", batch=number, actions=self.job.batches[-1]["actions"], seconds=seconds,
                  failed=[str(f) for f in failures])
        if self.job.after_batch is not None:
            self.job.after_batch()
        if failures:
            self.discard([f.server for f in failures if isinstance(f, GateFailed)])
            raise failures[0]

    def act(self, action, snapshot, deadline):
        server = snapshot.by_label(action.label)
        if action.kind == planner.CREATE:
            self.admit(self.create(action.label), deadline)
        elif action.kind == planner.ADMIT:
            self.admit(server, deadline)
        elif action.kind == planner.DRAIN:
            self.drain(server, snapshot.node_of(server))
        else:
            self.remove(server, snapshot.node_of(server))

    # ------------------------------------------------------------------ new servers

    def create(self, label, *, booted=True, mounts=(), filesystems=(), extra_tags=()):
        """A new server from the image as minion ``label``, its key pre-accepted; booted unless ``booted`` is
        False (a stateful fleet's server waits offline for its volumes). ``mounts`` and ``filesystems`` are
        its volumes' (see :func:`~salt_immutable.seed.minion_cloud_config`)."""
        try:
            keys = self.job.salt.accept_new_key(label)
            grains = {"immutable": {"fleet": self.fleet.name, "version": self.job.version, "role": SERVER_ROLE}}
            user_data = seed.minion_cloud_config(label, self.job.master_address, self.job.master_port, keys, grains,
                                                 mounts, filesystems)
            spec = self.fleet.linode
            tags = (*server_tags(self.fleet.name, self.job.version, self.generation, self.job.roll_id), *extra_tags)
            server = self.job.provider.create_instance(
                label, spec.region, spec.type, self.job.image.id, user_data=user_data, tags=tags, booted=booted,
                firewall_id=self.job.firewall.id if self.job.firewall else None,
            )
        except ImmutableError as err:
            raise GateFailed(label, "create", err) from err
        self.job.created.append(label)
        self.mark(label, "created")
        self.say(f"{label}: created from {self.job.image.id} ({server.private_ip})")
        return server

    def admit(self, server, deadline, extra_gates=()):
        """Take ``server`` through every gate, then put it in service (tag ``svc:in``).

        ``extra_gates`` are ``(name, check)`` pairs run after the release gate (a stateful fleet's volumes).
        """
        label, salt, provider = server.label, self.job.salt, self.job.provider
        timeout = self.salt_timeout(deadline)
        linode_id = server.id
        server = self.gate(label, "running", lambda: provider.wait_for_status(linode_id, "running", deadline, True))
        if self.job.firewall:
            self.gate(label, "firewall", lambda: firewalls.check_device(provider, self.job.firewall, server))
        self.gate(label, "minion", lambda: salt.wait_for_minion(label, deadline))
        self.gate(label, "boot states", lambda: self.boot(label, timeout))
        self.gate(label, "verify", lambda: checks.verify(
            salt, label, self.fleet.tests.saltcheck, self.fleet.tests.converge, self.fleet.bake.states, timeout))
        self.gate(label, "release", lambda: checks.check_release(salt, label, self.job.image, timeout))
        for name, check in extra_gates:
            self.gate(label, name, check)
        if self.fleet.tests.http:
            self.gate(label, "http", lambda: checks.wait_for_http(http_url(self.fleet, server), deadline))
        if self.job.balancer:
            self.gate(label, "nodebalancer", lambda: self.join_balancer(server, deadline))
        if self.rollout.warmup:
            self.gate(label, "warmup", lambda: self.warm_up(server, deadline))
        provider.set_instance_tags(server.id, (*server.tags, SVC_IN))
        self.mark(label, "in_service")
        self.say(f"{label}: in service")

    def gate(self, label, name, check):
        started = self.job.clock()
        try:
            value = check()
        except ImmutableError as err:
            self.mark(label, "failed", gate=name)
            raise GateFailed(label, name, err) from err
        self.mark(label, "gate", gate=name)
        self.say(f"{label}: {name} passed ({self.job.clock() - started:.1f} s)")
        return value

    def checkpoint(self, batch):
        """Wait after ``batch`` for ``salt-run immutable.approve``: the request is fired only once the
        roll listens, so that a quick approver cannot be missed. A rejection or the timeout raises
        :class:`~salt_immutable.errors.CheckpointFailed`."""
        timeout, roll_id = self.rollout.checkpoint_timeout, self.job.roll_id
        approve = f"salt-run immutable.approve fleet={self.fleet.name} roll_id={roll_id}"

        def ask():
            self.mark(None, "checkpoint", batch=batch)
            self.fire("checkpoint", batch=batch, timeout=timeout, approve=approve)
            self.say(f"checkpoint after batch {batch}: waiting up to {timeout:g} s for approval: {approve} "
                     "(or reject=True)")

        answer = self.job.salt.await_event(approval_tag(self.fleet.name), answers_checkpoint(roll_id), timeout, ask)
        if answer is None:
            self.mark(None, "checkpoint_timeout", batch=batch)
            raise CheckpointFailed(batch, f"not approved within {timeout:g} s")
        who = answer.get("user") or "someone"
        if answer.get("approved") is not True:
            self.mark(None, "rejected", batch=batch)
            raise CheckpointFailed(batch, f"rejected by {who}")
        self.mark(None, "approved", batch=batch)
        self.say(f"checkpoint after batch {batch}: approved by {who}, going on")

    def salt_timeout(self, deadline):
        return max(10, int(deadline.remaining()))

    def boot(self, label, timeout):
        self.job.salt.call(label, "saltutil.sync_all", timeout=timeout)
        if self.fleet.boot.states:
            checks.apply_states(self.job.salt, label, self.fleet.boot.states, "boot states", timeout)

    def join_balancer(self, server, deadline, node=None):
        """Add the server's node (or set its existing ``node`` back to accept) and wait until the
        NodeBalancer's own check says UP."""
        balancer, provider = self.job.balancer, self.job.provider
        address = balancer.address(server)
        if node is None:
            node = provider.create_node(balancer.nodebalancer.id, balancer.config.id, server.label, address)
        elif node.mode != "accept":
            provider.update_node(balancer.nodebalancer.id, balancer.config.id, node.id, mode="accept")
        while node.status != "UP":
            deadline.check("wait for node", f"{server.label} ({address})", f"still {node.status}")
            self.job.sleep(deadline.pause(provider.poll_interval))
            node = next((n for n in provider.list_nodes(balancer.nodebalancer.id, balancer.config.id)
                         if n.id == node.id), node)
        return node

    def warm_up(self, server, deadline):
        """Stay healthy for ``rollout:warmup`` seconds: the HTTP check must still pass at the end."""
        self.job.sleep(min(self.rollout.warmup, deadline.remaining()))
        if self.fleet.tests.http and not checks.answers_http(http_url(self.fleet, server)):
            raise CheckFailed(f"{http_url(self.fleet, server)} failed after {self.rollout.warmup:g} s of warmup")

    # ------------------------------------------------------------------ old servers

    def drain(self, server, node):
        """Tag ``svc:drain`` (first: a crash from here on resumes the drain), drain the node, wait, destroy."""
        self.start_drain(server, node)
        self.remove(server, node)

    def start_drain(self, server, node):
        """Tag ``svc:drain``, set its node to drain and wait ``drain_seconds``: it takes no new traffic."""
        provider, balancer = self.job.provider, self.job.balancer
        if SVC_DRAIN not in server.tags:
            tags = (*(tag for tag in server.tags if tag != SVC_IN), SVC_DRAIN)
            provider.set_instance_tags(server.id, tags)
        self.mark(server.label, "draining")
        if node is not None:
            if node.mode != "drain":
                provider.update_node(balancer.nodebalancer.id, balancer.config.id, node.id, mode="drain")
            self.say(f"{server.label}: draining for {self.fleet.nodebalancer.drain_seconds:g} s")
            self.job.sleep(self.fleet.nodebalancer.drain_seconds)

    def remove(self, server, node):
        """Remove the node, delete the Linode, delete the minion key (the key even when a delete fails)."""
        provider, balancer = self.job.provider, self.job.balancer
        try:
            if node is not None:
                provider.delete_node(balancer.nodebalancer.id, balancer.config.id, node.id)
            provider.delete_instance(server.id)
        finally:
            self.job.salt.delete_key(server.label)
        self.job.destroyed.append(server.label)
        self.mark(server.label, "destroyed")
        self.say(f"{server.label}: destroyed")

    def discard(self, labels):
        """After failed gates: remove the failed servers and keys, or stop and quarantine them."""
        snapshot, _ = self.observe()
        for label in labels:
            server = snapshot.by_label(label)
            try:
                if server is None:
                    self.job.salt.delete_key(label)
                elif self.job.quarantine:
                    self.quarantine(server, snapshot.node_of(server))
                else:
                    self.remove(server, snapshot.node_of(server))
            except ImmutableError as err:  # report, and go on: the gate's failure is what the roll returns
                self.say(f"{label}: could not be removed: {err}")

    def quarantine(self, server, node):
        provider, balancer = self.job.provider, self.job.balancer
        if node is not None:
            provider.delete_node(balancer.nodebalancer.id, balancer.config.id, node.id)
        provider.set_instance_tags(server.id, (*server.tags, QUARANTINE))
        provider.shutdown(server.id)
        self.mark(server.label, "quarantined")
        self.say(f"{server.label}: stopped and tagged {QUARANTINE} for debugging (its key is kept)")

    # ------------------------------------------------------------------ reporting

    def mark(self, server, kind, **extra):
        self.job.timeline.mark(server, kind, **extra)

    def say(self, message):
        if self.job.progress is not None:
            self.job.progress(f"[{self.fleet.name}→{self.job.version}] {message}")

    def fire(self, phase, **data):
        if self.job.fire is not None:
            payload = {"fleet": self.fleet.name, "roll_id": self.job.roll_id, "version": self.job.version}
            self.job.fire(f"salt/immutable/{self.fleet.name}/roll/{phase}", {**payload, **data})


def gate_names(fleet):
    """The gates a new server of ``fleet`` passes, in order, as plans and previews list them."""
    gates = ["running", *(["firewall device"] if fleet.linode.firewall else []), "minion", "boot states", "verify",
             "release"]
    gates += ["volumes (marker = volume id and slot)"] if fleet.volumes else []
    gates += ["http"] if fleet.tests.http else []
    gates += ["NodeBalancer node UP"] if fleet.nodebalancer else []
    gates += [f"warmup {fleet.rollout.warmup:g} s"] if fleet.rollout.warmup else []
    return gates


def is_proven(image):
    return image is not None and PROVEN_TAG in image.tags


def failure_of(err):
    """What failed, where and why, from a roll's exception."""
    if isinstance(err, GateFailed):
        return {"server": err.server, "gate": err.gate, "cause": err.cause}
    if isinstance(err, ProviderTimeout):
        return {"server": None, "gate": "progress_deadline", "cause": str(err)}
    return {"server": None, "gate": None, "cause": str(err)}
