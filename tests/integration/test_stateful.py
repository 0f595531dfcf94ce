"""``salt-run immutable.roll`` of a stateful fleet on the lab: a 2-slot fleet ``data`` whose servers each
hold a Block Storage volume. The tests run in order and share the fleet as it moves: 1.0.0 (first roll:
volumes created, markers written) → data written → 1.1.0 (every byte moves) → a roll to 1.0.0 whose second
hand-off fails (the slot goes back to its old server, the roll rolls back) → a roll to 1.0.0 killed in the
middle of a hand-off, finished by the next run.

The whole module is marked slow (about 6 minutes): ``make test-slow`` runs it.
"""

import json
import shutil
import signal
import time
import urllib.request

import pytest
import yaml

from salt_immutable import lab
from salt_immutable.master import SaltMaster
from tests.support.lab import LabHandle
from tests.support.saltconfig import REPO

pytestmark = pytest.mark.slow

FLEET = "data"
NB_LABEL = "data-lb"
MOUNT = "/var/lib/webapp-data"
DATA_FLEET = {
    "version": "1.0.0",
    "count": 2,
    "bake": {"states": ["examples.webapp"], "secrets": ["webapp:build_token"]},
    "boot": {"states": ["examples.webapp.secrets"]},
    "tests": {"saltcheck": ["examples.webapp"], "converge": True, "http": {"port": 8080, "path": "/healthz"}},
    "rollout": {"warmup": 1, "progress_deadline": 300},
    "nodebalancer": {"label": NB_LABEL, "port": 80, "drain_seconds": 1},
    "volumes": [{"name": "data", "size": 10, "mount": MOUNT}],
}
WRITE = (f"cd {MOUNT} && for n in 1 2 3; do head -c 200000 /dev/urandom > blob-$n; done && "
         "echo {label} > origin && sync")
CHECKSUMS = f"cd {MOUNT} && sha256sum blob-* origin"


@pytest.fixture(scope="module")
def data_lab(tmp_path_factory):
    root = tmp_path_factory.mktemp("stateful")
    pillar = root / "pillar"
    shutil.copytree(REPO / "pillar", pillar)
    top = (pillar / "top.sls").read_text()
    top += ("  '{{ builders(\"data\") }}':\n    - match: compound\n    - webapp.bake\n"
            "  '{{ booted(\"data\") }}':\n    - match: compound\n    - webapp.secrets\n")
    (pillar / "top.sls").write_text(top)
    info = lab.up(root / "lab", state_tree=REPO / "salt", pillar_tree=pillar, time_scale=0.01)
    handle = DataLab(root / "lab", info, pillar)
    handle.set_data()
    try:
        yield handle
    finally:
        lab.down(root / "lab")


class DataLab(LabHandle):
    def __init__(self, folder, info, pillar):
        super().__init__(folder, info)
        self.pillar = pillar
        self.master = SaltMaster(self.opts)

    def set_data(self, **settings):
        """Write the ``data`` fleet into the pillar (the master reads it again on every salt-run)."""
        path = self.pillar / "immutable.sls"
        spec = yaml.safe_load(path.read_text())
        spec["immutable"]["fleets"][FLEET] = {**DATA_FLEET, **settings}
        path.write_text(yaml.safe_dump(spec))

    def roll(self, *args):
        return self.verb("roll", f"fleet={FLEET}", *args)

    def servers(self):
        return self.provider.list_fleet(FLEET)

    def by_slot(self):
        """slot -> the fleet's server tagged with it (exactly one per slot)."""
        slots = {}
        for server in self.servers():
            slot = next(int(t.split(":")[1]) for t in server.tags if t.startswith("slot:"))
            assert slot not in slots, f"two servers in slot {slot}"
            slots[slot] = server
        return slots

    def volumes(self):
        return {v.label: v for v in self.provider.list_volumes(("immutable", f"fleet:{FLEET}"))}

    def checksums(self):
        """slot -> the checksums of the files on the volume its server mounts."""
        return {slot: self.run(server.label, CHECKSUMS) for slot, server in self.by_slot().items()}

    def run(self, label, command):
        out, _ = self.master.call(label, "cmd.run_all", [command], kwarg={"python_shell": True}, timeout=60)
        assert out["retcode"] == 0, f"{label}: {command}: {out}"
        return out["stdout"]

    def served_release(self):
        nodebalancer = self.provider.find_nodebalancer(NB_LABEL)
        (config,) = self.provider.list_nodebalancer_configs(nodebalancer.id)
        with urllib.request.urlopen(f"http://{nodebalancer.ipv4}:{config.port}/", timeout=5) as answer:
            return json.loads(answer.read())["release"]["version"]


def assert_fleet_holds_its_data(data_lab, version, checksums=None):
    """Two servers of ``version`` in service, each holding its slot's volume (and no other), serving."""
    slots = data_lab.by_slot()
    assert sorted(slots) == [1, 2]
    volumes = data_lab.volumes()
    for slot, server in slots.items():
        assert f"version:{version}" in server.tags and "svc:in" in server.tags and server.status == "running"
        assert volumes[f"{FLEET}-data-{slot}"].linode_id == server.id
    assert len(volumes) == 2 and not any("orphaned" in v.tags for v in volumes.values())
    if checksums is not None:
        assert data_lab.checksums() == checksums, "a byte of a volume was lost"
    assert {data_lab.served_release() for _ in range(4)} == {version}


def test_first_roll_creates_a_volume_per_slot_and_marks_it(data_lab):
    result, data = data_lab.roll()
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
    report = data["fleets"][FLEET]
    assert report["outcome"] == "succeeded" and sorted(report["created"]) == ["data-g1-1", "data-g1-2"]
    assert_fleet_holds_its_data(data_lab, "1.0.0")
    for slot, server in data_lab.by_slot().items():
        marker = json.loads(data_lab.run(server.label, f"cat {MOUNT}/.immutable-volume"))
        assert marker == {"fleet": FLEET, "slot": slot, "volume_id": data_lab.volumes()[f"{FLEET}-data-{slot}"].id}
    write_data(data_lab)


def write_data(data_lab):
    """A few random files on each slot's volume, written through its server."""
    for server in data_lab.by_slot().values():
        data_lab.run(server.label, WRITE.format(label=server.label))


def test_a_version_bump_moves_every_byte_to_the_new_servers(data_lab):
    before = data_lab.checksums()
    old = {s.label for s in data_lab.servers()}
    data_lab.set_data(version="1.1.0")
    result, plan = data_lab.roll("test=True")
    handoffs = [a for batch in plan["fleets"][FLEET]["batches"] for a in batch["actions"]]
    assert [(a["action"], a["slot"]) for a in handoffs] == [("hand-off", 1), ("hand-off", 2)]
    assert "shut down data-g1-1" in handoffs[0]["operations"]
    result, data = data_lab.roll()
    assert result.returncode == 0, result.stdout[-6000:]
    report = data["fleets"][FLEET]
    assert sorted(report["destroyed"]) == sorted(old) and report["peak_servers"] == 3
    assert not old & {s.label for s in data_lab.servers()}, "an old server is still there"
    assert_fleet_holds_its_data(data_lab, "1.1.0", before)


def test_a_failed_hand_off_gives_the_slot_back_to_its_old_server_with_its_data(data_lab):
    before = data_lab.checksums()
    kept = data_lab.by_slot()[2]
    data_lab.set_data(version="1.0.0")
    data_lab.control("POST", "boot-failures", count=1, skip=1)  # the second new server never boots
    result, data = data_lab.roll()
    assert result.returncode == 1, result.stdout[-6000:]
    report = data["fleets"][FLEET]
    assert report["failure"]["gate"] == "running" and report["failure"]["server"].endswith("-2")
    assert report["outcome"] == "rolled_back" and report["previous_version"] == "1.1.0"
    assert data_lab.by_slot()[2].id == kept.id, "slot 2 is not back on its old server"
    assert_fleet_holds_its_data(data_lab, "1.1.0", before)
    assert not [key for key in data_lab.accepted_keys() if key == report["failure"]["server"]]


def test_a_roll_killed_in_the_middle_of_a_hand_off_is_finished_with_the_data_intact(data_lab):
    if not data_lab.servers():  # run alone: first a fleet holding data
        assert data_lab.roll()[0].returncode == 0
        write_data(data_lab)
    running = {tag for s in data_lab.servers() for tag in s.tags if tag.startswith("version:")}
    target = "1.1.0" if running == {"version:1.0.0"} else "1.0.0"
    data_lab.set_data(version=target)
    before = data_lab.checksums()
    victim = data_lab.start_verb("roll", f"fleet={FLEET}")
    seen = None
    deadline = time.monotonic() + 300
    while not seen and time.monotonic() < deadline and victim.poll() is None:
        offline = [s.label for s in data_lab.servers() if f"version:{target}" in s.tags and s.status == "offline"]
        detached = [v.label for v in data_lab.volumes().values() if v.linode_id is None]
        seen = (detached and f"{detached} detached") or (offline and f"new {offline} offline")
        time.sleep(0.05)
    victim.send_signal(signal.SIGKILL)
    victim.communicate(timeout=60)
    assert seen, "the roll never showed a volume in transit"
    result, _ = data_lab.roll()
    assert result.returncode == 0, f"killed when {seen}: " + result.stdout[-6000:]
    assert_fleet_holds_its_data(data_lab, target, before)


def test_status_shows_which_server_holds_each_slots_volume(data_lab):
    status = data_lab.verb("status", f"fleet={FLEET}")[1]["fleets"][FLEET]
    holders = {slot: server.label for slot, server in data_lab.by_slot().items()}
    assert [(v["label"], v["slot"], v["attached_to"], v["orphaned"]) for v in status["volumes"]] == [
        (f"{FLEET}-data-1", "1", holders[1], False), (f"{FLEET}-data-2", "2", holders[2], False)]


def test_retire_removes_the_fleet_keeps_its_volumes_unless_told_and_then_deletes_them(data_lab):
    result, data = data_lab.verb("retire", f"fleet={FLEET}")
    assert result.returncode == 1 and "still wants 2 servers" in data["comment"]
    data_lab.set_data(count=0)
    result, data = data_lab.verb("retire", f"fleet={FLEET}")
    assert result.returncode == 0, result.stdout[-3000:]
    assert data_lab.servers() == [] and data_lab.provider.find_nodebalancer(NB_LABEL) is None
    assert not [key for key in data_lab.accepted_keys() if key.startswith(f"{FLEET}-")]
    volumes = data_lab.volumes()
    assert sorted(volumes) == [f"{FLEET}-data-1", f"{FLEET}-data-2"]
    assert all("orphaned" in v.tags and v.linode_id is None for v in volumes.values())
    result, data = data_lab.verb("retire", f"fleet={FLEET}", "delete_volumes=True")
    assert result.returncode == 0 and data["volumes_deleted"] == sorted(volumes)
    assert data_lab.volumes() == {}
