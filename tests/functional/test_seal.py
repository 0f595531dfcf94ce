"""immutable.seal, loaded as a minion loads it, on a folder posing as / (with the minion's own paths
given by its opts, under names no default has)."""

import base64
import json
import os
import signal
import socket
import stat
import subprocess
import sys

import pytest
import salt.config
import salt.loader
from salt.exceptions import CommandExecutionError

from tests.support.saltconfig import REPO

SECRET = "SECRET-VALUE-0123456789"
BUILDER_ID = "web-1.0.0-build"
BUILDER_GRAINS = {"immutable": {"role": "builder", "fleet": "web", "version": "1.0.0"}}
# Where this minion's config puts its own files: nowhere a default would.
MINION_OPTS = {
    "conf_file": "srv/salt-conf/minion.conf",
    "pki_dir": "srv/salt-conf/keys/mine",
    "cachedir": "var/cache/salt-mine",
    "log_file": "var/log/salty/minion.log",
    "pidfile": "var/lib/salty/minion.pid",
}


def fake_pem(label="PRIVATE KEY"):
    """A PEM block as a minion key looks: 64-character base64 lines and a short last one."""
    body = base64.b64encode(os.urandom(1161)).decode()  # 24 full lines and one of 12
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return f"-----BEGIN {label}-----\n" + "\n".join(lines) + f"\n-----END {label}-----\n"


class Machine:
    """The minion module loaded with ``opts``, and the folder ``root`` posing as its /."""

    def __init__(self, root, opts, mods, started):
        self.root, self.opts, self.mods, self.started = root, opts, mods, started
        self.module = mods["immutable.seal"].__globals__

    def path(self, name):
        return self.root / name.lstrip("/")

    def call(self, function, *args, **kwargs):
        return self.mods[f"immutable.{function}"](*args, **kwargs)

    def snapshot(self):
        """Every path below root with its type, mode, mtime and content: what "changed nothing" compares."""
        seen = {}
        for folder, dirs, files in os.walk(self.root):
            for name in dirs + files:
                path = os.path.join(folder, name)
                info = os.lstat(path)
                content = open(path, "rb").read() if stat.S_ISREG(info.st_mode) else None  # noqa: SIM115
                seen[os.path.relpath(path, self.root)] = (info.st_mode, info.st_mtime_ns, content)
        return seen


@pytest.fixture
def machine_factory(tmp_path, monkeypatch):
    def make(minion_id=BUILDER_ID, grains=BUILDER_GRAINS, pillar=None):
        root = tmp_path / "root"
        paths = {key: str(root / value) for key, value in MINION_OPTS.items()}
        opts = salt.config.minion_config(None)
        opts.update({"file_client": "local", "root_dir": str(tmp_path), "module_dirs": [str(REPO / "_modules")],
                     "id": minion_id, "grains": grains,
                     "pillar": {"webapp": {"token": SECRET, "port": 80}} if pillar is None else pillar, **paths})
        conf = MINION_OPTS["conf_file"].rpartition("/")[0]
        key = fake_pem()
        files = {
            MINION_OPTS["conf_file"]: f"id: {minion_id}\n", f"{conf}/minion_id": minion_id,
            f"{conf}/minion.d/_schedule.conf": "schedule: {}\n", f"{conf}/minion.d/keep.conf": "master: salt\n",
            f"{conf}/grains": "immutable:\n  role: builder\nroles: [web]\n",
            f"{MINION_OPTS['pki_dir']}/minion.pem": key, f"{MINION_OPTS['pki_dir']}/minion.pub": "PUBLIC KEY\n",
            f"{MINION_OPTS['cachedir']}/sls.p": "x", MINION_OPTS["log_file"]: "log",
            MINION_OPTS["log_file"] + ".1": "older log", MINION_OPTS["pidfile"]: "0",
            "/var/log/cloud-init-output.log": "ran", "/var/log/cloud-init.log": "ran",
            "/var/lib/cloud/instance/user-data.txt": "#cloud-config", "/var/lib/cloud/data/instance-id": "i-1",
            "/var/lib/cloud/scripts/per-boot/app.sh": "#!/bin/sh\n",
            "/etc/ssh/ssh_host_rsa_key": "k", "/etc/ssh/ssh_host_rsa_key.pub": "ssh-rsa AAAA root@builder",
            "/etc/ssh/sshd_config": "PermitRootLogin no\n",
            "/root/.bash_history": "ls", "/home/alice/.python_history": "1+1", "/home/alice/notes": "kept",
            "/etc/machine-id": "0123456789abcdef", "/opt/app/app.conf": "port=80",
            "/etc/hostname": socket.gethostname() + "\n",
            "/etc/hosts": f"127.0.0.1 localhost\n127.0.1.1 {socket.gethostname()}\n",
        }
        for name, content in files.items():
            target = root / name.lstrip("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(content)
        mods = salt.loader.minion_mods(opts)
        module = mods["immutable.seal"].__globals__

        def inside(name):
            return str(root / name.lstrip("/"))

        for name in ("IDENTITY_PATHS", "MACHINE_ID_FILES"):
            monkeypatch.setitem(module, name, tuple(inside(p) for p in module[name]))
        for name in ("RELEASE_FILE", "HOSTNAME_FILE", "HOSTS_FILE", "SEAL_RECORD", "SSH_HOST_PUBLIC_KEYS",
                     "LOG_DIR", "SYSTEMD_DIR"):
            monkeypatch.setitem(module, name, inside(module[name]))
        monkeypatch.setitem(module, "SCAN_TOP", str(root))
        monkeypatch.setitem(module, "SWEEP_DELAY_SECONDS", 0)
        monkeypatch.setitem(module, "_boot_time", lambda: 0)
        started = []
        monkeypatch.setitem(module, "_start_sweeper", started.append)
        return Machine(root, opts, mods, started)

    return make


@pytest.fixture
def machine(machine_factory):
    return machine_factory()


def run_sweeper(script):
    subprocess.run([sys.executable, "-c", script], check=True, timeout=60)


# --------------------------------------------------------------------------- only a builder is sealed


NOT_BUILDERS = {
    "a server": ("web-g1-1", {"immutable": {"role": "server", "fleet": "web", "version": "g1"}}),
    "a builder id whose role grain says server": (BUILDER_ID, {"immutable": {**BUILDER_GRAINS["immutable"],
                                                                             "role": "server"}}),
    "the builder grains on another id": ("web-g1-1", BUILDER_GRAINS),
    "the builder grains of another version": ("web-2.0.0-build", BUILDER_GRAINS),
    "no immutable grains": (BUILDER_ID, {}),
}


@pytest.mark.parametrize("minion_id, grains", NOT_BUILDERS.values(), ids=NOT_BUILDERS.keys())
def test_seal_refuses_a_minion_that_is_not_a_builder_and_changes_nothing(machine_factory, minion_id, grains):
    machine = machine_factory(minion_id, grains)
    before = machine.snapshot()
    with pytest.raises(CommandExecutionError) as caught:
        machine.call("seal", release={"fleet": "web"}, secret_keys=["webapp:token"])
    message = str(caught.value)
    assert message.startswith(f"immutable.seal: refused to seal minion {minion_id!r}")
    assert "not a salt-immutable builder" in message and "confirm=True" in message
    assert machine.snapshot() == before
    assert machine.started == []


def test_seal_says_which_of_id_and_grains_disqualify(machine_factory):
    machine = machine_factory("web-g1-1", {"immutable": {"role": "server", "fleet": "web", "version": "g1"}})
    with pytest.raises(CommandExecutionError, match=r"role is 'server', not 'builder'.*id is not web-g1-build"):
        machine.call("seal")


def test_confirm_seals_a_minion_that_is_not_a_builder(machine_factory):
    machine = machine_factory("web-g1-1", {"immutable": {"role": "server"}})
    sealed = machine.call("seal", release={"fleet": "web"}, confirm=True)
    assert sealed["result"] is True
    assert json.loads(machine.path("/etc/immutable-release").read_text()) == {"fleet": "web"}
    assert len(machine.started) == 1


def test_test_mode_lists_without_the_guard_and_says_it_would_refuse(machine_factory):
    machine = machine_factory("web-g1-1", {})
    before = machine.snapshot()
    listed = machine.call("seal", test=True)
    assert listed["result"] is None and "not a salt-immutable builder" in listed["refused"]
    assert str(machine.path("/etc/ssh/ssh_host_rsa_key")) in listed["would_remove"]
    assert machine.snapshot() == before


# --------------------------------------------------------------------------- what a seal removes


def test_seal_test_mode_lists_and_removes_nothing(machine):
    before = machine.snapshot()
    listed = machine.call("seal", test=True)
    assert listed["result"] is None and listed["refused"] is None
    for name in (MINION_OPTS["pki_dir"], MINION_OPTS["conf_file"], "/etc/ssh/ssh_host_rsa_key",
                 "/var/lib/cloud/instance"):
        assert str(machine.path(name)) in listed["would_remove"], name
    assert listed["would_empty"] == [str(machine.path("/etc/machine-id"))]
    assert machine.snapshot() == before


def test_seal_removes_identity_writes_the_release_and_keeps_the_app(machine):
    sealed = machine.call("seal", release={"fleet": "web"}, secret_keys=["webapp:token"], stop_minion=False)
    assert sealed["result"] is True and sealed["grains_removed"] == ["immutable"]
    assert sealed["secrets_checked"] == 1 and sealed["seal_record"] is None
    for gone in ("etc/ssh/ssh_host_rsa_key", "etc/ssh/ssh_host_rsa_key.pub", "root/.bash_history",
                 "home/alice/.python_history", "var/log/cloud-init-output.log", "var/log/cloud-init.log",
                 "var/lib/cloud/instance", "var/lib/cloud/data"):
        assert not machine.path(gone).exists(), gone
    for kept in ("var/lib/cloud/scripts/per-boot/app.sh", "etc/ssh/sshd_config", "home/alice/notes",
                 "opt/app/app.conf"):
        assert machine.path(kept).exists(), kept
    assert machine.path("/etc/machine-id").read_text() == ""
    assert machine.path("/etc/hostname").read_text() == "localhost\n"
    assert socket.gethostname() not in machine.path("/etc/hosts").read_text()
    grains = machine.path(MINION_OPTS["conf_file"]).parent / "grains"
    assert grains.read_text().strip() == "roles:\n- web"
    assert json.loads(machine.path("/etc/immutable-release").read_text()) == {"fleet": "web"}
    # what the minion needs until it has answered goes only once it stops
    assert machine.path(MINION_OPTS["pki_dir"] + "/minion.pem").exists()
    assert machine.started == []


def test_the_sweep_removes_the_minion_paths_its_opts_name_stops_it_and_records_a_complete_seal(machine):
    minion = subprocess.Popen(["sleep", "60"])  # stands for the salt-minion of the pidfile
    machine.path(MINION_OPTS["pidfile"]).write_text(f"{minion.pid}\n")
    machine.path("/var/lib/salt-immutable").mkdir(parents=True)
    machine.path("/var/lib/salt-immutable/seal.json").write_text('{"complete": true, "remaining": []}')
    try:
        sealed = machine.call("seal", release={"fleet": "web"}, secret_keys=["webapp:token"])
        record = machine.path("/var/lib/salt-immutable/seal.json")
        assert not record.exists()  # an earlier record must not vouch for this seal
        minion_paths = [MINION_OPTS[key] for key in ("pki_dir", "cachedir", "log_file", "conf_file", "pidfile")]
        minion_paths += [MINION_OPTS["log_file"] + ".1"]
        conf = MINION_OPTS["conf_file"].rpartition("/")[0]
        minion_paths += [f"{conf}/minion_id", f"{conf}/minion.d/_schedule.conf"]
        for name in minion_paths:
            assert machine.path(name).exists(), name  # still needed by the minion answering this call
            assert str(machine.path(name)) in sealed["removed"], name
        assert sealed["seal_record"] == str(record)

        [script] = machine.started
        run_sweeper(script)
        for name in minion_paths:
            assert not machine.path(name).exists(), name
        assert machine.path(f"{conf}/minion.d/keep.conf").exists() and machine.path(f"{conf}/grains").exists()
        assert minion.wait(timeout=5) == -15
        assert stat.S_IMODE(record.stat().st_mode) == 0o644
        written = json.loads(record.read_text())
        assert written["complete"] is True and written["remaining"] == []
        assert isinstance(written["finished_at"], float)
        assert set(written) == {"complete", "finished_at", "remaining"}
    finally:
        minion.kill()
        minion.wait()


def test_a_sweep_that_cannot_stop_the_minion_records_an_incomplete_seal(machine, tmp_path):
    module = machine.module
    kept = machine.path("/etc/ssh/ssh_host_ed25519_key")
    kept.write_text("k")
    record = str(machine.path("/var/lib/salt-immutable/seal.json"))
    # no pidfile and no systemd: nothing to stop the minion with
    module["_sweep_and_record"]([str(machine.path(MINION_OPTS["cachedir"]))], record,
                                str(tmp_path / "no-pidfile"), 0, True, str(tmp_path / "no-systemd"), 0)
    written = json.loads(machine.path("/var/lib/salt-immutable/seal.json").read_text())
    assert written["complete"] is False and written["remaining"] == []
    assert not machine.path(MINION_OPTS["cachedir"]).exists()
    # what the sweep could not remove is named
    assert module["_seal_record"]([str(kept), str(machine.path("/absent"))], True, 1.0) == {
        "complete": True, "finished_at": 1.0, "remaining": [str(kept)]}


@pytest.mark.parametrize("log_file, expected", [
    ("/var/log/salt/minion", "/var/log/salt/minion"),
    ("file:///dev/log", None),
    ("udp://loghost:10514", None),
    ("tcp://loghost:10514", None),
    ("", None),
])
def test_the_minion_log_is_removed_only_when_it_is_a_file(machine, log_file, expected):
    assert machine.module["_log_path"](log_file) == expected


def test_a_minion_path_too_close_to_root_is_refused_before_anything_changes(machine):
    machine.opts["cachedir"] = "/var"
    before = machine.snapshot()
    with pytest.raises(CommandExecutionError, match="refusing to remove /var"):
        machine.call("seal")
    assert machine.snapshot() == before


def test_seal_refuses_when_a_secret_or_the_private_key_is_left(machine):
    machine.path("/opt/app/leak.txt").write_text(SECRET)
    key = machine.path(MINION_OPTS["pki_dir"] + "/minion.pem").read_text()
    machine.path("/tmp/key-copy").parent.mkdir(parents=True, exist_ok=True)
    machine.path("/tmp/key-copy").write_text(key)
    with pytest.raises(CommandExecutionError, match="secrets are still on disk in") as caught:
        machine.call("seal", secret_keys=["webapp:token"])
    message = str(caught.value)
    assert str(machine.path("/opt/app/leak.txt")) in message and str(machine.path("/tmp/key-copy")) in message
    assert SECRET not in message and key.splitlines()[1] not in message
    assert machine.started == []  # the minion is left running


def test_seal_with_a_secret_key_missing_from_the_pillar_names_it_and_changes_nothing(machine):
    before = machine.snapshot()
    with pytest.raises(CommandExecutionError, match="'webapp:nope'"):
        machine.call("seal", release={"fleet": "web"}, secret_keys=["webapp:token", "webapp:nope"])
    assert machine.snapshot() == before


def test_verify_reports_saltcheck_failures_and_pending_changes(machine, monkeypatch):
    fake = {
        "saltcheck.run_state_tests": lambda state: [{state: {"t_ok": {"status": "Pass"},
                                                              "t_bad": {"status": "Fail: 1 != 2"},
                                                              "TEST RESULTS": {}}}],
        "state.apply": lambda states, test: {"file_|-a": {"result": None, "changes": {}, "comment": "would"},
                                              "file_|-b": {"result": True, "changes": {}}},
    }
    monkeypatch.setitem(machine.module, "__salt__", fake)
    outcome = machine.call("verify", states=["webapp"], saltcheck=["webapp"])
    assert outcome["result"] is False
    assert outcome["failures"] == ["saltcheck webapp: t_bad", "converge: file_|-a would change"]


def test_asked_to_power_off_the_sweep_writes_its_record_first_then_stops_init(machine, tmp_path):
    # A stand-in for the machine's init: the sweep must signal it, and only after writing the record.
    init = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    record = machine.path("/var/lib/salt-immutable/seal.json")
    try:
        machine.module["_sweep_and_record"]([str(machine.path(MINION_OPTS["cachedir"]))], str(record),
                                            str(tmp_path / "no-pidfile"), 0, False, str(tmp_path / "no-systemd"),
                                            poweroff=True, init_pid=init.pid)
        assert init.wait(timeout=10) == -signal.SIGTERM
        assert json.loads(record.read_text())["complete"] is True
    finally:
        init.kill()
        init.wait()


def test_a_seal_asked_to_power_off_hands_it_to_the_sweeper_and_a_plain_one_never_does(machine):
    machine.call("seal", poweroff=True)
    machine.call("seal", confirm=True)
    asked, plain = machine.started
    assert asked.rstrip().endswith("poweroff=True, init_pid=1)")
    assert plain.rstrip().endswith("poweroff=False, init_pid=1)")
