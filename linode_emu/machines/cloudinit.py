"""The ``#cloud-config`` subset Linode users rely on, applied to an emulated machine's root folder.

Like cloud-init, the per-instance modules (``write_files``, ``salt_minion``, ``mounts``, ``runcmd``,
``hostname``) run at the first boot of an instance only — a boot whose instance id differs from the one
recorded in ``/var/lib/cloud/data/instance-id`` — while ``bootcmd`` and the scripts in
``/var/lib/cloud/scripts/per-boot/`` run at every boot. File-writing happens here, on the root folder
seen from outside; commands are returned to the caller, which runs them inside the machine.
"""

from __future__ import annotations

import base64
import binascii
import grp
import os
import pwd
from dataclasses import dataclass, field
from pathlib import Path

import yaml

INSTANCE_ID_FILE = "var/lib/cloud/data/instance-id"
PER_BOOT_DIR = "var/lib/cloud/scripts/per-boot"
OUTPUT_LOG = "var/log/cloud-init-output.log"
SUPPORTED = ("hostname", "bootcmd", "write_files", "mounts", "runcmd", "salt_minion")
SALT_MINION_KEYS = ("conf", "grains", "public_key", "private_key", "config_dir", "pki_dir")


class CloudConfigError(Exception):
    """The user_data cannot be understood; the boot that carries it fails."""


@dataclass
class CloudConfig:
    """What a user_data asks of the machine."""

    hostname: str | None = None
    bootcmd: list = field(default_factory=list)
    write_files: list = field(default_factory=list)
    mounts: list = field(default_factory=list)
    runcmd: list = field(default_factory=list)
    salt_minion: dict | None = None
    script: str | None = None
    ignored: list = field(default_factory=list)


def decode_user_data(encoded):
    """Linode's ``metadata.user_data`` is base64; return its text (empty when there is none)."""
    if not encoded:
        return ""
    try:
        return base64.b64decode(encoded, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError) as err:
        raise CloudConfigError(f"user_data is not base64-encoded UTF-8 text: {err}") from err


def parse(text):
    """Parse user_data text: a ``#cloud-config`` document, a ``#!`` script, or nothing."""
    if not text.strip():
        return CloudConfig()
    if text.startswith("#!"):
        return CloudConfig(script=text)
    if not text.startswith("#cloud-config"):
        raise CloudConfigError("user_data must start with '#cloud-config' or '#!'")
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise CloudConfigError(f"user_data is not valid YAML: {err}") from err
    if raw is None:
        return CloudConfig()
    if not isinstance(raw, dict):
        raise CloudConfigError("#cloud-config must be a mapping")
    return _config_from(raw)


def _config_from(raw):
    config = CloudConfig(ignored=sorted(str(key) for key in raw if key not in SUPPORTED))
    config.hostname = _optional_string(raw, "hostname")
    config.bootcmd = _commands(raw, "bootcmd")
    config.runcmd = _commands(raw, "runcmd")
    config.write_files = _write_files(raw.get("write_files") or [])
    config.mounts = _mounts(raw.get("mounts") or [])
    config.salt_minion = _salt_minion(raw.get("salt_minion"))
    return config


def _optional_string(raw, key):
    value = raw.get(key)
    if value is not None and not isinstance(value, str):
        raise CloudConfigError(f"{key}: expected a string")
    return value


def _commands(raw, key):
    commands = raw.get(key) or []
    if not isinstance(commands, list):
        raise CloudConfigError(f"{key}: expected a list of commands")
    for command in commands:
        is_argv = isinstance(command, list) and all(isinstance(arg, str) for arg in command)
        if not (isinstance(command, str) or is_argv):
            raise CloudConfigError(f"{key}: each command must be a string or a list of strings")
    return commands


def _write_files(entries):
    if not isinstance(entries, list):
        raise CloudConfigError("write_files: expected a list")
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get("path"), str):
            raise CloudConfigError("write_files: each entry needs a 'path'")
        if entry.get("encoding", "text") not in ("text", "b64", "base64"):
            raise CloudConfigError(f"write_files {entry['path']}: unsupported encoding {entry['encoding']!r}")
    return entries


def _mounts(entries):
    if not isinstance(entries, list) or not all(isinstance(e, list) and len(e) >= 2 for e in entries):
        raise CloudConfigError("mounts: expected a list of [device, mount point, ...] entries")
    return [[str(part) for part in entry] for entry in entries]


def _salt_minion(section):
    if section is None:
        return None
    if not isinstance(section, dict):
        raise CloudConfigError("salt_minion: expected a mapping")
    unknown = sorted(set(section) - set(SALT_MINION_KEYS) - {"pkg_name", "service_name"})
    if unknown:
        raise CloudConfigError(f"salt_minion: unsupported key(s) {', '.join(unknown)}")
    for key in ("conf", "grains"):
        if section.get(key) is not None and not isinstance(section[key], dict):
            raise CloudConfigError(f"salt_minion:{key}: expected a mapping")
    return section


# --------------------------------------------------------------------------- applying to a root


def inside(root, path):
    """``path`` of the machine, as a path of ``root`` seen from outside."""
    return Path(root) / str(path).lstrip("/")


def is_first_boot(root, instance_id):
    """True when the machine last booted as another instance (or never)."""
    marker = inside(root, INSTANCE_ID_FILE)
    return not marker.exists() or marker.read_text().strip() != str(instance_id)


def record_instance(root, instance_id):
    """Remember that this instance has had its first boot."""
    marker = inside(root, INSTANCE_ID_FILE)
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(f"{instance_id}\n")


def write_files(config, root):
    """Apply ``write_files``; returns the paths written."""
    written = []
    for entry in config.write_files:
        target = inside(root, entry["path"])
        target.parent.mkdir(parents=True, exist_ok=True)
        content = entry.get("content", "")
        data = base64.b64decode(content) if entry.get("encoding") in ("b64", "base64") else content.encode()
        with open(target, "ab" if entry.get("append") else "wb") as handle:
            handle.write(data)
        os.chmod(target, int(str(entry.get("permissions", "0644")), 8))
        _chown(target, entry.get("owner", "root:root"))
        written.append(entry["path"])
    return written


def _chown(path, owner):
    user, _, group = str(owner).partition(":")
    os.chown(path, pwd.getpwnam(user).pw_uid, grp.getgrnam(group or user).gr_gid)


def write_salt_minion(config, root):
    """Apply ``salt_minion``: minion config, grains and key pair, as cloud-init's module writes them."""
    section = config.salt_minion
    config_dir = inside(root, section.get("config_dir", "/etc/salt"))
    config_dir.mkdir(parents=True, exist_ok=True)
    if section.get("conf"):
        (config_dir / "minion").write_text(yaml.safe_dump(section["conf"], default_flow_style=False))
    if section.get("grains"):
        (config_dir / "grains").write_text(yaml.safe_dump(section["grains"], default_flow_style=False))
    pki_dir = inside(root, section.get("pki_dir", "/etc/salt/pki/minion"))
    pki_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    if section.get("public_key"):
        (pki_dir / "minion.pub").write_text(section["public_key"])
    if section.get("private_key"):
        private = pki_dir / "minion.pem"
        private.write_text(section["private_key"])
        os.chmod(private, 0o400)


def append_fstab(config, root):
    """Apply ``mounts``: one fstab line per entry (cloud-init's defaults for missing fields)."""
    if not config.mounts:
        return
    fstab = inside(root, "/etc/fstab")
    fstab.parent.mkdir(parents=True, exist_ok=True)
    defaults = ["", "", "auto", "defaults,nofail", "0", "2"]
    with open(fstab, "a", encoding="utf-8") as handle:
        for entry in config.mounts:
            fields = entry + defaults[len(entry):]
            handle.write(" ".join(fields[:6]) + " # cloud-init\n")


def fstab_entries(root):
    """``(device, mount point, options)`` for every fstab line of the machine."""
    fstab = inside(root, "/etc/fstab")
    if not fstab.exists():
        return []
    entries = []
    for line in fstab.read_text().splitlines():
        fields = line.split("#", 1)[0].split()
        if len(fields) >= 2:
            entries.append((fields[0], fields[1], fields[3] if len(fields) > 3 else "defaults"))
    return entries


def per_boot_scripts(root):
    """The executable scripts of ``/var/lib/cloud/scripts/per-boot``, in name order (paths inside)."""
    folder = inside(root, PER_BOOT_DIR)
    if not folder.is_dir():
        return []
    return [f"/{PER_BOOT_DIR}/{p.name}" for p in sorted(folder.iterdir()) if p.is_file() and os.access(p, os.X_OK)]


def as_argv(command):
    """A cloud-config command as argv: strings run through ``sh -c``, lists run as they are."""
    return ["/bin/sh", "-c", command] if isinstance(command, str) else list(command)
