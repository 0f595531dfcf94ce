"""The lab: a real salt-master and the Linode emulator, side by side in one folder, on loopback.

``up`` writes a master config exactly as the README tells users (the extension loaded as installed,
``file_roots`` with a state tree and the extension's file root, ``pillar_roots``, the ``immutable:``
block pointing at the emulator, no ``auto_accept``), starts the emulator (``python -m linode_emu``, a
separate process: the library and the emulator meet only over HTTP) and the master, and records their
pids. ``down`` stops both by those pids; the emulator stops its machines and NodeBalancers itself.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

from salt_immutable import loader
from salt_immutable.errors import ImmutableError

HOST = "127.0.0.1"
MASTER_ID = "lab_master"
START_TIMEOUT = 60
STOP_TIMEOUT = 30
# The example state tree and pillar, shipped in the package (links to the repository's salt/ and pillar/).
EXAMPLE_TREES = Path(__file__).resolve().parent / "trees"
SHORT_ROOT_PREFIX = "salt-immutable-lab-"


class LabError(ImmutableError):
    """The lab cannot be brought up (or down); the message says which part and why."""


@dataclass(frozen=True)
class LabPaths:
    """Where everything of one lab lives."""

    root: Path

    @property
    def config_dir(self):
        return self.root / "etc" / "salt"

    @property
    def emulator_state(self):
        return self.root / "emulator"

    @property
    def logs(self):
        return self.root / "log"

    @property
    def info_file(self):
        return self.root / "lab.json"

    def pid_file(self, name):
        return self.root / "run" / f"{name}.pid"

    @property
    def short_root_file(self):
        """Where the lab records its short link (see ``link_short_root``)."""
        return self.root / "run" / "short-root"

    @property
    def short_root(self):
        """The short link to the lab folder made by ``link_short_root``, or None."""
        try:
            return Path(self.short_root_file.read_text().strip())
        except FileNotFoundError:
            return None

    def link_short_root(self):
        """A short link to the lab folder, used as the master's root_dir: Salt puts Unix sockets under
        root_dir, and a socket path may not exceed 107 bytes. The link lives in a private folder of the
        temporary directory (0700, an unpredictable name: nobody else can plant it), recorded in the lab
        folder so that ``down`` removes it."""
        self.unlink_short_root()
        link = Path(tempfile.mkdtemp(prefix=SHORT_ROOT_PREFIX)) / "lab"
        link.symlink_to(self.root, target_is_directory=True)
        self.short_root_file.parent.mkdir(parents=True, exist_ok=True)
        self.short_root_file.write_text(f"{link}\n")
        return link

    def unlink_short_root(self):
        """Remove the short link and its private folder, if the lab made them. Idempotent."""
        link = self.short_root
        if link is not None and link.parent.name.startswith(SHORT_ROOT_PREFIX) and link.is_symlink():
            link.unlink()
            with contextlib.suppress(OSError):  # not empty: not ours to remove
                link.parent.rmdir()
        self.short_root_file.unlink(missing_ok=True)


def free_port():
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


# The README's reactor recipes (salt/reactor/immutable): they act only once immutable_reactor: sets their
# webhook or secrets (``lab.up(extra_config=...)``).
REACTOR = [
    {f"salt/immutable/*/{event}": ["salt://reactor/immutable/notify.sls"]}
    for event in ("roll/failed", "roll/rolled_back", "roll/checkpoint", "bake/*")
]
REACTOR += [{f"salt/netapi/hook/immutable/{hook}": [f"salt://reactor/immutable/{recipe}.sls"]}
            for hook, recipe in (("approve", "approve"), ("pillar", "pillar_push"))]


def master_config(paths, api_url, token, state_tree, pillar_tree):
    """The master config of the README, rooted in the lab folder."""
    return {
        "id": MASTER_ID,
        "root_dir": str(paths.short_root),
        "interface": HOST,
        "publish_port": free_port(),
        "ret_port": free_port(),
        "user": _current_user(),
        "auto_accept": False,
        "file_roots": {"base": [str(state_tree), str(loader.FACES)]},
        "pillar_roots": {"base": [str(pillar_tree)]},
        "immutable": {"api_url": api_url, "linode_token": token, "poll_interval": 0.5},
        "reactor": REACTOR,
    }


def _current_user():
    import pwd

    return pwd.getpwuid(os.geteuid()).pw_name


def is_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read_pid(paths, name):
    try:
        return int(paths.pid_file(name).read_text())
    except (OSError, ValueError):
        return None


def _start(paths, name, argv, env=None):
    paths.logs.mkdir(parents=True, exist_ok=True)
    paths.pid_file(name).parent.mkdir(parents=True, exist_ok=True)
    with open(paths.logs / f"{name}.log", "ab") as log:
        process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
            env={**os.environ, **(env or {})},
        )
    paths.pid_file(name).write_text(str(process.pid))
    return process


def _wait_for_port(process, port, what, log):
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise LabError(f"lab up: {what} exited with {process.returncode}; see {log}")
        with socket.socket() as probe:
            probe.settimeout(0.5)
            if probe.connect_ex((HOST, port)) == 0:
                return
        time.sleep(0.2)
    raise LabError(f"lab up: {what} did not listen on {HOST}:{port} within {START_TIMEOUT}s; see {log}")


def _stop(paths, name):
    """Stop a lab process by its recorded pid: SIGTERM, then SIGKILL of its process group."""
    pid = read_pid(paths, name)
    if pid is not None and is_alive(pid):
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        while is_alive(pid) and time.monotonic() < deadline:
            _reap(pid)
            time.sleep(0.1)
        if is_alive(pid):
            os.killpg(pid, signal.SIGKILL)
            _reap(pid)
    paths.pid_file(name).unlink(missing_ok=True)
    return pid


def _reap(pid):
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def up(root, state_tree=None, pillar_tree=None, time_scale=0.05, machines="namespace", extra_config=None):
    """Start the lab in ``root`` (idempotent: a running lab is left as it is); returns its info.

    ``extra_config`` is merged into the master config (top-level keys, such as ``immutable_reactor``)."""
    paths = LabPaths(Path(root).resolve())
    if status(root)["running"]:
        return status(root)
    down(root)
    state_tree = Path(state_tree or EXAMPLE_TREES / "salt").resolve()
    pillar_tree = Path(pillar_tree or EXAMPLE_TREES / "pillar").resolve()
    for tree, what, flag in ((state_tree, "state tree", "--state-tree"), (pillar_tree, "pillar tree", "--pillar-tree")):
        if not tree.is_dir():
            raise LabError(f"lab up: the {what} {tree} is not a folder (give yours with {flag} DIR)")
    token, port = secrets.token_hex(24), free_port()
    api_url = f"http://{HOST}:{port}/v4"
    paths.config_dir.mkdir(parents=True, exist_ok=True)
    paths.link_short_root()
    config_file = paths.config_dir / "master"
    config_file.unlink(missing_ok=True)
    descriptor = os.open(config_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # it holds the token
    with os.fdopen(descriptor, "w") as handle:
        handle.write(yaml.safe_dump({**master_config(paths, api_url, token, state_tree, pillar_tree),
                                     **(extra_config or {})}))
    try:
        _start_processes(paths, port, time_scale, machines, token)
        paths.info_file.write_text(json.dumps({"api_url": api_url, "config_dir": str(paths.config_dir)}))
    except BaseException:
        down(root)
        raise
    return status(root)


def _start_processes(paths, port, time_scale, machines, token):
    """The emulator (token from the environment, not the process list; the lab folder, which holds the
    token and the master's key, hidden from machines), then the master."""
    emulator = _start(
        paths,
        "emulator",
        [sys.executable, "-m", "linode_emu", "--host", HOST, "--port", str(port),
         "--state-dir", str(paths.emulator_state), "--machines", machines, "--time-scale", str(time_scale),
         "--hide", str(paths.root)],
        env={"LINODE_EMU_TOKEN": token},
    )
    _wait_for_port(emulator, port, "the emulator", paths.logs / "emulator.log")
    master = _start(paths, "master", [str(Path(sys.executable).parent / "salt-master"), "-c", str(paths.config_dir)])
    ret_port = yaml.safe_load((paths.config_dir / "master").read_text())["ret_port"]
    _wait_for_port(master, ret_port, "the salt-master", paths.logs / "master.log")


def status(root):
    """What runs in the lab at ``root``."""
    paths = LabPaths(Path(root).resolve())
    pids = {name: read_pid(paths, name) for name in ("emulator", "master")}
    alive = {name: pid is not None and is_alive(pid) for name, pid in pids.items()}
    info = json.loads(paths.info_file.read_text()) if paths.info_file.exists() else {}
    return {
        "dir": str(paths.root),
        "running": all(alive.values()),
        "processes": {name: {"pid": pids[name], "alive": alive[name]} for name in pids},
        "api_url": info.get("api_url"),
        "salt_run": f"salt-run -c {paths.config_dir} immutable.plan",
    }


def down(root):
    """Stop the lab at ``root``; nothing is left running. Idempotent."""
    paths = LabPaths(Path(root).resolve())
    stopped = {name: _stop(paths, name) for name in ("master", "emulator")}
    paths.unlink_short_root()
    return {"dir": str(paths.root), "stopped": {name: pid for name, pid in stopped.items() if pid}}
