"""immutable.retire on a fake cloud: what goes, what stays, and nothing touched that is not the fleet's."""

import pytest

from salt_immutable import fleetops, retire
from salt_immutable import lock as locking
from salt_immutable.deadline import Deadline
from salt_immutable.errors import LockHeld
from salt_immutable.model import FirewallRef, NodeBalancerRef, ObservedServer, VolumeRef

FLEET_TAGS = ("immutable", "fleet:db")


def linode(id_, label, tags=FLEET_TAGS):
    return ObservedServer(id_, label, "running", tags, ("127.0.1.1",), "127.0.1.1", "us-east", "g6-standard-1",
                          "private/1", None)


class Cloud:
    def __init__(self):
        self.linodes = [linode(1, "db-g2-1"), linode(2, "db-g2-2"), linode(3, "db-1.0-build"),
                        linode(4, "web-g1-1", ("immutable", "fleet:web"))]
        self.balancers = [NodeBalancerRef(7, "db-lb", "us-east", "127.0.9.1", None, FLEET_TAGS),
                          NodeBalancerRef(8, "adopted", "us-east", "127.0.9.2", None, ())]
        self.volumes = {10: VolumeRef(10, "db-data-1", 10, "us-east", "active", 1, "/dev/x", FLEET_TAGS),
                        11: VolumeRef(11, "db-data-2", 10, "us-east", "active", 2, "/dev/y", FLEET_TAGS),
                        12: VolumeRef(12, "web-logs-1", 10, "us-east", "active", 4, "/dev/z",
                                      ("immutable", "fleet:web"))}
        self.firewalls = [FirewallRef(20, "db-fw", "enabled", FLEET_TAGS), FirewallRef(21, "prod-fw", "enabled", ())]
        self.log, self.poll_interval = [], 0.01

    def deadline(self, seconds):
        return Deadline(seconds)

    def list_fleet(self, fleet):
        return [s for s in self.linodes if f"fleet:{fleet}" in s.tags]

    def list_nodebalancers(self, tags=()):
        return [b for b in self.balancers if set(tags) <= set(b.tags)]

    def list_firewalls(self, tags=()):
        return [f for f in self.firewalls if set(tags) <= set(f.tags)]

    def delete_firewall(self, firewall_id):
        self.log.append(("delete firewall", firewall_id))

    def list_volumes(self, tags=()):
        return [v for v in self.volumes.values() if set(tags) <= set(v.tags)]

    def get_volume(self, volume_id):
        return self.volumes[volume_id]

    def delete_nodebalancer(self, nodebalancer_id):
        self.log.append(("delete nodebalancer", nodebalancer_id))

    def delete_instance(self, linode_id):
        self.log.append(("delete linode", linode_id))
        for volume in self.volumes.values():  # the API detaches a deleted Linode's volumes
            if volume.linode_id == linode_id:
                self.volumes[volume.id] = VolumeRef(**{**volume.__dict__, "linode_id": None})

    def delete_volume(self, volume_id):
        assert self.volumes[volume_id].linode_id is None, "a volume is deleted only once detached"
        self.log.append(("delete volume", volume_id))

    def set_volume_tags(self, volume_id, tags):
        self.log.append(("tag volume", volume_id, tuple(tags)))


class Salt:
    def __init__(self):
        self.keys = {"db-g2-1", "db-g2-2", "db-g1-9", "web-g1-1"}

    def key_ids(self):
        return sorted(self.keys)

    def delete_key(self, minion_id):
        self.keys.discard(minion_id)


@pytest.fixture
def world(tmp_path):
    cloud, salt, lines = Cloud(), Salt(), []
    ctx = fleetops.Context(provider=cloud, salt=salt, master_address="127.0.0.1", master_port=4506,
                           folder=str(tmp_path), bake=None, progress=lines.append, sleep=lambda _: None)
    return ctx, cloud, salt


def test_test_mode_lists_everything_of_the_fleet_and_changes_nothing(world):
    ctx, cloud, salt = world
    found = retire.retire_fleet(ctx, "db", test=True)
    assert found["linodes"] == ["db-1.0-build", "db-g2-1", "db-g2-2"]
    assert found["minion_keys"] == ["db-g1-9", "db-g2-1", "db-g2-2"]  # db-g1-9: a key whose Linode is gone
    assert found["nodebalancers"] == ["db-lb"] and found["volumes_kept"] == ["db-data-1", "db-data-2"]
    assert found["firewalls"] == ["db-fw"], "the managed firewall, not an adopted one"
    assert cloud.log == [] and "db-g2-1" in salt.keys


def test_retire_keeps_the_volumes_tagged_orphaned_and_touches_no_other_fleet_and_deletes_the_firewall_last(world):
    ctx, cloud, salt = world
    result = retire.retire_fleet(ctx, "db")
    assert result["changed"] is True
    assert cloud.log == [("delete nodebalancer", 7), ("delete linode", 1), ("delete linode", 2),
                         ("delete linode", 3), ("delete firewall", 20), ("tag volume", 10, (*FLEET_TAGS, "orphaned")),
                         ("tag volume", 11, (*FLEET_TAGS, "orphaned"))]
    assert salt.keys == {"web-g1-1"}


def test_retire_with_delete_volumes_deletes_them_once_detached(world):
    ctx, cloud, _ = world
    result = retire.retire_fleet(ctx, "db", delete_volumes=True)
    assert result["volumes_deleted"] == ["db-data-1", "db-data-2"]
    assert [entry for entry in cloud.log if entry[0] == "delete volume"] == [("delete volume", 10),
                                                                           ("delete volume", 11)]
    assert 12 in cloud.volumes and ("delete linode", 4) not in cloud.log


def test_retire_waits_for_no_one_while_a_roll_holds_the_fleet(world):
    ctx, cloud, _ = world
    with locking.FleetLock(ctx.folder, "db", "roll").acquire(), pytest.raises(LockHeld):
        retire.retire_fleet(ctx, "db")
    assert cloud.log == []
