"""The ``#cloud-config`` subset Linode users rely on, applied to an emulated machine's root folder.

Like cloud-init, the per-instance modules (``write_files``, ``salt_minion``, ``mounts``, ``runcmd``,
``hostname``) run at the first boot of an instance only — a boot whose instance id differs from the one
recorded in ``/var/lib/cloud/data/instance-id`` — while ``bootcmd`` and the scripts in
``/var/lib/cloud/scripts/per-boot/`` run at every boot. File-writing happens here, in a root folder
(``/`` for the machine's PID 1, which has entered the machine's root; the root folder seen from the host
otherwise); commands are returned to the caller, which runs them inside the machine.

Files are read and written as root, so every path goes through :func:`resolve_inside`: resolved component
by component as ``chroot`` would, it never leads out of the root folder, whatever symlinks the machine
(or an image it came from) planted on the way; the last component is opened with O_NOFOLLOW.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import grp
import os
import pwd
import stat
from dataclasses import dataclass, field
from pathlib import Path

import yaml

INSTANCE_ID_FILE = "var/lib/cloud/data/instance-id"
PER_BOOT_DIR = "var/lib/cloud/scripts/per-boot"
OUTPUT_LOG = "var/log/cloud-init-output.log"
SUPPORTED = ("hostname", "bootcmd", "write_files", "mounts", "runcmd", "salt_minion")
SALT_MINION_KEYS = ("conf", "grains", "public_key", "private_key", "config_dir", "pki_dir")
MAX_SYMLINKS = 40  # as the kernel's path walk


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


# --------------------------------------------------------------------------- paths of a machine, kept inside its root


class UnsafePathError(CloudConfigError):
    """A path of the machine would lead out of its root (or to something other than a regular file), so
    it is not touched. Reported on the machine's console; cloud-init goes on with the rest."""


def resolve_inside(root, path):
    """``path`` of the machine as a host path under ``root``, resolved as ``chroot root`` would resolve it.

    Components are walked one by one; a symlink found on the way (planted in the disk or brought by an
    image) is followed relative to ``root``: an absolute target starts again at ``root``, so
    ``/etc/x -> /root`` means the machine's /root, never the host's. A ``..`` that would climb above
    ``root`` (in ``path`` or in a link's target), or a loop of links, raises UnsafePathError. Components
    that do not exist yet are kept as they are.
    """
    root = Path(root)
    resolved: list[str] = []
    pending = _parts(path)
    links = 0
    while pending:
        part = pending.pop()
        if part == "..":
            if not resolved:
                raise UnsafePathError(f"{path}: '..' climbs out of the machine's root")
            resolved.pop()
            continue
        candidate = root.joinpath(*resolved, part)
        if not candidate.is_symlink():
            resolved.append(part)
            continue
        links += 1
        if links > MAX_SYMLINKS:
            raise UnsafePathError(f"{path}: more than {MAX_SYMLINKS} symbolic links (a loop?)")
        target = os.readlink(candidate)
        if target.startswith("/"):
            resolved = []
        pending.extend(_parts(target))
    return root.joinpath(*resolved)


def _parts(path):
    """The components of ``path``, last first (a stack), without empty and ``.`` components."""
    return [part for part in reversed(str(path).split("/")) if part not in ("", ".")]


def open_inside(root, path, flags, mode=0o644):
    """A descriptor of the machine's regular file ``path``, opened from the host.

    ``path`` is resolved with :func:`resolve_inside`, the last component is opened with O_NOFOLLOW, and
    anything but a regular file (a FIFO or device node planted there) is refused. With O_CREAT, missing
    parent folders are made.
    """
    target = resolve_inside(root, path)
    if flags & os.O_CREAT:
        target.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(target, flags | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, mode)
    if not stat.S_ISREG(os.fstat(descriptor).st_mode):
        os.close(descriptor)
        raise UnsafePathError(f"{path}: not a regular file")
    return descriptor


def read_inside(root, path):
    """The text of the machine's file ``path`` ('' when there is none)."""
    try:
        descriptor = open_inside(root, path, os.O_RDONLY)
    except FileNotFoundError:
        return ""
    with os.fdopen(descriptor, "rb") as handle:
        return handle.read().decode("utf-8", errors="replace")


def write_inside(root, path, data, append=False, mode=0o644, owner=(0, 0)):
    """Write (or append) ``data`` to the machine's file ``path``, then give it ``mode`` and ``owner``."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if append else os.O_TRUNC)
    with os.fdopen(open_inside(root, path, flags, mode), "wb") as handle:
        handle.write(data.encode() if isinstance(data, str) else data)
        handle.flush()
        os.fchown(handle.fileno(), *owner)  # before the mode: a chown clears setuid bits
        os.fchmod(handle.fileno(), mode)


def makedirs_inside(root, path, mode=0o755):
    """Make the machine's folder ``path`` (and its parents); returns it as a host path."""
    folder = resolve_inside(root, path)
    folder.mkdir(parents=True, exist_ok=True, mode=mode)
    return folder


@contextlib.contextmanager
def reported(console, what):
    """Report a refused path (or a failed write) on the console and carry on, as cloud-init goes on after
    a failed module."""
    try:
        yield
    except UnsafePathError as err:
        console(f"{what}: refused: {err}")
    except OSError as err:
        console(f"{what}: failed: {err}")


# --------------------------------------------------------------------------- applying to a root


def is_first_boot(root, instance_id):
    """True when the machine last booted as another instance (or never)."""
    return read_inside(root, INSTANCE_ID_FILE).strip() != str(instance_id)


def record_instance(root, instance_id):
    """Remember that this instance has had its first boot."""
    write_inside(root, INSTANCE_ID_FILE, f"{instance_id}\n")


def write_files(config, root, console):
    """Apply ``write_files``; returns the paths written (a refused entry is reported and skipped)."""
    written = []
    for entry in config.write_files:
        content = entry.get("content", "")
        data = base64.b64decode(content) if entry.get("encoding") in ("b64", "base64") else content.encode()
        mode = int(str(entry.get("permissions", "0644")), 8)
        with reported(console, f"cloud-init: write_files {entry['path']}"):
            write_inside(root, entry["path"], data, bool(entry.get("append")), mode, _ids(entry.get("owner")))
            written.append(entry["path"])
    return written


def _ids(owner):
    """``user:group`` (or ``user``) as (uid, gid); root by default."""
    user, _, group = str(owner or "root:root").partition(":")
    return pwd.getpwnam(user).pw_uid, grp.getgrnam(group or user).gr_gid


def write_salt_minion(config, root, console):
    """Apply ``salt_minion``: minion config, grains and key pair, as cloud-init's module writes them."""
    section = config.salt_minion
    config_dir = section.get("config_dir", "/etc/salt")
    pki_dir = section.get("pki_dir", "/etc/salt/pki/minion")
    with reported(console, "cloud-init: salt_minion"):
        for name in ("conf", "grains"):
            if section.get(name):
                document = yaml.safe_dump(section[name], default_flow_style=False)
                write_inside(root, f"{config_dir}/{'minion' if name == 'conf' else name}", document)
        makedirs_inside(root, pki_dir, mode=0o700)
        if section.get("public_key"):
            write_inside(root, f"{pki_dir}/minion.pub", section["public_key"])
        if section.get("private_key"):
            write_inside(root, f"{pki_dir}/minion.pem", section["private_key"], mode=0o400)


def append_fstab(config, root):
    """Apply ``mounts``: one fstab line per entry (cloud-init's defaults for missing fields)."""
    if not config.mounts:
        return
    defaults = ["", "", "auto", "defaults,nofail", "0", "2"]
    lines = [" ".join((entry + defaults[len(entry):])[:6]) + " # cloud-init\n" for entry in config.mounts]
    write_inside(root, "/etc/fstab", "".join(lines), append=True)


def fstab_entries(root):
    """``(device, mount point, options)`` for every fstab line of the machine."""
    entries = []
    for line in read_inside(root, "/etc/fstab").splitlines():
        fields = line.split("#", 1)[0].split()
        if len(fields) >= 2:
            entries.append((fields[0], fields[1], fields[3] if len(fields) > 3 else "defaults"))
    return entries


def per_boot_scripts(root):
    """The executable scripts of ``/var/lib/cloud/scripts/per-boot``, in name order (paths inside)."""
    folder = resolve_inside(root, PER_BOOT_DIR)
    if not folder.is_dir():
        return []
    scripts = [f"/{PER_BOOT_DIR}/{name}" for name in sorted(os.listdir(folder))]
    return [script for script in scripts if _is_executable(root, script)]


def _is_executable(root, path):
    try:
        target = resolve_inside(root, path)
    except UnsafePathError:
        return False
    return target.is_file() and os.access(target, os.X_OK)


def as_argv(command):
    """A cloud-config command as argv: strings run through ``sh -c``, lists run as they are."""
    return ["/bin/sh", "-c", command] if isinstance(command, str) else list(command)
