"""The roll's reconciler against a fake cloud and a fake Salt (no daemons, no API): order of effects,
failure handling, quarantine, resuming a killed roll, orphaned keys and the progress deadline."""

from dataclasses import replace

import pytest

from salt_immutable import roll, spec
from salt_immutable.deadline import Deadline
from salt_immutable.errors import CheckFailed, CheckpointFailed, GateFailed, ProviderTimeout
from salt_immutable.model import ImageRef, NodeBalancerConfigRef, NodeBalancerNode, NodeBalancerRef, ObservedServer
from tests.support.clock import FakeClock
from tests.unit.conftest import IP


def fleet_spec(port, **rollout):
    return spec.parse({"immutable": {"linode": {"region": "us-east"}, "fleets": {"web": {
        "version": "2", "count": 3, "bake": {"states": ["webapp"]}, "boot": {"states": ["webapp.secrets"]},
        "tests": {"http": {"port": port, "path": "/healthz"}},
        "rollout": {"max_surge": 1, "max_unavailable": 0, **rollout},
        "nodebalancer": {"label": "web-lb", "port": 80, "drain_seconds": 5},
    }}}}).fleet("web")


IMAGE = ImageRef("private/9", "web-2", "available", 1, ("immutable", "fleet:web", "version:2", "proven"), "",
                 None, ("cloud-init",), False)


class FakeCloud:
    """Linodes and the nodes of one NodeBalancer config; every mutating call is logged in order."""

    poll_interval = 1.0

    def __init__(self, clock):
        self.clock, self.servers, self.nodes, self.log, self.next_id = clock, {}, {}, [], 100
        self.boot_fails, self.outside_firewall, self.firewall_devices, self.firewall = set(), set(), set(), None
        self.slow_deletes = False

    def deadline(self, seconds):
        return Deadline(seconds, self.clock)

    def add(self, label, version, generation, *svc, status="running"):
        self.next_id += 1
        tags = ("immutable", "fleet:web", f"version:{version}", f"gen:{generation}", "roll:old", *svc)
        self.servers[self.next_id] = ObservedServer(self.next_id, label, status, tags, (IP,), IP, "us-east",
                                                    "g6-standard-1", None, None)
        if "svc:in" in svc or "svc:drain" in svc:
            self.create_node(1, 2, label, f"{label}:{IP}:{self.port}", mode="drain" if "svc:drain" in svc else "accept")
        return self.servers[self.next_id]

    def list_fleet(self, fleet):
        return list(self.servers.values())

    def list_nodes(self, nodebalancer_id, config_id):
        return list(self.nodes.values())

    def create_instance(self, label, region, type_, image, *, tags, user_data, booted=True, firewall_id=None):
        self.log.append(("create", label))
        self.next_id += 1
        status = "offline" if label in self.boot_fails else "running"
        self.servers[self.next_id] = ObservedServer(self.next_id, label, status, tuple(tags), (IP,), IP, region,
                                                    type_, image, None)
        if firewall_id is not None and label not in self.outside_firewall:
            self.firewall_devices.add(self.next_id)
        return replace(self.servers[self.next_id], status="provisioning")

    def instance_firewalls(self, linode_id):
        return [self.firewall] if linode_id in self.firewall_devices else []

    def wait_for_status(self, linode_id, wanted, deadline, moving=False):
        server = self.servers[linode_id]
        if server.status != wanted:
            raise CheckFailed(f"{server.label} came to rest {server.status}")
        return server

    def set_instance_tags(self, linode_id, tags):
        self.log.append(("tag", self.servers[linode_id].label, tuple(t for t in tags if t.startswith(("svc", "q")))))
        self.servers[linode_id] = replace(self.servers[linode_id], tags=tuple(tags))

    def create_node(self, nodebalancer_id, config_id, label, address, mode="accept"):
        self.log.append(("add node", label))
        node = NodeBalancerNode(len(self.nodes) + 1, config_id, nodebalancer_id, label, address, mode, "UP", 100)
        self.nodes[label] = node
        return node

    def update_node(self, nodebalancer_id, config_id, node_id, mode):
        label = next(label for label, node in self.nodes.items() if node.id == node_id)
        self.log.append(("drain node", label))
        self.nodes[label] = replace(self.nodes[label], mode=mode)

    def delete_node(self, nodebalancer_id, config_id, node_id):
        label = next(label for label, node in self.nodes.items() if node.id == node_id)
        self.log.append(("remove node", label))
        del self.nodes[label]

    def delete_instance(self, linode_id):
        assert self.servers[linode_id].status != "deleting", f"{self.servers[linode_id].label} deleted twice"
        self.log.append(("delete", self.servers[linode_id].label))
        if self.slow_deletes:  # listed as deleting for a while, as the API does
            self.servers[linode_id] = replace(self.servers[linode_id], status="deleting")
        else:
            del self.servers[linode_id]

    def shutdown(self, linode_id):
        self.log.append(("shutdown", self.servers[linode_id].label))
        self.servers[linode_id] = replace(self.servers[linode_id], status="offline")


class FakeSalt:
    def __init__(self, cloud, fail=None):
        self.cloud, self.fail, self.keys = cloud, fail or {}, set()
        self.answers, self.awaited = [], []  # checkpoint answers to give, in order; what was awaited

    def await_event(self, tag, matches, timeout, before=None):
        """A checkpoint's wait: ``before`` runs first; the next queued answer (None: the timeout)."""
        self.awaited.append((tag, timeout, sorted(s.label for s in self.cloud.servers.values())))
        if before is not None:
            before()
        answer = self.answers.pop(0) if self.answers else None
        if answer is not None and not matches(answer):
            return None  # another roll's answer: this one times out
        self.cloud.clock.sleep(timeout if answer is None else 1)
        return answer

    def accept_new_key(self, minion_id):
        self.keys.add(minion_id)
        return {"pub": "PUB", "priv": "PRIV"}

    def delete_key(self, minion_id):
        self.keys.discard(minion_id)
        self.cloud.log.append(("delete key", minion_id))

    def key_ids(self):
        return sorted(self.keys)

    def wait_for_minion(self, minion_id, deadline):
        pass

    def call(self, minion_id, fun, arg=(), kwarg=None, timeout=300):
        if (minion_id, fun) in self.fail:
            return self.fail[(minion_id, fun)], 1
        answers = {"state.apply": {"a": {"result": True, "__id__": "a"}}, "immutable.verify": {"result": True},
                   "immutable.release": None}
        return answers.get(fun, True), 0


class NodesByLabel(roll.Balancer):
    """The fake keys nodes by label (all fake servers share one address)."""

    def address(self, server):
        return f"{server.label}:{IP}:{self.backend_port}"


def world(app_port, fail=None, **rollout):
    clock = FakeClock(min_step=0.01)
    cloud = FakeCloud(clock)
    cloud.port = app_port
    salt = FakeSalt(cloud, fail)
    balancer = NodesByLabel(NodeBalancerRef(1, "web-lb", "us-east", IP, None, ()),
                            NodeBalancerConfigRef(2, 1, 80, "http", "http", "/healthz", 5, 3, 2), app_port)
    lines = []
    job = roll.RollJob(fleet=fleet_spec(app_port, **rollout), version="2", image=IMAGE, provider=cloud, salt=salt,
                       master_address=IP, master_port=4506, roll_id="r2", balancer=balancer,
                       progress=lines.append, clock=clock, sleep=clock.sleep)
    return cloud, salt, job, lines


def old_fleet(cloud, salt):
    for index in (1, 2, 3):
        cloud.add(f"web-g1-{index}", "1", 1, "svc:in")
        salt.keys.add(f"web-g1-{index}")
    cloud.log.clear()


def test_a_roll_replaces_every_server_adding_before_it_takes_away(app_port):
    cloud, salt, job, lines = world(app_port)
    old_fleet(cloud, salt)
    roll.Roll(job).converge()
    assert sorted(s.label for s in cloud.servers.values()) == ["web-g2-1", "web-g2-2", "web-g2-3"]
    assert all("svc:in" in s.tags and "version:2" in s.tags for s in cloud.servers.values())
    assert salt.keys == {"web-g2-1", "web-g2-2", "web-g2-3"}
    assert job.peak == 4 and job.created == ["web-g2-1", "web-g2-2", "web-g2-3"]
    first = cloud.log[: cloud.log.index(("delete key", "web-g1-1")) + 1]
    assert first == [
        ("create", "web-g2-1"), ("add node", "web-g2-1"), ("tag", "web-g2-1", ("svc:in",)),
        ("tag", "web-g1-1", ("svc:drain",)), ("drain node", "web-g1-1"), ("remove node", "web-g1-1"),
        ("delete", "web-g1-1"), ("delete key", "web-g1-1"),
    ]
    assert "[web→2] web-g2-1: nodebalancer passed (0.0 s)" in lines


def test_a_linode_still_being_deleted_is_gone_for_the_roll_and_never_drained_twice(app_port):
    cloud, salt, job, _ = world(app_port)
    cloud.slow_deletes = True
    old_fleet(cloud, salt)
    roll.Roll(job).converge()
    deletes = [label for kind, label, *_ in cloud.log if kind == "delete"]
    assert deletes == ["web-g1-1", "web-g1-2", "web-g1-3"]
    assert [entry for entry in cloud.log if entry[0] == "drain node"] == [("drain node", f"web-g1-{n}")
                                                                         for n in (1, 2, 3)]
    assert len(job.batches) == 6


def test_a_failed_gate_removes_the_server_and_its_key_and_stops(app_port):
    cloud, salt, job, _ = world(app_port, fail={("web-g2-2", "immutable.verify"): {"result": False,
                                                                                    "failures": ["saltcheck x"]}})
    old_fleet(cloud, salt)
    with pytest.raises(GateFailed) as failed:
        roll.Roll(job).converge()
    assert (failed.value.server, failed.value.gate) == ("web-g2-2", "verify")
    assert "saltcheck x" in failed.value.cause
    assert sorted(s.label for s in cloud.servers.values()) == ["web-g1-2", "web-g1-3", "web-g2-1"]
    assert "web-g2-2" not in salt.keys and ("create", "web-g2-3") not in cloud.log


def test_quarantine_stops_and_tags_the_failed_server_and_keeps_its_key(app_port):
    cloud, salt, job, _ = world(app_port)
    job.quarantine = True
    cloud.boot_fails.add("web-g2-1")
    old_fleet(cloud, salt)
    with pytest.raises(GateFailed, match="web-g2-1 failed the running gate"):
        roll.Roll(job).converge()
    quarantined = next(s for s in cloud.servers.values() if s.label == "web-g2-1")
    assert "quarantine" in quarantined.tags and quarantined.status == "offline" and "web-g2-1" in salt.keys
    assert sum(1 for s in cloud.servers.values() if "svc:in" in s.tags) == 3


def test_a_killed_roll_is_resumed_without_duplicates(app_port):
    cloud, salt, job, _ = world(app_port)
    cloud.add("web-g1-1", "1", 1, "svc:drain")  # killed while draining
    cloud.add("web-g1-2", "1", 1, "svc:in")
    cloud.add("web-g1-3", "1", 1, "svc:in")
    cloud.add("web-g2-1", "2", 2, "svc:in")
    cloud.add("web-g2-2", "2", 2)  # killed before its gates were through
    salt.keys |= {"web-g1-1", "web-g1-2", "web-g1-3", "web-g2-1", "web-g2-2", "web-g2-3"}  # g2-3: no Linode
    roll.Roll(job).converge()
    assert sorted(s.label for s in cloud.servers.values()) == ["web-g2-1", "web-g2-2", "web-g3-1"]
    assert [entry for entry in cloud.log if entry[0] == "create"] == [("create", "web-g3-1")]
    assert ("delete key", "web-g2-3") in cloud.log and salt.keys == {"web-g2-1", "web-g2-2", "web-g3-1"}


def test_an_unhealthy_new_server_holds_the_old_fleet_until_the_progress_deadline(app_port):
    cloud, salt, job, lines = world(app_port, progress_deadline=60)
    old_fleet(cloud, salt)
    cloud.add("web-g2-1", "2", 2, "svc:in")
    cloud.nodes["web-g2-1"] = replace(cloud.nodes["web-g2-1"], status="DOWN")
    with pytest.raises(ProviderTimeout, match="no progress: web-g2-1 in service but unhealthy"):
        roll.Roll(job).converge()
    assert [entry for entry in cloud.log if entry[0] in ("create", "delete", "drain node")] == []
    assert any("waiting: web-g2-1 in service but unhealthy" in line for line in lines)


def test_orphan_keys_are_only_those_named_like_servers_with_no_linode():
    linodes = [ObservedServer(1, "web-g1-1", "running", (), (), None, None, None, None, None)]
    keys = ["web-g1-1", "web-g1-2", "web-1.0.0-build", "webby-g1-1", "web-g12-30", "db-g1-1"]
    assert roll.orphan_keys(keys, "web", linodes) == ["web-g1-2", "web-g12-30"]


def test_a_fleet_linode_without_a_version_tag_counts_as_unknown():
    untagged = ObservedServer(1, "web-g1-1", "running", ("immutable", "fleet:web", "svc:in"), (IP,), IP, None,
                              None, None, None)
    snapshot = roll.Snapshot((untagged,), {}, None)
    assert snapshot.versions() == {"unknown": 1}
    assert snapshot.view()[0].version is None  # the planner replaces it like any old server


# --- approval checkpoints ----------------------------------------------------------------------------


def checkpointed(app_port, *answers, checkpoints=(1,)):
    cloud, salt, job, lines = world(app_port, checkpoints=list(checkpoints), checkpoint_timeout=60)
    job.checkpoints = tuple(checkpoints)
    fired = []
    job.fire = lambda tag, data: fired.append((tag, data))
    old_fleet(cloud, salt)
    salt.answers = list(answers)
    return cloud, salt, job, lines, fired


def test_a_checkpoint_pauses_after_its_batch_until_approved_then_the_roll_goes_on(app_port):
    cloud, salt, job, lines, fired = checkpointed(app_port, {"roll_id": "r2", "approved": True, "user": "bob"})
    roll.Roll(job).converge()
    ((tag, timeout, servers),) = salt.awaited
    assert tag == "salt/immutable/web/roll/approval" and timeout == 60
    assert servers == ["web-g1-1", "web-g1-2", "web-g1-3", "web-g2-1"], "paused once the first new one serves"
    (asked,) = [data for tag, data in fired if tag.endswith("/checkpoint")]
    assert asked["batch"] == 1 and asked["approve"] == "salt-run immutable.approve fleet=web roll_id=r2"
    assert sorted(s.label for s in cloud.servers.values()) == ["web-g2-1", "web-g2-2", "web-g2-3"]
    assert "[web→2] checkpoint after batch 1: approved by bob, going on" in lines
    kinds = [event["event"] for event in job.timeline.events if event["server"] is None]
    assert kinds[:4] == ["batch", "checkpoint", "approved", "batch"]


@pytest.mark.parametrize("answer, cause", [
    (None, "checkpoint after batch 1: not approved within 60 s"),
    ({"roll_id": "r2", "approved": False, "user": "bob"}, "checkpoint after batch 1: rejected by bob"),
    ({"roll_id": "another", "approved": True}, "checkpoint after batch 1: not approved within 60 s"),
    ({"roll_id": "r2", "approved": True, "id": "web-g2-1", "cmd": "_minion_event"},
     "checkpoint after batch 1: not approved within 60 s"),
])
def test_a_checkpoint_not_approved_fails_the_roll_like_a_gate_and_goes_no_further(app_port, answer, cause):
    cloud, _salt, job, _, _ = checkpointed(app_port, answer)
    with pytest.raises(CheckpointFailed) as failed:
        roll.Roll(job).converge()
    assert str(failed.value) == cause and isinstance(failed.value, GateFailed)
    assert (failed.value.server, failed.value.gate) == (None, "checkpoint")
    assert sorted(s.label for s in cloud.servers.values()) == ["web-g1-1", "web-g1-2", "web-g1-3", "web-g2-1"]
    assert ("create", "web-g2-2") not in cloud.log and ("drain node", "web-g1-1") not in cloud.log


def test_a_checkpoint_after_the_last_batch_asks_nothing(app_port):
    _cloud, salt, job, _, fired = checkpointed(app_port, checkpoints=(6, 7))
    roll.Roll(job).converge()
    assert len(job.batches) == 6 and salt.awaited == [] and not any(t.endswith("/checkpoint") for t, _ in fired)


def test_the_timeline_records_each_server_from_creation_to_destruction(app_port):
    _, _, job, _ = world(app_port)
    cloud = job.provider
    old_fleet(cloud, job.salt)
    roll.Roll(job).converge()
    new = [(e["event"], e.get("gate")) for e in job.timeline.events if e["server"] == "web-g2-1"]
    assert new == [("created", None), ("gate", "running"), ("gate", "minion"), ("gate", "boot states"),
                   ("gate", "verify"), ("gate", "release"), ("gate", "http"), ("gate", "nodebalancer"),
                   ("in_service", None)]
    old = [e["event"] for e in job.timeline.events if e["server"] == "web-g1-1"]
    assert old == ["draining", "destroyed"]
    times = [e["at"] for e in job.timeline.events]
    assert times == sorted(times) and times[0] >= 0
