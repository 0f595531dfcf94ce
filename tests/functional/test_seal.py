"""immutable.seal and immutable.scan_secrets, loaded as a minion loads them, on a folder posing as /."""

import json
import socket

import pytest
import salt.config
import salt.loader
from salt.exceptions import CommandExecutionError

from tests.support.saltconfig import REPO

SECRET = "SECRET-VALUE-0123456789"


@pytest.fixture
def machine(tmp_path, monkeypatch):
    """The minion module with its paths pointed into ``tmp_path/root``, and a pillar holding a secret."""
    opts = salt.config.minion_config(None)
    opts.update({"file_client": "local", "root_dir": str(tmp_path), "cachedir": str(tmp_path / "cache"),
                 "module_dirs": [str(REPO / "_modules")], "pillar": {"webapp": {"token": SECRET, "port": 80}}})
    mods = salt.loader.minion_mods(opts)
    module = mods["immutable.seal"].__globals__
    root = tmp_path / "root"

    def path(name):
        return str(root / name.lstrip("/"))

    files = {
        "/etc/salt/minion": "id: builder\n", "/etc/salt/minion_id": "builder",
        "/etc/salt/pki/minion/minion.pem": "-----PRIVATE KEY-----", "/var/cache/salt/minion/sls.p": "x",
        "/var/log/salt/minion": "log", "/var/log/cloud-init-output.log": "ran", "/etc/ssh/ssh_host_rsa_key": "k",
        "/root/.bash_history": "ls", "/etc/machine-id": "0123456789abcdef", "/opt/app/app.conf": "port=80",
        "/etc/salt/grains": "immutable:\n  role: builder\nroles: [web]\n",
        "/etc/hostname": socket.gethostname() + "\n",
        "/etc/hosts": f"127.0.0.1 localhost\n127.0.1.1 {socket.gethostname()}\n",
    }
    for name, content in files.items():
        target = root / name.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content)
    for name in ("MINION_PATHS", "IDENTITY_PATHS", "MACHINE_ID_FILES"):
        monkeypatch.setitem(module, name, tuple(path(p) for p in module[name]))
    for name in ("RELEASE_FILE", "GRAINS_FILE", "HOSTNAME_FILE", "HOSTS_FILE", "PRIVATE_KEY"):
        monkeypatch.setitem(module, name, path(module[name]))
    monkeypatch.setitem(module, "SCAN_ROOTS", (str(root),))
    monkeypatch.setitem(module, "_boot_time", lambda: 0)
    monkeypatch.setitem(module, "_logs_since", lambda since, exclude: [path("/var/log/cloud-init-output.log")])
    return mods, root


def test_scan_secrets_finds_pillar_secret_values_and_never_returns_them(machine):
    mods, root = machine
    (root / "opt/app/leak.txt").write_text(f"token={SECRET}\n")
    found = mods["immutable.scan_secrets"](keys=["webapp:token"], roots=[str(root)], since=0)
    assert found == {"secrets": 1, "found": [str(root / "opt/app/leak.txt")]}
    assert SECRET not in json.dumps(found)
    excluded = mods["immutable.scan_secrets"](keys=["webapp:token"], roots=[str(root)], since=0,
                                              exclude=[str(root / "opt/app/leak.txt")])
    assert excluded["found"] == []
    assert mods["immutable.scan_secrets"](keys=["webapp:token"], roots=[str(root)], since=2**40)["found"] == []


def test_seal_test_mode_lists_and_removes_nothing(machine):
    mods, root = machine
    listed = mods["immutable.seal"](test=True)
    assert listed["result"] is None
    assert str(root / "etc/salt/minion_id") in listed["would_remove"]
    assert str(root / "etc/ssh/ssh_host_rsa_key") in listed["would_remove"]
    assert (root / "etc/salt/minion_id").exists() and (root / "etc/machine-id").read_text()


def test_seal_removes_identity_writes_the_release_and_keeps_the_app(machine):
    mods, root = machine
    sealed = mods["immutable.seal"](release={"fleet": "web"}, secret_keys=["webapp:token"], stop_minion=False)
    assert sealed["result"] is True and sealed["grains_removed"] == ["immutable"]
    for gone in ("etc/ssh/ssh_host_rsa_key", "root/.bash_history", "var/log/cloud-init-output.log"):
        assert not (root / gone).exists(), gone
    assert (root / "etc/machine-id").read_text() == ""
    assert (root / "etc/hostname").read_text() == "localhost\n"
    assert socket.gethostname() not in (root / "etc/hosts").read_text()
    assert (root / "etc/salt/grains").read_text().strip() == "roles:\n- web"
    assert json.loads((root / "etc/immutable-release").read_text()) == {"fleet": "web"}
    assert (root / "opt/app/app.conf").read_text() == "port=80"
    # what the minion needs until it has answered goes only once it stops
    assert (root / "etc/salt/pki/minion/minion.pem").exists()


def test_seal_refuses_when_a_secret_or_the_private_key_is_left(machine):
    mods, root = machine
    (root / "opt/app/leak.txt").write_text(SECRET)
    (root / "opt/app/key-copy").write_text("-----PRIVATE KEY-----")
    with pytest.raises(CommandExecutionError, match="secrets are still on disk in") as caught:
        mods["immutable.seal"](secret_keys=["webapp:token"], stop_minion=False)
    message = str(caught.value)
    assert str(root / "opt/app/leak.txt") in message and str(root / "opt/app/key-copy") in message
    assert SECRET not in message


def test_verify_reports_saltcheck_failures_and_pending_changes(machine, monkeypatch):
    mods, _root = machine
    fake = {
        "saltcheck.run_state_tests": lambda state: [{state: {"t_ok": {"status": "Pass"},
                                                              "t_bad": {"status": "Fail: 1 != 2"},
                                                              "TEST RESULTS": {}}}],
        "state.apply": lambda states, test: {"file_|-a": {"result": None, "changes": {}, "comment": "would"},
                                              "file_|-b": {"result": True, "changes": {}}},
    }
    monkeypatch.setitem(mods["immutable.verify"].__globals__, "__salt__", fake)
    outcome = mods["immutable.verify"](states=["webapp"], saltcheck=["webapp"])
    assert outcome["result"] is False
    assert outcome["failures"] == ["saltcheck webapp: t_bad", "converge: file_|-a would change"]
