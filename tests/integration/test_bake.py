"""``salt-run immutable.bake`` on the lab: a real master, the emulator with namespace machines.

The example ``web`` fleet bakes, seals, captures and proves its image; broken fleets fail cleanly and
leave no Linode and no accepted key behind.
"""

import calendar
import json
import secrets
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest
import requests
import yaml

import salt_immutable
from salt_immutable import lab, seed
from salt_immutable.errors import SaltCallError
from salt_immutable.master import SaltMaster
from tests.support.lab import LabHandle, WebhookReceiver
from tests.support.saltconfig import REPO

BIN = Path(sys.executable).parent
DATA = REPO / "tests" / "data" / "bake"
BAKE_MARKER = f"BAKE-SECRET-{secrets.token_hex(8)}"
BOOT_MARKER = f"BOOT-SECRET-{secrets.token_hex(8)}"
BUILD_SECRET_FLEETS = ("capturefault", "leakencoded", "leakplain")  # fleets whose bakes use webapp:build_token


@pytest.fixture(scope="module")
def bake_lab(tmp_path_factory):
    """The lab with the example trees, plus the failing fleets and unique secret markers."""
    root = tmp_path_factory.mktemp("bake")
    states, pillar = root / "salt", root / "pillar"
    shutil.copytree(REPO / "salt", states)
    shutil.copytree(DATA / "salt", states, dirs_exist_ok=True)
    commit_tree(states)
    shutil.copytree(REPO / "pillar", pillar)
    spec = yaml.safe_load((pillar / "immutable.sls").read_text())
    spec["immutable"]["fleets"].update(yaml.safe_load((DATA / "pillar_fleets.yaml").read_text()))
    (pillar / "immutable.sls").write_text(yaml.safe_dump(spec))
    with open(pillar / "top.sls", "a", encoding="utf-8") as top:
        for fleet in BUILD_SECRET_FLEETS:
            top.write(f"  '{{{{ builders(\"{fleet}\") }}}}':\n    - match: compound\n    - webapp.bake\n")
    (pillar / "webapp/bake.sls").write_text(yaml.safe_dump({"webapp": {"build_token": BAKE_MARKER}}))
    (pillar / "webapp/secrets.sls").write_text(yaml.safe_dump({"webapp": {"api_key": BOOT_MARKER}}))
    with WebhookReceiver() as webhook:
        info = lab.up(root / "lab", state_tree=states, pillar_tree=pillar, time_scale=0.02,
                      extra_config={"immutable_reactor": {"webhook": webhook.url}})
        try:
            handle = LabHandle(root / "lab", info)
            handle.webhook = webhook
            yield handle
        finally:
            lab.down(root / "lab")


def commit_tree(folder):
    """Make ``folder`` a git checkout with one commit (the bake records the state tree's commit)."""
    for command in (["init", "-q"], ["add", "-A"], ["-c", "user.name=test", "-c", "user.email=test@example.org",
                                                      "commit", "-q", "-m", "the state tree"]):
        subprocess.run(["git", "-C", str(folder), *command], check=True, capture_output=True)


# One progress line per phase, in order (the bake of the example fleet: bake, boot and saltcheck tests, an
# HTTP check).
PHASE_LINES = (
    "[web@1.0.0] booting builder web-1.0.0-build from linode/debian12",
    "[web@1.0.0] applying bake states examples.webapp on web-1.0.0-build",
    "[web@1.0.0] testing web-1.0.0-build",
    "[web@1.0.0] sealing web-1.0.0-build: removing its identity, scanning for secrets, stopping its minion, "
    "powering off",
    "[web@1.0.0] sealed web-1.0.0-build in ",
    "[web@1.0.0] capturing web-1.0.0 from the disk of web-1.0.0-build",
    "[web@1.0.0] booting candidate web-1.0.0-proof from private/",
    "[web@1.0.0] applying boot states examples.webapp.secrets on web-1.0.0-proof",
    "[web@1.0.0] testing web-1.0.0-proof",
    "[web@1.0.0] checking that web-1.0.0-proof holds none of the builder's identity",
    "[web@1.0.0] waiting for http://",
)


@pytest.fixture(scope="module")
def baked(bake_lab):
    """The example fleet's bake, as an operator runs it: progress on stderr, one JSON document on stdout."""
    result = bake_lab.salt_run("immutable.bake", "fleet=web")
    assert result.returncode == 0, result.stdout + result.stderr
    data = json.loads(result.stdout)
    data["progress"] = result.stderr
    token = bake_lab.opts["immutable"]["linode_token"]
    assert "PRIVATE KEY" not in result.stdout + result.stderr and token not in result.stdout + result.stderr
    return data


def test_each_phase_of_a_bake_says_what_it_does_in_order(baked):
    lines = [line for line in baked["progress"].splitlines() if line.startswith("[web@1.0.0] ")]
    at = [next((n for n, line in enumerate(lines) if line.startswith(expected)), None) for expected in PHASE_LINES]
    assert None not in at and at == sorted(at), "\n".join(lines)


def test_no_private_key_and_no_token_reach_the_masters_job_cache(bake_lab, baked):
    jobs = Path(bake_lab.opts["cachedir"]) / "jobs"
    files = [path for path in jobs.rglob("*") if path.is_file()]
    assert any(b"immutable.bake" in path.read_bytes() for path in files), "the bake's job is not in the cache"
    token = bake_lab.opts["immutable"]["linode_token"].encode()
    holders = [str(path) for path in files if b"PRIVATE KEY" in path.read_bytes() or token in path.read_bytes()]
    assert holders == []


def test_bake_produces_an_available_proven_image_with_provenance(bake_lab, baked):
    image = bake_lab.provider.get_image(baked["image"]["id"])
    assert image.label == "web-1.0.0" and image.status == "available"
    assert set(image.tags) == {"immutable", "fleet:web", "version:1.0.0", "proven"}
    assert "cloud-init" in image.capabilities
    provenance = json.loads(image.description)
    assert provenance == baked["provenance"]
    assert provenance["fleet"] == "web" and provenance["version"] == "1.0.0"
    assert provenance["bake_states"] == ["examples.webapp"] and provenance["base_image"] == "linode/debian12"
    assert len(provenance["lowstate_sha256"]) == 64 and provenance["salt_version"].startswith("3008")
    states = bake_lab.opts["file_roots"]["base"][0]
    head = subprocess.run(["git", "-C", states, "rev-parse", "HEAD"], capture_output=True, text=True, check=True)
    assert provenance["state_tree_commit"] == head.stdout.strip()
    assert provenance["salt_immutable_version"] == salt_immutable.__version__
    assert abs(time.time() - calendar.timegm(time.strptime(provenance["created"], "%Y-%m-%dT%H:%M:%SZ"))) < 600
    assert set(baked["timings"]) == {"builder", "configure", "test", "seal", "capture", "prove"}
    archive = bake_lab.image_archive(image.id)
    assert image.size == max(1, -(-archive.stat().st_size // (1024 * 1024)))


def regular_files(archive):
    with tarfile.open(archive) as tar:
        return {
            member.name.removeprefix("./"): tar.extractfile(member).read()
            for member in tar.getmembers()
            if member.isfile()
        }


def test_captured_image_holds_the_bake_and_no_identity_or_secret(bake_lab, baked):
    files = regular_files(bake_lab.image_archive(baked["image"]["id"]))
    assert b"ThreadingHTTPServer" in files["opt/webapp/server.py"]
    assert files["etc/webapp/webapp.conf"] == b"port = 8080\n"
    assert "opt/webapp/vendor/fetched" in files, "the bake fetched with its build secret"
    assert "root/.config/webapp/build.env" not in files, "the bake removed its build secret"
    assert json.loads(files["etc/immutable-release"]) == baked["provenance"]
    identity = ("etc/salt/minion", "etc/salt/minion_id", "etc/salt/grains", "etc/salt/pki/", "var/cache/salt/",
                "var/log/salt/", "var/log/cloud-init", "var/lib/cloud/instance", "var/lib/cloud/data",
                "etc/ssh/ssh_host_", "root/.bash_history", "etc/webapp/secret.conf")
    leaked = [name for name in files if name.startswith(identity)]
    assert leaked == []
    assert files.get("etc/machine-id", b"") == b""
    assert b"web-1.0.0-build" not in files.get("etc/hostname", b"")
    for marker in (BAKE_MARKER, BOOT_MARKER):
        holders = [name for name, content in files.items() if marker.encode() in content]
        assert holders == [], f"{marker} baked into {holders}"


def test_bake_leaves_no_linode_and_no_key(bake_lab, baked):
    assert bake_lab.provider.list_fleet("web") == []
    assert not [key for key in bake_lab.accepted_keys() if key.startswith("web-")]


def test_second_bake_of_the_same_version_makes_no_api_mutation(bake_lab, baked):
    bake_lab.control("DELETE", "requests")
    result, data = bake_lab.bake("web")
    assert result.returncode == 0 and data["changed"] is False
    assert data["image"]["id"] == baked["image"]["id"]
    calls = [entry for entry in bake_lab.control("GET", "requests")["requests"] if entry["method"] != "GET"]
    assert calls == []


def test_a_server_booted_from_the_image_serves_the_app_and_tells_its_release(bake_lab, baked):
    master = SaltMaster(bake_lab.opts)
    minion_id = "web-release-check"
    user_data = seed.minion_cloud_config(
        minion_id, "127.0.0.1", bake_lab.opts["ret_port"], master.accept_new_key(minion_id),
        grains={"immutable": {"fleet": "web", "version": "1.0.0", "role": "server"}},
    )
    provider = bake_lab.provider
    server = provider.create_instance(minion_id, "us-east", "g6-nanode-1", baked["image"]["id"],
                                      tags=("immutable",), user_data=user_data)
    try:
        server = provider.wait_for_status(server.id, "running", provider.deadline(60))
        health = f"http://{server.private_ip}:8080/healthz"
        wait = provider.deadline(60)
        while not wait.expired():
            try:
                if requests.get(health, timeout=2).text == "ok\n":
                    break
            except requests.RequestException:
                time.sleep(0.5)
        assert requests.get(health, timeout=2).text == "ok\n"
        master.wait_for_minion(minion_id, provider.deadline(90))
        master.call(minion_id, "saltutil.sync_modules")
        release, retcode = master.call(minion_id, "immutable.release")
        assert retcode == 0 and release == baked["provenance"]
        with pytest.raises(SaltCallError, match=r"immutable\.seal: refused to seal minion .web-release-check."):
            master.call(minion_id, "immutable.seal")
        assert master.call(minion_id, "file.file_exists", ["/etc/salt/minion"])[0] is True
        assert master.call(minion_id, "immutable.release")[0] == baked["provenance"]
    finally:
        provider.delete_instance(server.id)
        master.delete_key(minion_id)


@pytest.mark.parametrize(
    ("fleet", "phase", "message"),
    [
        ("untested", "test", "saltcheck bakecases.untested: untested_file_says_expected"),
        ("drifting", "prove", "converge: "),
        ("leakencoded", "seal", "secrets are still on disk in: /opt/leak/token.b64"),
        ("leakplain", "seal", "secrets are still on disk in: /root/.config/webapp/build.env"),
    ],
)
def test_failing_bakes_stop_with_a_clear_message_and_leave_nothing(bake_lab, fleet, phase, message):
    assert_failed_cleanly(bake_lab, fleet, phase, message, *bake_lab.bake(fleet))


def assert_failed_cleanly(bake_lab, fleet, phase, message, result, data):
    assert result.returncode == 1, result.stdout
    assert data["result"] is False and data["error"] == "BakeError"
    assert f"bake {fleet}@1.0.0 failed in {phase}:" in data["comment"]
    assert message in data["comment"]
    assert bake_lab.provider.list_fleet(fleet) == []
    assert not [key for key in bake_lab.accepted_keys() if key.startswith(f"{fleet}-")]
    image = bake_lab.provider.find_image(f"{fleet}-1.0.0")
    if phase == "prove":  # captured, then refused: kept for a re-bake (force=True), never tagged proven
        assert image is not None and "proven" not in image.tags, image
    else:
        assert image is None, f"a bake that failed in {phase} captured {image}"


def test_capture_fault_fails_the_bake_and_leaves_nothing(bake_lab):
    bake_lab.control("POST", "capture-failures", count=1)
    result, data = bake_lab.bake("capturefault")
    assert result.returncode == 1, result.stdout
    assert "failed in capture" in data["comment"]
    assert bake_lab.provider.list_fleet("capturefault") == []
    assert bake_lab.provider.find_image("capturefault-1.0.0") is None
    assert not [key for key in bake_lab.accepted_keys() if key.startswith("capturefault-")]


def test_a_failing_bake_stops_the_orchestration_fires_its_phases_and_the_reactor_posts_it(bake_lab):
    watcher = subprocess.Popen(
        [str(BIN / "salt-run"), "-c", str(bake_lab.config_dir), "state.event", "tagmatch=*", "count=-1"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    try:
        time.sleep(5)  # let the watcher subscribe before the bake fires anything
        result, states = bake_lab.orch("orch.immutable.roll", {"fleet": "broken"})
        time.sleep(2)
    finally:
        watcher.terminate()
        out, _ = watcher.communicate(timeout=30)
    assert result.returncode != 0, result.stdout[-4000:]
    image, servers, images = states.values()
    assert image["result"] is False
    assert image["comment"].startswith("bake broken@1.0.0 failed in configure: bake states failed on "
                                       "broken-1.0.0-build: this-state-fails")
    for skipped in (servers, images):
        assert skipped["result"] is False and skipped["comment"].startswith("One or more requisite failed")
    assert "PRIVATE KEY" not in out, "a minion's private key was fired on the master event bus"
    assert bake_lab.opts["immutable"]["linode_token"] not in out, "the Linode token was fired on the event bus"
    events = [line.split("\t", 1) for line in out.splitlines() if line.startswith("salt/immutable/broken/")]
    seen = [(tag, json.loads(data)["status"]) for tag, data in events]
    assert seen == [
        ("salt/immutable/broken/bake/builder", "started"),
        ("salt/immutable/broken/bake/builder", "finished"),
        ("salt/immutable/broken/bake/configure", "started"),
        ("salt/immutable/broken/bake/configure", "failed"),
    ], "a roll started although its image failed"
    failed = json.loads(events[-1][1])
    assert failed["fleet"] == "broken" and "this-state-fails" in failed["error"]
    assert bake_lab.provider.list_fleet("broken") == []
    assert not [key for key in bake_lab.accepted_keys() if key.startswith("broken-")]
    posted = bake_lab.webhook.wait_for(lambda body: body["fleet"] == "broken", 60)
    assert posted is not None and posted["text"].startswith("bake of broken@1.0.0 failed in configure: ")
    statuses = [body["event"]["status"] for body in bake_lab.webhook.received if body["fleet"] == "broken"]
    assert statuses == ["failed"], "only a failed phase is posted"
