"""The on-box half of salt-immutable, run on minions: ``salt <target> immutable.<function>``.

Standalone on purpose (Salt and the standard library only): it reaches minions through
``saltutil.sync_modules`` from ``salt://_modules``, where the salt-immutable package is not installed.
"""

import glob
import json
import os
import shutil
import socket
import subprocess
import sys
import time

import salt.utils.yaml
from salt.exceptions import CommandExecutionError

__virtualname__ = "immutable"

RELEASE_FILE = "/etc/immutable-release"
GRAINS_FILE = "/etc/salt/grains"
HOSTNAME_FILE = "/etc/hostname"
HOSTS_FILE = "/etc/hosts"
# Grains that describe one machine (its role while baking) or block highstate: never baked.
IDENTITY_GRAINS = ("immutable", "state_runs_disabled")
# What the running minion itself needs until it has returned the seal's result: removed right after,
# just before the minion stops.
MINION_PATHS = (
    "/etc/salt/minion_id",
    "/etc/salt/minion",
    "/etc/salt/minion.d/_schedule.conf",
    "/etc/salt/pki/minion/minion.pem",
    "/etc/salt/pki/minion/minion.pub",
    "/etc/salt/pki/minion/minion_master.pub",
    "/var/cache/salt/minion",
    "/var/log/salt",
)
# What else makes a machine *this* machine, or holds what it has seen: removed before capture.
IDENTITY_PATHS = (
    "/var/log/cloud-init.log",
    "/var/log/cloud-init-output.log",
    "/var/lib/cloud/instance",
    "/var/lib/cloud/instances",
    "/var/lib/cloud/data",
    "/var/lib/cloud/sem",
    "/var/lib/cloud/seed",
    "/etc/ssh/ssh_host_*",
    "/root/.bash_history",
    "/root/.python_history",
    "/root/.lesshst",
    "/root/.viminfo",
    "/home/*/.bash_history",
    "/home/*/.python_history",
)
MACHINE_ID_FILES = ("/etc/machine-id", "/var/lib/dbus/machine-id")
PRIVATE_KEY = "/etc/salt/pki/minion/minion.pem"
SCAN_ROOTS = ("/etc", "/opt", "/srv", "/var", "/root", "/home", "/usr/local")
SCAN_CHUNK_BYTES = 4 * 1024 * 1024
MINION_PIDFILE = "/var/run/salt-minion.pid"


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


def _secret_values(keys):
    """The string values of pillar ``keys`` (colon-delimited paths), nested values included."""
    values = []

    def collect(value):
        if isinstance(value, dict):
            for item in value.values():
                collect(item)
        elif isinstance(value, (list, tuple)):
            for item in value:
                collect(item)
        elif value is not None and not isinstance(value, bool) and len(str(value)) >= 4:
            values.append(str(value))

    for key in keys or ():
        # Salt 3008 masks pillar values returned by pillar.get unless asked not to.
        collect(__salt__["pillar.get"](key, None, unmask=True))
    return values


def _files_under(roots, since, exclude=()):
    """Regular files below ``roots`` changed since ``since``, outside ``exclude`` (no symlinks followed)."""
    pending = [root for root in roots if os.path.isdir(root) and root not in exclude]
    while pending:
        try:
            entries = list(os.scandir(pending.pop()))
        except OSError:
            continue
        for entry in entries:
            try:
                if entry.path in exclude:
                    continue
                if entry.is_dir(follow_symlinks=False):
                    pending.append(entry.path)
                elif entry.is_file(follow_symlinks=False):
                    info = entry.stat(follow_symlinks=False)
                    if info.st_mtime >= since:
                        yield entry.path
            except OSError:
                continue


def _holders(values, roots, since, exclude=()):
    needles = [value.encode() for value in values if value]
    found = []
    if not needles:
        return found
    for path in _files_under(roots, since, exclude):
        if _holds_any(path, needles):
            found.append(path)
    return sorted(found)


def _holds_any(path, needles):
    """True when the file holds one of ``needles``; read in chunks that overlap by the longest needle."""
    overlap = max(len(needle) for needle in needles) - 1
    tail = b""
    try:
        with open(path, "rb") as handle:
            while chunk := handle.read(SCAN_CHUNK_BYTES):
                window = tail + chunk
                if any(needle in window for needle in needles):
                    return True
                tail = window[-overlap:] if overlap else b""
    except OSError:
        return False
    return False


def scan_secrets(keys=None, roots=None, since=None, values=None, exclude=None):
    """
    List the files that hold a secret: a value of the pillar ``keys``, or one of ``values``.

    Only files changed since ``since`` are read (by default: since this machine booted, which is what
    a bake wrote). The secret values never leave the minion: they are read from its own pillar.

    CLI Example:

    .. code-block:: bash

        salt builder immutable.scan_secrets keys='[webapp:build_token]'

    keys
        Pillar keys (colon-delimited) whose values are secret. Defaults to none.
    roots
        Folders to search. Defaults to /etc, /opt, /srv, /var, /root, /home and /usr/local.
    since
        Unix time; older files are skipped. Defaults to the machine's boot time; 0 reads every file.
    values
        Further secret strings (used by ``seal`` for the minion's own private key). Defaults to none.
    exclude
        Paths (files or folders) not to search. Defaults to none.
    """
    secrets = _secret_values(keys) + list(values or ())
    start = _boot_time() if since is None else float(since)
    found = _holders(secrets, roots or SCAN_ROOTS, start, frozenset(exclude or ()))
    return {"secrets": len(secrets), "found": found}


def _existing(patterns):
    paths = []
    for pattern in patterns:
        paths.extend(sorted(glob.glob(pattern)) if "*" in pattern else [pattern])
    return [path for path in paths if os.path.lexists(path)]


def _logs_since(since, exclude):
    return list(_files_under(["/var/log"], since, exclude))


def _remove(path):
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    else:
        os.unlink(path)


def _strip_identity_grains():
    """Drop the identity grains from /etc/salt/grains; returns the keys dropped."""
    if not os.path.exists(GRAINS_FILE):
        return []
    with open(GRAINS_FILE, encoding="utf-8") as handle:
        grains = salt.utils.yaml.safe_load(handle) or {}
    dropped = [key for key in IDENTITY_GRAINS if key in grains]
    for key in dropped:
        del grains[key]
    if grains:
        with open(GRAINS_FILE, "w", encoding="utf-8") as handle:
            salt.utils.yaml.safe_dump(grains, handle, default_flow_style=False)
    else:
        os.unlink(GRAINS_FILE)
    return dropped


def _stop_minion_later(sweep):
    """After this job's return is sent: stop the minion, and remove what it needed or wrote.

    The sweep runs before the stop and again after it (a stopping minion still logs), so a master
    that sees the minion fall silent knows the machine is sealed.
    """
    script = (
        "import os, shutil, signal, subprocess, time\n"
        f"paths = {sweep!r}\n"
        "def sweep():\n"
        "    for path in paths:\n"
        "        if os.path.isdir(path) and not os.path.islink(path):\n"
        "            shutil.rmtree(path, ignore_errors=True)\n"
        "        elif os.path.lexists(path):\n"
        "            os.unlink(path)\n"
        "time.sleep(2)\n"
        "sweep()\n"
        "if os.path.isdir('/run/systemd/system'):\n"
        "    subprocess.call(['systemctl', 'stop', 'salt-minion'])\n"
        "else:\n"
        "    try:\n"
        f"        pid = int(open({MINION_PIDFILE!r}).read())\n"
        "        os.kill(pid, signal.SIGTERM)\n"
        "        for _ in range(100):\n"
        "            os.kill(pid, 0)\n"
        "            time.sleep(0.1)\n"
        "    except (OSError, ValueError):\n"
        "        pass\n"
        "sweep()\n"
    )
    subprocess.Popen(
        [sys.executable, "-c", script],
        start_new_session=True,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


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


def seal(release=None, secret_keys=None, stop_minion=True, test=False):
    """
    Remove this machine's identity and traces so that its disk can be captured as an image.

    Writes the release file (when given), removes the minion id, config and keys, the cached master
    key, minion caches, identity grains, machine-id content, the hostname, SSH host keys, the logs of
    this boot, shell histories and cloud-init state; then scans for secrets. When a secret is found it fails,
    listing the files, and leaves the minion running; otherwise the minion is stopped last.

    CLI Example:

    .. code-block:: bash

        salt builder immutable.seal secret_keys='[webapp:build_token]' test=True

    release
        Provenance to write as JSON into ``/etc/immutable-release``. Defaults to none.
    secret_keys
        Pillar keys whose values must not be left on disk. Defaults to none.
    stop_minion
        Once this call has returned, remove the minion's own id, keys, caches and logs and stop it.
        Defaults to True.
    test
        Only list what would be removed. Defaults to False.
    """
    since = _boot_time()
    minion_paths = _existing(MINION_PATHS)
    paths = sorted(set(_existing(IDENTITY_PATHS) + _logs_since(since, exclude=frozenset(MINION_PATHS))))
    machine_ids = [path for path in MACHINE_ID_FILES if os.path.exists(path) and os.path.getsize(path)]
    if test:
        return {"result": None, "would_remove": paths + minion_paths, "would_empty": machine_ids}
    private_key = _read(PRIVATE_KEY)
    if release is not None:
        with open(RELEASE_FILE, "w", encoding="utf-8") as handle:
            json.dump(release, handle, indent=1, sort_keys=True)
    for path in paths:
        _remove(path)
    for path in machine_ids:
        open(path, "w").close()
    grains = _strip_identity_grains()
    hostname = _forget_hostname()
    # What the minion still needs is removed after it returns, so it is not searched here.
    scan = scan_secrets(
        keys=secret_keys, since=since, values=[private_key] if private_key else [], exclude=MINION_PATHS
    )
    if scan["found"]:
        raise CommandExecutionError(
            "immutable.seal: secrets are still on disk in: " + ", ".join(scan["found"]),
            info={"found": scan["found"], "removed": paths},
        )
    if stop_minion:
        _stop_minion_later(minion_paths)
    return {
        "result": True,
        "removed": paths + (minion_paths if stop_minion else []),
        "emptied": machine_ids,
        "grains_removed": grains,
        "hostname_forgotten": hostname,
        "secrets_checked": scan["secrets"],
        "sealed_at": time.time(),
    }


def _read(path):
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read().strip()
    except FileNotFoundError:
        return ""


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


def _pending_changes(applied):
    if not isinstance(applied, dict):
        return {}
    return {
        state_id: entry.get("changes") or entry.get("comment")
        for state_id, entry in applied.items()
        if entry.get("result") is not True or entry.get("changes")
    }
