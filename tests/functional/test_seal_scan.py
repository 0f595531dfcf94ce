"""immutable.scan_secrets, loaded as a minion loads it: it must see a secret however a program wrote it."""

import base64
import json
import os
import time
import urllib.parse

import pytest
import salt.config
import salt.loader
from salt.exceptions import CommandExecutionError

from tests.functional.test_seal import fake_pem
from tests.support.saltconfig import REPO

SECRET = "SECRET-VALUE-0123456789"
# Its base64 holds '+' and '/', which urlsafe base64 writes '-' and '_'.
SLASHY = "tok>>>en???value~~~"
# JSON and URLs escape these characters.
ESCAPED = 'pa"ss\\word/with\nnew line&more=1'
PILLAR = {"webapp": {"token": SECRET, "port": 80, "slashy": SLASHY, "escaped": ESCAPED,
                     "nested": {"a": "nested-secret-one", "b": ["nested-secret-two", None, True]},
                     "empty": "", "none": None, "short": "abc"}}


@pytest.fixture
def scanner(tmp_path):
    opts = salt.config.minion_config(None)
    opts.update({"file_client": "local", "root_dir": str(tmp_path), "cachedir": str(tmp_path / "cache"),
                 "module_dirs": [str(REPO / "_modules")], "pillar": PILLAR})
    mods = salt.loader.minion_mods(opts)
    disk = tmp_path / "disk"
    disk.mkdir()

    def scan(keys=("webapp:token",), **kwargs):
        kwargs.setdefault("roots", [str(disk)])
        kwargs.setdefault("since", 0)
        return mods["immutable.scan_secrets"](keys=list(keys), **kwargs)

    scan.disk = disk
    scan.module = mods["immutable.scan_secrets"].__globals__
    return scan


def write(folder, name, content):
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    (path.write_bytes if isinstance(content, bytes) else path.write_text)(content)
    return str(path)


def test_scan_secrets_finds_pillar_secret_values_and_never_returns_them(scanner):
    leak = write(scanner.disk, "opt/app/leak.txt", f"token={SECRET}\n")
    write(scanner.disk, "opt/app/app.conf", "port=80\n")
    found = scanner()
    assert found["secrets"] == 1 and found["found"] == [leak]
    assert found["roots"] == [str(scanner.disk)] and found["files_read"] == 2
    assert SECRET not in json.dumps(found)
    assert scanner(exclude=[leak])["found"] == []
    assert scanner(exclude=[os.path.dirname(leak) + "/"])["found"] == []
    assert scanner(since=2**40)["found"] == []


def b64_forms(data):
    return {"std": base64.b64encode(data), "urlsafe": base64.urlsafe_b64encode(data)}


@pytest.mark.parametrize("alphabet", ["std", "urlsafe"])
@pytest.mark.parametrize("value", [SECRET, SLASHY], ids=["plain", "slashy"])
def test_a_base64_copy_is_found_alone_and_inside_a_larger_blob_at_every_offset(scanner, value, alphabet):
    copies = [write(scanner.disk, "alone", b64_forms(value.encode())[alphabet])]
    for before in range(6):  # offsets 0, 1, 2 modulo 3, twice
        blob = os.urandom(before) + b'{"user_data": "' + value.encode() + b'", "more": 1}' + os.urandom(7)
        copies.append(write(scanner.disk, f"blob-{before}", b"data=" + b64_forms(blob)[alphabet] + b"\n"))
    assert scanner(keys=["webapp:token", "webapp:slashy"])["found"] == sorted(copies)


def test_escaped_and_hex_copies_are_found(scanner):
    copies = [
        write(scanner.disk, "copy.json", json.dumps({"password": ESCAPED})),
        write(scanner.disk, "copy-unicode.json", json.dumps({"password": ESCAPED}, ensure_ascii=False)),
        write(scanner.disk, "copy-slashes.json", json.dumps({"password": ESCAPED}).replace("/", "\\/")),
        write(scanner.disk, "copy.url", "https://x/?p=" + urllib.parse.quote(ESCAPED, safe="")),
        write(scanner.disk, "copy.form", "p=" + urllib.parse.quote_plus(ESCAPED) + "&x=1"),
        write(scanner.disk, "copy.hex", "digest " + ESCAPED.encode().hex() + "\n"),
    ]
    write(scanner.disk, "unrelated.json", json.dumps({"password": "something else entirely"}))
    assert scanner(keys=["webapp:escaped"])["found"] == sorted(copies)


def test_a_private_key_is_found_json_escaped_and_re_indented(scanner):
    key = fake_pem()
    body = [line for line in key.splitlines() if not line.startswith("-----")]
    copies = [
        # cloud-init keeps the user data as JSON: newlines written as the two characters \n
        write(scanner.disk, "var/lib/cloud/instance/instance-data.json",
              json.dumps({"salt_minion": {"private_key": key}}, indent=1)),
        write(scanner.disk, "srv/minion.yaml", "salt_minion:\n  private_key: |\n" +
              "".join(f"      {line}\r\n" for line in key.splitlines())),
        # Linode's metadata: the whole user data base64-encoded
        write(scanner.disk, "var/lib/meta", base64.b64encode(("#cloud-config\n" + json.dumps({"k": key})).encode())),
        write(scanner.disk, "one-line", "part of the key: " + body[5] + "\n"),
    ]
    write(scanner.disk, "armour-only", "-----BEGIN PRIVATE KEY-----\n" + body[-1] + "\n")  # short last line
    found = scanner(keys=[], values=[key])
    assert found["found"] == sorted(copies) and found["secrets"] == 1
    assert not any(line in json.dumps(found) for line in body)


def test_a_copy_with_an_old_mtime_but_a_new_ctime_is_read(scanner):
    copied = write(scanner.disk, "restored/app.env", f"TOKEN={SECRET}\n")
    old = time.time() - 30 * 24 * 3600
    os.utime(copied, (old, old))  # as cp -p or tar -x leave it: its ctime is still now
    assert scanner(since=time.time() - 60)["found"] == [copied]
    assert scanner(since=time.time() + 60)["found"] == []


@pytest.mark.parametrize("key", ["webapp:nope", "webapp:empty", "webapp:none", "webapp:short"])
def test_a_secret_key_without_a_value_is_an_error_naming_it(scanner, key):
    with pytest.raises(CommandExecutionError, match=f"secret pillar key {key!r} has no value"):
        scanner(keys=["webapp:token", key])


def test_the_count_is_of_values_and_nested_values_are_each_looked_for(scanner):
    leak = write(scanner.disk, "leak", "nested-secret-two")
    found = scanner(keys=["webapp:token", "webapp:nested"])
    assert found["secrets"] == 3 and found["found"] == [leak]


def test_short_encoded_forms_are_not_needles(scanner):
    needles = scanner.module["_needles"](["abcd"])
    assert b"abcd" in needles  # the value itself, as before
    assert all(len(needle) >= 8 for needle in needles if needle != b"abcd")
    assert base64.b64encode(b"abcd")[:5] not in needles


MOUNTS = """\
sysfs {top}/sys sysfs rw,nosuid,nodev,noexec,relatime 0 0
proc {top}/proc proc rw,nosuid,nodev,noexec,relatime 0 0
/dev/sda1 {top} ext4 rw,relatime 0 0
tmpfs {top}/run tmpfs rw,nosuid,nodev 0 0
tmpfs {top}/dev/shm tmpfs rw,nosuid,nodev 0 0
tmpfs {top}/tmp tmpfs rw,nosuid,nodev 0 0
cgroup2 {top}/srv/cg cgroup2 rw 0 0
systemd-1 {top}/mnt/auto autofs rw 0 0
binfmt_misc {top}/opt/binfmt\\040misc binfmt_misc rw 0 0
/dev/sdb1 {top}/data ext4 rw 0 0
"""


def test_the_default_roots_are_every_top_level_folder_but_pseudo_filesystems(scanner, tmp_path):
    top = tmp_path / "top"
    for name in ("etc", "tmp", "srv/cg", "mnt/auto", "opt/binfmt misc", "data", "proc", "sys", "dev/shm", "run",
                 "home", "usr"):
        (top / name).mkdir(parents=True)
    (top / "bin").symlink_to("usr")
    (top / "vmlinuz").write_text("kernel")
    module = scanner.module
    pseudo = module["_pseudo_mounts"](MOUNTS.format(top=top), str(top))
    assert pseudo == {str(top / name) for name in ("sys", "proc", "dev", "run", "dev/shm", "srv/cg", "mnt/auto",
                                                    "opt/binfmt misc")}
    roots = module["_scan_roots"](str(top), pseudo)
    assert roots == [str(top / name) for name in ("data", "etc", "home", "mnt", "opt", "srv", "tmp", "usr")]


def test_a_default_scan_reads_tmp_and_skips_pseudo_mounts_below_the_roots(scanner, tmp_path, monkeypatch):
    top = tmp_path / "top"
    mounts = tmp_path / "mounts"
    mounts.write_text(MOUNTS.format(top=top))
    monkeypatch.setitem(scanner.module, "SCAN_TOP", str(top))
    monkeypatch.setitem(scanner.module, "PROC_MOUNTS", str(mounts))
    found = [write(top, name, SECRET) for name in ("tmp/build/leak", "etc/leak", "data/leak")]
    for name in ("proc/1/environ", "srv/cg/leak", "run/leak", "dev/shm/leak", "opt/binfmt misc/leak"):
        write(top, name, SECRET)
    result = scanner(roots=None)
    assert result["found"] == sorted(found)
    assert str(top / "tmp") in result["roots"] and str(top / "proc") not in result["roots"]
