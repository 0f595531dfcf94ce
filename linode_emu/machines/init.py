"""PID 1 of an emulated Linode.

Started as ``unshare --mount --uts --pid --fork ... python -m linode_emu.machines.init BOOT.json`` by the
namespace driver. It mounts the machine's root (an overlay: the host root below, the Linode's disk
folder above), runs cloud-init, the per-boot scripts and the salt-minion inside that root, reaps
orphans, and on SIGTERM stops everything in the machine and exits — which tears down the namespace and
every mount in it. Its own messages go to the machine's console log on the host.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from linode_emu.machines import cloudinit

MACHINE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
STOP_GRACE_SECONDS = 5


def mount(*args):
    subprocess.run(["mount", *args], check=True, capture_output=True, text=True)


def mount_root(boot):
    """The overlay root plus /dev, /sys, a fresh /proc and a tmpfs /run.

    /tmp stays part of the disk, as on Debian 12 (and the emulator's own Python may live under it).
    """
    root = boot["root"]
    mount("-t", "overlay", "overlay", "-o", f"lowerdir=/,upperdir={boot['upper']},workdir={boot['work']}", root)
    mount("--rbind", "/dev", f"{root}/dev")
    mount("--rbind", "/sys", f"{root}/sys")
    mount("-t", "proc", "proc", f"{root}/proc")
    mount("-t", "tmpfs", "tmpfs", f"{root}/run")


def write_identity(root, hostname, address):
    """Hostname files and an /etc/hosts entry that resolves the hostname to the private address."""
    cloudinit.inside(root, "/etc/hostname").write_text(f"{hostname}\n")
    hosts = cloudinit.inside(root, "/etc/hosts")
    lines = [line for line in hosts.read_text().splitlines() if not line.endswith("# linode_emu")]
    lines.append(f"{address} {hostname} # linode_emu")
    hosts.write_text("\n".join(lines) + "\n")


def mount_volumes(root, volumes, console):
    """Bind each fstab entry naming an attached Linode volume onto its mount point."""
    for device, mount_point, options in cloudinit.fstab_entries(root):
        source = volumes.get(device)
        if source is None:
            if device.startswith("/dev/disk/by-id/") and "nofail" not in options.split(","):
                console(f"mount {device} on {mount_point}: volume not attached")
            continue
        target = cloudinit.inside(root, mount_point)
        target.mkdir(parents=True, exist_ok=True)
        mount("--bind", source, str(target))
        console(f"mounted {device} on {mount_point}")


class Machine:
    """Runs commands inside the root and keeps track of what it started."""

    def __init__(self, root, console):
        self.root = root
        self.console = console
        self.output = open(cloudinit.inside(root, cloudinit.OUTPUT_LOG), "ab")  # noqa: SIM115

    def _enter(self):
        os.chroot(self.root)
        os.chdir("/")
        os.setsid()

    def environment(self):
        # No bytecode: the host's Python trees are the machine's too, and pyc files written into them
        # would land in the Linode's disk.
        return {"PATH": MACHINE_PATH, "HOME": "/root", "LANG": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1"}

    def run(self, argv, what):
        """Run a command to completion; its output goes to the machine's cloud-init output log."""
        self.output.write(f"--- {what}: {argv}\n".encode())
        self.output.flush()
        code = subprocess.call(
            argv, preexec_fn=self._enter, stdout=self.output, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, env=self.environment(),
        )
        if code != 0:
            self.console(f"{what} {argv} exited with {code}")
        return code

    def start(self, argv):
        """Start a long-running service (its own logs are its business)."""
        return subprocess.Popen(
            argv, preexec_fn=self._enter, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, env=self.environment(),
        )


def run_cloud_init(boot, machine):
    """First boot: the per-instance modules; every boot: bootcmd and the per-boot scripts."""
    root = boot["root"]
    config = cloudinit.parse(cloudinit.decode_user_data(boot.get("user_data")))
    for key in config.ignored:
        machine.console(f"cloud-init: unsupported key {key!r} ignored")
    for command in config.bootcmd:
        machine.run(cloudinit.as_argv(command), "bootcmd")
    if cloudinit.is_first_boot(root, boot["instance_id"]):
        cloudinit.write_files(config, root)
        if config.salt_minion:
            cloudinit.write_salt_minion(config, root)
        cloudinit.append_fstab(config, root)
        cloudinit.record_instance(root, boot["instance_id"])
        mount_volumes(root, boot["volumes"], machine.console)
        for command in config.runcmd:
            machine.run(cloudinit.as_argv(command), "runcmd")
        if config.script:
            script = cloudinit.inside(root, "/var/lib/cloud/instance/user-data.sh")
            script.parent.mkdir(parents=True, exist_ok=True)
            script.write_text(config.script)
            script.chmod(0o700)
            machine.run(["/var/lib/cloud/instance/user-data.sh"], "user-data script")
    else:
        mount_volumes(root, boot["volumes"], machine.console)
    for script in cloudinit.per_boot_scripts(root):
        machine.run([script], "per-boot")


def start_salt_minion(boot, machine):
    """The minion starts at every boot once it is configured, as an enabled service would."""
    if cloudinit.inside(boot["root"], "/etc/salt/minion").exists():
        machine.start([boot["salt_minion"]])
        machine.console("salt-minion started")


def stop_everything():
    """As PID 1: ask every process of the machine to stop, then insist."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.kill(-1, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        while time.monotonic() < deadline:
            if not reap():
                return
            time.sleep(0.05)


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
    socket.sethostname(boot["hostname"])
    write_identity(boot["root"], boot["hostname"], boot["address"])
    machine = Machine(boot["root"], console)
    console(f"booted {boot['hostname']} ({boot['address']})")
    try:
        run_cloud_init(boot, machine)
    except Exception as err:  # PID 1 must outlive any cloud-init failure, as a real boot does
        console(f"cloud-init failed: {type(err).__name__}: {err}")
    start_salt_minion(boot, machine)
    console("boot finished")
    while not stopping:
        reap()
        time.sleep(0.2)
    console("shutting down")
    stop_everything()
    console("halted")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
