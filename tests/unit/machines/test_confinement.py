"""Confinement of namespace machines, without namespaces: paths resolved inside a machine's root, the mask
layer, and what the driver writes and passes to a machine's PID 1 (image extraction and capture, which run ``tar``:
tests/functional/machines/test_confinement.py)."""

import json
import os
import re
import stat
import sys
import threading
from pathlib import Path

import pytest

from linode_emu.machines import BootRequest, cloudinit, init, mask, namespace
from linode_emu.machines.cloudinit import UnsafePathError, resolve_inside

# ------------------------------------------------------------------ resolving a machine's paths


def on_host_in(root, path):
    """Where host path ``path`` lies under ``root``, once resolved inside it."""
    return root / str(path).lstrip("/")


@pytest.fixture
def root(tmp_path):
    """A machine root with a few folders, next to a "host" folder it must never reach."""
    folder = tmp_path / "root"
    for name in ("etc", "var/lib", "root"):
        (folder / name).mkdir(parents=True)
    (tmp_path / "host").mkdir()
    return folder


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/etc/hostname", "etc/hostname"),
        ("etc/hostname", "etc/hostname"),
        ("//etc/./hostname", "etc/hostname"),
        ("/etc/../var/lib/x", "var/lib/x"),
        ("/new/folder/../file", "new/file"),
        ("/", ""),
    ],
)
def test_plain_paths_resolve_under_the_root(root, path, expected):
    assert resolve_inside(root, path) == root / expected


@pytest.mark.parametrize("path", ["/..", "/../../etc/passwd", "../x", "/etc/../../x", "/new/../../x"])
def test_dot_dot_above_the_root_is_refused(root, path):
    with pytest.raises(UnsafePathError, match=re.escape("'..' climbs out of the machine's root")):
        resolve_inside(root, path)


def test_an_absolute_symlink_means_the_machines_path_not_the_hosts(root, tmp_path):
    (root / "etc/evil").symlink_to(tmp_path / "host")
    (root / "etc/home").symlink_to("/root")
    assert resolve_inside(root, "/etc/evil/file") == on_host_in(root, tmp_path / "host/file")
    assert resolve_inside(root, "/etc/home/.ssh/authorized_keys") == root / "root/.ssh/authorized_keys"


def test_a_symlink_as_last_component_is_resolved_too(root):
    (root / "etc/hostname").symlink_to("/root/stolen")
    assert resolve_inside(root, "/etc/hostname") == root / "root/stolen"


def test_relative_symlinks_resolve_from_their_folder(root):
    (root / "etc/lib").symlink_to("../var/lib")
    (root / "etc/chain").symlink_to("lib")
    assert resolve_inside(root, "/etc/chain/x") == root / "var/lib/x"


def test_a_relative_symlink_climbing_out_is_refused(root):
    (root / "etc/up").symlink_to("../../../../host")
    with pytest.raises(UnsafePathError, match="climbs out"):
        resolve_inside(root, "/etc/up/file")


def test_a_symlink_loop_is_refused(root):
    (root / "etc/a").symlink_to("b")
    (root / "etc/b").symlink_to("/etc/a")
    with pytest.raises(UnsafePathError, match="symbolic links"):
        resolve_inside(root, "/etc/a/x")


# ------------------------------------------------------------------ cloud-init's writes


def cloud_config(text):
    return cloudinit.parse("#cloud-config\n" + text)


def test_write_files_refuses_escapes_reports_them_and_writes_the_rest(root, tmp_path):
    victim = tmp_path / "host/victim"
    victim.write_text("original")
    (root / "etc/evil").symlink_to(tmp_path / "host")
    (root / "etc/up").symlink_to("../../host")
    climbing = "/" + "../" * 30 + str(victim).lstrip("/")
    config = cloud_config(
        "write_files:\n"
        f"  - {{path: '{climbing}', content: pwned}}\n"
        "  - {path: /etc/up/victim, content: pwned}\n"
        "  - {path: /etc/evil/victim, content: inside}\n"
        "  - {path: /etc/after, content: written}\n"
    )
    console = []
    written = cloudinit.write_files(config, root, console.append)
    assert written == ["/etc/evil/victim", "/etc/after"]
    assert victim.read_text() == "original"
    assert on_host_in(root, victim).read_text() == "inside"
    assert (root / "etc/after").read_text() == "written"
    assert [line.split(": refused: ")[0] for line in console] == [
        f"cloud-init: write_files {climbing}",
        "cloud-init: write_files /etc/up/victim",
    ]


def test_a_fifo_or_device_in_place_of_a_file_is_refused_without_blocking(root):
    os.mkfifo(root / "etc/fifo")
    os.mknod(root / "etc/null", stat.S_IFCHR | 0o666, os.makedev(1, 3))
    config = cloud_config("write_files: [{path: /etc/fifo}, {path: /etc/null}]")
    console = []
    writer = threading.Thread(target=cloudinit.write_files, args=(config, root, console.append))
    writer.start()
    writer.join(timeout=5)
    assert not writer.is_alive()
    assert console[0].startswith("cloud-init: write_files /etc/fifo: failed: ")  # nobody reads the FIFO
    assert console[1] == "cloud-init: write_files /etc/null: refused: /etc/null: not a regular file"
    with pytest.raises(UnsafePathError, match="not a regular file"):
        cloudinit.read_inside(root, "/etc/fifo")


def test_salt_minion_folders_outside_the_root_are_refused(root, tmp_path):
    config = cloud_config("salt_minion: {config_dir: ../../host, conf: {id: m1}, private_key: PRIV}")
    console = []
    cloudinit.write_salt_minion(config, root, console.append)
    assert list((tmp_path / "host").iterdir()) == []
    assert console == ["cloud-init: salt_minion: refused: ../../host/minion: '..' climbs out of the machine's root"]


def test_instance_marker_fstab_and_per_boot_scripts_are_read_inside(root, tmp_path):
    host = tmp_path / "host"
    (host / "instance-id").write_text("7\n")
    (host / "fstab").write_text("/dev/host /host-mount ext4 defaults 0 2\n")
    (host / "run-me.sh").write_text("#!/bin/sh\n")
    (host / "run-me.sh").chmod(0o755)
    (root / "var/lib/cloud/scripts").mkdir(parents=True)
    (root / "var/lib/cloud/data").symlink_to(host)
    (root / "etc/fstab").symlink_to(host / "fstab")
    (root / "var/lib/cloud/scripts/per-boot").symlink_to(host)
    assert cloudinit.is_first_boot(root, 7)
    cloudinit.record_instance(root, 7)
    assert (host / "instance-id").read_text() == "7\n"
    assert on_host_in(root, host / "instance-id").read_text() == "7\n"
    assert cloudinit.fstab_entries(root) == []
    assert cloudinit.per_boot_scripts(root) == []


def test_a_script_symlinked_out_of_the_per_boot_folder_is_not_listed(root, tmp_path):
    folder = root / cloudinit.PER_BOOT_DIR
    folder.mkdir(parents=True)
    (tmp_path / "host/script.sh").write_text("#!/bin/sh\n")
    (tmp_path / "host/script.sh").chmod(0o755)
    (folder / "10-host.sh").symlink_to("../../../../../../host/script.sh")
    (folder / "20-own.sh").write_text("#!/bin/sh\n")
    (folder / "20-own.sh").chmod(0o755)
    assert cloudinit.per_boot_scripts(root) == [f"/{cloudinit.PER_BOOT_DIR}/20-own.sh"]


# ------------------------------------------------------------------ the mask layer


def is_whiteout(path):
    status = os.lstat(path)
    return stat.S_ISCHR(status.st_mode) and status.st_rdev == os.makedev(0, 0)


def is_opaque(path):
    try:
        return os.getxattr(path, mask.OPAQUE_XATTR) == b"y"
    except OSError:
        return False


@pytest.fixture
def host(tmp_path):
    """A host tree: a secret folder holding an environment machines need, a file, a private folder."""
    folder = tmp_path / "host"
    for name in ("secret/a", "secret/keep/env/bin", "secret/keep/other", "private/x"):
        (folder / name).mkdir(parents=True)
    (folder / "file").write_text("host's own")
    (folder / "secret").chmod(0o710)
    (folder / "private").chmod(0o1777)
    return folder


def test_hidden_folders_are_opaque_and_hidden_files_whiteouts(tmp_path, host):
    layer = tmp_path / "layer"
    layer.mkdir()
    mask.build(layer, [host / "private", host / "file", host / "missing"], [])
    assert is_opaque(on_host_in(layer, host / "private"))
    assert list(on_host_in(layer, host / "private").iterdir()) == []
    assert stat.S_IMODE(os.stat(on_host_in(layer, host / "private")).st_mode) == 0o1777
    assert is_whiteout(on_host_in(layer, host / "file"))
    assert not os.path.lexists(on_host_in(layer, host / "missing"))


def test_a_visible_path_inside_a_hidden_folder_shows_and_its_siblings_are_whiteouts(tmp_path, host):
    layer = tmp_path / "layer"
    layer.mkdir()
    private_env = host / "secret/keep/env/private"
    private_env.mkdir()
    mask.build(layer, [host / "secret", private_env], [host / "secret/keep/env", tmp_path / "elsewhere"])
    secret = on_host_in(layer, host / "secret")
    assert not is_whiteout(secret) and not is_opaque(secret)
    assert stat.S_IMODE(os.stat(secret).st_mode) == 0o710
    assert is_whiteout(secret / "a") and is_whiteout(secret / "keep/other")
    assert sorted(path.name for path in (secret / "keep").iterdir()) == ["env", "other"]
    assert sorted(path.name for path in (secret / "keep/env").iterdir()) == ["private"]
    assert is_opaque(secret / "keep/env/private")


def test_a_path_inside_a_hidden_one_is_not_hidden_twice(tmp_path, host):
    layer = tmp_path / "layer"
    layer.mkdir()
    mask.build(layer, [host / "private", host / "private/x", host / "secret", host / "secret/a/deeper"], [])
    assert list(on_host_in(layer, host / "private").iterdir()) == []
    assert list(on_host_in(layer, host / "secret").iterdir()) == []


# ------------------------------------------------------------------ the driver's files and processes


@pytest.fixture
def driver(tmp_path):
    return namespace.NamespaceDriver(tmp_path / "state", hide=[tmp_path / "lab"])


def mode(path):
    return stat.S_IMODE(os.lstat(path).st_mode)


def test_pid_1_gets_a_fixed_environment_and_private_files(driver, tmp_path, monkeypatch):
    started = {}
    monkeypatch.setenv("LINODE_TOKEN", "host-secret")
    monkeypatch.setenv("LINODE_EMU_TOKEN", "emu-secret")
    monkeypatch.setattr(namespace.subprocess, "Popen", lambda argv, **kwargs: started.update(kwargs, argv=argv))
    driver.prepare_disk(1, None)
    driver.boot(BootRequest(linode_id=5, label="m5", address="127.0.5.5", disk_id=1))
    driver.running.clear()  # nothing was started
    assert started["env"] == namespace.init_environment()
    assert set(started["env"]) == {"PATH", "LANG", "PYTHONDONTWRITEBYTECODE", "PYTHONPATH"}
    folder = driver.machine_dir(5)
    assert mode(folder) == 0o700
    assert mode(folder / "boot.json") == 0o600 and mode(folder / "console.log") == 0o600
    boot = json.loads((folder / "boot.json").read_text())
    assert {str(tmp_path / "state"), str(tmp_path / "lab"), "/root", "/home", "/tmp", "/etc/machine-id"} <= set(
        boot["hidden"]
    )
    assert {os.path.realpath(sys.prefix), os.path.realpath(sys.base_prefix)} <= set(boot["visible"])
    assert str(Path(namespace.__file__).resolve().parents[2]) in boot["visible"]


def test_a_symlinked_hidden_path_hides_the_link_and_where_it_leads(tmp_path):
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    assert namespace.host_paths([tmp_path / "link"]) == [str(tmp_path / "link"), str(tmp_path / "real")]


# ------------------------------------------------------------------ identity at boot


def test_a_missing_or_empty_machine_id_is_generated_and_an_existing_one_kept(root):
    messages = []
    init.ensure_machine_id(root, messages.append)
    first = (root / "etc/machine-id").read_text()
    assert re.fullmatch(r"[0-9a-f]{32}\n", first) and mode(root / "etc/machine-id") == 0o444
    init.ensure_machine_id(root, messages.append)
    assert (root / "etc/machine-id").read_text() == first
    (root / "etc/machine-id").write_text("")
    init.ensure_machine_id(root, messages.append)
    assert (root / "etc/machine-id").read_text() not in ("", first)
    assert messages == ["machine-id generated"] * 2


def test_hostname_files_behind_planted_symlinks_stay_inside(root, tmp_path):
    (tmp_path / "host/hosts").write_text("127.0.0.1 localhost\n")
    (root / "etc/hostname").symlink_to(tmp_path / "host/hostname")
    (root / "etc/hosts").symlink_to(tmp_path / "host/hosts")
    init.write_identity(root, "web-1", "127.0.1.5")
    assert sorted(path.name for path in (tmp_path / "host").iterdir()) == ["hosts"]
    assert (tmp_path / "host/hosts").read_text() == "127.0.0.1 localhost\n"
    inside = on_host_in(root, tmp_path / "host")
    assert (inside / "hostname").read_text() == "web-1\n"
    assert (inside / "hosts").read_text() == "127.0.1.5 web-1 # linode_emu\n"
