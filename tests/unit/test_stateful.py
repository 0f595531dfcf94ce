"""The stateful roll: the pure per-slot decision (a table), and the hand-off against a fake cloud with volumes
and a fake Salt whose servers see the volumes attached when they booted: order of effects, a failed gate
handing the slot back, a wrong marker, resuming from every intermediate state, a scale-down."""

import contextlib
import json
from dataclasses import replace

import pytest

from salt_immutable import roll, spec, stateful
from salt_immutable.errors import GateFailed, ProviderError
from salt_immutable.model import NodeBalancerConfigRef, NodeBalancerRef, VolumeRef
from salt_immutable.rollout.planner import DRAINING, IN_SERVICE, PENDING
from salt_immutable.stateful import DETACHED, ELSEWHERE, MISSING, NEW, OLD, Member, SlotState, next_step
from tests.support.clock import FakeClock
from tests.unit.test_roll import IMAGE, IP, FakeCloud, FakeSalt, NodesByLabel

MOUNT = "/srv/data"

# --------------------------------------------------------------------------- the pure decision

OLD_IN = Member("web-g1-1", "running", IN_SERVICE)
OLD_DRAINING = Member("web-g1-1", "running", DRAINING)
OLD_OFF = Member("web-g1-1", "offline", DRAINING)
OLD_BACK = Member("web-g1-1", "running", DRAINING)
NEW_PROVISIONING = Member("web-g2-1", "provisioning")
NEW_OFF = Member("web-g2-1", "offline")
NEW_RUNNING = Member("web-g2-1", "running")
NEW_IN = Member("web-g2-1", "running", IN_SERVICE)
FAILED_RUNNING = Member("web-g2-1", "running", PENDING, failed=True)
FAILED_OFF = Member("web-g2-1", "offline", PENDING, failed=True)

TABLE = [
    # (old, new, holders) -> step
    (None, None, (MISSING,), stateful.CREATE_VOLUMES),
    (OLD_IN, None, (OLD, MISSING), stateful.CREATE_VOLUMES),
    (None, None, (DETACHED,), stateful.CREATE_NEW),
    (OLD_IN, None, (OLD,), stateful.CREATE_NEW),
    (OLD_IN, NEW_PROVISIONING, (OLD,), stateful.STOP_NEW),
    (OLD_IN, NEW_RUNNING, (OLD,), stateful.STOP_NEW),
    (OLD_IN, NEW_OFF, (OLD,), stateful.DRAIN_OLD),
    (OLD_DRAINING, NEW_OFF, (OLD,), stateful.SHUTDOWN_OLD),
    (OLD_OFF, NEW_OFF, (OLD,), stateful.DETACH_OLD),
    (OLD_OFF, NEW_OFF, (OLD, DETACHED), stateful.DETACH_OLD),
    (OLD_OFF, NEW_OFF, (DETACHED,), stateful.ATTACH_NEW),
    (OLD_OFF, NEW_OFF, (NEW, DETACHED), stateful.ATTACH_NEW),
    (None, NEW_OFF, (DETACHED,), stateful.ATTACH_NEW),
    (OLD_OFF, NEW_OFF, (NEW,), stateful.BOOT_NEW),
    (OLD_OFF, Member("web-g2-1", "booting"), (NEW,), stateful.ADMIT_NEW),
    (OLD_OFF, NEW_RUNNING, (NEW,), stateful.ADMIT_NEW),
    (OLD_OFF, NEW_IN, (NEW,), stateful.DESTROY_OLD),
    (None, NEW_IN, (NEW,), stateful.DONE),
    # backwards, after a failed gate
    (OLD_OFF, FAILED_RUNNING, (NEW,), stateful.STOP_NEW),
    (OLD_OFF, FAILED_OFF, (NEW,), stateful.DETACH_NEW),
    (OLD_OFF, FAILED_OFF, (DETACHED,), stateful.ATTACH_OLD),
    (OLD_OFF, FAILED_OFF, (OLD,), stateful.BOOT_OLD),
    (OLD_BACK, FAILED_OFF, (OLD,), stateful.READMIT_OLD),
    (OLD_IN, FAILED_OFF, (OLD,), stateful.DISCARD_NEW),
    (OLD_IN, FAILED_RUNNING, (OLD,), stateful.STOP_NEW),  # it failed before the volumes moved: stop it first
    (None, FAILED_OFF, (DETACHED,), stateful.DISCARD_NEW),
    # what must never be acted on
    (OLD_IN, NEW_OFF, (ELSEWHERE,), stateful.BLOCKED),
    (OLD_OFF, NEW_IN, (DETACHED,), stateful.BLOCKED),
    (OLD_IN, NEW_IN, (OLD,), stateful.BLOCKED),
]


@pytest.mark.parametrize(("old", "new", "holders", "expected"), TABLE)
def test_next_step(old, new, holders, expected):
    assert next_step(SlotState(1, old, new, holders)).kind == expected


def test_a_volume_only_moves_while_the_new_server_is_offline():
    for old, new, holders, _ in TABLE:
        step = next_step(SlotState(1, old, new, holders)).kind
        if step in (stateful.ATTACH_NEW, stateful.DETACH_NEW, stateful.BOOT_NEW):
            assert new.status == "offline", (old, new, holders)
        if step in (stateful.DETACH_OLD, stateful.ATTACH_OLD):
            assert old.status == "offline" and new.status == "offline", (old, new, holders)


# --------------------------------------------------------------------------- the hand-off on fakes


def fleet_spec(port, count=2):
    return spec.parse({"immutable": {"linode": {"region": "us-east"}, "fleets": {"web": {
        "version": "2", "count": count, "bake": {"states": ["webapp"]}, "boot": {"states": ["webapp.secrets"]},
        "tests": {"http": {"port": port, "path": "/healthz"}},
        "nodebalancer": {"label": "web-lb", "port": 80, "drain_seconds": 5},
        "volumes": [{"name": "data", "size": 10, "mount": MOUNT}],
    }}}}).fleet("web")


class VolumeCloud(FakeCloud):
    """The fake cloud with volumes: a server sees (mounts) the volumes attached to it when it booted."""

    def __init__(self, clock):
        super().__init__(clock)
        self.volumes, self.mounted, self.markers = {}, {}, {}

    def add_slot(self, slot, label, version, generation, *svc, marker=True):
        server = self.add(label, version, generation, *svc)
        self.servers[server.id] = replace(server, tags=(*server.tags, f"slot:{slot}"))
        volume = self.create_volume(f"web-data-{slot}", 10, "us-east", tags=("immutable", "fleet:web", f"slot:{slot}"))
        self.volumes[volume.id] = replace(volume, linode_id=server.id)
        self.mounted[server.id] = {volume.id}
        if marker:
            self.markers[volume.id] = {"volume_id": volume.id, "slot": slot, "fleet": "web"}
        self.log.clear()
        return server

    def create_instance(self, label, region, type_, image, *, tags, user_data, booted=True, firewall_id=None):
        server = super().create_instance(label, region, type_, image, tags=tags, user_data=user_data,
                                         firewall_id=firewall_id)
        self.servers[server.id] = replace(self.servers[server.id], status="offline")
        config = json.loads(user_data.removeprefix("#cloud-config\n"))
        device = f"/dev/disk/by-id/scsi-0Linode_Volume_web-data-{label[-1]}"
        assert not booted and config["mounts"] == [[device, MOUNT, "ext4", "defaults,nofail", "0", "2"]]
        assert config["fs_setup"] == [{"device": device, "filesystem": "ext4", "partition": "none",
                                       "overwrite": False}]
        return server

    def get_instance(self, linode_id):
        return self.servers[linode_id]

    def shutdown(self, linode_id):
        super().shutdown(linode_id)
        self.mounted.pop(linode_id, None)

    def boot(self, linode_id):
        server = self.servers[linode_id]
        self.log.append(("boot", server.label))
        status = "offline" if server.label in self.boot_fails else "running"
        self.servers[linode_id] = replace(server, status=status)
        self.mounted[linode_id] = {v.id for v in self.volumes.values() if v.linode_id == linode_id}

    def update_node(self, nodebalancer_id, config_id, node_id, mode):
        label = next(label for label, node in self.nodes.items() if node.id == node_id)
        self.log.append((f"node {mode}", label))
        self.nodes[label] = replace(self.nodes[label], mode=mode)

    def delete_instance(self, linode_id):
        assert not [v for v in self.volumes.values() if v.linode_id == linode_id], "a Linode deleted with data"
        super().delete_instance(linode_id)

    def create_volume(self, label, size, region, *, tags=()):
        self.log.append(("create volume", label))
        self.next_id += 1
        self.volumes[self.next_id] = VolumeRef(self.next_id, label, size, region, "active", None,
                                               stateful.device_of(label), tuple(tags))
        return self.volumes[self.next_id]

    def wait_for_volume(self, volume_id, deadline):
        return self.volumes[volume_id]

    def get_volume(self, volume_id):
        return self.volumes[volume_id]

    def list_volumes(self, tags=()):
        return [v for v in self.volumes.values() if set(tags) <= set(v.tags)]

    def attach_volume(self, volume_id, linode_id):
        volume = self.volumes[volume_id]
        assert volume.linode_id is None, f"{volume.label} is attached to two Linodes"
        assert self.servers[linode_id].status == "offline", "a volume attached to a running Linode"
        self.log.append(("attach", volume.label, self.servers[linode_id].label))
        self.volumes[volume_id] = replace(volume, linode_id=linode_id)

    def detach_volume(self, volume_id):
        volume = self.volumes[volume_id]
        assert self.servers[volume.linode_id].status == "offline", "a volume detached from a running Linode"
        self.log.append(("detach", volume.label, self.servers[volume.linode_id].label))
        self.volumes[volume_id] = replace(volume, linode_id=None)

    def set_volume_tags(self, volume_id, tags):
        self.log.append(("tag volume", self.volumes[volume_id].label, tuple(tags)))
        self.volumes[volume_id] = replace(self.volumes[volume_id], tags=tuple(tags))

    def holder(self, slot):
        volume = next(v for v in self.volumes.values() if v.label == f"web-data-{slot}")
        return self.servers[volume.linode_id].label if volume.linode_id else None


class VolumeSalt(FakeSalt):
    """``immutable.volume_marker`` reads the marker of the volume the server mounted at its boot."""

    def call(self, minion_id, fun, arg=(), kwarg=None, timeout=300):
        if fun != "immutable.volume_marker" or (minion_id, fun) in self.fail:
            return super().call(minion_id, fun, arg, kwarg, timeout)
        server = next(s for s in self.cloud.servers.values() if s.label == minion_id)
        mounted = self.cloud.mounted.get(server.id, set())
        if not mounted:
            return {"mounted": False, "marker": None}, 0
        (volume_id,) = mounted
        if volume_id not in self.cloud.markers and (kwarg or {}).get("write"):
            self.cloud.markers[volume_id] = kwarg["write"]
        return {"mounted": True, "marker": self.cloud.markers.get(volume_id)}, 0


class Killed(BaseException):
    """The salt-run process killed between two steps."""


def world(app_port, fail=None, count=2, cloud=None, salt=None):
    clock = FakeClock(min_step=0.01)
    cloud = cloud or VolumeCloud(clock)
    cloud.port = app_port
    salt = salt or VolumeSalt(cloud, fail)
    balancer = NodesByLabel(NodeBalancerRef(1, "web-lb", "us-east", IP, None, ()),
                            NodeBalancerConfigRef(2, 1, 80, "http", "http", "/healthz", 5, 3, 2), app_port)
    lines = []
    job = roll.RollJob(fleet=fleet_spec(app_port, count), version="2", image=IMAGE, provider=cloud, salt=salt,
                       master_address=IP, master_port=4506, roll_id="r2", balancer=balancer,
                       progress=lines.append, clock=clock, sleep=clock.sleep)
    return cloud, salt, job, lines


def old_fleet(cloud, salt):
    for slot in (1, 2):
        cloud.add_slot(slot, f"web-g1-{slot}", "1", 1, "svc:in")
        salt.keys.add(f"web-g1-{slot}")
    cloud.log.clear()


def assert_slots_on(cloud, salt, labels, markers=True):
    """Each slot's volume on its server, which runs, is in service behind an accepting node, has its key;
    each volume's marker names it and its slot."""
    assert sorted(s.label for s in cloud.servers.values()) == sorted(labels)
    for slot, label in enumerate(labels, start=1):
        server = next(s for s in cloud.servers.values() if s.label == label)
        assert cloud.holder(slot) == label and server.status == "running"
        assert "svc:in" in server.tags and f"slot:{slot}" in server.tags and cloud.mounted[server.id]
        assert cloud.nodes[label].mode == "accept"
    assert salt.keys == set(labels)
    for volume_id, marker in cloud.markers.items() if markers else ():
        assert marker == {"volume_id": volume_id, "slot": int(cloud.volumes[volume_id].label[-1]), "fleet": "web"}


def test_a_first_roll_creates_each_slots_volume_and_writes_its_marker(app_port):
    cloud, salt, job, _ = world(app_port)
    stateful.StatefulRoll(job).converge()
    assert_slots_on(cloud, salt, ["web-g1-1", "web-g1-2"])
    assert len(cloud.markers) == 2
    assert cloud.log[:5] == [("create volume", "web-data-1"), ("create", "web-g1-1"),
                             ("attach", "web-data-1", "web-g1-1"), ("boot", "web-g1-1"), ("add node", "web-g1-1")]


def test_a_hand_off_moves_the_volume_offline_and_destroys_the_old_server_last(app_port):
    cloud, salt, job, lines = world(app_port)
    old_fleet(cloud, salt)
    stateful.StatefulRoll(job).converge()
    assert_slots_on(cloud, salt, ["web-g2-1", "web-g2-2"])
    first = cloud.log[: cloud.log.index(("delete key", "web-g1-1")) + 1]
    assert first == [
        ("create", "web-g2-1"), ("tag", "web-g1-1", ("svc:drain",)), ("node drain", "web-g1-1"),
        ("shutdown", "web-g1-1"), ("detach", "web-data-1", "web-g1-1"), ("attach", "web-data-1", "web-g2-1"),
        ("boot", "web-g2-1"), ("add node", "web-g2-1"), ("tag", "web-g2-1", ("svc:in",)),
        ("remove node", "web-g1-1"), ("delete", "web-g1-1"), ("delete key", "web-g1-1"),
    ]
    assert ("create", "web-g2-2") not in cloud.log[: cloud.log.index(("delete key", "web-g1-1"))]
    assert "[web→2] web-g2-1: volumes passed (0.0 s)" in lines
    assert [batch["actions"][0] for batch in job.batches] == ["slot 1: create new", "slot 2: create new"]


def test_a_failed_gate_gives_the_volume_back_to_the_old_server_which_serves_again(app_port):
    cloud, salt, job, lines = world(app_port, fail={("web-g2-2", "immutable.verify"): {"result": False,
                                                                                      "failures": ["saltcheck x"]}})
    old_fleet(cloud, salt)
    with pytest.raises(GateFailed) as failed:
        stateful.StatefulRoll(job).converge()
    assert (failed.value.server, failed.value.gate) == ("web-g2-2", "verify")
    assert_slots_on(cloud, salt, ["web-g2-1", "web-g1-2"])
    back = cloud.log[cloud.log.index(("boot", "web-g2-2")):]
    assert back == [
        ("boot", "web-g2-2"), ("tag", "web-g2-2", ("svc:failed",)), ("shutdown", "web-g2-2"),
        ("detach", "web-data-2", "web-g2-2"), ("attach", "web-data-2", "web-g1-2"), ("boot", "web-g1-2"),
        ("node accept", "web-g1-2"), ("tag", "web-g1-2", ("svc:in",)), ("delete", "web-g2-2"),
        ("delete key", "web-g2-2"),
    ]
    assert any("handing the slot back to web-g1-2" in line for line in lines)


def test_a_volume_whose_marker_names_another_volume_fails_the_gate(app_port):
    cloud, salt, job, _ = world(app_port)
    old_fleet(cloud, salt)
    first = next(iter(cloud.markers))
    cloud.markers[first] = {**cloud.markers[first], "volume_id": 999}
    with pytest.raises(GateFailed, match="web-g2-1 failed the volumes gate: volume web-data-1 on web-g2-1: "
                                         r"/srv/data/.immutable-volume says \{'volume_id': 999\}"):
        stateful.StatefulRoll(job).converge()
    assert_slots_on(cloud, salt, ["web-g1-1", "web-g1-2"], markers=False)


def test_an_old_server_that_cannot_be_deleted_stops_the_roll_but_the_new_one_keeps_serving(app_port):
    cloud, salt, job, _ = world(app_port)
    old_fleet(cloud, salt)
    delete = cloud.delete_instance

    def refuse(linode_id):
        raise ProviderError("delete instance", cloud.servers[linode_id].label, ["busy"], 503)

    cloud.delete_instance = refuse
    with pytest.raises(ProviderError, match="delete instance web-g1-1 failed"):
        stateful.StatefulRoll(job).converge()
    new = next(s for s in cloud.servers.values() if s.label == "web-g2-1")
    assert "svc:in" in new.tags and "svc:failed" not in new.tags and cloud.holder(1) == "web-g2-1"
    cloud.delete_instance = delete
    stateful.StatefulRoll(world(app_port, cloud=cloud, salt=salt)[2]).converge()
    assert_slots_on(cloud, salt, ["web-g2-1", "web-g3-2"])  # the rerun's new servers are a generation on


def test_a_failed_boot_of_a_slots_first_server_leaves_its_volume_detached_and_the_server_gone(app_port):
    cloud, _, job, _ = world(app_port, count=1)
    cloud.boot_fails.add("web-g1-1")
    with pytest.raises(GateFailed, match="web-g1-1 failed the running gate"):
        stateful.StatefulRoll(job).converge()
    assert cloud.servers == {} and cloud.holder(1) is None and len(cloud.volumes) == 1


FULL_ROLL_STEPS = 18  # 2 slots x (create new, drain, shut down, detach, attach, boot, admit, destroy) + margin


@pytest.mark.parametrize("killed_after", range(FULL_ROLL_STEPS))
def test_a_roll_killed_after_any_step_is_finished_by_the_next(app_port, killed_after):
    cloud, salt, job, _ = world(app_port)
    old_fleet(cloud, salt)
    with contextlib.suppress(Killed):
        DyingRoll(job, killed_after).converge()
    creates = [entry for entry in cloud.log if entry[0] == "create"]
    _, _, again, _ = world(app_port, cloud=cloud, salt=salt)
    stateful.StatefulRoll(again).converge()
    labels = sorted(s.label for s in cloud.servers.values())
    assert len(labels) == 2 and all(label.startswith(("web-g2-", "web-g3-")) for label in labels)
    assert_slots_on(cloud, salt, [next(s.label for s in cloud.servers.values() if f"slot:{n}" in s.tags)
                                  for n in (1, 2)])
    assert len([entry for entry in cloud.log if entry[0] == "create"]) == 2, creates


@pytest.mark.parametrize("killed_after", range(4, 14))
def test_a_roll_killed_while_handing_a_failed_slot_back_is_finished_by_the_next(app_port, killed_after):
    cloud, salt, job, _ = world(app_port)
    old_fleet(cloud, salt)
    cloud.boot_fails.add("web-g2-1")
    with pytest.raises((Killed, GateFailed)):
        DyingRoll(job, killed_after).converge()
    cloud.boot_fails.clear()
    _, _, again, _ = world(app_port, cloud=cloud, salt=salt)
    try:
        stateful.StatefulRoll(again).converge()
    except GateFailed as failed:  # the earlier roll's hand-off, finished backwards, still failed
        assert failed.server == "web-g2-1"
        stateful.StatefulRoll(world(app_port, cloud=cloud, salt=salt)[2]).converge()
    labels = [next(s.label for s in cloud.servers.values() if f"slot:{n}" in s.tags) for n in (1, 2)]
    assert all("version:2" in s.tags for s in cloud.servers.values())
    assert_slots_on(cloud, salt, labels)


def test_a_scale_down_removes_the_slots_server_and_keeps_its_volume_tagged_orphaned(app_port):
    cloud, salt, job, _ = world(app_port, count=1)
    cloud.add_slot(1, "web-g1-1", "2", 1, "svc:in")
    cloud.add_slot(2, "web-g1-2", "2", 1, "svc:in")
    salt.keys |= {"web-g1-1", "web-g1-2"}
    stateful.StatefulRoll(job).converge()
    assert_slots_on(cloud, salt, ["web-g1-1"])
    orphan = next(v for v in cloud.volumes.values() if v.label == "web-data-2")
    assert "orphaned" in orphan.tags and len(cloud.volumes) == 2
    assert ("node drain", "web-g1-2") in cloud.log and ("delete", "web-g1-2") in cloud.log


class DyingRoll(stateful.StatefulRoll):
    """A roll whose process dies (as a killed salt-run) before its ``steps + 1``-th step."""

    def __init__(self, job, steps):
        super().__init__(job)
        self.steps = steps

    def perform(self, kind, world, deadline):
        if self.steps == 0:
            raise Killed(f"killed before {kind}")
        self.steps -= 1
        super().perform(kind, world, deadline)
