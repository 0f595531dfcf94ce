"""The on-box half of salt-immutable, run on minions: ``salt <target> immutable.<function>``.

Standalone on purpose (Salt and the standard library only): it reaches minions through
``saltutil.sync_modules`` from ``salt://_modules``, where the salt-immutable package is not installed.
"""

import base64
import fnmatch
import glob
import hashlib
import inspect
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
from typing import TYPE_CHECKING

import salt.utils.yaml
from salt.exceptions import CommandExecutionError

if TYPE_CHECKING:
    __opts__: dict
    __grains__: dict
    __salt__: dict

__virtualname__ = "immutable"

RELEASE_FILE = "/etc/immutable-release"
HOSTNAME_FILE = "/etc/hostname"
HOSTS_FILE = "/etc/hosts"
# Written by the sealing sweep once the minion has stopped; read by check_image on a candidate.
SEAL_RECORD = "/var/lib/salt-immutable/seal.json"
# Grains that describe one machine (its role while baking) or block highstate: never baked.
IDENTITY_GRAINS = ("immutable", "state_runs_disabled")
BUILDER_ROLE = "builder"
# cloud-init's record of this instance: what it was given (user data, keys) and what it has done.
# Not /var/lib/cloud/scripts: the per-boot scripts a bake installs there belong to the image.
CLOUD_INIT_PATHS = (
    "/var/lib/cloud/instance",
    "/var/lib/cloud/instances",
    "/var/lib/cloud/data",
    "/var/lib/cloud/sem",
    "/var/lib/cloud/seed",
    "/var/lib/cloud/handlers",
    "/var/log/cloud-init*.log",
)
HISTORY_FILES = (
    ".bash_history", ".zsh_history", ".ash_history", ".history", ".python_history", ".node_repl_history",
    ".mysql_history", ".psql_history", ".sqlite_history", ".lesshst", ".viminfo", ".wget-hsts",
)
# What else makes a machine *this* machine, or holds what it has seen: removed before capture (globs).
IDENTITY_PATHS = (
    *CLOUD_INIT_PATHS,
    "/etc/ssh/ssh_host_*",
    *(f"{home}/{name}" for home in ("/root", "/home/*") for name in HISTORY_FILES),
)
SSH_HOST_PUBLIC_KEYS = "/etc/ssh/ssh_host_*_key.pub"
# Emptied, not removed: systemd fills an empty machine-id at first boot.
MACHINE_ID_FILES = ("/etc/machine-id", "/var/lib/dbus/machine-id")
LOG_DIR = "/var/log"
SYSTEMD_DIR = "/run/systemd/system"
SWEEP_DELAY_SECONDS = 2.0  # for the seal's job to return before its minion is stopped

SCAN_TOP = "/"
PROC_MOUNTS = "/proc/self/mounts"
# Top-level folders that are never part of a disk, whatever /proc/self/mounts says.
PSEUDO_TOP = ("proc", "sys", "dev", "run")
PSEUDO_FILESYSTEMS = frozenset({
    "proc", "sysfs", "devtmpfs", "devpts", "cgroup", "cgroup2", "securityfs", "debugfs", "tracefs",
    "mqueue", "pstore", "bpf", "autofs", "binfmt_misc", "configfs", "fusectl", "hugetlbfs", "nsfs",
    "efivarfs", "rpc_pipefs", "selinuxfs",
})
SCAN_CHUNK_BYTES = 4 * 1024 * 1024
MIN_SECRET_CHARS = 4  # shorter values are not looked for at all
MIN_ENCODED_BYTES = 8  # shorter encoded forms would match by chance
MIN_PEM_LINE = 16  # a PEM body line shorter than this (the last one, often) is not a needle
PEM_ENCODED_LINES = 2  # PEM body lines also looked for encoded (one line suffices to see a whole key)
URLSAFE = bytes.maketrans(b"+/", b"-_")


def __virtual__():
    return __virtualname__


def release(path=RELEASE_FILE):
    """
    Return the provenance baked into this server's image: fleet, version, states, base image, ...

    CLI Example:

    .. code-block:: bash

        salt 'web-*' immutable.release

    path
        The release file written into the image at bake time. Defaults to ``/etc/immutable-release``.
    """
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except FileNotFoundError as err:
        raise CommandExecutionError(
            f"immutable.release: {path} does not exist: this minion was not booted from a salt-immutable image"
        ) from err
    except (OSError, ValueError) as err:
        raise CommandExecutionError(f"immutable.release: cannot read {path}: {err}") from err


def _boot_time():
    """When this machine's PID 1 started, as a Unix time: the kernel's boot time plus PID 1's start.

    (The mtime of /proc/1 is when its proc entry was first looked up, not when the process started.)
    """
    with open("/proc/stat", encoding="ascii") as handle:
        btime = next(int(line.split()[1]) for line in handle if line.startswith("btime "))
    with open("/proc/1/stat", encoding="ascii") as handle:
        start_ticks = int(handle.read().rpartition(")")[2].split()[19])
    return btime + start_ticks / os.sysconf("SC_CLK_TCK")


# --------------------------------------------------------------------------- the secret scan


def _secret_values(keys):
    """The string values of pillar ``keys`` (colon-delimited paths), nested values included.

    A key that yields nothing to look for (missing, None, empty, or only values shorter than
    ``MIN_SECRET_CHARS``) is an error: a check that cannot fail is no check.
    """
    values = []

    def collect(value, into):
        if isinstance(value, dict):
            for item in value.values():
                collect(item, into)
        elif isinstance(value, (list, tuple)):
            for item in value:
                collect(item, into)
        elif value is not None and not isinstance(value, bool) and len(str(value)) >= MIN_SECRET_CHARS:
            into.append(str(value))

    for key in [keys] if isinstance(keys, str) else keys or ():
        found = []
        # Salt 3008 masks pillar values returned by pillar.get unless asked not to.
        collect(__salt__["pillar.get"](key, None, unmask=True), found)
        if not found:
            raise CommandExecutionError(
                f"immutable: the secret pillar key {key!r} has no value to look for (missing, empty, or shorter "
                f"than {MIN_SECRET_CHARS} characters): fix the pillar or the list of secret keys"
            )
        values.extend(found)
    return values


def _encodings(value):
    """``value`` as it may be written by a program: JSON- and URL-escaped, base64 (standard and urlsafe,
    at each of the 3 alignments it can have inside a larger base64 blob: only the characters fully
    determined by the value), and hex. Forms shorter than ``MIN_ENCODED_BYTES`` are left out."""
    raw = value.encode()
    texts = {
        json.dumps(value)[1:-1],
        json.dumps(value, ensure_ascii=False)[1:-1],
        json.dumps(value)[1:-1].replace("/", "\\/"),
        urllib.parse.quote(value, safe=""),
        urllib.parse.quote_plus(value, safe=""),
    }
    forms = {text.encode() for text in texts} | {raw.hex().encode()}
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + raw)
        # Character i holds bits 6i..6i+5: keep those entirely within the value's bits.
        determined = encoded[(8 * offset + 5) // 6 : 8 * (offset + len(raw)) // 6]
        forms.update((determined, determined.translate(URLSAFE)))
    return {form for form in forms if len(form) >= MIN_ENCODED_BYTES}


def _pem_body_lines(value):
    """The base64 lines of the PEM blocks in ``value`` (no armour, no ``Key: value`` headers)."""
    lines = (line.strip() for line in value.splitlines())
    return [line for line in lines if len(line) >= MIN_PEM_LINE and not line.startswith("-----") and ":" not in line]


def _needles(values):
    """The byte strings whose presence in a file means that it holds one of ``values``.

    A PEM value (one holding ``-----BEGIN``) is looked for by its body lines, so that a copy JSON-escaped
    (``\\n`` as two characters) or re-indented (YAML) is seen; two of its lines are also looked for encoded
    (any one line tells a copy of the whole key).
    Any other value is looked for raw and in each of its encodings.
    """
    needles = set()
    for value in values:
        lines = _pem_body_lines(value) if "-----BEGIN" in value else []
        if lines:
            needles.update(line.encode() for line in lines)
            for line in lines[1 : 1 + PEM_ENCODED_LINES]:
                needles.update(_encodings(line))
        else:
            needles.add(value.encode())
            needles.update(_encodings(value))
    return sorted(needles, key=lambda needle: (len(needle), needle))


def _unescape_mount_field(field):
    """/proc/self/mounts writes a space as ``\\040`` (octal escapes)."""
    return re.sub(r"\\([0-7]{3})", lambda match: chr(int(match.group(1), 8)), field)


def _pseudo_mounts(mounts_text, top="/"):
    """Mount points (from /proc/self/mounts content) that are not storage: no disk holds what is below them.

    A tmpfs is pseudo only on ``run`` or ``dev`` (under ``top``): a tmpfs /tmp is scanned.
    """
    points = {os.path.join(top, name) for name in PSEUDO_TOP}
    volatile = tuple(os.path.join(top, name) for name in ("run", "dev"))
    for line in mounts_text.splitlines():
        fields = line.split()
        if len(fields) < 3:
            continue
        point, fstype = os.path.normpath(_unescape_mount_field(fields[1])), fields[2]
        if fstype in PSEUDO_FILESYSTEMS or (
            fstype == "tmpfs" and any(point == base or point.startswith(base + os.sep) for base in volatile)
        ):
            points.add(point)
    return points


def _scan_roots(top, pseudo):
    """Every top-level folder of ``top`` but the pseudo filesystems (symlinks are not followed)."""
    try:
        entries = sorted(os.scandir(top), key=lambda entry: entry.name)
    except OSError:
        return []
    return [entry.path for entry in entries if entry.is_dir(follow_symlinks=False) and entry.path not in pseudo]


def _changed_files(roots, since, skip=frozenset()):
    """Regular files below ``roots`` whose content or inode changed at or after ``since``.

    ``max(mtime, ctime)``: a copy that kept an old mtime (``cp -p``, ``tar -x``) still has a new ctime.
    Symlinks are not followed; folders and files in ``skip`` are not entered. A file costs one lstat.
    """
    pending = [root for root in roots if root not in skip and os.path.isdir(root)]
    while pending:
        try:
            with os.scandir(pending.pop()) as listing:
                entries = list(listing)
        except OSError:
            continue
        for entry in entries:
            try:
                if entry.path in skip:
                    continue
                if entry.is_dir(follow_symlinks=False):
                    pending.append(entry.path)
                elif entry.is_file(follow_symlinks=False):
                    info = entry.stat(follow_symlinks=False)
                    if info.st_mtime >= since or info.st_ctime >= since:
                        yield entry.path
            except OSError:
                continue


def _holds_any(path, needles, overlap):
    """True when the file holds one of ``needles``; read in chunks that overlap by ``overlap`` bytes."""
    tail = b""
    try:
        with open(path, "rb") as handle:
            while chunk := handle.read(SCAN_CHUNK_BYTES):
                window = tail + chunk if tail else chunk
                if any(needle in window for needle in needles):
                    return True
                tail = window[-overlap:] if overlap else b""
    except OSError:
        return False
    return False


def _scan(secrets, roots, since, exclude):
    """The files below ``roots`` (default: every disk folder of /) changed since ``since`` that hold a secret."""
    pseudo = _pseudo_mounts(_read(PROC_MOUNTS), SCAN_TOP)
    if roots:
        roots = [os.path.normpath(root) for root in ([roots] if isinstance(roots, str) else roots)]
    else:
        roots = _scan_roots(SCAN_TOP, pseudo)
    skip = frozenset(pseudo | {os.path.normpath(path) for path in exclude or ()})
    needles = _needles(secrets)
    found, read = [], 0
    if needles:
        overlap = max(len(needle) for needle in needles) - 1
        for path in _changed_files(roots, since, skip):
            read += 1
            if _holds_any(path, needles, overlap):
                found.append(path)
    return {"secrets": len(secrets), "found": sorted(found), "roots": roots, "files_read": read}


def scan_secrets(keys=None, roots=None, since=None, values=None, exclude=None):
    """
    List the files that hold a secret: a value of the pillar ``keys``, or one of ``values``.

    Each value is looked for raw and as programs write it: JSON-escaped, URL-escaped (``quote`` and
    ``quote_plus``), hex (lowercase), base64 and urlsafe base64, alone or inside a larger base64 blob at
    any offset. A PEM value (``-----BEGIN``: a private key) is looked for by each of its body lines of 16
    characters or more, so a copy with ``\\n`` escaped (JSON, cloud-init's files) or re-indented (YAML) is
    found. Values shorter than 4 characters are not looked for, nor encoded forms shorter than 8 bytes
    (they would match by chance); a line-wrapped base64 copy of a long value is not recognised.

    Only files changed since ``since`` are read: ``max(mtime, ctime)``, so a copy that kept an old mtime
    (``cp -p``, ``tar -x``) is read too. The secret values never leave the minion: they are read from
    its own pillar, and only file names are returned.

    CLI Example:

    .. code-block:: bash

        salt builder immutable.scan_secrets keys='[webapp:build_token]'
        salt builder immutable.scan_secrets keys='[webapp:build_token]' roots='[/srv, /opt]' since=0

    keys
        Pillar keys (colon-delimited) whose values are secret. A key that resolves to no value (missing,
        None, empty) is an error naming it. Defaults to none.
    roots
        Folders to search. Defaults to every top-level folder of ``/`` (``/tmp`` included) except the
        pseudo filesystems: ``/proc``, ``/sys``, ``/dev``, ``/run``, and any folder mounted as proc, sysfs,
        devtmpfs, devpts, cgroup(2), securityfs, debugfs, tracefs, mqueue, pstore, bpf, autofs, binfmt_misc,
        configfs, fusectl, hugetlbfs, nsfs, efivarfs, rpc_pipefs or selinuxfs, or as a tmpfs on /run or
        /dev. Such mounts found below the roots are not entered either. Symlinks are never followed.
    since
        Unix time; files neither modified nor changed since are skipped. Defaults to the machine's boot
        time; 0 reads every file.
    values
        Further secret strings (used by ``seal`` for the minion's own private key). Defaults to none.
    exclude
        Paths (files or folders) not to search. Defaults to none.

    Returns ``{"secrets": <number of values>, "found": [files], "roots": [folders], "files_read": <n>}``.
    """
    secrets = _secret_values(keys) + [str(value) for value in values or () if len(str(value)) >= MIN_SECRET_CHARS]
    start = _boot_time() if since is None else float(since)
    return _scan(secrets, roots, start, exclude)


# --------------------------------------------------------------------------- what a seal removes


def _log_path(log_file):
    """The minion's log file, or None when it logs elsewhere: ``udp://``, ``tcp://`` and ``file://`` are
    Salt's syslog targets (``file:///dev/log`` is the syslog socket, never to be removed)."""
    if not log_file or re.match(r"^(udp|tcp|file)://", str(log_file), re.IGNORECASE):
        return None
    return str(log_file)


def _config_dir(opts):
    return os.path.dirname(opts["conf_file"]) if opts.get("conf_file") else None


def _minion_paths(opts):
    """What the running minion needs or writes, found from its own opts: removed once it has stopped.

    Its keys (``pki_dir``), cache (``cachedir``), log (``log_file`` and its rotations), config
    (``conf_file``) and, next to it, ``minion_id`` and ``minion.d/_schedule.conf``, and its ``pidfile``.
    """
    config_dir = _config_dir(opts)
    paths = [opts.get("pki_dir"), opts.get("cachedir"), opts.get("conf_file"), opts.get("pidfile")]
    if config_dir:
        paths += [os.path.join(config_dir, "minion_id"), os.path.join(config_dir, "minion.d", "_schedule.conf")]
    log_file = _log_path(opts.get("log_file"))
    if log_file:
        paths += [log_file, glob.escape(log_file) + ".*"]
    paths = sorted({os.path.normpath(str(path)) for path in paths if path})
    shallow = [path for path in paths if not os.path.isabs(path) or len(path.strip(os.sep).split(os.sep)) < 2]
    if shallow:
        raise CommandExecutionError(
            f"immutable.seal: refusing to remove {', '.join(shallow)}: a minion path from the minion config "
            "must be an absolute path at least two folders deep"
        )
    return paths


def _expand(patterns):
    """The paths that ``patterns`` (literal paths or globs) name now."""
    paths = []
    for pattern in patterns:
        if any(char in pattern for char in "*?["):
            paths.extend(sorted(glob.glob(pattern)))
        else:
            paths.append(pattern)
    return paths


def _existing(patterns):
    return [path for path in _expand(patterns) if os.path.lexists(path)]


def _remove(path):
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    else:
        os.unlink(path)


def _strip_identity_grains(grains_file):
    """Drop the identity grains from the minion's grains file; returns the keys dropped."""
    if not grains_file or not os.path.exists(grains_file):
        return []
    with open(grains_file, encoding="utf-8") as handle:
        grains = salt.utils.yaml.safe_load(handle) or {}
    dropped = [key for key in IDENTITY_GRAINS if key in grains]
    for key in dropped:
        del grains[key]
    if grains:
        with open(grains_file, "w", encoding="utf-8") as handle:
            salt.utils.yaml.safe_dump(grains, handle, default_flow_style=False)
    else:
        os.unlink(grains_file)
    return dropped


def _forget_hostname():
    """A fresh machine gets its own name at boot: drop this one from /etc/hostname and /etc/hosts."""
    hostname = socket.gethostname()
    if os.path.exists(HOSTNAME_FILE):
        with open(HOSTNAME_FILE, "w", encoding="utf-8") as handle:
            handle.write("localhost\n")
    if os.path.exists(HOSTS_FILE):
        with open(HOSTS_FILE, encoding="utf-8") as handle:
            lines = handle.read().splitlines()
        kept = [line for line in lines if hostname not in line.split("#", 1)[0].split()[1:]]
        with open(HOSTS_FILE, "w", encoding="utf-8") as handle:
            handle.write("\n".join(kept) + "\n")
    return hostname


def _builder_refusal(opts, grains):
    """Why this minion is not a builder of salt-immutable (None when it is one, by id AND grains).

    A builder has the grains ``immutable:role: builder``, ``immutable:fleet`` and ``immutable:version``,
    and the id ``<fleet>-<version>-build`` that the bake gives it.
    """
    minion_id = opts.get("id")
    mine = grains.get("immutable") if isinstance(grains.get("immutable"), dict) else {}
    role, fleet, version = mine.get("role"), mine.get("fleet"), mine.get("version")
    reasons = []
    if role != BUILDER_ROLE:
        reasons.append(f"its grain immutable:role is {role!r}, not {BUILDER_ROLE!r}")
    if not fleet or not version:
        reasons.append("it has no immutable:fleet and immutable:version grains")
    elif minion_id != f"{fleet}-{version}-build":
        reasons.append(f"its id is not {fleet}-{version}-build, the builder id of fleet {fleet} version {version}")
    if not reasons:
        return None
    return (
        f"refused to seal minion {minion_id!r}: it is not a salt-immutable builder ({'; '.join(reasons)}). "
        "Sealing removes this machine's identity (minion id, keys, SSH host keys, machine-id) and stops its "
        f"minion. To seal it anyway: salt {minion_id} immutable.seal confirm=True"
    )


# --------------------------------------------------------------------------- the detached sweep
# These functions also run alone, as the script of the detached sweeper (see _sweeper_script): they may
# use only glob, json, os, shutil, signal, subprocess and time, and take every path as an argument.


def _sweep(patterns):
    for path in _expand(patterns):
        try:
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path, ignore_errors=True)
            elif os.path.lexists(path):
                os.unlink(path)
        except OSError:
            pass


def _read_pid(pidfile):
    try:
        with open(pidfile, encoding="ascii") as handle:
            return int(handle.read().strip())
    except (OSError, TypeError, ValueError):
        return None


def _process_alive(pid):
    """True while process ``pid`` runs (a zombie has stopped)."""
    if os.path.isdir("/proc/self"):
        try:
            with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as handle:
                return handle.read().rpartition(")")[2].split()[0] != "Z"
        except FileNotFoundError:
            return False
        except (OSError, IndexError):
            pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _stop_minion(pid, systemd_dir, timeout):
    """Stop the salt-minion; True once its process ``pid`` is gone."""
    if os.path.isdir(systemd_dir):
        code = subprocess.call(
            ["systemctl", "stop", "salt-minion"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        if pid is None:
            return code == 0
    elif pid is None:
        return False
    else:
        try:
            os.kill(pid, signal.SIGTERM)
        except OSError:
            return not _process_alive(pid)
    deadline = time.monotonic() + timeout
    while _process_alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def _seal_record(patterns, stopped, now):
    """What the sweep achieved: no identity in it, only whether it completed and what it could not remove."""
    return {
        "complete": bool(stopped),
        "finished_at": now,
        "remaining": sorted(path for path in _expand(patterns) if os.path.lexists(path)),
    }


def _write_record(path, record):
    """Write ``record`` as JSON to ``path`` (mode 0644), atomically."""
    os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
    partial = path + ".partial"
    with open(partial, "w", encoding="utf-8") as handle:
        json.dump(record, handle, indent=1, sort_keys=True)
        handle.write("\n")
    os.chmod(partial, 0o644)
    os.replace(partial, path)


def _power_off(systemd_dir, init_pid):
    """Power the machine off: through systemd where it runs, else by asking init (``init_pid``) to stop."""
    if os.path.isdir(systemd_dir):
        subprocess.call(
            ["systemctl", "poweroff"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
    else:
        os.kill(init_pid, signal.SIGTERM)


def _sweep_and_record(
    patterns, record, pidfile, delay, stop, systemd_dir="/run/systemd/system", timeout=10.0, poweroff=False, init_pid=1
):
    """After the seal's job has returned (``delay``): sweep, stop the minion, sweep again (a stopping
    minion still logs), then write the seal record: ``complete`` is whether the minion stopped. With
    ``poweroff``, the machine then powers itself off: the end of the seal its owner can see from outside
    (the Linode goes offline), also when the record says the seal is incomplete (the proof reads it)."""
    pid = _read_pid(pidfile)
    time.sleep(delay)
    _sweep(patterns)
    stopped = _stop_minion(pid, systemd_dir, timeout) if stop else True
    _sweep(patterns)
    _write_record(record, _seal_record(patterns, stopped, time.time()))
    if poweroff:
        _power_off(systemd_dir, init_pid)


SWEEPER_FUNCTIONS = (
    _expand, _sweep, _read_pid, _process_alive, _stop_minion, _seal_record, _write_record, _power_off,
    _sweep_and_record,
)


def _sweeper_script(patterns, record, pidfile, delay, stop=True, systemd_dir=None, poweroff=False, init_pid=1):
    """The Python source of the detached sweeper: this module's sweep functions and one call to them."""
    systemd_dir = systemd_dir or SYSTEMD_DIR
    functions = "\n\n".join(inspect.getsource(function) for function in SWEEPER_FUNCTIONS)
    call = (
        f"_sweep_and_record({list(patterns)!r}, {record!r}, {pidfile!r}, {delay!r}, {stop!r}, {systemd_dir!r}, "
        f"poweroff={poweroff!r}, init_pid={init_pid!r})"
    )
    return f"import glob, json, os, shutil, signal, subprocess, time\n\n\n{functions}\n\n\n{call}\n"


def _start_sweeper(script):
    """Run ``script`` detached from the minion, so that it outlives the minion it stops."""
    subprocess.Popen(
        [sys.executable, "-c", script],
        cwd="/",
        start_new_session=True,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


# --------------------------------------------------------------------------- seal


def _seal_plan(opts):
    """What a seal of this minion removes, empties and sweeps, computed without changing anything."""
    since = _boot_time()
    minion = _minion_paths(opts)
    logs = list(_changed_files([LOG_DIR], since, frozenset(_expand(minion))))
    config_dir = _config_dir(opts)
    return {
        "since": since,
        "minion": minion,
        "remove": sorted(set(_existing(IDENTITY_PATHS) + logs)),
        "empty": [path for path in MACHINE_ID_FILES if os.path.exists(path) and os.path.getsize(path)],
        "grains_file": os.path.join(config_dir, "grains") if config_dir else None,
        "private_key": os.path.join(opts["pki_dir"], "minion.pem") if opts.get("pki_dir") else None,
        # What the sweeper removes once the minion has stopped, and checks again before writing its record.
        "sweep": minion + list(IDENTITY_PATHS),
    }


def _clear_identity(plan, release):
    """The seal's first phase: everything but what the running minion needs. Returns the grains dropped
    and the hostname forgotten."""
    if os.path.lexists(SEAL_RECORD):  # a record from an earlier seal would vouch for this one
        os.unlink(SEAL_RECORD)
    if release is not None:
        with open(RELEASE_FILE, "w", encoding="utf-8") as handle:
            json.dump(release, handle, indent=1, sort_keys=True)
    for path in plan["remove"]:
        _remove(path)
    for path in plan["empty"]:
        open(path, "w").close()
    return _strip_identity_grains(plan["grains_file"]), _forget_hostname()


def seal(release=None, secret_keys=None, stop_minion=True, poweroff=False, test=False, confirm=False):
    """
    Remove this machine's identity and traces so that its disk can be captured as an image.

    Refuses, changing nothing, unless this minion is a salt-immutable builder by id AND grains (grains
    ``immutable:role: builder``, ``immutable:fleet``, ``immutable:version``, and the id
    ``<fleet>-<version>-build``) or ``confirm=True`` is given: this function is synced to every minion.

    Writes the release file (when given); removes SSH host keys, shell histories of /root and /home/*,
    cloud-init's instance state and logs, and the logs of this boot; empties the machine-id files; drops
    the identity grains and the hostname; then scans every disk folder for secrets. When a secret is found
    it fails, listing the files, and leaves the minion running. Otherwise, once this call has returned, a
    detached sweeper removes what the minion itself needs, located from the minion's own config (its keys
    ``pki_dir``, ``cachedir``, ``log_file``, the config file ``conf_file`` and next to it ``minion_id`` and
    ``minion.d/_schedule.conf``, its ``pidfile``), stops the minion, sweeps again and writes the seal record
    ``/var/lib/salt-immutable/seal.json`` that ``immutable.check_image`` reads. With ``poweroff=True`` (as
    ``immutable.bake`` asks, having turned the Linode's Shutdown Watchdog off) the machine then powers
    itself off, which its owner sees as the Linode going offline: the end of the seal.

    CLI Example:

    .. code-block:: bash

        salt web-1.0.0-build immutable.seal secret_keys='[webapp:build_token]' test=True
        salt web-1.0.0-build immutable.seal secret_keys='[webapp:build_token]'

    release
        Provenance to write as JSON into ``/etc/immutable-release``. Defaults to none.
    secret_keys
        Pillar keys whose values must not be left on disk; a key without a value is an error. Defaults to
        none (the minion's private key is always looked for).
    stop_minion
        Once this call has returned, remove the minion's own id, keys, caches and logs, stop it and write
        the seal record. Defaults to True.
    poweroff
        Once the seal record is written, power the machine off (``systemctl poweroff``; without systemd,
        SIGTERM to init). Only with ``stop_minion``. Defaults to False.
    test
        Only list what would be removed (also on a minion that is not a builder: ``refused`` says why a
        real seal would be refused). Defaults to False.
    confirm
        Seal even though this minion is not a salt-immutable builder. Defaults to False.
    """
    refusal = None if confirm else _builder_refusal(__opts__, __grains__)
    if refusal and not test:
        raise CommandExecutionError(f"immutable.seal: {refusal}")
    plan = _seal_plan(__opts__)
    minion_paths = _existing(plan["minion"])
    if test:
        return {
            "result": None,
            "would_remove": plan["remove"] + minion_paths,
            "would_empty": plan["empty"],
            "refused": refusal,
        }
    # Everything that can fail without changing anything comes first.
    secrets = _secret_values(secret_keys)
    private_key = _read(plan["private_key"]) if plan["private_key"] else ""
    sweeper = None
    if stop_minion:
        try:
            sweeper = _sweeper_script(
                plan["sweep"], SEAL_RECORD, __opts__.get("pidfile"), SWEEP_DELAY_SECONDS, poweroff=bool(poweroff)
            )
        except (OSError, TypeError) as err:  # inspect cannot find this module's source
            raise CommandExecutionError(f"immutable.seal: cannot build the sweeper: {err}") from err

    grains, hostname = _clear_identity(plan, release)
    # What the minion still needs is removed after it returns, so it is not searched here.
    scan = _scan(secrets + ([private_key] if private_key else []), None, plan["since"], _expand(plan["minion"]))
    if scan["found"]:
        raise CommandExecutionError(
            "immutable.seal: secrets are still on disk in: " + ", ".join(scan["found"]),
            info={"found": scan["found"], "removed": plan["remove"]},
        )
    if sweeper:
        try:
            _start_sweeper(sweeper)
        except OSError as err:
            raise CommandExecutionError(
                f"immutable.seal: sealed, but the sweeper that stops the minion could not start: {err}"
            ) from err
    return {
        "result": True,
        "removed": plan["remove"] + (minion_paths if stop_minion else []),
        "emptied": plan["empty"],
        "grains_removed": grains,
        "hostname_forgotten": hostname,
        "secrets_checked": len(secrets),
        "seal_record": SEAL_RECORD if stop_minion else None,
        "sealed_at": time.time(),
    }


def _read(path):
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read().strip()
    except (FileNotFoundError, NotADirectoryError):
        return ""


# --------------------------------------------------------------------------- identity and the candidate check


def _sha256(text):
    """The SHA-256 of ``text`` stripped, or None when there is no text."""
    text = (text or "").strip()
    return hashlib.sha256(text.encode()).hexdigest() if text else None


def _ssh_key_sha256(path):
    """The SHA-256 of an SSH public key's type and key (not its comment, which names a host)."""
    return _sha256(" ".join(_read(path).split()[:2]))


def _identity(opts):
    pki_dir = opts.get("pki_dir")
    return {
        "minion_id": opts.get("id"),
        "public_key_sha256": _sha256(_read(os.path.join(pki_dir, "minion.pub"))) if pki_dir else None,
        "machine_id_sha256": _sha256(_read(MACHINE_ID_FILES[0])),
        "ssh_host_keys_sha256": {
            os.path.basename(path): _ssh_key_sha256(path) for path in sorted(glob.glob(SSH_HOST_PUBLIC_KEYS))
        },
    }


def identity():
    """
    Return what makes this machine itself, as hashes only: minion id, public key, machine-id, SSH host keys.

    The bake calls it on the builder before sealing, and gives the result to ``immutable.check_image`` on
    a candidate booted from the image, which must share none of it. No secret is returned: the public key
    and SSH host keys are SHA-256 hashes of their text (an SSH key's type and key, without its comment).

    CLI Example:

    .. code-block:: bash

        salt web-1.0.0-build immutable.identity

    Returns ``{"minion_id": str, "public_key_sha256": str|None, "machine_id_sha256": str|None,
    "ssh_host_keys_sha256": {file name: str}}``; None where the file is missing or empty.
    """
    return _identity(__opts__)


def _seal_record_problems(path):
    try:
        with open(path, encoding="utf-8") as handle:
            record = json.load(handle)
    except FileNotFoundError:
        return None, [f"no seal record {path}: the image was not sealed, or its sealing sweep never finished"]
    except (OSError, ValueError) as err:
        return None, [f"the seal record {path} cannot be read: {err}"]
    if not isinstance(record, dict):
        return None, [f"the seal record {path} is not a JSON object"]
    problems = []
    if record.get("complete") is not True:
        problems.append(f"the seal record {path} says the sealing sweep did not complete (the minion did not stop)")
    if record.get("remaining"):
        left = ", ".join(map(str, record["remaining"]))
        problems.append(f"the seal record {path} lists paths the sweep left: {left}")
    return record, problems


def _files_hashing_to(folders, digest, max_bytes=64 * 1024):
    """Regular files (up to ``max_bytes``) below ``folders`` whose stripped text hashes to ``digest``."""
    holders = []
    for path in _changed_files([folder for folder in folders if folder], 0):
        try:
            if os.path.getsize(path) <= max_bytes and _sha256(_read(path)) == digest:
                holders.append(path)
        except (OSError, UnicodeDecodeError):
            continue
    return sorted(set(holders))


def _shared_identity(builder, opts):
    """What this machine shares with the builder whose ``immutable.identity`` is ``builder``."""
    mine = _identity(opts)
    problems = []
    builder_id = builder.get("minion_id")
    if builder_id and mine["minion_id"] == builder_id:
        problems.append(f"the minion id {builder_id!r} is the builder's")
    config_dir = _config_dir(opts)
    if builder_id and config_dir and _read(os.path.join(config_dir, "minion_id")) == builder_id:
        problems.append(f"{os.path.join(config_dir, 'minion_id')} holds the builder's minion id {builder_id!r}")
    public_key = builder.get("public_key_sha256")
    if public_key:
        pki_dir = opts.get("pki_dir")
        folders = {os.path.dirname(os.path.normpath(pki_dir)) if pki_dir else None, config_dir}
        problems.extend(f"{path} holds the builder's public key" for path in _files_hashing_to(folders, public_key))
    if builder.get("machine_id_sha256") and mine["machine_id_sha256"] == builder["machine_id_sha256"]:
        problems.append(f"{MACHINE_ID_FILES[0]} is the builder's machine-id")
    builder_keys = {digest for digest in (builder.get("ssh_host_keys_sha256") or {}).values() if digest}
    problems.extend(
        f"the SSH host key {os.path.join(os.path.dirname(SSH_HOST_PUBLIC_KEYS), name)} is the builder's"
        for name, digest in sorted(mine["ssh_host_keys_sha256"].items())
        if digest in builder_keys
    )
    return problems


def check_image(builder=None):
    """
    Check, on a candidate booted from a new image, that the image was sealed and holds no builder identity.

    Fails (``result`` False, each problem naming what) when the seal record
    ``/var/lib/salt-immutable/seal.json`` is missing, says the sweep did not complete or lists paths left
    behind; and, given the builder's identity, when this machine has the builder's minion id (in its
    config or ``minion_id`` file), public key (any file of its pki folders or config folder), machine-id or
    any of its SSH host keys. Only hashes are compared.

    CLI Example:

    .. code-block:: bash

        salt web-1.0.0-proof immutable.check_image builder='{"minion_id": "web-1.0.0-build", ...}'

    builder
        What ``immutable.identity`` returned on the builder before it was sealed. Defaults to none: only
        the seal record is checked.

    Returns ``{"result": bool, "problems": [str], "seal_record": <the record, or None>}``.
    """
    if builder is not None and not isinstance(builder, dict):
        raise CommandExecutionError(
            "immutable.check_image: builder must be the dict that immutable.identity returned on the builder"
        )
    record, problems = _seal_record_problems(SEAL_RECORD)
    if builder:
        problems += _shared_identity(builder, __opts__)
    return {"result": not problems, "problems": problems, "seal_record": record}


def verify(states=None, saltcheck=None, converge=True):
    """
    Prove this machine: run the saltcheck tests of ``saltcheck`` and require ``states`` to report zero
    changes under ``test=True``.

    CLI Example:

    .. code-block:: bash

        salt candidate immutable.verify states='[examples.webapp]' saltcheck='[examples.webapp]'

    states
        The bake states whose converge check must show no change. Defaults to none.
    saltcheck
        States whose saltcheck tests must pass. Defaults to none.
    converge
        Run the converge check. Defaults to True.
    """
    failures = []
    tests = {}
    for state in saltcheck or ():
        result = __salt__["saltcheck.run_state_tests"](state)
        tests[state] = result
        failures.extend(f"saltcheck {state}: {name}" for name in _failed_tests(result))
    changes = {}
    if converge and states:
        applied = __salt__["state.apply"](",".join(states), test=True)
        changes = _pending_changes(applied)
        if not isinstance(applied, dict):
            failures.append(f"converge check could not run: {applied}")
        failures.extend(f"converge: {state_id} would change" for state_id in changes)
    return {"result": not failures, "failures": failures, "tests": tests, "changes": changes}


def drift(states=None, ignore=None):
    """
    Report how this server differs from what its bake states would make of it, changing nothing.

    Runs the states with ``test=True`` (never for real) and lists every state that would change or did not
    pass: a file edited by hand, a package removed, a service stopped. A state that cannot be rendered or
    compiled is an error naming the states and what failed.

    CLI Example:

    .. code-block:: bash

        salt 'web-*' immutable.drift
        salt 'web-*' immutable.drift ignore='[/etc/motd, "*-cache"]'
        salt web-g1-1 immutable.drift states='[examples.webapp]'

    states
        The states whose drift is checked; with none given and no ``bake_states`` recorded (or no release
        file) it is an error. Defaults to the ``bake_states`` of the release file ``/etc/immutable-release``.
    ignore
        Glob patterns (``fnmatch``) of known noise, matched against each drifted state's id and name (for a
        file state, its path): a state that matches is listed under ``ignored``, not ``drifted``. Defaults
        to none.

    Returns ``{"result": bool (True: no drift), "fleet": str|None, "version": str|None, "states": [str],
    "drifted": [{"id", "state", "name", "comment", "changes"}], "files": [sorted paths of the drifted
    file.* states], "ignored": [entries shaped as in drifted]}``; fleet and version come from the release
    file, None without one.
    """
    provenance = release(RELEASE_FILE) if os.path.lexists(RELEASE_FILE) else {}
    if not isinstance(provenance, dict):
        raise CommandExecutionError(f"immutable.drift: {RELEASE_FILE} does not hold a JSON object")
    states = states.split(",") if isinstance(states, str) else list(states or provenance.get("bake_states") or ())
    if not states:
        why = "records no bake_states" if provenance else "does not exist"
        raise CommandExecutionError(
            f"immutable.drift: {RELEASE_FILE} {why} and no states were given: pass states='[<sls>, ...]'"
        )
    applied = __salt__["state.apply"](",".join(states), test=True)
    if not isinstance(applied, dict):
        errors = "; ".join(map(str, applied)) if isinstance(applied, list) else str(applied)
        raise CommandExecutionError(f"immutable.drift: the states {', '.join(states)} cannot be checked: {errors}")
    patterns = [ignore] if isinstance(ignore, str) else list(ignore or ())
    drifted, ignored = [], []
    for key, entry in sorted(_pending(applied), key=lambda item: item[1].get("__run_num__", 0)):
        found = _drift_entry(key, entry)
        (ignored if _matches(found, patterns) else drifted).append(found)
    return {
        "result": not drifted,
        "fleet": provenance.get("fleet"),
        "version": provenance.get("version"),
        "states": states,
        "drifted": drifted,
        "files": sorted({entry["name"] for entry in drifted if entry["state"].startswith("file.")}),
        "ignored": ignored,
    }


def _failed_tests(result):
    failed = []
    for entry in result if isinstance(result, list) else [result]:
        for state_result in (entry or {}).values():
            if not isinstance(state_result, dict):
                continue
            for name, outcome in state_result.items():
                if name != "TEST RESULTS" and isinstance(outcome, dict) and outcome.get("status") != "Pass":
                    failed.append(name)
    return failed


def _pending(applied):
    """The ``(key, entry)`` of each state of a ``state.apply`` result that would change or did not pass."""
    if not isinstance(applied, dict):
        return []
    return [(key, entry) for key, entry in applied.items() if entry.get("result") is not True or entry.get("changes")]


def _pending_changes(applied):
    return {state_id: entry.get("changes") or entry.get("comment") for state_id, entry in _pending(applied)}


def _drift_entry(key, entry):
    """One drifted state of a ``state.apply`` result; its key reads ``<module>_|-<id>_|-<name>_|-<function>``."""
    module, _, rest = key.partition("_|-")
    state_id, _, rest = rest.partition("_|-")
    name, _, function = rest.rpartition("_|-")
    return {
        "id": entry.get("__id__", state_id),
        "state": f"{module}.{function}",
        "name": entry.get("name", name),
        "comment": entry.get("comment", ""),
        "changes": entry.get("changes") or {},
    }


def _matches(entry, patterns):
    return any(fnmatch.fnmatchcase(str(entry[field]), pattern) for pattern in patterns for field in ("id", "name"))


def volume_marker(mount, write=None):
    """
    Read the salt-immutable marker of the volume mounted on ``mount`` (``<mount>/.immutable-volume``), and
    write ``write`` there when the volume has none yet (a stateful fleet's fresh volume).

    CLI Example:

    .. code-block:: bash

        salt db-g1-1 immutable.volume_marker /var/lib/db

    mount
        The mount point of the volume. A folder that is no mount point is reported ``mounted: False`` and
        nothing is written into it (it would land on the root disk). Required.
    write
        The marker (a mapping, such as ``{"volume_id": 7, "slot": 1, "fleet": "db"}``) to write when there
        is none. Defaults to None: read only.
    """
    mount = os.path.realpath(mount)
    with open("/proc/self/mountinfo", encoding="utf-8") as mounts:  # the fifth field is the mount point
        points = {line.split()[4].encode().decode("unicode_escape") for line in mounts if line.strip()}
    path = os.path.join(mount, ".immutable-volume")
    marker = None
    if mount in points and os.path.exists(path):
        with open(path, encoding="utf-8") as found:
            marker = json.load(found)
    elif mount in points and write:
        with open(path, "w", encoding="utf-8") as written:
            json.dump(dict(write), written, sort_keys=True)
        marker = dict(write)
    return {"mounted": mount in points, "marker": marker, "path": path}
