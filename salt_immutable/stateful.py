"""EFFECTS (and one pure decision): the roll of a stateful fleet — volumes move from old to new servers.

A fleet with ``volumes:`` has slots 1..count. Each slot owns its Block Storage volumes (labelled
:func:`~salt_immutable.names.volume_label`, tagged ``immutable``, ``fleet:<fleet>``, ``slot:<n>``) and its
server carries ``slot:<n>``. A roll replaces one slot at a time with a fenced hand-off:

1. the new server is created offline (``booted=False``), its cloud-init ``mounts`` naming the volumes;
2. the old server's node drains, the old server shuts down, the volumes are detached from it and
   attached to the new server, which boots (a volume appears on a Linode at its next boot);
3. the new server passes every gate of the roll plus the volume gate (the marker file on each volume names
   that volume's id and the slot; a slot's first server writes it);
4. only then is the old server destroyed. On a failed gate the new server is tagged ``svc:failed`` and the
   hand-off runs backwards: the new server stops, the volumes go back to the old server, which boots,
   passes its minion and HTTP gates and rejoins the NodeBalancer; then the new server is removed (or
   quarantined) and the roll fails with the gate's :class:`~salt_immutable.errors.GateFailed`.

A volume is never attached to two servers (it is detached, offline, before it is attached again) and a roll
never deletes one: a scale-down tags the removed slots' volumes ``orphaned``.

The cloud is the record: :func:`next_step` decides a slot's next step from what the cloud shows (who holds
each volume, who is booted, the tags), so a roll killed in the middle of a hand-off is finished by the next.
"""

from __future__ import annotations

from dataclasses import dataclass

from salt_immutable import checks, names
from salt_immutable.bake import http_url
from salt_immutable.errors import CheckFailed, GateFailed, ImmutableError, RollError
from salt_immutable.roll import (
    QUARANTINE,
    SVC_DRAIN,
    SVC_IN,
    VERSION_PREFIX,
    Roll,
    delete_orphan_keys,
    gate_names,
    next_generation,
    service_state,
    tag_value,
)
from salt_immutable.rollout import planner

SLOT_PREFIX = "slot:"
FAILED_TAG = "svc:failed"  # a new server whose gate failed: its hand-off runs backwards
ORPHANED_TAG = "orphaned"  # a volume whose slot a scale-down removed (kept: a roll never deletes data)
MARKER = ".immutable-volume"
VOLUME_DEVICE = "/dev/disk/by-id/scsi-0Linode_Volume_{label}"
RUNNING, OFFLINE = "running", "offline"

# Who holds a volume of the slot.
MISSING, DETACHED, OLD, NEW, ELSEWHERE = "missing", "detached", "old", "new", "elsewhere"

# The steps of a hand-off, forwards then backwards.
CREATE_VOLUMES, CREATE_NEW, STOP_NEW, DRAIN_OLD, SHUTDOWN_OLD = (
    "create volumes", "create new", "stop new", "drain old", "shut down old")
DETACH_OLD, ATTACH_NEW, BOOT_NEW, ADMIT_NEW, DESTROY_OLD = (
    "detach from old", "attach to new", "boot new", "admit new", "destroy old")
DETACH_NEW, ATTACH_OLD, BOOT_OLD, READMIT_OLD, DISCARD_NEW = (
    "detach from new", "attach to old", "boot old", "readmit old", "discard new")
DONE, BLOCKED = "done", "blocked"
# The steps whose failure turns the hand-off backwards: the new server exists and does not serve yet.
HANDING_OVER = (STOP_NEW, DRAIN_OLD, SHUTDOWN_OLD, DETACH_OLD, ATTACH_NEW, BOOT_NEW, ADMIT_NEW)


def slot_tag(slot):
    return f"{SLOT_PREFIX}{slot}"


def slot_of(tags):
    """The slot number a server's or volume's tags give it, or None."""
    value = tag_value(tags, SLOT_PREFIX)
    return int(value) if value and value.isdigit() else None


def device_of(label):
    """Where a Linode finds the volume labelled ``label``."""
    return VOLUME_DEVICE.format(label=label)


# --------------------------------------------------------------------------- pure: one slot's next step


@dataclass(frozen=True)
class Member:
    """A server of a slot as the decision sees it: ``state`` is pending, in_service or draining."""

    label: str
    status: str
    state: str = planner.PENDING
    failed: bool = False


@dataclass(frozen=True)
class SlotState:
    """One slot: its old and new server (either may be None) and who holds each of its volumes."""

    slot: int
    old: Member | None
    new: Member | None
    holders: tuple  # one of MISSING, DETACHED, OLD, NEW, ELSEWHERE per volume of the spec


@dataclass(frozen=True)
class Step:
    kind: str
    reason: str


def next_step(state):
    """The next step of a slot's hand-off, from what the cloud shows (see the module doc).

    Forwards: create volumes → create new (offline) → drain old → shut old down → detach from old → attach
    to new → boot new → admit new → destroy old → done. A new server tagged ``svc:failed`` turns it
    backwards: stop new → detach from new → attach to old → boot old → readmit old → discard new.
    The new server is offline whenever a volume moves to or from it.
    """
    holders, new, old = set(state.holders), state.new, state.old
    if ELSEWHERE in holders:
        return Step(BLOCKED, "a volume of the slot is attached to a Linode that is not the slot's")
    if MISSING in holders:
        return Step(CREATE_VOLUMES, "the slot's volumes do not exist yet")
    if new is None:
        return Step(CREATE_NEW, "no server of the new version holds the slot yet")
    if new.failed:
        return _backwards(state, holders)
    if new.state == planner.IN_SERVICE:
        if holders != {NEW}:
            return Step(BLOCKED, f"{new.label} is in service but does not hold every volume of the slot")
        if old is not None:
            return Step(DESTROY_OLD, f"{new.label} passed every gate with the slot's volumes")
        return Step(DONE, f"{new.label} serves with the slot's volumes")
    if holders != {NEW} and new.status != OFFLINE:
        return Step(STOP_NEW, f"{new.label} is {new.status}: it must be offline before the volumes move")
    if OLD in holders:
        if old.state == planner.IN_SERVICE:
            return Step(DRAIN_OLD, f"{new.label} waits offline; {old.label} still serves")
        if old.status != OFFLINE:
            return Step(SHUTDOWN_OLD, f"{old.label} is drained and {old.status}")
        return Step(DETACH_OLD, f"{old.label} is offline and holds the volumes")
    if DETACHED in holders:
        return Step(ATTACH_NEW, f"the volumes are detached and {new.label} is offline")
    if new.status == OFFLINE:
        return Step(BOOT_NEW, f"{new.label} holds the volumes and is offline")
    return Step(ADMIT_NEW, f"{new.label} is {new.status} with the volumes, not through its gates yet")


def _backwards(state, holders):
    """The hand-off of a failed new server, undone: the volumes and the service go back to the old one."""
    new, old = state.new, state.old
    if new.status != OFFLINE:
        return Step(STOP_NEW, f"{new.label} failed and is {new.status}")
    if NEW in holders:
        return Step(DETACH_NEW, f"{new.label} failed and is offline")
    if old is None:
        return Step(DISCARD_NEW, f"{new.label} failed; the slot had no server before: its volumes stay detached")
    if DETACHED in holders:
        return Step(ATTACH_OLD, f"{new.label} failed: the volumes go back to {old.label}")
    if old.status == OFFLINE:
        return Step(BOOT_OLD, f"{old.label} holds the volumes again and is offline")
    if old.state != planner.IN_SERVICE:
        return Step(READMIT_OLD, f"{old.label} is {old.status} with the volumes, not in service yet")
    return Step(DISCARD_NEW, f"{old.label} serves the slot again")


def slot_state(slot, servers, volumes, fleet, version, replace=()):
    """The :class:`SlotState` of ``slot`` from observed servers (``ObservedServer``) and volumes
    (``VolumeRef``, by label). The new server runs ``version`` (not marked for replacement); the old one is
    the other server of the slot that holds its volumes, else serves, else the newest."""
    mine = [s for s in servers if slot_of(s.tags) == slot]
    current = [s for s in mine if tag_value(s.tags, VERSION_PREFIX) == version and s.label not in replace]
    new = max(current, key=_newest, default=None)
    others = [s for s in mine if s is not new]
    ids = {s.id: s for s in mine}
    held = {volumes[label].linode_id for label in _labels(fleet, slot) if label in volumes}
    old = max(others, key=lambda s: (s.id in held, SVC_IN in s.tags, _newest(s)), default=None)
    holders = tuple(_holder(volumes.get(label), old, new, ids) for label in _labels(fleet, slot))
    return SlotState(slot, _member(old), _member(new), holders)


def _labels(fleet, slot):
    return [names.volume_label(fleet.name, volume.name, slot) for volume in fleet.volumes]


def _newest(server):
    return (server.created is not None, server.created, server.id)


def _member(server):
    if server is None:
        return None
    return Member(server.label, server.status, service_state(server.tags), FAILED_TAG in server.tags)


def _holder(volume, old, new, ids):
    if volume is None:
        return MISSING
    if volume.linode_id is None:
        return DETACHED
    if new is not None and volume.linode_id == new.id:
        return NEW
    if old is not None and volume.linode_id == old.id:
        return OLD
    return ELSEWHERE


# --------------------------------------------------------------------------- effects


class StatefulRoll(Roll):
    """Converge a stateful fleet onto ``job.version``: one slot's hand-off at a time, then the scale-down.

    Raises :class:`~salt_immutable.errors.GateFailed` once a failed slot is back on its old server,
    :class:`~salt_immutable.errors.RollError` when a slot's volumes are held by a Linode not of the slot.
    """

    def converge(self):
        _, linodes = self.observe()
        delete_orphan_keys(self.job.salt, self.fleet.name, linodes, self.say)
        self.generation = next_generation(linodes)
        for slot in range(1, self.fleet.count + 1):
            batches = len(self.job.batches)
            self.run_slot(slot)
            if len(self.job.batches) > batches and len(self.job.batches) in self.job.checkpoints \
                    and slot < self.fleet.count:
                self.checkpoint(len(self.job.batches))
        self.retire_extra_slots()
        return self.observe()[0]

    # ------------------------------------------------------------------ one slot

    def run_slot(self, slot):
        """Run the hand-off of ``slot`` to its end (recorded as one batch of the roll)."""
        started, steps, failure = self.job.clock(), [], None
        deadline = self.deadline()
        while True:
            world = self.observe_slot(slot)
            step = next_step(world.state)
            if step.kind == DONE:
                break
            if step.kind == BLOCKED:
                raise RollError(f"roll {self.fleet.name}: slot {slot}: {step.reason}: {world.describe()}")
            deadline.check("hand off", f"slot {slot} of {self.fleet.name}", f"still at {step.kind}")
            if self.job.fence is not None:
                self.job.fence()
            steps.append(step.kind)
            self.say(f"slot {slot}: {step.kind} ({step.reason})")
            try:
                self.perform(step.kind, world, deadline)
            except ImmutableError as err:
                if step.kind not in HANDING_OVER or world.new is None or world.state.new.failed:
                    raise
                failure = err if isinstance(err, GateFailed) else GateFailed(world.new.label, step.kind, err)
                self.say(f"slot {slot}: {failure}; handing the slot back to "
                         f"{world.old.label if world.old else 'no server (its volumes stay detached)'}")
                self.job.provider.set_instance_tags(world.new.id, (*world.new.tags, FAILED_TAG))
                continue
            if step.kind == DISCARD_NEW:
                break
        if steps:
            self.record_slot(slot, steps, started, failure)
        if DISCARD_NEW in steps:
            raise failure or GateFailed(world.new.label, "hand-off", "an earlier roll's hand-off of slot "
                                        f"{slot} failed; the slot is back on {world.old.label if world.old else '-'}")

    def observe_slot(self, slot):
        snapshot, _ = self.observe()
        volumes = {v.label: v for v in self.fleet_volumes()}
        state = slot_state(slot, snapshot.servers, volumes, self.fleet, self.job.version, self.job.replace)
        return SlotWorld(slot, state, snapshot, volumes, self.fleet)

    def fleet_volumes(self):
        return self.job.provider.list_volumes((names.PROJECT_TAG, names.fleet_tag(self.fleet.name)))

    def record_slot(self, slot, steps, started, failure):
        seconds = round(self.job.clock() - started, 2)
        self.job.peak = max(self.job.peak, self.fleet.count + 1)
        self.job.batches.append({"actions": [f"slot {slot}: {step}" for step in steps], "seconds": seconds})
        self.fire("batch", batch=len(self.job.batches), actions=self.job.batches[-1]["actions"], seconds=seconds,
                  failed=[str(failure)] if failure else [])
        if self.job.after_batch is not None:
            self.job.after_batch()

    def perform(self, kind, world, deadline):
        """Run one step of ``world``'s slot (see :func:`next_step`)."""
        new, old = world.new, world.old
        actions = {
            CREATE_VOLUMES: lambda: self.create_volumes(world, deadline),
            CREATE_NEW: lambda: self.create_new(world, deadline),
            STOP_NEW: lambda: self.stop(new, deadline),
            DRAIN_OLD: lambda: self.start_drain(old, world.snapshot.node_of(old)),
            SHUTDOWN_OLD: lambda: self.stop(old, deadline),
            DETACH_OLD: lambda: self.detach(world.held_by(old), old, deadline),
            ATTACH_NEW: lambda: self.attach(world, new, deadline),
            BOOT_NEW: lambda: self.start(new, deadline),
            ADMIT_NEW: lambda: self.admit(new, deadline, [("volumes", lambda: self.check_volumes(world, deadline))]),
            DESTROY_OLD: lambda: self.destroy(old, world.snapshot.node_of(old)),
            DETACH_NEW: lambda: self.detach(world.held_by(new), new, deadline),
            ATTACH_OLD: lambda: self.attach(world, old, deadline),
            BOOT_OLD: lambda: self.start(old, deadline),
            READMIT_OLD: lambda: self.readmit(old, world.snapshot.node_of(old), deadline),
            DISCARD_NEW: lambda: self.discard([new.label]),
        }
        actions[kind]()

    def create_volumes(self, world, deadline):
        provider, spec = self.job.provider, self.fleet
        tags = (names.PROJECT_TAG, names.fleet_tag(spec.name), slot_tag(world.slot))
        for volume, label in zip(spec.volumes, world.labels, strict=True):
            if label not in world.volumes:
                created = provider.create_volume(label, volume.size, spec.linode.region, tags=tags)
                provider.wait_for_volume(created.id, deadline)
                self.say(f"volume {label}: created ({volume.size} GB, volume {created.id})")

    def create_new(self, world, deadline):
        """The slot's new server, offline, tagged with the slot, mounting the slot's volumes at first boot."""
        label = names.server_label(self.fleet.name, self.generation, world.slot)
        devices = [device_of(volume_label) for volume_label in world.labels]
        mounts = [[device, volume.mount, "ext4", "defaults,nofail", "0", "2"]
                  for device, volume in zip(devices, self.fleet.volumes, strict=True)]
        server = self.create(label, booted=False, mounts=mounts, filesystems=devices,
                             extra_tags=(slot_tag(world.slot),))
        self.gate(label, "created offline", lambda: self.job.provider.wait_for_status(server.id, OFFLINE, deadline))

    def stop(self, server, deadline):
        """Shut ``server`` down cleanly (once it is at rest) and wait until it is offline."""
        provider = self.job.provider
        current = provider.get_instance(server.id)
        while current.status not in (RUNNING, OFFLINE):
            deadline.check("stop", server.label, f"still {current.status}")
            self.job.sleep(deadline.pause(provider.poll_interval))
            current = provider.get_instance(server.id)
        if current.status == RUNNING:
            provider.shutdown(server.id)
            provider.wait_for_status(server.id, OFFLINE, deadline, True)
        self.say(f"{server.label}: offline")

    def detach(self, volumes, server, deadline):
        """Detach ``volumes`` from (offline) ``server`` and wait until the API shows them free."""
        provider = self.job.provider
        for volume in volumes:
            provider.detach_volume(volume.id)
            while provider.get_volume(volume.id).linode_id is not None:
                deadline.check("detach volume", volume.label, f"still attached to {server.label}")
                self.job.sleep(deadline.pause(provider.poll_interval))
            self.say(f"volume {volume.label}: detached from {server.label}")

    def attach(self, world, server, deadline):
        """Attach every detached volume of the slot to (offline) ``server``."""
        provider = self.job.provider
        for volume in world.detached():
            provider.wait_for_volume(volume.id, deadline)
            provider.attach_volume(volume.id, server.id)
            self.say(f"volume {volume.label}: attached to {server.label}")

    def start(self, server, deadline):
        """Boot ``server`` with the slot's volumes and wait until it runs (the running gate)."""
        provider = self.job.provider
        provider.boot(server.id)
        self.say(f"{server.label}: booting with the slot's volumes")
        self.gate(server.label, "running", lambda: provider.wait_for_status(server.id, RUNNING, deadline, True))

    def check_volumes(self, world, deadline):
        """The volume gate: each volume is mounted and its marker names that volume and the slot; a slot's
        first server (no old one) writes the marker of a volume that has none."""
        timeout, label = self.salt_timeout(deadline), world.new.label
        for volume, spec in zip(world.fresh_volumes(), self.fleet.volumes, strict=True):
            expected = {"volume_id": volume.id, "slot": world.slot, "fleet": self.fleet.name}
            write = expected if world.old is None else None
            answer, _ = self.job.salt.call(label, "immutable.volume_marker", [spec.mount], kwarg={"write": write},
                                           timeout=timeout)
            problem = marker_problem(answer, expected, spec.mount)
            if problem:
                raise CheckFailed(f"volume {volume.label} on {label}: {problem}")

    def readmit(self, server, node, deadline):
        """The old server back in service after a failed hand-off: running, minion, HTTP, node accept + UP."""
        label, provider = server.label, self.job.provider
        server = self.gate(label, "running", lambda: provider.wait_for_status(server.id, RUNNING, deadline, True))
        self.gate(label, "minion", lambda: self.job.salt.wait_for_minion(label, deadline))
        if self.fleet.tests.http:
            self.gate(label, "http", lambda: self.wait_for_http(server, deadline))
        if self.job.balancer:
            self.gate(label, "nodebalancer", lambda: self.join_balancer(server, deadline, node))
        tags = tuple(tag for tag in server.tags if tag != SVC_DRAIN)
        provider.set_instance_tags(server.id, (*tags, SVC_IN))
        self.say(f"{label}: back in service with the slot's volumes")

    def wait_for_http(self, server, deadline):
        return checks.wait_for_http(http_url(self.fleet, server), deadline)

    def destroy(self, server, node):
        """The old server, its hand-off done: drained first if it still serves, then removed."""
        if SVC_IN in server.tags:
            self.drain(server, node)
        else:
            self.remove(server, node)

    # ------------------------------------------------------------------ scale-down

    def retire_extra_slots(self):
        """Servers of slots above ``count`` retired (see :meth:`retire`); those slots' volumes tagged
        ``orphaned`` (never deleted); volumes of slots within ``count`` lose the tag again."""
        snapshot, _ = self.observe()
        for server in snapshot.servers:
            slot = slot_of(server.tags)
            if slot is None or slot > self.fleet.count:
                self.say(f"{server.label}: slot {slot} is above the fleet's count {self.fleet.count}: retiring it")
                self.retire(server, snapshot.node_of(server))
        for volume in self.fleet_volumes():
            slot = slot_of(volume.tags)
            orphaned = slot is None or slot > self.fleet.count
            if orphaned != (ORPHANED_TAG in volume.tags):
                tags = (*volume.tags, ORPHANED_TAG) if orphaned else tuple(t for t in volume.tags if t != ORPHANED_TAG)
                self.job.provider.set_volume_tags(volume.id, tags)
                self.say(f"volume {volume.label}: {'tagged' if orphaned else 'no longer'} {ORPHANED_TAG}")

    def retire(self, server, node):
        """Drain ``server``, shut it down cleanly, detach its volumes (kept), then remove it."""
        deadline = self.deadline()
        self.start_drain(server, node)
        self.stop(server, deadline)
        self.detach([v for v in self.fleet_volumes() if v.linode_id == server.id], server, deadline)
        self.remove(server, node)


@dataclass
class SlotWorld:
    """One observation of a slot: its decision state and the objects the steps act on."""

    slot: int
    state: SlotState
    snapshot: object  # roll.Snapshot
    volumes: dict  # label -> VolumeRef, every volume of the fleet
    fleet: object

    @property
    def labels(self):
        return _labels(self.fleet, self.slot)

    @property
    def new(self):
        return self.state.new and self.snapshot.by_label(self.state.new.label)

    @property
    def old(self):
        return self.state.old and self.snapshot.by_label(self.state.old.label)

    def fresh_volumes(self):
        return [self.volumes[label] for label in self.labels]

    def held_by(self, server):
        return [v for v in self.fresh_volumes() if v.linode_id == server.id]

    def detached(self):
        return [v for v in self.fresh_volumes() if v.linode_id is None]

    def describe(self):
        return ", ".join(f"{v.label} on Linode {v.linode_id}" for v in self.fresh_volumes())


def marker_problem(answer, expected, mount):
    """Why a ``immutable.volume_marker`` answer fails the volume gate, or None."""
    if not isinstance(answer, dict):
        return f"no marker answer: {answer}"
    if not answer.get("mounted"):
        return f"nothing is mounted on {mount}"
    marker = answer.get("marker")
    if marker is None:
        return f"{mount}/{MARKER} is missing: the volume is not the one this slot wrote"
    wrong = {key: marker.get(key) for key in expected if marker.get(key) != expected[key]}
    if wrong:
        return f"{mount}/{MARKER} says {wrong}, expected {expected}"
    return None


# --------------------------------------------------------------------------- plan


def preview(provider, fleet, version, image, snapshot, generation):
    """The batches (one per slot to hand off or retire) a roll of stateful ``fleet`` would run, and the peak
    server count (one server above the fleet's while a slot with a server hands off); reads only."""
    volumes = {v.label: v for v in provider.list_volumes((names.PROJECT_TAG, names.fleet_tag(fleet.name)))}
    batches, surge = [], 0
    for slot in range(1, fleet.count + 1):
        state = slot_state(slot, snapshot.servers, volumes, fleet, version)
        if next_step(state).kind != DONE:
            surge = surge or int(state.old is not None)
            label = state.new.label if state.new else names.server_label(fleet.name, generation, slot)
            batches.append(_slot_batch(len(batches) + 1, slot, "hand-off", label,
                                       handoff_operations(fleet, version, image, state, label), next_step(state)))
    for server in snapshot.servers:
        slot = slot_of(server.tags)
        if slot is None or slot > fleet.count:
            operations = [f"drain and delete Linode {server.label}", f"delete minion key {server.label}"]
            operations += [f"tag volume {label} {ORPHANED_TAG}" for label in _labels(fleet, slot)] if slot else []
            batches.append(_slot_batch(len(batches) + 1, slot, planner.DRAIN, server.label, operations,
                                       Step(planner.DRAIN, f"slot {slot} is above the fleet's count {fleet.count}")))
    servers = len(snapshot.servers)
    return batches, max(servers + surge, fleet.count if batches else servers)


def _slot_batch(number, slot, action, label, operations, step):
    return {"batch": number, "size": 1, "actions": [
        {"action": action, "slot": slot, "server": label, "reason": step.reason, "operations": operations}]}


def handoff_operations(fleet, version, image, state, label):
    """The API and Salt operations of one slot's hand-off, in order."""
    nb, old = fleet.nodebalancer, state.old
    labels = _labels(fleet, state.slot)
    operations = [f"create volume {name} ({v.size} GB)" for name, v, holder in
                  zip(labels, fleet.volumes, state.holders, strict=True) if holder == MISSING]
    if state.new is None:
        source = image.id if image else names.image_label(fleet.name, version)
        operations += [f"accept a new minion key {label}",
                       f"create Linode {label} offline from {source} ({fleet.linode.type}, {fleet.linode.region}), "
                       f"tagged {slot_tag(state.slot)}, mounting {', '.join(v.mount for v in fleet.volumes)}"]
    if old is not None:
        operations += [f"tag {old.label} {SVC_DRAIN}"]
        operations += [f"set node {old.label} to drain", f"wait {nb.drain_seconds:g} s"] if nb else []
        operations += [f"shut down {old.label}", f"detach {', '.join(labels)} from {old.label}"]
    operations += [f"attach {', '.join(labels)} to {label}", f"boot {label}",
                   f"gates: {', '.join(gate_names(fleet))}"]
    operations += [f"add node {label} to NodeBalancer {nb.label or nb.id}:{nb.port}"] if nb else []
    operations += [f"tag {label} {SVC_IN}"]
    if old is not None:
        operations += [f"delete Linode {old.label}", f"delete minion key {old.label}",
                       f"on a failed gate: stop {label}, volumes back to {old.label}, boot it, node back to accept, "
                       f"remove {label} (or stop it and tag it {QUARANTINE})"]
    return operations
