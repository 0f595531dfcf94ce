"""``salt-run immutable.roll`` on the lab: a real master, the emulator with namespace machines, a real
NodeBalancer proxy, a 3-server fleet. The tests run in order and share the fleet as it moves:
1.0.0 (first roll) → 1.1.0 under load → rollback to 1.0.0 → a killed roll to 1.1.0, finished → a failing
roll to 1.0.0, rolled back to 1.1.0.
"""

import copy
import json
import secrets
import shutil
import signal
import subprocess
import time
import urllib.request
from pathlib import Path
from xml.etree import ElementTree

import pytest
import requests
import yaml
from linode_api4 import LinodeClient

from salt_immutable import lab
from salt_immutable.demo import LoadGenerator
from salt_immutable.master import SaltMaster
from tests.support.lab import BIN, LabHandle, WebhookReceiver
from tests.support.saltconfig import REPO

FLEET = "web"
NB_LABEL = "web-lb"
FIREWALL = {"label": "web-fw", "rules": {"inbound": [
    {"protocol": "TCP", "ports": "22", "addresses": {"ipv4": ["203.0.113.0/24"]}, "label": "ssh-office"}]}}
ROLL_TIMEOUT = 600
APPROVAL_SECRET = secrets.token_hex(16)
PLAIN_ROLLOUT = {"max_surge": 1, "max_unavailable": 0}
# For the tests about what a roll ends with (not how it batches): every new server at once, in one batch.
WIDE_ROLLOUT = {"max_surge": 3, "max_unavailable": 0}
# Clients sending through the NodeBalancer during the roll under load: together at least 20 requests/s.
LOAD_CLIENTS = 2


@pytest.fixture(scope="module")
def roll_lab(tmp_path_factory):
    root = tmp_path_factory.mktemp("roll")
    pillar = root / "pillar"
    shutil.copytree(REPO / "pillar", pillar)
    with WebhookReceiver() as webhook:
        reactor = {"immutable_reactor": {"webhook": webhook.url, "approval_secret": APPROVAL_SECRET}}
        info = lab.up(root / "lab", state_tree=REPO / "salt", pillar_tree=pillar, time_scale=0.01,
                      extra_config=reactor)
        handle = RollLab(root / "lab", info, pillar, webhook)
        handle.set_web(version="1.0.0", linode={"firewall": FIREWALL})
        try:
            yield handle
        finally:
            lab.down(root / "lab")


class RollLab(LabHandle):
    def __init__(self, folder, info, pillar, webhook):
        super().__init__(folder, info)
        self.pillar, self.webhook = pillar, webhook

    def set_web(self, **settings):
        """Rewrite the web fleet of the pillar (the master reads it again on every salt-run)."""
        path = self.pillar / "immutable.sls"
        data = yaml.safe_load(path.read_text())
        web = data["immutable"]["fleets"][FLEET]
        web.update(copy.deepcopy(settings))
        web["rollout"].update(warmup=1, progress_deadline=300)
        web["nodebalancer"].update(drain_seconds=1)
        path.write_text(yaml.safe_dump(data))

    def roll(self, *args):
        return self.verb("roll", f"fleet={FLEET}", *args)

    def servers(self):
        return [s for s in self.provider.list_fleet(FLEET)]

    def versions(self):
        return sorted(tag.split(":", 1)[1] for s in self.servers() for tag in s.tags if tag.startswith("version:"))

    def nodebalancer(self):
        nodebalancer = self.provider.find_nodebalancer(NB_LABEL)
        (config,) = self.provider.list_nodebalancer_configs(nodebalancer.id)
        return nodebalancer, config

    def front_url(self):
        nodebalancer, config = self.nodebalancer()
        return f"http://{nodebalancer.ipv4}:{config.port}/"

    def served_release(self):
        with urllib.request.urlopen(self.front_url(), timeout=5) as answer:
            return json.loads(answer.read())["release"]["version"]

    def events(self, action):
        """The account's events of ``action``."""
        answer = requests.get(f"{self.api_url}/account/events", params={"page_size": 500}, timeout=10,
                              headers={"Authorization": f"Bearer {self.opts['immutable']['linode_token']}"})
        answer.raise_for_status()
        return [event for event in answer.json()["data"] if event["action"] == action]

    def fleet_keys(self):
        return sorted(key for key in self.accepted_keys() if key.startswith(f"{FLEET}-g"))

    def lock_file(self):
        return Path(self.opts["cachedir"]) / "immutable" / "locks" / f"{FLEET}.json"


def assert_fleet_runs(roll_lab, version):
    servers = roll_lab.servers()
    assert roll_lab.versions() == [version] * 3
    assert all("svc:in" in s.tags and s.status == "running" for s in servers)
    labels = sorted(s.label for s in servers)
    assert roll_lab.fleet_keys() == labels, "a key without a server, or a server without its key"
    nodebalancer, config = roll_lab.nodebalancer()
    nodes = roll_lab.provider.list_nodes(nodebalancer.id, config.id)
    assert sorted(n.label for n in nodes) == labels
    assert {(n.mode, n.status) for n in nodes} == {("accept", "UP")}
    assert {roll_lab.served_release() for _ in range(6)} == {version}


def assert_every_linode_was_created_behind_the_firewall(roll_lab, progress):
    """The managed firewall exists with its rules; the builder, the candidate and every server became its
    devices by their create (``firewall_id``: no device was added afterwards) and passed the firewall gate."""
    made = roll_lab.provider.find_firewall("web-fw")
    assert made is not None and made.status == "enabled" and {"immutable", "fleet:web"} <= set(made.tags)
    rules = roll_lab.provider.firewall_rules(made.id)
    assert rules["inbound_policy"] == "DROP"
    inbound = {r["label"]: (r["ports"], r["addresses"]["ipv4"]) for r in rules["inbound"]}
    assert inbound["immutable-nodebalancer"] == ("8080", ["192.168.255.0/24"])
    assert inbound["immutable-http-gate"] == ("8080", [f"{roll_lab.opts['interface']}/32"])
    assert inbound["ssh-office"] == ("22", ["203.0.113.0/24"])
    created = sorted(event["entity"]["label"] for event in roll_lab.events("linode_create"))
    added = sorted(event["secondary_entity"]["label"] for event in roll_lab.events("firewall_device_add"))
    assert created == ["web-1.0.0-build", "web-1.0.0-proof", "web-g1-1", "web-g1-2", "web-g1-3"]
    assert added == created
    assert not [r for r in roll_lab.mutating_requests() if r["route"].endswith("/devices")], "attached afterwards"
    assert roll_lab.provider.firewall_linode_ids(made.id) == {s.id for s in roll_lab.servers()}
    assert "web-1.0.0-build is behind Cloud Firewall web-fw" in progress
    assert all(f"web-g1-{n}: firewall passed" in progress for n in (1, 2, 3)), progress[-3000:]


def test_the_roll_orchestration_bakes_rolls_and_prunes_three_servers_behind_a_managed_nodebalancer(roll_lab):
    result, states = roll_lab.orch("orch.immutable.roll", {"fleet": FLEET})
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    assert list(states) == ["immutable-web-image", "immutable-web-servers", "immutable-web-images"]
    assert all(state["result"] is True for state in states.values()), states
    baked = states["immutable-web-image"]["changes"]["baked"]
    assert baked["label"] == "web-1.0.0" and set(baked["timings"]) >= {"builder", "seal", "capture", "prove"}
    replaced = states["immutable-web-servers"]["changes"]["replaced"]
    assert replaced["outcome"] == "succeeded" and replaced["from"] == [] and replaced["to"] == "1.0.0"
    assert sorted(replaced["created"]) == ["web-g1-1", "web-g1-2", "web-g1-3"] and replaced["destroyed"] == []
    assert states["immutable-web-images"]["changes"] == {}, "one image: nothing to prune"
    assert "proven" in roll_lab.provider.find_image("web-1.0.0").tags
    assert_fleet_runs(roll_lab, "1.0.0")
    master = SaltMaster(roll_lab.opts)
    pinned = {server: master.call(server, "config.get", ["master_finger"])[0] for server in replaced["created"]}
    assert set(pinned.values()) == {master.master_finger()}, "each server's minion pins this master's key"
    progress = result.stderr
    assert "[web@1.0.0] sealing web-1.0.0-build" in progress and "web-g1-1: in service" in progress, progress[-3000:]
    token = roll_lab.opts["immutable"]["linode_token"]
    assert "PRIVATE KEY" not in result.stdout + result.stderr and token not in result.stdout + result.stderr
    assert_every_linode_was_created_behind_the_firewall(roll_lab, progress)

    again, states = roll_lab.orch("orch.immutable.roll", {"fleet": FLEET}, "test=True")
    assert again.returncode == 0 and {state["result"] for state in states.values()} == {True}
    assert [state["changes"] for state in states.values()] == [{}, {}, {}]


def test_version_bump_under_load_waits_at_its_checkpoint_for_the_webhook_approval_and_a_concurrent_roll_refuses(
        roll_lab, tmp_path):
    roll_lab.set_web(version="1.1.0", rollout={**PLAIN_ROLLOUT, "checkpoints": [1], "checkpoint_timeout": 300})
    old = {s.label for s in roll_lab.servers()}
    loads = [LoadGenerator(roll_lab.front_url()) for _ in range(LOAD_CLIENTS)]
    started = time.monotonic()
    for load in loads:
        load.start()
    first = roll_lab.start_verb("roll", f"fleet={FLEET}", "--out=json")
    try:
        deadline = time.monotonic() + 60
        while not roll_lab.lock_file().exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        holder = json.loads(roll_lab.lock_file().read_text())
        waited = time.monotonic()
        second, refused = roll_lab.roll("wait=3")
        waited = time.monotonic() - waited
        asked = roll_lab.webhook.wait_for(lambda body: body["tag"] == "salt/immutable/web/roll/checkpoint", 300)
        assert asked is not None, "the checkpoint reactor posted nothing"
        roll_id = asked["event"]["roll_id"]
        approval = {"post": {"fleet": FLEET, "roll_id": roll_id}, "headers": {"X-Immutable-Approval": APPROVAL_SECRET}}
        roll_lab.send_event("salt/netapi/hook/immutable/approve", approval)
        output, _ = first.communicate(timeout=ROLL_TIMEOUT)
    finally:
        for load in loads:
            load.finish()
        loaded = time.monotonic() - started
        if first.poll() is None:
            first.kill()
    assert first.returncode == 0, output[-6000:]
    assert second.returncode == 1 and refused["result"] is False
    comment = refused["fleets"][FLEET]["comment"]
    # The lock is taken before the roll has an id: the holder is named by what it has.
    who = " ".join(part for part in (holder["purpose"], holder.get("roll_id")) if part)
    assert f"{who} (lock id {holder['lock_id']}) of pid {holder['pid']} on host {holder['host']}" in comment, comment
    assert waited >= 3
    failed, ok = [f for load in loads for f in load.failed], sum(load.ok for load in loads)
    assert failed == [], f"{len(failed)} failed requests of {ok + len(failed)}: {failed[:5]}"
    assert (ok + len(failed)) / loaded >= 20, f"only {ok + len(failed)} requests in {loaded:.0f} s: not a load"
    releases = set().union(*(load.releases for load in loads))
    assert releases == {"1.0.0", "1.1.0"}, "traffic never moved to the new servers"
    assert_fleet_runs(roll_lab, "1.1.0")
    assert not old & {s.label for s in roll_lab.servers()}, "an old server is still there"
    assert asked["text"] == (f"roll {roll_id} of web waits for approval after batch 1 (up to 300 s): "
                             f"salt-run immutable.approve fleet=web roll_id={roll_id}")
    assert "batch 1: create web-g2-1" in output and "web-g2-1: nodebalancer passed" in output
    assert "checkpoint after batch 1: approved by" in output
    assert output.lstrip().startswith("[web"), "progress lines go to stderr, before the JSON document"

    picture = tmp_path / "roll.svg"
    result, shown = roll_lab.verb("history", f"fleet={FLEET}", f"id={roll_id}", f"picture={picture}")
    assert result.returncode == 0 and shown["picture"] == str(picture)
    kinds = [event["event"] for event in shown["roll"]["events"] if event["server"] is None]
    assert kinds[:4] == ["batch", "checkpoint", "approved", "batch"]
    lanes = [group.get("data-server") for group in ElementTree.parse(picture).getroot().iter()
             if group.get("data-server")]
    assert sorted(lanes) == sorted({*old, *(s.label for s in roll_lab.servers())})
    roll_lab.set_web(rollout=PLAIN_ROLLOUT)


def test_a_second_run_makes_no_mutating_call_and_test_mode_shows_the_plan(roll_lab):
    roll_lab.control("DELETE", "requests")
    result, data = roll_lab.roll()
    assert result.returncode == 0 and data["fleets"][FLEET]["outcome"] == "unchanged"
    result, plan = roll_lab.roll('version="1.0.0"', "test=True")
    assert result.returncode == 0, result.stdout
    preview = plan["fleets"][FLEET]
    assert preview["operations"] == [] and preview["peak_servers"] == 4 and preview["surge_servers"] == 1
    assert preview["surge_hourly_cost"] > 0
    steps = [(a["action"], a["server"]) for batch in preview["batches"] for a in batch["actions"]]
    assert [kind for kind, _ in steps] == ["create", "drain"] * 3
    first_create = preview["batches"][0]["actions"][0]["operations"]
    assert first_create[1].startswith("create Linode web-g3-1 from private/")
    assert first_create[1].endswith("behind Cloud Firewall web-fw") and "firewall device" in first_create[2]
    assert roll_lab.mutating_requests() == []


def test_rollback_returns_to_the_previous_image(roll_lab):
    roll_lab.set_web(rollout=WIDE_ROLLOUT)
    try:
        result, data = roll_lab.verb("rollback", f"fleet={FLEET}")
    finally:
        roll_lab.set_web(rollout=PLAIN_ROLLOUT)
    assert result.returncode == 0, result.stdout[-4000:]
    report = data["fleets"][FLEET]
    assert report["verb"] == "rollback" and report["to"] == "1.0.0" and report["outcome"] == "succeeded"
    assert_fleet_runs(roll_lab, "1.0.0")


def test_a_checkpoint_nobody_approves_times_out_rolls_back_and_the_reactor_says_so(roll_lab):
    roll_lab.set_web(version="1.1.0", rollout={**PLAIN_ROLLOUT, "checkpoints": [1], "checkpoint_timeout": 3})
    try:
        result, data = roll_lab.roll()
    finally:
        roll_lab.set_web(rollout=PLAIN_ROLLOUT)
    assert result.returncode == 1, result.stdout[-4000:]
    report = data["fleets"][FLEET]
    assert report["outcome"] == "rolled_back" and report["previous_version"] == "1.0.0"
    assert report["failure"] == {"server": None, "gate": "checkpoint", "cause": "not approved within 3 s"}
    assert_fleet_runs(roll_lab, "1.0.0")
    assert len(report["created"]) == 1 and report["created"] == report["destroyed"], "the canary must be gone"
    roll_id = report["roll_id"]
    told = roll_lab.webhook.wait_for(lambda body: body["tag"] == "salt/immutable/web/roll/rolled_back"
                                     and body["event"]["roll_id"] == roll_id, 60)
    assert told is not None and told["text"] == f"roll {roll_id} of web to 1.1.0 failed and was rolled back to 1.0.0"


def creates(roll_lab):
    return [r for r in roll_lab.mutating_requests() if r["route"] == "POST /linode/instances"]


def test_a_roll_killed_after_its_first_create_is_finished_by_the_next_run_without_duplicates(roll_lab):
    # The crash-point suite kills rolls at each named step; here, the step that leaves the most to resume:
    # a Linode created, its minion not yet in service.
    roll_lab.control("DELETE", "requests")
    roll_lab.set_web(rollout=WIDE_ROLLOUT)
    try:
        victim = roll_lab.start_verb("roll", f"fleet={FLEET}")
        deadline = time.monotonic() + 120
        while not creates(roll_lab) and time.monotonic() < deadline:
            time.sleep(0.05)
        victim.send_signal(signal.SIGKILL)
        victim.communicate(timeout=60)
        before = len(creates(roll_lab))
        result, data = roll_lab.roll()
    finally:
        roll_lab.set_web(rollout=PLAIN_ROLLOUT)
    assert 1 <= before <= 3, f"{before} creates before the kill"
    assert result.returncode == 0, result.stdout[-4000:]
    assert data["fleets"][FLEET]["outcome"] == "succeeded", "the rerun had work left to finish"
    assert_fleet_runs(roll_lab, "1.1.0")
    created = creates(roll_lab)
    assert len(created) == 3, f"{before} creates before the kill, {len(created)} in all"
    labels = [s.label for s in roll_lab.servers()]
    assert len(labels) == len(set(labels)) == 3
    outcomes = [r["outcome"] for r in roll_lab.verb("history", f"fleet={FLEET}")[1]["rolls"]]
    # The killed roll's record (if it got as far as writing one) was marked interrupted, not left running.
    assert outcomes[-1] == "succeeded" and "running" not in outcomes, outcomes


def test_a_failing_gate_rolls_back_and_leaves_no_new_server_or_key(roll_lab):
    roll_lab.set_web(version="1.0.0", rollout=WIDE_ROLLOUT)
    watcher = subprocess.Popen(
        [str(BIN / "salt-run"), "-c", str(roll_lab.config_dir), "state.event", "tagmatch=salt/immutable/*",
         "count=-1"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    try:
        time.sleep(5)  # let the watcher subscribe
        roll_lab.control("POST", "boot-failures", count=1, skip=1)  # the second new server never boots
        result, data = roll_lab.roll()
        time.sleep(2)
    finally:
        roll_lab.set_web(rollout=PLAIN_ROLLOUT)
        watcher.terminate()
        events, _ = watcher.communicate(timeout=30)
    assert result.returncode == 1, result.stdout[-4000:]
    token = roll_lab.opts["immutable"]["linode_token"]
    assert "PRIVATE KEY" not in events and token not in events, "a secret was fired on the master event bus"
    report = data["fleets"][FLEET]
    assert report["outcome"] == "rolled_back" and report["previous_version"] == "1.1.0"
    assert report["failure"]["gate"] == "running" and report["failure"]["server"].startswith("web-g")
    assert "failed" in data["comment"] and "1.1.0" in data["comment"]
    assert_fleet_runs(roll_lab, "1.1.0")
    assert [key for key in roll_lab.accepted_keys() if key == report["failure"]["server"]] == []
    phases = [line.split("\t")[0].rsplit("/", 1)[1] for line in events.splitlines()
              if line.startswith("salt/immutable/web/roll/")]
    assert phases[0] == "started" and "failed" in phases and phases[-1] == "rolled_back", phases
    failed = json.loads(next(line.split("\t", 1)[1] for line in events.splitlines()
                             if line.startswith("salt/immutable/web/roll/failed")))
    assert failed["failure"]["gate"] == "running" and failed["roll_id"] == report["roll_id"]


def test_status_and_history_tell_the_whole_story(roll_lab):
    result, data = roll_lab.verb("status", f"fleet={FLEET}")
    assert result.returncode == 0
    web = data["fleets"][FLEET]
    assert web["desired_version"] == "1.0.0" and web["running_versions"] == {"1.1.0": 3}
    assert not web["converged"] and web["lock"] is None and web["quarantined"] == []
    assert {(s["state"], s["node"]["mode"], s["node"]["status"]) for s in web["servers"]} == {
        ("in_service", "accept", "UP")}
    images = {image["version"]: image for image in web["images"]}
    assert images["1.1.0"]["running"] and images["1.1.0"]["proven"] and not images["1.0.0"]["running"]
    assert images["1.0.0"]["rollback_target"] and images["1.0.0"]["proven"]
    made = roll_lab.provider.find_firewall("web-fw")
    assert web["firewall"] == {"id": made.id, "label": "web-fw", "managed": True, "status": "enabled",
                               "unprotected": []}
    result, data = roll_lab.verb("history", f"fleet={FLEET}")
    rolls = data["rolls"]
    assert [(r["verb"], r["to_version"]) for r in rolls][:3] == [
        ("roll", "1.0.0"), ("roll", "1.1.0"), ("rollback", "1.0.0")]
    assert rolls[-1]["outcome"] == "rolled_back" and rolls[-1]["failure"]["gate"] == "running"
    assert all(r["ended"] for r in rolls) and sorted(rolls[0]["created"]) == ["web-g1-1", "web-g1-2", "web-g1-3"]


@pytest.mark.parametrize("out, parse", [("json", json.loads), ("yaml", yaml.safe_load)])
def test_reading_verbs_print_one_parseable_document_and_progress_goes_to_stderr(roll_lab, out, parse):
    for verb in ("status", "plan", "history", "prune"):
        extra = ("test=True",) if verb == "prune" else ()
        result = subprocess.run(
            [str(BIN / "salt-run"), "-c", str(roll_lab.config_dir), f"immutable.{verb}", f"fleet={FLEET}", *extra,
             f"--out={out}"], capture_output=True, text=True, timeout=120,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        document = parse(result.stdout)
        assert document["result"] is True, document
        assert FLEET in str(document.get("fleets", document.get("rolls"))), document
        if verb == "prune":
            assert "[web] prune: reading" in result.stderr, "prune's progress line belongs on stderr"


def test_a_rollback_to_an_image_that_is_gone_says_so_and_changes_nothing(roll_lab):
    roll_lab.control("DELETE", "requests")
    result, data = roll_lab.verb("rollback", f"fleet={FLEET}", 'to="0.9.0"')
    assert result.returncode == 1 and data["error"] == "RollError"
    assert data["comment"] == ("rollback web to 0.9.0: there is no proven image web-0.9.0 (deleted?); "
                               "proven images: 1.0.0, 1.1.0")
    assert roll_lab.mutating_requests() == []


def capture_extra_image(roll_lab, version):
    """An image of the fleet at ``version``, captured from a Linode never booted (quicker than a bake)."""
    client = LinodeClient(roll_lab.opts["immutable"]["linode_token"], base_url=roll_lab.api_url)
    source = roll_lab.provider.find_image("web-1.1.0")
    instance = client.linode.instance_create("g6-nanode-1", "us-east", image=source.id, label=f"capture-{version}",
                                             root_pass=secrets.token_urlsafe(24), booted=False)
    try:
        roll_lab.provider.wait_for_status(instance.id, "offline", roll_lab.provider.deadline(120))
        disk = next(disk for disk in instance.disks if disk.filesystem != "swap")
        image = roll_lab.provider.capture_image(disk.id, f"web-{version}",
                                                tags=("immutable", "fleet:web", f"version:{version}"))
        roll_lab.provider.wait_for_image(image.id, roll_lab.provider.deadline(120))
    finally:
        instance.delete()
    return image.id


def test_prune_keeps_what_is_needed_and_the_newest_and_archives_the_rest(roll_lab):
    older, newer = capture_extra_image(roll_lab, "1.2.0"), capture_extra_image(roll_lab, "1.3.0")
    roll_lab.control("DELETE", "requests")
    result, listed = roll_lab.verb("prune", f"fleet={FLEET}", "keep=3", "test=True")
    assert result.returncode == 0 and roll_lab.mutating_requests() == []
    web = listed["fleets"][FLEET]
    assert [image["id"] for image in web["would_delete"]] == [older]
    reasons = {image["version"]: image["reasons"] for image in web["kept"]}
    assert reasons["1.0.0"] == ["the pillar names version 1.0.0", "it is the rollback target"]
    assert reasons["1.1.0"][0].startswith("Linodes were created from it: web-g")
    assert reasons["1.3.0"] == ["one of the 3 newest"]

    result, pruned = roll_lab.verb("prune", f"fleet={FLEET}", "keep=3")
    assert result.returncode == 0 and [i["id"] for i in pruned["fleets"][FLEET]["deleted"]] == [older]
    remaining = {image.id for image in roll_lab.provider.list_images(("immutable", "fleet:web"))}
    assert older not in remaining and newer in remaining and len(remaining) == 3
    archived = roll_lab.verb("history", f"fleet={FLEET}")[1]["archived_images"]
    assert [(entry["id"], entry["version"]) for entry in archived] == [(older, "1.2.0")]

    # A rollback stays possible: its target's proven image is there, and rolling to it needs no bake.
    status = roll_lab.verb("status", f"fleet={FLEET}")[1]["fleets"][FLEET]
    target = next(image for image in status["images"] if image["rollback_target"])
    assert (target["version"], target["proven"]) == ("1.0.0", True)
    plan = roll_lab.verb("plan", f"fleet={FLEET}", 'version="1.0.0"')[1]["fleets"][FLEET]
    assert plan["image"] == target["id"] and not [op for op in plan["operations"] if op.startswith("bake")]


def test_drift_finds_a_file_changed_by_hand_and_replace_gives_a_clean_server(roll_lab):
    roll_lab.set_web(version="1.1.0")  # the version the fleet runs: a replace must not roll it
    master = SaltMaster(roll_lab.opts)
    before = sorted(s.label for s in roll_lab.servers())
    snowflake = before[0]
    master.call(snowflake, "file.append", ["/etc/webapp/webapp.conf", "# changed by hand"])

    result, data = roll_lab.verb("drift", f"fleet={FLEET}")
    assert result.returncode == 0, result.stdout[-3000:]
    report = data["fleets"][FLEET]
    assert report["drifted"] == [snowflake] and report["unreachable"] == {}
    assert report["clean"] == before[1:]
    assert report["servers"][snowflake]["files"] == ["/etc/webapp/webapp.conf"]
    assert "# changed by hand" in master.call(snowflake, "file.read", ["/etc/webapp/webapp.conf"])[0]

    result, data = roll_lab.verb("drift", f"fleet={FLEET}", "replace=True")
    assert result.returncode == 0, result.stdout[-3000:]
    replaced = data["fleets"][FLEET]["replaced"]
    assert replaced["verb"] == "replace" and replaced["destroyed"] == [snowflake] and len(replaced["created"]) == 1
    after = sorted(s.label for s in roll_lab.servers())
    assert after == sorted(before[1:] + replaced["created"])  # the others kept their ids
    assert_fleet_runs(roll_lab, "1.1.0")
    fresh = replaced["created"][0]
    assert "# changed by hand" not in master.call(fresh, "file.read", ["/etc/webapp/webapp.conf"])[0]
    assert roll_lab.verb("drift", f"fleet={FLEET}")[1]["fleets"][FLEET]["drifted"] == []
