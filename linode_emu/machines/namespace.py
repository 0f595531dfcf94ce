"""The ``namespace`` machine driver: a real OS and a real salt-minion behind every emulated Linode.

A booted Linode is a mount+UTS+PID namespace whose PID 1 is :mod:`linode_emu.machines.init`. Its
root is an overlay of the host root (the public base image) and the Linode's disk folder, with a mask
layer between them (:mod:`linode_emu.machines.mask`) hiding what is not the machine's: the emulator's
state, the paths it was told to hide, the host's /root, /home and /tmp, its machine-id and SSH host
keys — but not the emulator's own Python environment, whose salt-minion runs in every machine. A private
image is a tar of a disk folder, taken while the Linode is offline; a disk made from it starts as a
copy. Volumes are folders, bound into machines where their fstab says.

Machines run as root on the host: this confines mistakes and keeps secrets out of sight, it is not a
sandbox. Layout under the emulator's state dir (folders 0700, files 0600)::

    disks/<disk id>/{upper,work}     a disk's content (the overlay's upper layer)
    images/<image id>.tar            a captured private image
    volumes/<volume id>/             a volume's content
    machines/<linode id>/            boot.json, console.log, root/ (the mount point), mask/ (its tmpfs)
"""

from __future__ import annotations

import contextlib
import glob
import json
import math
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

from linode_emu import delays
from linode_emu.machines import MachineDriver, MachineError, cloudinit
from linode_emu.machines.init import MACHINE_PATH

# Overlay whiteouts are character devices and opaque folders carry trusted.* xattrs: keep both, and file
# capabilities (security.capability), which a disk image keeps as it keeps modes and owners.
# Extracting an image (a machine's making) relies on GNU tar's defaults, pinned by a test: a leading '/'
# is stripped from member names, members with '..' are refused, and a symlink whose target is absolute
# or has '..' is created only after every other member, so that nothing is extracted through it.
TAR_FLAGS = ["--xattrs", "--xattrs-include=trusted.*", "--xattrs-include=security.capability", "--numeric-owner"]
# tar reads options from $TAR_OPTIONS: nothing of the emulator's environment may change those defaults.
TAR_ENVIRONMENT = {"PATH": MACHINE_PATH, "LANG": "C.UTF-8"}
HIDDEN_HOST_PATHS = ("/root", "/home", "/tmp", "/etc/machine-id", "/var/lib/dbus/machine-id")
SSH_HOST_KEYS = "/etc/ssh/ssh_host_*key*"
# The folder linode_emu is imported from: an editable install of the emulator points there.
SOURCE = Path(__file__).resolve().parents[2]


def unsupported_reason():
    """Why namespace machines cannot run here, or None when they can."""
    for command in ("unshare", "pivot_root"):
        if not shutil.which(command, path=MACHINE_PATH):
            return f"the '{command}' command (util-linux) is missing"
    if "overlay" not in Path("/proc/filesystems").read_text():
        return "the kernel has no overlay filesystem"
    probe = subprocess.run([*_unshare_prefix(), "true"], capture_output=True, text=True)
    if probe.returncode != 0:
        return f"cannot create mount/UTS/PID namespaces: {probe.stderr.strip() or probe.returncode}"
    return None


def _unshare_prefix():
    user = [] if os.geteuid() == 0 else ["--user", "--map-root-user"]
    return ["unshare", *user, "--mount", "--uts", "--pid", "--fork", "--propagation", "private", "--kill-child"]


def default_salt_minion():
    """The salt-minion of the emulator's own Python environment (machines see the host root)."""
    return str(Path(sys.executable).parent / "salt-minion")


def init_environment():
    """The whole environment of a machine's PID 1. Any process of the machine reads it in /proc/1/environ:
    nothing of the emulator's own environment (its tokens least of all) goes there."""
    return {"PATH": MACHINE_PATH, "LANG": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1", "PYTHONPATH": str(SOURCE)}


def hidden_paths(state_dir, hide=()):
    """What machines must not see of the host: the emulator's state dir, the paths it was told to hide,
    the host's home folders, /tmp, machine-id and SSH host keys."""
    return host_paths([state_dir, *hide, *HIDDEN_HOST_PATHS, *glob.glob(SSH_HOST_KEYS)])


def visible_paths():
    """What machines must see even inside hidden folders: the emulator's Python environment (their
    salt-minion's), its base interpreter, and the source folder of linode_emu."""
    return host_paths([sys.prefix, sys.base_prefix, SOURCE])


def host_paths(paths):
    """Each path as the host root shows it (its parent folders' symlinks resolved), and, for a symlink,
    also the path it leads to."""
    found = set()
    for path in map(Path, paths):
        found.add(str(Path(os.path.realpath(path.parent)) / path.name))
        found.add(os.path.realpath(path))
    return sorted(found)


class NamespaceDriver(MachineDriver):
    """Boots, stops and captures namespace machines; owns the disk, image and volume folders."""

    name = "namespace"

    def __init__(self, state_dir, salt_minion=None, hide=()):
        self.state_dir = Path(state_dir)
        self.salt_minion = salt_minion or default_salt_minion()
        self.hide = tuple(hide)
        self.running = {}  # linode id -> Popen of its unshare process
        self.stopping = {}  # the same, for machines asked to stop and not yet waited for
        for name in ("disks", "images", "volumes", "machines"):
            _private_dir(self.state_dir / name)

    # ------------------------------------------------------------------ folders

    def disk_dir(self, disk_id):
        return self.state_dir / "disks" / str(disk_id)

    def image_file(self, image_id):
        """Where private image ``private/N`` keeps its content."""
        return self.state_dir / "images" / f"{str(image_id).rpartition('/')[2]}.tar"

    def volume_dir(self, volume_id):
        """A volume's folder, created on first use."""
        folder = self.state_dir / "volumes" / str(volume_id)
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def machine_dir(self, linode_id):
        return self.state_dir / "machines" / str(linode_id)

    # ------------------------------------------------------------------ disks and images

    def prepare_disk(self, disk_id, image_id):
        """A new disk: empty above the base image, or a copy of private image ``image_id``."""
        disk = self.disk_dir(disk_id)
        self.delete_disk(disk_id)
        _private_dir(disk)
        (disk / "upper").mkdir()
        (disk / "work").mkdir()
        if image_id is not None:
            archive = self.image_file(image_id)
            if not archive.exists():
                raise MachineError(f"image {image_id} has no captured content")
            _tar("-xpf", str(archive), "-C", str(disk / "upper"))

    def delete_disk(self, disk_id):
        shutil.rmtree(self.disk_dir(disk_id), ignore_errors=True)

    def clone_disk(self, source_id, disk_id):
        """Refused: a machine's disk is an overlay directory, not a block device to copy byte for byte."""
        raise MachineError("disk clones are not supported with namespace machines (use --machines none)")

    def clone_volume(self, source_id, volume_id):
        """Refused: volume data of namespace machines is not copied."""
        raise MachineError("volume clones are not supported with namespace machines (use --machines none)")

    def receive_image(self, image_id, data):
        """Refused: an uploaded image is a raw disk, which a namespace machine cannot boot."""
        raise MachineError("image uploads are not supported with namespace machines (use --machines none)")

    def capture(self, disk_id, image_id):
        """Pack a disk's content into image ``image_id``; returns the image's size in MB."""
        self._settle()
        upper = self.disk_dir(disk_id) / "upper"
        if not upper.is_dir():
            raise MachineError(f"disk {disk_id} has no content to capture")
        archive = self.image_file(image_id)
        partial = archive.with_suffix(".partial")
        try:
            with _private_file(partial) as handle:
                _tar("-cpf", "-", "-C", str(upper), ".", stdout=handle)
        except MachineError:
            partial.unlink(missing_ok=True)
            raise
        os.replace(partial, archive)
        return max(1, math.ceil(archive.stat().st_size / (1024 * 1024)))

    def delete_image(self, image_id):
        self.image_file(image_id).unlink(missing_ok=True)

    def delete_volume(self, volume_id):
        shutil.rmtree(self.state_dir / "volumes" / str(volume_id), ignore_errors=True)

    # ------------------------------------------------------------------ machines

    def boot(self, request):
        """Start the machine of a BootRequest; bad user_data raises MachineError and nothing starts."""
        try:
            cloudinit.parse(cloudinit.decode_user_data(request.user_data))
        except cloudinit.CloudConfigError as err:
            raise MachineError(f"cloud-init cannot use the user_data: {err}") from err
        self.shutdown(request.linode_id)
        self._settle([request.linode_id])
        disk = self.disk_dir(request.disk_id)
        if not (disk / "upper").is_dir():
            raise MachineError(f"disk {request.disk_id} of linode {request.linode_id} does not exist")
        folder = self.machine_dir(request.linode_id)
        _private_dir(folder)
        for mount_point in ("root", "mask"):
            (folder / mount_point).mkdir(exist_ok=True)
        boot = {
            "instance_id": request.linode_id,
            "hostname": request.label,
            "address": request.address,
            "root": str(folder / "root"),
            "mask": str(folder / "mask"),
            "hidden": hidden_paths(self.state_dir, self.hide),
            "visible": visible_paths(),
            "upper": str(disk / "upper"),
            "work": str(disk / "work"),
            "user_data": request.user_data,
            "volumes": {path: str(self.volume_dir(vid)) for path, vid in request.volumes.items()},
            "salt_minion": self.salt_minion,
            "console": str(folder / "console.log"),
        }
        with _private_file(folder / "boot.json") as handle:
            handle.write(json.dumps(boot, indent=1).encode())
        with _private_file(folder / "console.log", append=True) as console:
            self.running[request.linode_id] = subprocess.Popen(
                [*_unshare_prefix(), sys.executable, "-m", "linode_emu.machines.init", str(folder / "boot.json")],
                stdin=subprocess.DEVNULL,
                stdout=console,
                stderr=console,
                start_new_session=True,
                env=init_environment(),
            )

    def shutdown(self, linode_id):
        """Ask a machine to stop (SIGTERM to its PID 1) and return at once: the backend calls this under
        its lock. The machine is waited for before its disk is used again (boot, capture, delete)."""
        process = self.running.pop(linode_id, None)
        if process is None or process.poll() is not None:
            return
        for pid in _children(process.pid):
            _signal(pid, signal.SIGTERM)
        self.stopping[linode_id] = process

    def halted(self):
        """Machines whose PID 1 exited while nobody asked them to stop: a poweroff from inside."""
        gone = [linode_id for linode_id, process in self.running.items() if process.poll() is not None]
        for linode_id in gone:
            del self.running[linode_id]
        return gone

    def _settle(self, linode_ids=None):
        """Wait until stopping machines are gone; after ``delays.real("machine_stop")``, by force."""
        for linode_id in list(self.stopping) if linode_ids is None else linode_ids:
            process = self.stopping.pop(linode_id, None)
            if process is None:
                continue
            try:
                process.wait(timeout=delays.real("machine_stop"))
            except subprocess.TimeoutExpired:
                # Killing unshare makes --kill-child SIGKILL the namespace's PID 1, and so everything in it.
                process.kill()
                process.wait()

    def delete(self, linode_id, disk_ids):
        """Stop the machine and delete its disks and folder."""
        self.shutdown(linode_id)
        self._settle([linode_id])
        for disk_id in disk_ids:
            self.delete_disk(disk_id)
        shutil.rmtree(self.machine_dir(linode_id), ignore_errors=True)

    def close(self):
        for linode_id in list(self.running):
            self.shutdown(linode_id)
        self._settle()


def _tar(*args, stdout=subprocess.DEVNULL):
    result = subprocess.run(
        ["tar", *TAR_FLAGS, *args], stdout=stdout, stderr=subprocess.PIPE, text=True, env=TAR_ENVIRONMENT
    )
    if result.returncode != 0:
        raise MachineError(f"tar {' '.join(args[:2])} failed: {result.stderr.strip()}")


def _private_dir(path):
    """A folder of the driver's, root's alone (parents made as needed)."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.chmod(0o700)


def _private_file(path, append=False):
    """A file of the driver's, root's alone, opened for (over)writing or appending; a symlink in its
    place is refused, not followed."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC | (os.O_APPEND if append else os.O_TRUNC)
    descriptor = os.open(path, flags, 0o600)
    os.fchmod(descriptor, 0o600)
    return os.fdopen(descriptor, "ab" if append else "wb")


def _children(pid):
    try:
        return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def _signal(pid, sig):
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)
