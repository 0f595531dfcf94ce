"""immutable.prune around the pure retention rules: what it reads, archives and deletes, under the lock."""

import dataclasses
import json
import time
from datetime import datetime, timedelta, timezone

import pytest

from salt_immutable import fleetops, history, prune, spec
from salt_immutable import lock as locking
from salt_immutable.errors import LockHeld
from salt_immutable.model import ImageRef, ObservedServer

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


def image(version, age_days, proven=True, fleet="web"):
    tags = ("immutable", f"fleet:{fleet}", f"version:{version}", *(("proven",) if proven else ()))
    return ImageRef(id=f"private/{version.replace('.', '')}", label=f"{fleet}-{version}", status="available",
                    size=3, tags=tags, description=json.dumps({"fleet": fleet, "version": version}),
                    created=T0 - timedelta(days=age_days), capabilities=("cloud-init",), is_public=False)


def linode(label, image_id, tags=()):
    return ObservedServer(1, label, "running", tuple(tags), ("127.0.1.1",), "127.0.1.1", "us-east",
                          "g6-standard-1", image_id, T0)


class Cloud:
    def __init__(self, images, linodes):
        self.images, self.linodes, self.deleted, self.requests = list(images), list(linodes), [], 0

    def list_images(self, tags=()):
        self.requests += 1
        return [i for i in self.images if set(tags) <= set(i.tags)]

    def list_instances(self, tags=()):
        self.requests += 1
        return [s for s in self.linodes if set(tags) <= set(s.tags)]

    def list_fleet(self, fleet):
        return self.list_instances(("immutable", f"fleet:{fleet}"))

    def get_image(self, image_id):
        return next(i for i in self.images if i.id == image_id)

    def delete_image(self, image_id):
        self.deleted.append(image_id)
        self.images = [i for i in self.images if i.id != image_id]


def fleet(version="1.4", keep=2):
    parsed = spec.parse({"immutable": {"linode": {"region": "us-east", "type": "g6-standard-1",
                                                  "base_image": "linode/debian12"},
                                       "fleets": {"web": {"version": version, "count": 1,
                                                          "bake": {"states": ["webapp"]},
                                                          "retention": {"keep": keep}}}}})
    return parsed.fleet("web")


@pytest.fixture
def world(tmp_path):
    cloud = Cloud(
        [image("1.0", 5), image("1.1", 4), image("1.2", 3), image("1.3", 2), image("1.4", 1),
         image("0.1", 9, fleet="db")],
        [linode("web-g4-1", "private/13", ("immutable", "fleet:web", "version:1.3", "gen:4", "svc:in")),
         linode("adhoc", "private/10")],
    )
    lines = []
    rolled = history.start(str(tmp_path), "web", "roll", ["1.2"], "1.3", "ops")
    history.finish(str(tmp_path), rolled, history.SUCCEEDED)
    ctx = fleetops.Context(provider=cloud, salt=None, master_address="127.0.0.1", master_port=4506,
                           folder=str(tmp_path), bake=None, progress=lines.append)
    return ctx, cloud, lines


def test_test_mode_lists_and_deletes_nothing(world):
    ctx, cloud, lines = world
    result = prune.prune_fleet(ctx, fleet(), test=True)
    assert cloud.deleted == [] and result["changed"] is False
    assert [entry["label"] for entry in result["would_delete"]] == ["web-1.1"]
    reasons = {entry["label"]: entry["reasons"] for entry in result["kept"]}
    assert reasons == {
        "web-1.4": ["the pillar names version 1.4"],
        "web-1.3": ["Linodes were created from it: web-g4-1"],
        "web-1.2": ["it is the rollback target"],  # the fleet ran it before its last roll
        "web-1.0": ["Linodes were created from it: adhoc"],
    }
    assert history.archived_images(ctx.folder, "web") == []
    assert any("prune: delete web-1.1 (private/11)" in line for line in lines)


def test_a_prune_archives_each_images_provenance_before_deleting_it(world):
    ctx, cloud, _ = world
    result = prune.prune_fleet(ctx, fleet())
    assert cloud.deleted == ["private/11"] and result["changed"] is True
    (archived,) = history.archived_images(ctx.folder, "web")
    assert archived["label"] == "web-1.1" and archived["provenance"] == {"fleet": "web", "version": "1.1"}
    assert archived["archived"].endswith("Z") and "version:1.1" in archived["tags"]
    assert "private/01" not in cloud.deleted  # another fleet's image is never considered


def test_the_versions_of_an_unfinished_roll_are_kept(world):
    ctx, _, _ = world
    later = time.time() + 60  # after the fixture's succeeded roll
    record = history.start(ctx.folder, "web", "roll", ["1.3"], "1.1", "ops", clock=lambda: later)
    history.finish(ctx.folder, record, history.INTERRUPTED, clock=lambda: later)
    result = prune.prune_fleet(ctx, fleet(), test=True)
    reasons = {entry["label"]: entry["reasons"] for entry in result["kept"]}
    assert "an unfinished roll uses it" in reasons["web-1.1"]
    assert result["would_delete"] == []


def test_a_prune_waits_for_no_one_while_a_roll_holds_the_fleet(world):
    ctx, cloud, _ = world
    with locking.FleetLock(ctx.folder, "web", "roll").acquire(), pytest.raises(LockHeld):
        prune.prune_fleet(ctx, fleet())
    assert cloud.deleted == []


def test_keep_on_the_command_line_overrides_retention_keep(world):
    ctx, cloud, _ = world
    result = prune.prune_fleet(ctx, fleet(keep=5), keep=1)
    assert result["keep"] == 1 and cloud.deleted == ["private/11"]


@pytest.mark.parametrize(("prune_after_roll", "outcome", "prunes"),
                         [(True, "succeeded", True), (True, "rolled_back", False), (True, "unchanged", False),
                          (False, "succeeded", False)])
def test_a_successful_roll_prunes_its_fleet_when_asked(world, monkeypatch, prune_after_roll, outcome, prunes):
    ctx, cloud, _ = world
    rolled = []
    monkeypatch.setattr(fleetops, "roll_fleet", lambda *args, **kw: rolled.append((args, kw)) or {"outcome": outcome})
    the_fleet = dataclasses.replace(fleet(), retention=dataclasses.replace(fleet().retention,
                                                                           prune_after_roll=prune_after_roll))
    report = prune.roll_and_prune(ctx, the_fleet, "1.4", wait=3)
    assert rolled[0][1] == {"wait": 3}
    assert ("prune" in report) is prunes and (cloud.deleted == ["private/11"]) is prunes
