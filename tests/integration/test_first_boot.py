"""What an emulated Linode does at boot, as Debian 12 with cloud-init does, and what its images keep.

One emulator with namespace machines for the module; no salt-master (nothing here needs a minion). The
machines' disks are read from the host (``disks/<id>/upper``), and what only the machine sees (the overlay:
whiteouts, the base image below) is reported by a script run inside it.

* First boot of an instance: a machine-id when there is none (systemd), new SSH host keys (cloud-init's
  ``ssh`` module with ``ssh_deletekeys``), cloud-init's records of the instance; a reboot keeps them all.
  A machine-id that an image carries is kept, as on a real Linode (cloud-init does not reset it when the
  instance changes: canonical/cloud-init#4066, "won't fix"); an emptied one is generated anew.
* A captured image keeps modes, owners, setuid bits, file capabilities, symlinks, deleted base files and
  replaced base folders.
"""

import json
import os
import re
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from tests.support.machines import BASE, REGION, TYPE, disk_upper, machine_cloud, provider_for, wait_for

TAGS = ("immutable", "fleet:first-boot")
KEY_TYPES = {"rsa": "ssh-rsa", "ecdsa": "ecdsa-sha2-nistp256", "ed25519": "ssh-ed25519"}
DELETED_BASE_FILE = "/etc/issue.net"  # in the base image (the host root), deleted on the machine
REPLACED_BASE_FOLDER = "/etc/skel"  # in the base image, deleted and made anew with other content
FIDELITY = "/srv/fidelity"
# cap_net_raw=ep as the kernel stores it (struct vfs_cap_data, revision 2, effective), set without setcap.
CAP_NET_RAW_EP = "0100000200200000000000000000000000000000"
# Made at the first boot of the machine whose disk is captured (each command as cloud-init's runcmd runs it).
MAKE_FIDELITY = [
    f"mkdir -p {FIDELITY}",
    f"echo owned > {FIDELITY}/owned && chown 1234:2345 {FIDELITY}/owned && chmod 0640 {FIDELITY}/owned",
    f"cp /bin/true {FIDELITY}/setuid && chmod 4755 {FIDELITY}/setuid",
    f"cp /bin/true {FIDELITY}/capable && python3 -c 'import os; os.setxattr(\"{FIDELITY}/capable\", "
    f"\"security.capability\", bytes.fromhex(\"{CAP_NET_RAW_EP}\"))'",
    f"mkdir {FIDELITY}/private && chmod 0700 {FIDELITY}/private && chown 1234:2345 {FIDELITY}/private",
    f"ln -s owned {FIDELITY}/relative-link && ln -s /etc/hostname {FIDELITY}/absolute-link",
    f"rm {DELETED_BASE_FILE}",
    f"rm -rf {REPLACED_BASE_FOLDER} && mkdir -m 0750 {REPLACED_BASE_FOLDER} && echo new > {REPLACED_BASE_FOLDER}/only",
]
# Run inside a machine: what it sees of the paths above, as JSON in /root/fidelity-<hostname>.json.
REPORT = f"""
import json, os, socket, stat
def look(path):
    try:
        status = os.lstat(path)
    except FileNotFoundError:
        return None
    seen = {{"type": stat.S_IFMT(status.st_mode), "mode": oct(stat.S_IMODE(status.st_mode)),
             "owner": [status.st_uid, status.st_gid]}}
    if stat.S_ISLNK(status.st_mode):
        seen["target"] = os.readlink(path)
    elif stat.S_ISREG(status.st_mode):
        seen["bytes"] = len(open(path, "rb").read())
    return seen
names = ["owned", "setuid", "capable", "private", "relative-link", "absolute-link"]
report = {{name: look("{FIDELITY}/" + name) for name in names}}
report["through relative link"] = open("{FIDELITY}/relative-link").read()
try:
    report["capabilities"] = os.getxattr("{FIDELITY}/capable", "security.capability").hex()
except OSError as err:
    report["capabilities"] = str(err)
report["deleted base file"] = look("{DELETED_BASE_FILE}")
report["replaced base folder"] = [look("{REPLACED_BASE_FOLDER}"), sorted(os.listdir("{REPLACED_BASE_FOLDER}"))]
json.dump(report, open("/root/fidelity-" + socket.gethostname() + ".json", "w"), indent=1)
"""


def cloud_config(**sections):
    return "#cloud-config\n" + json.dumps(sections)


def report_config(*runcmd):
    """user_data running ``runcmd`` and then the fidelity report."""
    return cloud_config(
        write_files=[{"path": "/root/fidelity.py", "content": REPORT}],
        runcmd=[*runcmd, "python3 /root/fidelity.py"],
    )


@pytest.fixture(scope="module")
def cloud(tmp_path_factory):
    with machine_cloud(tmp_path_factory.mktemp("first-boot-emulator")) as server:
        yield server


@pytest.fixture(scope="module")
def provider(cloud):
    return provider_for(cloud)


class Machine:
    """A Linode whose machine has finished booting, and its disk as the host sees it."""

    def __init__(self, cloud, provider, server):
        self.provider, self.server, self.id = provider, server, server.id
        self.upper = disk_upper(cloud.state_dir, provider, server.id)

    def path(self, path):
        """The disk's copy of the machine's ``path`` (absolute links are not followed: they are the host's)."""
        return self.upper / path.lstrip("/")

    @property
    def instance_dir(self):
        return self.path(f"/var/lib/cloud/instances/{self.id}")

    def boot_finished(self):
        finished = self.instance_dir / "boot-finished"
        return finished.read_text() if finished.exists() else ""

    def identity(self):
        """machine-id and every SSH host key file."""
        keys = sorted(self.path("/etc/ssh").glob("ssh_host_*"))
        return {"machine-id": self.path("/etc/machine-id").read_text(), **{key.name: key.read_bytes() for key in keys}}

    def wait_until_booted(self, after=""):
        """Wait for the end of cloud-init's boot (a ``boot-finished`` other than ``after``)."""
        wait_for(lambda: self.boot_finished() not in ("", after), timeout=60, what=f"linode {self.id} to boot")

    def shut_down(self):
        self.provider.shutdown(self.id)
        self.provider.wait_for_status(self.id, "offline", self.provider.deadline(30))

    def capture(self, label):
        image = self.provider.capture_image(self.provider.root_disk(self.id).id, label, tags=TAGS)
        return self.provider.wait_for_image(image.id, self.provider.deadline(60))


def boot(cloud, provider, label, user_data=None, image=BASE):
    server = provider.create_instance(label, REGION, TYPE, image, tags=TAGS, user_data=user_data)
    provider.wait_for_status(server.id, "running", provider.deadline(60))
    machine = Machine(cloud, provider, server)
    machine.wait_until_booted()
    return machine


@pytest.fixture(scope="module")
def pair(cloud, provider):
    """Two machines from the same base image; the second has made the files whose capture is checked."""
    machines = [
        boot(cloud, provider, "first-boot-1", cloud_config(write_files=[{"path": "/etc/marker", "content": "1"}])),
        boot(cloud, provider, "first-boot-2", report_config(*MAKE_FIDELITY)),
    ]
    yield machines
    for machine in machines:
        provider.delete_instance(machine.id)


@pytest.fixture(scope="module")
def from_captured(cloud, provider, pair):
    """A machine booted from the image of the second machine of ``pair`` (captured as it was)."""
    original = pair[1]
    before = original.identity()
    original.shut_down()
    image = original.capture("first-boot-fidelity")
    machine = boot(cloud, provider, "first-boot-from-image", report_config(), image=image.id)
    yield before, machine
    provider.delete_instance(machine.id)
    provider.delete_image(image.id)


# ------------------------------------------------------------------ identity at first boot


def assert_fresh_identity(machine, hostname):
    identity = machine.identity()
    assert re.fullmatch(r"[0-9a-f]{32}\n", identity["machine-id"]), identity["machine-id"]
    assert stat.S_IMODE(machine.path("/etc/machine-id").stat().st_mode) == 0o444
    for kind, algorithm in KEY_TYPES.items():
        private = machine.path(f"/etc/ssh/ssh_host_{kind}_key")
        public = machine.path(f"/etc/ssh/ssh_host_{kind}_key.pub")
        assert (stat.S_IMODE(private.stat().st_mode), stat.S_IMODE(public.stat().st_mode)) == (0o600, 0o644)
        assert (private.stat().st_uid, public.stat().st_uid) == (0, 0)
        key = serialization.load_ssh_private_key(private.read_bytes(), password=None)  # OpenSSH's own format
        assert private.read_text().startswith("-----BEGIN OPENSSH PRIVATE KEY-----")
        matching = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        assert public.read_bytes() == matching + f" root@{hostname}\n".encode()
        assert public.read_text().startswith(algorithm + " ")
    return identity


def assert_cloud_init_records(machine, user_data):
    assert os.readlink(machine.path("/var/lib/cloud/instance")) == f"/var/lib/cloud/instances/{machine.id}"
    assert (machine.instance_dir / "user-data.txt").read_text() == user_data
    assert stat.S_IMODE((machine.instance_dir / "user-data.txt").stat().st_mode) == 0o600
    semaphores = {path.name for path in (machine.instance_dir / "sem").iterdir()}
    assert {"config_ssh", "config_write_files", "config_runcmd", "config_scripts_user"} <= semaphores
    assert machine.path("/var/lib/cloud/data/instance-id").read_text() == f"{machine.id}\n"
    log = machine.path("/var/log/cloud-init.log")
    assert f"new instance {machine.id}" in log.read_text() and stat.S_IMODE(log.stat().st_mode) == 0o640


def test_machines_from_one_image_have_their_own_identity_and_cloud_init_records(pair):
    identities = [assert_fresh_identity(machine, f"first-boot-{n}") for n, machine in enumerate(pair, 1)]
    first, second = identities
    assert first["machine-id"] != second["machine-id"]
    host_id = Path("/etc/machine-id").read_text() if Path("/etc/machine-id").exists() else None
    assert host_id not in (first["machine-id"], second["machine-id"])
    for kind in KEY_TYPES:
        for name in (f"ssh_host_{kind}_key", f"ssh_host_{kind}_key.pub"):
            assert first[name] != second[name]
    assert_cloud_init_records(pair[0], cloud_config(write_files=[{"path": "/etc/marker", "content": "1"}]))
    assert_cloud_init_records(pair[1], report_config(*MAKE_FIDELITY))
    for machine in pair:  # no shell has run as root: no history is made up
        root = machine.path("/root")
        assert not (root.is_dir() and [path.name for path in root.iterdir() if "history" in path.name])


def test_a_reboot_keeps_the_identity_and_runs_no_per_instance_module_again(pair):
    machine = pair[0]
    before, finished = machine.identity(), machine.boot_finished()
    semaphores = {path.name: path.read_text() for path in (machine.instance_dir / "sem").iterdir()}
    machine.provider.reboot(machine.id)
    machine.provider.wait_for_status(machine.id, "running", machine.provider.deadline(60))
    machine.wait_until_booted(after=finished)
    assert machine.identity() == before
    assert {path.name: path.read_text() for path in (machine.instance_dir / "sem").iterdir()} == semaphores
    assert machine.path("/var/lib/cloud/data/previous-instance-id").read_text() == f"{machine.id}\n"
    assert f"an existing instance {machine.id}" in machine.path("/var/log/cloud-init.log").read_text()


def test_a_machine_from_an_image_whose_machine_id_was_emptied_gets_a_new_one_and_new_host_keys(cloud, provider, pair):
    original = pair[0]
    original.shut_down()
    before = original.identity()
    original.path("/etc/machine-id").write_text("")  # as immutable.seal leaves it
    image = original.capture("first-boot-emptied")
    machine = boot(cloud, provider, "first-boot-from-emptied", image=image.id)
    try:
        after = assert_fresh_identity(machine, "first-boot-from-emptied")
        assert after["machine-id"] != before["machine-id"]
        for kind in KEY_TYPES:
            assert after[f"ssh_host_{kind}_key"] != before[f"ssh_host_{kind}_key"]
        assert_cloud_init_records(machine, "")
        assert (machine.path(f"/var/lib/cloud/instances/{original.id}/sem")).is_dir()  # the image's, kept
        assert machine.path("/var/lib/cloud/data/previous-instance-id").read_text() == f"{original.id}\n"
    finally:
        provider.delete_instance(machine.id)
        provider.delete_image(image.id)


def test_a_machine_id_an_image_carries_is_kept_but_host_keys_are_new(from_captured):
    before, machine = from_captured
    after = assert_fresh_identity(machine, "first-boot-from-image")
    assert after["machine-id"] == before["machine-id"]
    for kind in KEY_TYPES:
        assert after[f"ssh_host_{kind}_key"] != before[f"ssh_host_{kind}_key"]


# ------------------------------------------------------------------ what an image keeps


def test_an_image_keeps_modes_owners_setuid_capabilities_links_and_deletions(pair, from_captured):
    _, machine = from_captured
    report = json.loads(machine.path("/root/fidelity-first-boot-from-image.json").read_text())
    regular, folder, link = stat.S_IFREG, stat.S_IFDIR, stat.S_IFLNK
    assert report["owned"] == {"type": regular, "mode": "0o640", "owner": [1234, 2345], "bytes": 6}
    assert report["setuid"]["mode"] == "0o4755" and report["setuid"]["owner"] == [0, 0]
    assert report["capable"]["type"] == regular and report["capabilities"] == CAP_NET_RAW_EP
    assert report["private"] == {"type": folder, "mode": "0o700", "owner": [1234, 2345]}
    assert report["relative-link"] == {"type": link, "mode": "0o777", "owner": [0, 0], "target": "owned"}
    assert report["absolute-link"] == {"type": link, "mode": "0o777", "owner": [0, 0], "target": "/etc/hostname"}
    assert report["through relative link"] == "owned\n"
    assert Path(DELETED_BASE_FILE).exists() and report["deleted base file"] is None
    assert Path(REPLACED_BASE_FOLDER, ".bashrc").exists()
    assert report["replaced base folder"] == [{"type": folder, "mode": "0o750", "owner": [0, 0]}, ["only"]]
    # The machine that made them saw the same before its capture.
    original = json.loads(pair[1].path("/root/fidelity-first-boot-2.json").read_text())
    assert original == report
