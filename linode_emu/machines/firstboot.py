"""What Debian 12 with cloud-init does for itself at boot, besides the user's cloud-config.

* cloud-init's records. At every boot: ``/var/lib/cloud/instances/<instance id>/`` with the user data it
  was given (``user-data.txt``, 0600), ``/var/lib/cloud/instance`` a link to that folder,
  ``/var/lib/cloud/data/previous-instance-id`` (the instance of the boot before), lines in
  ``/var/log/cloud-init.log`` (0640, group ``adm``), and ``boot-finished`` in the instance folder once the
  boot is done. At the first boot of an instance only: a semaphore ``sem/config_<module>`` for each
  per-instance module that ran (a machine from an image is another instance: its modules run again).
* SSH host keys, as cloud-init's ``ssh`` module with ``ssh_deletekeys`` at the first boot of an instance:
  every ``/etc/ssh/ssh_host_*key*`` deleted, then new rsa (3072 bits), ecdsa (nistp256) and ed25519 keys,
  in OpenSSH format, private 0600 and public 0644, commented ``root@<hostname>``. They are made with the
  ``cryptography`` package (Salt's own dependency, in the environment PID 1 runs from) rather than the
  machine's ssh-keygen, so that no host package is needed.

The machine-id is systemd's business, not cloud-init's (see ``init.ensure_machine_id``): it is generated
when empty or missing, and an image that carries one passes it on, as on a real Linode.

Every path is reached through :mod:`linode_emu.machines.cloudinit`'s ``*_inside`` helpers.
"""

from __future__ import annotations

import contextlib
import fnmatch
import grp
import os
import shutil
import time

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from linode_emu.machines import cloudinit

CLOUD_DIR = "/var/lib/cloud"
INSTANCE_LINK = f"{CLOUD_DIR}/instance"
PREVIOUS_INSTANCE_ID_FILE = f"{CLOUD_DIR}/data/previous-instance-id"
LOG = "/var/log/cloud-init.log"
LOG_MODE = 0o640
LOG_GROUP = "adm"  # cloud-init's syslog_fix_perms falls back from syslog:adm to root:adm
SSH_DIR = "/etc/ssh"
SSH_HOST_KEY_GLOB = "ssh_host_*key*"
SSH_KEY_TYPES = ("rsa", "ecdsa", "ed25519")
RSA_BITS = 3072  # ssh-keygen's default
# The per-instance modules of ours whose semaphores cloud-init leaves in an instance's sem/ folder.
PER_INSTANCE_MODULES = (
    "consume_data", "set_hostname", "write_files", "mounts", "ssh", "salt_minion", "runcmd", "scripts_user",
)


def instance_dir(instance_id):
    """The machine's folder of cloud-init's records of instance ``instance_id``."""
    return f"{CLOUD_DIR}/instances/{instance_id}"


def record_boot(root, instance_id, user_data_text):
    """At every boot: the instance folder with the user data, the ``instance`` link to it, and the previous
    boot's instance id (read before the caller records this one)."""
    folder = instance_dir(instance_id)
    cloudinit.makedirs_inside(root, f"{folder}/sem")
    cloudinit.write_inside(root, f"{folder}/user-data.txt", user_data_text, mode=0o600)
    previous = cloudinit.read_inside(root, cloudinit.INSTANCE_ID_FILE).strip()
    if previous:
        cloudinit.write_inside(root, PREVIOUS_INSTANCE_ID_FILE, f"{previous}\n")
    _link(root, INSTANCE_LINK, folder)


def _link(root, path, target):
    """Make the machine's ``path`` a symbolic link to ``target``, replacing whatever is there."""
    parent = cloudinit.makedirs_inside(root, os.path.dirname(path))
    link = parent / os.path.basename(path)
    if link.is_dir() and not link.is_symlink():
        shutil.rmtree(link)
    elif os.path.lexists(link):
        link.unlink()
    os.symlink(target, link)


def mark_modules_done(root, instance_id):
    """The semaphores of the per-instance modules, written once they have run for this instance."""
    for module in PER_INSTANCE_MODULES:
        path = f"{instance_dir(instance_id)}/sem/config_{module}"
        cloudinit.write_inside(root, path, f"{os.getpid()}: {time.time()}\n")


def mark_boot_finished(root, instance_id):
    """``boot-finished`` in the instance folder: cloud-init's last word of every boot."""
    uptime = f"{time.clock_gettime(time.CLOCK_BOOTTIME):.2f}"
    stamp = time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime())
    cloudinit.write_inside(root, f"{instance_dir(instance_id)}/boot-finished", f"{uptime} - {stamp} - v. linode_emu\n")


def log(root, message):
    """Append a line to ``/var/log/cloud-init.log`` (0640, owned root:adm where the group exists)."""
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())
    cloudinit.write_inside(root, LOG, f"{stamp} - linode_emu[INFO]: {message}\n", True, LOG_MODE, (0, _log_gid()))


def _log_gid():
    """The machine's ``adm`` group (root's when it has none)."""
    try:
        return grp.getgrnam(LOG_GROUP).gr_gid
    except KeyError:
        return 0


def generate_host_keys(root, hostname, console):
    """Delete the SSH host keys there are (``ssh_deletekeys``) and make new ones of every type."""
    folder = cloudinit.makedirs_inside(root, SSH_DIR)
    for name in fnmatch.filter(os.listdir(folder), SSH_HOST_KEY_GLOB):
        with contextlib.suppress(IsADirectoryError, FileNotFoundError):
            (folder / name).unlink()
    for kind in SSH_KEY_TYPES:
        private, public = host_key(kind, f"root@{hostname}")
        cloudinit.write_inside(root, f"{SSH_DIR}/ssh_host_{kind}_key", private, mode=0o600)
        cloudinit.write_inside(root, f"{SSH_DIR}/ssh_host_{kind}_key.pub", public, mode=0o644)
    console("cloud-init: SSH host keys generated")


def host_key(kind, comment):
    """A new key pair of ``kind`` (rsa, ecdsa, ed25519) as OpenSSH writes it: (private, public) bytes."""
    key = {
        "rsa": lambda: rsa.generate_private_key(public_exponent=65537, key_size=RSA_BITS),
        "ecdsa": lambda: ec.generate_private_key(ec.SECP256R1()),
        "ed25519": ed25519.Ed25519PrivateKey.generate,
    }[kind]()
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
    )
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    return private, public + f" {comment}\n".encode()
