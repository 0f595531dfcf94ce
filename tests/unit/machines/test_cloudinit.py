"""The #cloud-config subset: parsing, first-boot detection and what is written into a machine's root."""

import base64
import os
import re

import pytest

from linode_emu.machines import cloudinit
from linode_emu.machines.cloudinit import CloudConfigError


def test_full_document_parses():
    config = cloudinit.parse(
        "#cloud-config\nhostname: web-1\nbootcmd: [echo a]\nruncmd: [[touch, /x], echo b]\n"
        "write_files: [{path: /etc/a, content: hi}]\nmounts: [[/dev/sdc, /data]]\n"
        "salt_minion: {conf: {id: web-1}, grains: {role: web}}\npackages: [nginx]\n"
    )
    assert config.hostname == "web-1"
    assert config.bootcmd == ["echo a"] and config.runcmd == [["touch", "/x"], "echo b"]
    assert config.mounts == [["/dev/sdc", "/data"]]
    assert config.salt_minion["conf"] == {"id": "web-1"}
    assert config.ignored == ["packages"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("hello", "must start with '#cloud-config' or '#!'"),
        ("#cloud-config\n: [", "not valid YAML"),
        ("#cloud-config\n- a\n", "must be a mapping"),
        ("#cloud-config\nruncmd: echo\n", "runcmd: expected a list"),
        ("#cloud-config\nruncmd: [3]\n", "runcmd: each command"),
        ("#cloud-config\nwrite_files: 3\n", "write_files: expected a list"),
        ("#cloud-config\nwrite_files: [{content: x}]\n", "needs a 'path'"),
        ("#cloud-config\nwrite_files: [{path: /a, encoding: gz}]\n", "unsupported encoding"),
        ("#cloud-config\nmounts: [/dev/sdc]\n", "mounts: expected a list of [device"),
        ("#cloud-config\nsalt_minion: {conf: 3}\n", "salt_minion:conf: expected a mapping"),
        ("#cloud-config\nsalt_minion: {keys: 3}\n", "unsupported key(s) keys"),
        ("#cloud-config\nhostname: [a]\n", "hostname: expected a string"),
    ],
)
def test_bad_user_data_is_refused_with_the_reason(text, message):
    with pytest.raises(CloudConfigError, match=re.escape(message)):
        cloudinit.parse(text)


def test_user_data_must_be_base64():
    assert cloudinit.decode_user_data(base64.b64encode(b"#cloud-config\n").decode()) == "#cloud-config\n"
    assert cloudinit.decode_user_data(None) == ""
    with pytest.raises(CloudConfigError, match="not base64"):
        cloudinit.decode_user_data("not base64!")


def test_script_user_data_is_kept_as_a_script():
    assert cloudinit.parse("#!/bin/sh\necho hi\n").script == "#!/bin/sh\necho hi\n"


def test_first_boot_is_per_instance(tmp_path):
    assert cloudinit.is_first_boot(tmp_path, 7)
    cloudinit.record_instance(tmp_path, 7)
    assert not cloudinit.is_first_boot(tmp_path, 7)
    assert cloudinit.is_first_boot(tmp_path, 8)


BINARY = base64.b64encode(b"\x00\x01").decode()


def test_files_minion_and_fstab_are_written_into_the_root(tmp_path):
    config = cloudinit.parse(
        "#cloud-config\n"
        "write_files:\n"
        "  - {path: /etc/app.conf, content: a=1, permissions: '0600'}\n"
        f"  - {{path: /etc/bin.dat, encoding: b64, content: {BINARY}}}\n"
        "mounts: [[/dev/disk/by-id/scsi-0Linode_Volume_d, /srv/d]]\n"
        "salt_minion: {conf: {id: m1}, grains: {role: web}, public_key: PUB, private_key: PRIV}\n"
    )
    console = []
    assert cloudinit.write_files(config, tmp_path, console.append) == ["/etc/app.conf", "/etc/bin.dat"]
    cloudinit.write_salt_minion(config, tmp_path, console.append)
    cloudinit.append_fstab(config, tmp_path)
    assert console == []
    assert (tmp_path / "etc/app.conf").read_text() == "a=1"
    assert oct(os.stat(tmp_path / "etc/app.conf").st_mode & 0o777) == "0o600"
    assert (tmp_path / "etc/bin.dat").read_bytes() == b"\x00\x01"
    assert "id: m1" in (tmp_path / "etc/salt/minion").read_text()
    assert (tmp_path / "etc/salt/pki/minion/minion.pem").read_text() == "PRIV"
    assert oct(os.stat(tmp_path / "etc/salt/pki/minion/minion.pem").st_mode & 0o777) == "0o400"
    assert cloudinit.fstab_entries(tmp_path) == [
        ("/dev/disk/by-id/scsi-0Linode_Volume_d", "/srv/d", "defaults,nofail")
    ]


def test_per_boot_scripts_are_the_executable_files_in_name_order(tmp_path):
    folder = tmp_path / cloudinit.PER_BOOT_DIR
    folder.mkdir(parents=True)
    for name, mode in (("20-b.sh", 0o755), ("10-a.sh", 0o755), ("30-notes.txt", 0o644)):
        (folder / name).write_text("#!/bin/sh\n")
        (folder / name).chmod(mode)
    assert cloudinit.per_boot_scripts(tmp_path) == [
        f"/{cloudinit.PER_BOOT_DIR}/10-a.sh",
        f"/{cloudinit.PER_BOOT_DIR}/20-b.sh",
    ]


def test_commands_become_argv():
    assert cloudinit.as_argv("echo a && echo b") == ["/bin/sh", "-c", "echo a && echo b"]
    assert cloudinit.as_argv(["touch", "/x"]) == ["touch", "/x"]
