"""Confinement of namespace machines: what user_data, a machine or an image it leaves behind can do to the
host, and what a machine sees of it.

The host folders these tests use live in /var/tmp, which machines do see (unlike /tmp, /root and /home):
so that what keeps a machine out of them is the confinement under test, not a mask that happens to
cover them. The emulator's state dir is there too, hidden by the state-dir rule alone.
"""

import json
import os
import secrets
import shlex
import shutil
import stat
import tempfile
from pathlib import Path
from types import SimpleNamespace

import pytest

from linode_emu.machines.namespace import visible_paths
from tests.support.machines import BASE, REGION, TYPE, machine_cloud, provider_for, wait_for

TAGS = ("immutable", "fleet:confinement")
SECRET = f"host-secret-{secrets.token_hex(8)}"
TOKENS = {"LINODE_TOKEN": f"linode-token-{secrets.token_hex(8)}", "LINODE_EMU_TOKEN": f"emu-{secrets.token_hex(8)}"}
CLIMB = "/" + "../" * 30  # more '..' than any machine root is deep: on the host, that is /


@pytest.fixture(scope="module")
def host():
    """Host folders of the tests, and a sentinel file in the host's /root; all removed afterwards."""
    base = Path(tempfile.mkdtemp(prefix="si-confinement-", dir="/var/tmp"))
    folders = SimpleNamespace(
        base=base, target=base / "target", hidden=base / "hidden", state=base / "state",
        root_sentinel=Path("/root") / f"si-confinement-{secrets.token_hex(4)}",
    )
    folders.target.mkdir()
    (folders.target / "victim").write_text("original")
    folders.hidden.mkdir()
    (folders.hidden / "secret").write_text(SECRET)
    folders.root_sentinel.write_text(SECRET)
    try:
        yield folders
    finally:
        folders.root_sentinel.unlink()
        shutil.rmtree(base)


@pytest.fixture(scope="module")
def cloud(host):
    """Namespace machines, the emulator told to hide ``host.hidden``, tokens in its environment."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in TOKENS.items():
            patch.setenv(name, value)
        with machine_cloud(host.state, hide=(host.hidden,)) as server:
            server.state_dir = host.state
            yield server


@pytest.fixture(scope="module")
def provider(cloud):
    return provider_for(cloud)


def console(cloud, server):
    path = cloud.state_dir / "machines" / str(server.id) / "console.log"
    return path.read_text() if path.exists() else ""


def upper(cloud, provider, server):
    return cloud.state_dir / "disks" / str(provider.root_disk(server.id).id) / "upper"


def booted(cloud, provider, label, user_data=None, image=BASE, volume=None):
    """A machine whose boot has finished (cloud-init done); ``volume`` is attached before its first boot."""
    config = None if user_data is None else "#cloud-config\n" + json.dumps(user_data)
    server = provider.create_instance(
        label, REGION, TYPE, image, tags=TAGS, user_data=config, booted=volume is None
    )
    if volume is not None:
        provider.wait_for_status(server.id, "offline", provider.deadline(30))
        provider.attach_volume(volume.id, server.id)
        provider.boot(server.id)
    wait_for(lambda: "boot finished" in console(cloud, server), timeout=90, what=f"{label} to boot")
    return server


def new_volume(provider, label):
    volume = provider.create_volume(label, 10, REGION, tags=TAGS)
    return provider.wait_for_volume(volume.id, provider.deadline(30))


def tmp_entries_machines_need():
    """``ls -A /tmp`` of a fresh machine: nothing, but for the folders leading to the emulator's Python
    environment or source when they live in the host's /tmp (a checkout there, as CI makes)."""
    tmp = Path("/tmp").resolve()
    names = {Path(path).relative_to(tmp).parts[0] for path in visible_paths() if tmp in Path(path).parents}
    return "".join(f"{name}\n" for name in sorted(names))


def mode(path):
    return stat.S_IMODE(os.lstat(path).st_mode)


def on_host_in(root, path):
    """Where host path ``path`` lies in a machine's disk, once resolved inside its root."""
    return root / str(path).lstrip("/")


# ------------------------------------------------------------------ escapes through user_data


def test_write_files_salt_minion_and_mounts_cannot_climb_out(cloud, provider, host):
    volume = new_volume(provider, "confinement-climb")
    user_data = {
        "write_files": [
            {"path": CLIMB + str(host.target / "victim").lstrip("/"), "content": "pwned"},
            {"path": "/etc/after-the-refusal", "content": "written"},
        ],
        "salt_minion": {"config_dir": CLIMB + str(host.target).lstrip("/"), "conf": {"id": "pwned"}},
        "mounts": [
            [volume.filesystem_path, CLIMB + str(host.target / "mnt").lstrip("/"), "ext4", "defaults,nofail"],
            [volume.filesystem_path, "../../..", "ext4", "defaults,nofail"],
        ],
    }
    server = booted(cloud, provider, "confinement-climb", user_data, volume=volume)

    assert sorted(path.name for path in host.target.iterdir()) == ["victim"]
    assert (host.target / "victim").read_text() == "original"
    assert (upper(cloud, provider, server) / "etc/after-the-refusal").read_text() == "written"
    text = console(cloud, server)
    assert f"cloud-init: write_files {CLIMB}" in text and "'..' climbs out of the machine's root" in text
    assert "cloud-init: salt_minion: refused:" in text
    assert f"mount {volume.filesystem_path} on ../../..: refused:" in text
    assert f"mount {volume.filesystem_path} on {CLIMB}" in text and "mounted" not in text
    provider.delete_instance(server.id)


def test_symlinks_planted_in_an_image_lead_nowhere_on_the_host(cloud, provider, host):
    plant = [
        f"ln -s {host.target} /etc/evil",
        f"ln -s ../../../../../../../../..{host.target} /etc/up",
        f"rm -f /etc/hostname && ln -s {host.target}/hostname /etc/hostname",
        f"rm -rf /var/lib/cloud/data && ln -s {host.target} /var/lib/cloud/data",
    ]
    planter = booted(cloud, provider, "confinement-planter", {"runcmd": plant})
    provider.shutdown(planter.id)
    provider.wait_for_status(planter.id, "offline", provider.deadline(30))
    image = provider.capture_image(provider.root_disk(planter.id).id, "confinement-planted", tags=TAGS)
    image = provider.wait_for_image(image.id, provider.deadline(60))
    archive = cloud.state_dir / "images" / f"{image.id.rpartition('/')[2]}.tar"
    assert mode(archive) == 0o600 and mode(archive.parent) == 0o700

    volume = new_volume(provider, "confinement-planted")
    user_data = {
        "write_files": [
            {"path": "/etc/evil/through-absolute-link", "content": "pwned"},
            {"path": "/etc/up/through-relative-link", "content": "pwned"},
        ],
        "salt_minion": {"config_dir": "/etc/evil/salt", "conf": {"id": "pwned"}},
        "mounts": [[volume.filesystem_path, "/etc/evil/mnt", "ext4", "defaults,nofail"]],
    }
    user = booted(cloud, provider, "confinement-user", user_data, image=image.id, volume=volume)

    assert sorted(path.name for path in host.target.iterdir()) == ["victim"]
    assert (host.target / "victim").read_text() == "original"
    # As chroot resolves them: an absolute link leads to the machine's own path of that name.
    inside = on_host_in(upper(cloud, provider, user), host.target)
    assert (inside / "through-absolute-link").read_text() == "pwned"
    assert (inside / "hostname").read_text() == "confinement-user\n"
    assert (inside / "instance-id").read_text() == f"{user.id}\n"
    assert "id: pwned" in (inside / "salt/minion").read_text()
    text = console(cloud, user)
    assert "cloud-init: write_files /etc/up/through-relative-link: refused:" in text
    assert f"mounted {volume.filesystem_path} on /etc/evil/mnt" in text
    # ssh_deletekeys: an instance made from an image does not keep the image's host keys.
    key = "etc/ssh/ssh_host_ed25519_key.pub"
    assert (upper(cloud, provider, user) / key).read_text() != (upper(cloud, provider, planter) / key).read_text()
    for server in (planter, user):
        provider.delete_instance(server.id)


# ------------------------------------------------------------------ what a machine sees


def chroot_escape(*paths):
    """A root process's classic way out of a chroot, then a look at ``paths``."""
    code = (
        f"import os\nos.makedirs('/jail', exist_ok=True)\nos.chroot('/jail')\nos.chdir('{CLIMB[1:]}')\n"
        f"os.chroot('.')\nfor path in {[str(path) for path in paths]!r}:\n"
        "    print(open(path).read() if os.path.exists(path) else 'No such file or directory')\n"
    )
    return f"python3 -c {shlex.quote(code)}"


def test_a_machine_sees_nothing_of_the_host_it_must_not(cloud, provider, host):
    looks = [
        "mkdir /seen",
        "ls -A /tmp > /seen/tmp-at-first",
        f"ls -A /root /home /tmp {host.state} {host.hidden} > /seen/listing 2>&1",
        f"cat /root/{host.root_sentinel.name} {host.hidden}/secret {host.state}/state.json > /seen/read 2>&1",
        f"cat /proc/1/root{host.hidden}/secret /proc/1/root/root/{host.root_sentinel.name} > /seen/proc 2>&1",
        f"{chroot_escape(host.hidden / 'secret', host.root_sentinel)} > /seen/escape 2>&1",
        "tr '\\0' '\\n' < /proc/1/environ > /seen/environ",
        "echo own > /tmp/own && echo own > /root/own",
    ]
    server = booted(cloud, provider, "confinement-looker", {"runcmd": looks})
    seen = upper(cloud, provider, server) / "seen"
    everything = "".join(path.read_text() for path in seen.iterdir())
    assert SECRET not in everything
    assert host.root_sentinel.name not in (seen / "listing").read_text()
    assert "No such file or directory" in (seen / "read").read_text()
    assert "No such file or directory" in (seen / "proc").read_text()
    assert (seen / "escape").read_text() == "No such file or directory\n" * 2
    assert (seen / "tmp-at-first").read_text() == tmp_entries_machines_need()
    environ = (seen / "environ").read_text()
    assert all(name not in environ and value not in environ for name, value in TOKENS.items())
    assert (upper(cloud, provider, server) / "tmp/own").read_text() == "own\n"
    assert (upper(cloud, provider, server) / "root/own").read_text() == "own\n"
    folder = cloud.state_dir / "machines" / str(server.id)
    assert (mode(folder), mode(folder / "boot.json"), mode(folder / "console.log")) == (0o700, 0o600, 0o600)
    provider.delete_instance(server.id)


def test_each_machine_gets_its_own_machine_id_and_ssh_host_keys(cloud, provider):
    servers = [booted(cloud, provider, f"confinement-identity-{n}") for n in (1, 2)]
    disks = [upper(cloud, provider, server) for server in servers]
    ids = [(disk / "etc/machine-id").read_text().strip() for disk in disks]
    assert all(len(machine_id) == 32 and int(machine_id, 16) >= 0 for machine_id in ids)
    host_id = Path("/etc/machine-id").read_text().strip() if Path("/etc/machine-id").exists() else None
    assert ids[0] != ids[1] and host_id not in ids
    for kind in ("rsa", "ecdsa", "ed25519"):
        keys = [(disk / f"etc/ssh/ssh_host_{kind}_key.pub").read_text() for disk in disks]
        assert keys[0] != keys[1]
        assert all(mode(disk / f"etc/ssh/ssh_host_{kind}_key") == 0o600 for disk in disks)
    for server in servers:
        provider.delete_instance(server.id)
