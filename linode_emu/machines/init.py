"""PID 1 of an emulated Linode.

Started as ``unshare --mount --uts --pid --fork ... python -m linode_emu.machines.init BOOT.json`` by the
namespace driver, with a fixed environment. It mounts the machine's root (an overlay: the host root
below, the mask layer of :mod:`linode_emu.machines.mask` hiding what is not the machine's, the Linode's
disk folder above; a /dev with only the devices a machine needs, a read-only /sys), binds the attached
volumes into it, and enters it for good (pivot_root; the host root is detached from the namespace).
Then, inside: the hostname, machine-id, cloud-init, the per-boot scripts and the salt-minion. It reaps
orphans, and on SIGTERM stops everything in the machine and exits — which tears down the namespace and
every mount in it. Its own messages go to the machine's console log on the host.

Only the mounts happen with the host in sight; their mount points, and every path PID 1 reads or writes
in the machine later, are resolved inside the root by :func:`cloudinit.resolve_inside`.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from linode_emu import delays
from linode_emu.machines import MachineError, cloudinit, firstboot, mask

MACHINE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
DEVICES = ("null", "zero", "full", "random", "urandom", "tty")
USER_DATA_SCRIPT = "/var/lib/cloud/instance/scripts/part-001"  # where cloud-init keeps a user-data script
ROOT = "/"  # the machine's root, once PID 1 has entered it
VOLUMES_DIR = "/run/linode_emu/volumes"
OLD_ROOT = "/run/linode_emu/host"


def mount(*args):
    run_tool("mount", *args)


def run_tool(*argv):
    """Run a util-linux tool of PID 1's; MachineError names the command and what it said."""
    result = subprocess.run(argv, capture_output=True, text=True)
    if result.returncode != 0:
        raise MachineError(f"{' '.join(argv)} failed: {result.stderr.strip()}")


def mount_root(boot):
    """The overlay root (host root, mask layer, disk) plus /dev, /sys, a fresh /proc and a tmpfs /run.

    Mount points are resolved inside the root: a symlink the machine planted there never leads a mount
    onto a host folder (which PID 1 still sees then).
    """
    root = boot["root"]
    mount("-t", "tmpfs", "-o", "mode=0755", "tmpfs", boot["mask"])
    mask.build(boot["mask"], boot["hidden"], boot["visible"])
    layers = f"lowerdir={boot['mask']}:/,upperdir={boot['upper']},workdir={boot['work']}"
    mount("-t", "overlay", "overlay", "-o", layers, root)
    mount_dev(cloudinit.resolve_inside(root, "/dev"))
    mount("-t", "sysfs", "-o", "ro,nosuid,nodev,noexec", "sysfs", inside(root, "/sys"))
    proc = inside(root, "/proc")
    mount("-t", "proc", "proc", proc)
    # The sysctls a machine would set are the host's own: read-only, as container runtimes keep them.
    for path in (f"{proc}/sys", f"{proc}/sysrq-trigger"):
        if os.path.exists(path):  # no sysrq-trigger without CONFIG_MAGIC_SYSRQ
            mount("--bind", path, path)
            mount("-o", "remount,bind,ro", path)
    mount("-t", "tmpfs", "tmpfs", inside(root, "/run"))


def inside(root, path):
    """A machine folder as a host path, for a mount point."""
    return str(cloudinit.resolve_inside(root, path))


def stage_volumes(root, volumes):
    """Bind the attached volumes (host folders) under the machine's /run before PID 1 leaves the host
    behind; returns fstab device -> where the machine finds that volume (``/run/linode_emu/volumes/N``,
    as a real Linode finds it under /dev/disk/by-id)."""
    staged = {}
    for number, (device, source) in enumerate(sorted(volumes.items())):
        inner = f"{VOLUMES_DIR}/{number}"
        target = cloudinit.resolve_inside(root, inner)  # on the tmpfs /run mount_root has just made
        target.mkdir(parents=True)
        mount("--bind", source, str(target))
        staged[device] = inner
    return staged


def enter_root(root):
    """Make the machine's root the root of its mount namespace and detach the host's (pivot_root, as
    container runtimes do). From here on no process of the machine, PID 1 included, can reach a host path:
    not through /proc/1/root, not by escaping a chroot."""
    old_root = cloudinit.resolve_inside(root, OLD_ROOT)  # on the tmpfs /run
    old_root.mkdir(parents=True)
    run_tool("pivot_root", root, str(old_root))
    os.chdir("/")
    run_tool("umount", "--lazy", OLD_ROOT)
    os.rmdir(OLD_ROOT)


def mount_dev(dev):
    """A tmpfs /dev holding only what a machine needs: the harmless devices of the host, its own
    pseudo-terminals and shared memory, and the /proc/self/fd links."""
    mount("-t", "tmpfs", "-o", "mode=0755,nosuid", "tmpfs", str(dev))
    for name in DEVICES:
        (dev / name).touch()
        mount("--bind", f"/dev/{name}", str(dev / name))
    (dev / "pts").mkdir()
    mount("-t", "devpts", "-o", "newinstance,ptmxmode=0666,mode=0620,gid=5", "devpts", str(dev / "pts"))
    (dev / "ptmx").symlink_to("pts/ptmx")
    (dev / "shm").mkdir()
    mount("-t", "tmpfs", "-o", "mode=1777,nosuid,nodev", "tmpfs", str(dev / "shm"))
    (dev / "fd").symlink_to("/proc/self/fd")
    for number, name in enumerate(("stdin", "stdout", "stderr")):
        (dev / name).symlink_to(f"/proc/self/fd/{number}")


def write_identity(root, hostname, address):
    """Hostname files and an /etc/hosts entry that resolves the hostname to the private address."""
    cloudinit.write_inside(root, "/etc/hostname", f"{hostname}\n")
    hosts = cloudinit.read_inside(root, "/etc/hosts")
    lines = [line for line in hosts.splitlines() if not line.endswith("# linode_emu")]
    lines.append(f"{address} {hostname} # linode_emu")
    cloudinit.write_inside(root, "/etc/hosts", "\n".join(lines) + "\n")


def ensure_machine_id(root, console):
    """As systemd at every boot: a fresh random /etc/machine-id when it is missing or empty."""
    if cloudinit.read_inside(root, "/etc/machine-id").strip():
        return
    cloudinit.write_inside(root, "/etc/machine-id", f"{secrets.token_hex(16)}\n", mode=0o444)
    console("machine-id generated")


def mount_volumes(root, volumes, console):
    """Bind each fstab entry naming an attached Linode volume onto its mount point."""
    for device, mount_point, options in cloudinit.fstab_entries(root):
        source = volumes.get(device)
        if source is None:
            if device.startswith("/dev/disk/by-id/") and "nofail" not in options.split(","):
                console(f"mount {device} on {mount_point}: volume not attached")
            continue
        with cloudinit.reported(console, f"mount {device} on {mount_point}"):
            target = cloudinit.makedirs_inside(root, mount_point)
            mount("--bind", source, str(target))
            console(f"mounted {device} on {mount_point}")


class Machine:
    """Runs commands in the machine (whose root PID 1 has entered) with a fixed environment."""

    def __init__(self, root, console):
        self.root = root
        self.console = console
        self.output = _output_log(root, console)

    def environment(self):
        # No bytecode: the host's Python trees are the machine's too, and pyc files written into them
        # would land in the Linode's disk.
        return {"PATH": MACHINE_PATH, "HOME": "/root", "LANG": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1"}

    def run(self, argv, what):
        """Run a command to completion; its output goes to the machine's cloud-init output log."""
        self.output.write(f"--- {what}: {argv}\n".encode())
        self.output.flush()
        code = subprocess.call(
            argv, cwd=self.root, start_new_session=True, stdout=self.output, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, env=self.environment(),
        )
        if code != 0:
            self.console(f"{what} {argv} exited with {code}")
        return code

    def start(self, argv):
        """Start a long-running service (its own logs are its business)."""
        return subprocess.Popen(
            argv, cwd=self.root, start_new_session=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, env=self.environment(),
        )


def _output_log(root, console):
    """The machine's cloud-init output log, opened for appending (nowhere when the host refuses it)."""
    try:
        descriptor = cloudinit.open_inside(root, cloudinit.OUTPUT_LOG, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    except cloudinit.UnsafePathError as err:
        console(f"cloud-init output log: refused: {err}; the output of commands is discarded")
        descriptor = os.open(os.devnull, os.O_WRONLY | os.O_CLOEXEC)
    return os.fdopen(descriptor, "ab")


def run_cloud_init(boot, machine, volumes):
    """First boot of an instance: the per-instance modules and SSH host keys; every boot: cloud-init's
    records (:mod:`firstboot`), bootcmd and the per-boot scripts.

    ``volumes``: fstab device -> where the machine finds that attached volume.
    """
    root, instance_id = machine.root, boot["instance_id"]
    text = cloudinit.decode_user_data(boot.get("user_data"))
    config = cloudinit.parse(text)
    first = cloudinit.is_first_boot(root, instance_id)
    with cloudinit.reported(machine.console, "cloud-init: its records"):
        firstboot.log(root, f"running 'init' for {'a new' if first else 'an existing'} instance {instance_id}")
        firstboot.record_boot(root, instance_id, text)
    for key in config.ignored:
        machine.console(f"cloud-init: unsupported key {key!r} ignored")
    for command in config.bootcmd:
        machine.run(cloudinit.as_argv(command), "bootcmd")
    if first:
        run_per_instance(boot, config, machine, volumes)
    else:
        mount_volumes(root, volumes, machine.console)
    for script in cloudinit.per_boot_scripts(root):
        machine.run([script], "per-boot")
    with cloudinit.reported(machine.console, "cloud-init: its records"):
        firstboot.mark_boot_finished(root, instance_id)
        firstboot.log(root, "boot finished")


def run_per_instance(boot, config, machine, volumes):
    """The modules that run once per instance, then their semaphores."""
    root = machine.root
    cloudinit.write_files(config, root, machine.console)
    if config.salt_minion:
        cloudinit.write_salt_minion(config, root, machine.console)
    cloudinit.append_fstab(config, root)
    cloudinit.record_instance(root, boot["instance_id"])
    with cloudinit.reported(machine.console, "cloud-init: SSH host keys"):
        firstboot.generate_host_keys(root, boot["hostname"], machine.console)
    mount_volumes(root, volumes, machine.console)
    for command in config.runcmd:
        machine.run(cloudinit.as_argv(command), "runcmd")
    if config.script:
        cloudinit.write_inside(root, USER_DATA_SCRIPT, config.script, mode=0o700)
        machine.run([USER_DATA_SCRIPT], "user-data script")
    with cloudinit.reported(machine.console, "cloud-init: its records"):
        firstboot.mark_modules_done(root, boot["instance_id"])


def start_salt_minion(boot, machine):
    """The minion starts at every boot once it is configured, as an enabled service would."""
    if cloudinit.resolve_inside(machine.root, "/etc/salt/minion").exists():
        machine.start([boot["salt_minion"]])
        machine.console("salt-minion started")


def stop_everything():
    """As PID 1: ask every process of the machine to stop, then insist."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.kill(-1, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + delays.real("stop_grace")
        while time.monotonic() < deadline:
            if not reap():
                return
            time.sleep(delays.real("reap_poll"))


def reap():
    """Collect exited children; False once there are none left."""
    while True:
        try:
            pid, _status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return False
        if pid == 0:
            return True


def main(boot_file):
    boot = json.loads(Path(boot_file).read_text())
    console_file = open(boot["console"], "a", buffering=1, encoding="utf-8")  # noqa: SIM115

    def console(message):
        console_file.write(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} {message}\n")

    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    mount_root(boot)
    volumes = stage_volumes(boot["root"], boot["volumes"])
    enter_root(boot["root"])
    socket.sethostname(boot["hostname"])
    with cloudinit.reported(console, "hostname files"):
        write_identity(ROOT, boot["hostname"], boot["address"])
    with cloudinit.reported(console, "machine-id"):
        ensure_machine_id(ROOT, console)
    machine = Machine(ROOT, console)
    console(f"booted {boot['hostname']} ({boot['address']})")
    try:
        run_cloud_init(boot, machine, volumes)
    except Exception as err:  # PID 1 must outlive any cloud-init failure, as a real boot does
        console(f"cloud-init failed: {type(err).__name__}: {err}")
    start_salt_minion(boot, machine)
    console("boot finished")
    while not stopping:
        reap()
        time.sleep(delays.real("pid1_poll"))
    console("shutting down")
    stop_everything()
    console("halted")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
