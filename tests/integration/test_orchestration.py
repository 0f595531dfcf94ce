"""The orchestration files and the pillar-push reactor on the lab, with two one-server fleets (``db`` and
``web``) whose pillar lives in a git repository (git_pillar), as many masters keep it.

The tests run in order and share the fleets: ``orch.immutable.bake`` bakes both → ``multi_fleet`` rolls
db, then web → a db that fails leaves web untouched → a push to the pillar repository, announced by the
webhook event, rolls web to 1.1.0. About 6 minutes: marked ``slow`` (``make test-slow``).
"""

import json
import secrets
import shutil
import subprocess
import time

import pytest
import yaml

from salt_immutable import lab
from tests.support.lab import LabHandle
from tests.support.saltconfig import REPO

pytestmark = pytest.mark.slow

PUSH_SECRET = secrets.token_hex(16)
ONE_SERVER = {
    "count": 1,
    "bake": {"states": ["examples.webapp"], "secrets": ["webapp:build_token"]},
    "tests": {"converge": True, "http": {"port": 8080, "path": "/healthz"}},
    "rollout": {"max_surge": 1, "max_unavailable": 0, "progress_deadline": 300},
}


def git(folder, *args):
    subprocess.run(["git", "-C", str(folder), *args], check=True, capture_output=True, text=True)


class PillarRepository:
    """The pillar as a git repository the master reads through git_pillar (branch ``master`` = base)."""

    def __init__(self, root):
        self.bare, self.work = root / "pillar.git", root / "pillar-work"
        subprocess.run(["git", "init", "-q", "--bare", "-b", "master", str(self.bare)], check=True)
        shutil.copytree(REPO / "pillar", self.work)
        with open(self.work / "top.sls", "a", encoding="utf-8") as top:  # db bakes the example app too
            top.write("  '{{ builders(\"db\") }}':\n    - match: compound\n    - webapp.bake\n")
        git(self.work, "init", "-q", "-b", "master")
        git(self.work, "config", "user.email", "ops@example.com")
        git(self.work, "config", "user.name", "ops")
        git(self.work, "remote", "add", "origin", str(self.bare))
        self.push("db and web, one server each", db={"version": "1.0.0"}, web={"version": "1.0.0"})

    def push(self, message, **fleets):
        path = self.work / "immutable.sls"
        data = yaml.safe_load(path.read_text())
        for name, settings in fleets.items():
            data["immutable"]["fleets"][name] = {**ONE_SERVER, **settings}
        path.write_text(yaml.safe_dump(data))
        git(self.work, "add", "-A")
        git(self.work, "commit", "-q", "-m", message)
        git(self.work, "push", "-q", "origin", "master")


@pytest.fixture(scope="module")
def orch_lab(tmp_path_factory):
    root = tmp_path_factory.mktemp("orch")
    states = root / "salt"
    shutil.copytree(REPO / "salt", states)
    shutil.copytree(REPO / "tests" / "data" / "bake" / "salt", states, dirs_exist_ok=True)
    repository = PillarRepository(root)
    (root / "no-pillar-roots").mkdir()
    git_pillar = {
        "pillar_roots": {"base": []},
        "ext_pillar": [{"git": [f"master file://{repository.bare}"]}],
        "git_pillar_provider": "gitpython",
        "immutable_reactor": {"push_secret": PUSH_SECRET},
    }
    info = lab.up(root / "lab", state_tree=states, pillar_tree=root / "no-pillar-roots", time_scale=0.01,
                  extra_config=git_pillar)
    handle = LabHandle(root / "lab", info)
    handle.repository = repository
    try:
        yield handle
    finally:
        lab.down(root / "lab")


def fleet_versions(orch_lab, fleet):
    return sorted(tag.split(":", 1)[1] for server in orch_lab.provider.list_fleet(fleet) for tag in server.tags
                  if tag.startswith("version:") and "svc:in" in server.tags)


def rolls(orch_lab, fleet):
    return orch_lab.verb("history", f"fleet={fleet}")[1]["rolls"]


def test_the_bake_orchestration_bakes_and_proves_every_fleet(orch_lab):
    result, states = orch_lab.orch("orch.immutable.bake")
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    assert list(states) == ["immutable-db-image", "immutable-web-image"]
    for fleet in ("db", "web"):
        state = states[f"immutable-{fleet}-image"]
        assert state["result"] is True and state["changes"]["baked"]["label"] == f"{fleet}-1.0.0", state
        assert "proven" in orch_lab.provider.find_image(f"{fleet}-1.0.0").tags
    assert orch_lab.provider.list_fleet("db") == orch_lab.provider.list_fleet("web") == []


def test_the_multi_fleet_orchestration_rolls_db_to_the_end_before_web_starts(orch_lab):
    result, states = orch_lab.orch("orch.immutable.multi_fleet")
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    db, web = states["db-servers"], states["web-servers"]
    assert db["result"] is True and web["result"] is True
    assert db["changes"]["replaced"]["created"] == ["db-g1-1"] and web["changes"]["replaced"]["created"] == ["web-g1-1"]
    (db_roll,), (web_roll,) = rolls(orch_lab, "db"), rolls(orch_lab, "web")
    assert db_roll["outcome"] == web_roll["outcome"] == "succeeded"
    assert db_roll["ended"] <= web_roll["started"], (db_roll, web_roll)
    assert db["__run_num__"] < web["__run_num__"]
    assert fleet_versions(orch_lab, "db") == fleet_versions(orch_lab, "web") == ["1.0.0"]


def test_a_db_fleet_that_fails_leaves_web_untouched(orch_lab):
    orch_lab.repository.push("db 1.1.0 with a state that fails; web 1.1.0",
                             db={"version": "1.1.0", "bake": {"states": ["bakecases.failing"]}},
                             web={"version": "1.1.0"})
    fetched = orch_lab.salt_run("git_pillar.update")
    assert fetched.returncode == 0, fetched.stdout + fetched.stderr
    result, states = orch_lab.orch("orch.immutable.multi_fleet")
    assert result.returncode != 0
    db, web = states["db-servers"], states["web-servers"]
    assert db["result"] is False and "bake db@1.1.0 failed in configure" in db["comment"], db
    assert web["result"] is False and web["comment"].startswith("One or more requisite failed"), web
    assert len(rolls(orch_lab, "web")) == 1, "web must not have started a roll"
    assert fleet_versions(orch_lab, "db") == fleet_versions(orch_lab, "web") == ["1.0.0"]
    assert orch_lab.provider.find_image("web-1.1.0") is None


def test_a_push_to_the_pillar_repository_announced_by_its_webhook_rolls_the_fleet(orch_lab):
    orch_lab.repository.push("db back to 1.0.0", db={"version": "1.0.0"})
    wrong = {"post": {"ref": "master"}, "headers": {"X-Gitlab-Token": "guessed"}}
    orch_lab.send_event("salt/netapi/hook/immutable/pillar", wrong)
    orch_lab.send_event("salt/netapi/hook/immutable/pillar",
                        {"post": {"ref": "master"}, "headers": {"X-Gitlab-Token": PUSH_SECRET}})
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        done = [r for r in rolls(orch_lab, "web") if r["to_version"] == "1.1.0" and r["outcome"] != "running"]
        if done:
            break
        time.sleep(5)
    else:
        raise AssertionError(f"no roll of web to 1.1.0 within 10 minutes: {json.dumps(rolls(orch_lab, 'web'))}")
    (roll,) = done
    assert roll["outcome"] == "succeeded", roll
    assert len([r for r in rolls(orch_lab, "web") if r["to_version"] == "1.1.0"]) == 1, "the wrong secret rolled"
    assert fleet_versions(orch_lab, "web") == ["1.1.0"] and fleet_versions(orch_lab, "db") == ["1.0.0"]
    assert [r["to_version"] for r in rolls(orch_lab, "db")] == ["1.0.0", "1.1.0"], "db runs its pillar version: no roll"
