"""immutable.drift, loaded as a minion loads it, checking a local state tree (``file_client: local``)
against a folder posing as the server's disk."""

import json

import pytest
import salt.config
import salt.loader
from salt.exceptions import CommandExecutionError

from tests.support.saltconfig import REPO

PROVENANCE = {"fleet": "web", "version": "1.0.0", "bake_states": ["webapp"], "base_image": "linode/debian12"}
CONTENT = "port=80\n"


class Server:
    """The minion module loaded on a local state tree; ``disk`` holds the files the states manage."""

    def __init__(self, tmp_path, monkeypatch):
        self.disk = tmp_path / "disk"
        self.disk.mkdir()
        self.release_file = tmp_path / "immutable-release"
        self.config, self.motd = self.disk / "app.conf", self.disk / "motd"
        srv = tmp_path / "srv"
        srv.mkdir()
        (srv / "webapp.sls").write_text(
            f"app_config:\n  file.managed:\n    - name: {self.config}\n    - contents: {json.dumps(CONTENT)}\n"
            f"motd:\n  file.managed:\n    - name: {self.motd}\n    - contents: welcome\n"
        )
        (srv / "broken.sls").write_text("oops:\n  file.managed:\n    - name: {{ no_such_function() }}\n")
        opts = salt.config.minion_config(None)
        opts.update({
            "id": "web-g1-1", "grains": {}, "file_client": "local", "root_dir": str(tmp_path),
            "cachedir": str(tmp_path / "cache"), "module_dirs": [str(REPO / "_modules")],
            "file_roots": {"base": [str(srv)]}, "pillar_roots": {"base": [str(tmp_path / "pillar")]},
        })
        # state.apply needs the utils loaded, as salt-call loads them.
        self.mods = salt.loader.minion_mods(opts, utils=salt.loader.utils(opts))
        monkeypatch.setitem(self.mods["immutable.drift"].__globals__, "RELEASE_FILE", str(self.release_file))

    def bake(self, provenance=PROVENANCE):
        """Put the disk as the bake left it (a real apply), and record the release."""
        applied = self.mods["state.apply"]("webapp")
        assert all(entry["result"] is True for entry in applied.values()), applied
        if provenance is not None:
            self.release_file.write_text(json.dumps(provenance))
        return self

    def drift(self, **kwargs):
        return self.mods["immutable.drift"](**kwargs)


@pytest.fixture
def server(tmp_path, monkeypatch):
    return Server(tmp_path, monkeypatch).bake()


def test_a_server_as_baked_has_no_drift(server):
    assert server.drift() == {
        "result": True, "fleet": "web", "version": "1.0.0", "states": ["webapp"],
        "drifted": [], "files": [], "ignored": [],
    }


def test_a_file_changed_by_hand_is_drift_and_drift_does_not_change_it_back(server):
    server.config.write_text("port=8080\n")
    report = server.drift()
    assert report["result"] is False
    assert report["files"] == [str(server.config)]
    [entry] = report["drifted"]
    assert entry["id"] == "app_config" and entry["state"] == "file.managed" and entry["name"] == str(server.config)
    assert "-port=8080" in entry["changes"]["diff"] and "+port=80" in entry["changes"]["diff"]
    assert entry["comment"]
    assert server.config.read_text() == "port=8080\n"  # test=True: nothing was applied


def test_a_removed_file_is_drift_and_is_not_recreated(server):
    server.motd.unlink()
    report = server.drift()
    assert [entry["id"] for entry in report["drifted"]] == ["motd"] and report["files"] == [str(server.motd)]
    assert not server.motd.exists()


@pytest.mark.parametrize("pattern", ["*/app.conf", "app_*"], ids=["by path", "by id"])
def test_ignored_drift_is_listed_apart_and_the_server_counts_as_clean(server, pattern):
    server.config.write_text("port=8080\n")
    report = server.drift(ignore=[pattern])
    assert report["result"] is True and report["drifted"] == [] and report["files"] == []
    assert [entry["id"] for entry in report["ignored"]] == ["app_config"]


def test_ignore_leaves_the_drift_it_does_not_match(server):
    server.config.write_text("port=8080\n")
    server.motd.write_text("hello\n")
    report = server.drift(ignore="*/motd")
    assert report["result"] is False
    assert [entry["id"] for entry in report["drifted"]] == ["app_config"] and report["files"] == [str(server.config)]
    assert [entry["id"] for entry in report["ignored"]] == ["motd"]


def test_states_default_to_the_release_bake_states_and_given_states_win(server):
    server.release_file.write_text(json.dumps({**PROVENANCE, "bake_states": ["broken"]}))
    with pytest.raises(CommandExecutionError, match="broken"):
        server.drift()
    assert server.drift(states=["webapp"])["states"] == ["webapp"]


def test_given_states_work_without_a_release_file(tmp_path, monkeypatch):
    server = Server(tmp_path, monkeypatch).bake(provenance=None)
    report = server.drift(states="webapp")
    assert report["result"] is True and report["fleet"] is None and report["version"] is None


def test_no_release_file_and_no_states_is_an_error_naming_the_file(tmp_path, monkeypatch):
    server = Server(tmp_path, monkeypatch).bake(provenance=None)
    with pytest.raises(CommandExecutionError, match=f"{server.release_file} does not exist and no states"):
        server.drift()


def test_a_release_without_bake_states_and_no_states_is_an_error_naming_the_file(server):
    server.release_file.write_text(json.dumps({"fleet": "web", "version": "1.0.0"}))
    with pytest.raises(CommandExecutionError, match=f"{server.release_file} records no bake_states"):
        server.drift()


def test_a_state_that_does_not_render_is_an_error_naming_it(server):
    with pytest.raises(CommandExecutionError, match=r"the states webapp, broken cannot be checked: .*no_such_function"):
        server.drift(states=["webapp", "broken"])


def test_a_state_that_does_not_exist_is_an_error_naming_it(server):
    with pytest.raises(CommandExecutionError, match="No matching sls found for 'nosuch'"):
        server.drift(states=["nosuch"])
