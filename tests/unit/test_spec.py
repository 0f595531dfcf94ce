"""The fleet spec: defaults merged, every bad input named by its pillar path."""

import copy
from pathlib import Path

import pytest
import yaml

from salt_immutable import spec
from salt_immutable.errors import SpecError

REPO = Path(__file__).resolve().parents[2]


def good_fleet(**overrides):
    fleet = {"version": "1.4.2", "count": 3, "bake": {"states": ["webapp"]}}
    fleet.update(overrides)
    return fleet


def pillar(fleets=None, linode=None, **extra):
    body = {"linode": linode or {"region": "us-east"}, "fleets": fleets or {"web": good_fleet()}}
    body.update(extra)
    return {"immutable": body}


def problems_of(value):
    with pytest.raises(SpecError) as caught:
        spec.parse(value)
    return dict(caught.value.problems)


def test_full_example_parses_with_every_setting():
    fleet = good_fleet(
        boot={"states": ["webapp.secrets"]},
        tests={"saltcheck": ["webapp"], "converge": False, "http": {"port": 8080, "path": "/healthz"}},
        rollout={"max_surge": "25%", "max_unavailable": 1, "warmup": 5, "progress_deadline": 900},
        nodebalancer={"id": 1234, "port": 80, "drain_seconds": 10},
        volumes=[{"name": "data", "size": 10, "mount": "/var/lib/webapp"}],
        retention={"keep": 5},
    )
    web = spec.parse(pillar({"web": fleet})).fleet("web")
    assert web.version == "1.4.2" and web.count == 3
    assert web.boot.states == ("webapp.secrets",)
    assert web.tests.http == spec.HttpCheck(port=8080, path="/healthz")
    assert web.tests.converge is False
    assert web.rollout.max_surge == spec.Quantity(25, percent=True)
    assert web.rollout.max_unavailable == spec.Quantity(1)
    assert web.nodebalancer == spec.NodeBalancerSpec(id=1234, port=80, drain_seconds=10)
    assert not web.nodebalancer.managed
    assert web.volumes == (spec.VolumeSpec(name="data", size=10, mount="/var/lib/webapp"),)
    assert web.retention.keep == 5


def test_defaults_are_merged():
    web = spec.parse(pillar()).fleet("web")
    assert web.linode == spec.LinodeSpec(region="us-east", type="g6-standard-1", base_image="linode/debian12")
    assert web.boot.states == ()
    assert web.tests == spec.TestsSpec(saltcheck=(), converge=True, http=None)
    assert web.rollout == spec.RolloutSpec(
        max_surge=spec.Quantity(1), max_unavailable=spec.Quantity(0), warmup=0,
        progress_deadline=900, auto_rollback=True, checkpoints=(), checkpoint_timeout=1800,
    )
    assert web.nodebalancer is None and web.volumes == () and web.retention.keep == 3


def test_fleet_overrides_linode_defaults_key_by_key():
    fleets = {"web": good_fleet(linode={"type": "g6-standard-2"}), "api": good_fleet()}
    parsed = spec.parse(pillar(fleets, linode={"region": "eu-west", "base_image": "linode/debian11"}))
    assert parsed.fleet("web").linode == spec.LinodeSpec("eu-west", "g6-standard-2", "linode/debian11")
    assert parsed.fleet("api").linode == spec.LinodeSpec("eu-west", "g6-standard-1", "linode/debian11")


def test_spec_is_immutable():
    web = spec.parse(pillar()).fleet("web")
    with pytest.raises(AttributeError):
        web.count = 4


def test_to_dict_is_plain_data():
    fleet = good_fleet(rollout={"max_surge": "50%", "max_unavailable": 0})
    data = spec.parse(pillar({"web": fleet})).to_dict()
    assert data["fleets"]["web"]["rollout"]["max_surge"] == "50%"
    assert data["fleets"]["web"]["rollout"]["max_unavailable"] == 0
    assert data["fleets"]["web"]["bake"] == {"states": ["webapp"], "secrets": []}
    assert "name" not in data["fleets"]["web"]


def test_no_fleets_is_a_valid_empty_spec():
    assert spec.parse({"immutable": {"fleets": {}}}).fleets == ()


def test_example_pillar_of_the_repository_is_valid():
    raw = yaml.safe_load((REPO / "pillar" / "immutable.sls").read_text())
    parsed = spec.parse(raw)
    assert [f.name for f in parsed.fleets] == ["web"]


def with_fleet(**fleet):
    return pillar({"web": good_fleet(**fleet)})


def without(key):
    fleet = good_fleet()
    del fleet[key]
    return pillar({"web": fleet})


F = "immutable:fleets:web"
BAD_INPUTS = [
    # (id, pillar, path, part of the message)
    ("pillar-not-mapping", "nonsense", "immutable", "no immutable pillar"),
    ("no-immutable-key", {"other": 1}, "immutable", "no immutable pillar"),
    ("immutable-is-list", {"immutable": [1]}, "immutable", "expected a mapping, got list"),
    ("token-in-pillar", pillar(linode_token="secret"), "immutable:linode_token", "must never live in pillar"),
    ("unknown-top-key", pillar(fleet={}), "immutable:fleet", "did you mean 'fleets'?"),
    ("fleets-is-list", {"immutable": {"fleets": ["web"]}}, "immutable:fleets", "expected a mapping of fleet"),
    ("linode-is-string", pillar(linode="us-east"), "immutable:linode", "expected a mapping, got string"),
    ("linode-unknown-key", pillar(linode={"region": "x", "regoin": "y"}), "immutable:linode:regoin",
     "did you mean 'region'?"),
    ("linode-empty-type", pillar(linode={"region": "x", "type": ""}), "immutable:linode:type",
     "expected a non-empty string"),
    ("no-region-anywhere", pillar(linode={"type": "g6-nanode-1"}), f"{F}:linode:region",
     "here or in immutable:linode:region"),
    ("fleet-not-mapping", pillar({"web": "1.0"}), F, "expected a mapping of fleet settings"),
    ("fleet-name-digit", pillar({"1web": good_fleet()}), "immutable:fleets:1web", "not a valid Linode label"),
    ("fleet-name-dash-end", pillar({"web-": good_fleet()}), "immutable:fleets:web-", "never '--'"),
    ("fleet-name-integer", pillar({7: good_fleet()}), "immutable:fleets:7", "fleet names must be strings"),
    ("fleet-name-too-long", pillar({"w" * 60: good_fleet()}), "immutable:fleets:" + "w" * 60,
     "must be 3-64 characters"),
    ("fleet-unknown-key", with_fleet(verison="1"), f"{F}:verison", "did you mean 'version'?"),
    ("missing-version", without("version"), f"{F}:version", "required"),
    ("missing-count", without("count"), f"{F}:count", "required"),
    ("missing-bake", without("bake"), f"{F}:bake", "required"),
    ("version-float", with_fleet(version=1.4), f"{F}:version", 'quoted string such as "1.4.2"'),
    ("version-space", with_fleet(version="1.4 beta"), f"{F}:version", "not a valid Linode label"),
    ("version-double-dot", with_fleet(version="1..4"), f"{F}:version", "never '--', '__' or '..'"),
    ("version-too-long", with_fleet(version="1" * 45), f"{F}:version", "tag 'version:"),
    ("count-negative", with_fleet(count=-1), f"{F}:count", "expected an integer >= 0, got -1"),
    ("count-string", with_fleet(count="3"), f"{F}:count", "expected an integer, got string '3'"),
    ("count-boolean", with_fleet(count=True), f"{F}:count", "expected an integer, got boolean True"),
    ("bake-states-string", with_fleet(bake={"states": "webapp"}), f"{F}:bake:states",
     "expected a list of state names"),
    ("bake-states-missing", with_fleet(bake={}), f"{F}:bake:states", "required"),
    ("bake-state-bad-name", with_fleet(bake={"states": ["web app"]}), f"{F}:bake:states",
     "expected state names such as webapp"),
    ("bake-state-twice", with_fleet(bake={"states": ["a", "a"]}), f"{F}:bake:states", "lists a state twice"),
    ("bake-secrets-string", with_fleet(bake={"states": ["a"], "secrets": "webapp:token"}), f"{F}:bake:secrets",
     "expected a list of pillar keys such as [webapp:build_token]"),
    ("bake-unknown-key", with_fleet(bake={"states": ["a"], "pilar": {}}), f"{F}:bake:pilar",
     "unknown key; expected one of: secrets, states"),
    ("boot-not-mapping", with_fleet(boot=["a"]), f"{F}:boot", "expected a mapping, got list"),
    ("surge-negative", with_fleet(rollout={"max_surge": -1}), f"{F}:rollout:max_surge",
     'integer >= 0 or a percentage such as "25%"'),
    ("surge-bad-percent", with_fleet(rollout={"max_surge": "150%"}), f"{F}:rollout:max_surge",
     "percentage"),
    ("surge-word", with_fleet(rollout={"max_surge": "one"}), f"{F}:rollout:max_surge", "got string 'one'"),
    ("checkpoints-number", with_fleet(rollout={"checkpoints": 1}), f"{F}:rollout:checkpoints",
     "expected a list of batch numbers >= 1 such as [1], got integer 1"),
    ("checkpoints-zero", with_fleet(rollout={"checkpoints": [0]}), f"{F}:rollout:checkpoints", "got list [0]"),
    ("checkpoints-twice", with_fleet(rollout={"checkpoints": [2, 2]}), f"{F}:rollout:checkpoints",
     "lists a batch twice: [2, 2]"),
    ("checkpoint-timeout", with_fleet(rollout={"checkpoint_timeout": "1h"}), f"{F}:rollout:checkpoint_timeout",
     "expected a number of seconds >= 0, got string '1h'"),
    ("unavailable-float", with_fleet(rollout={"max_unavailable": 0.5}), f"{F}:rollout:max_unavailable",
     "got number 0.5"),
    ("both-zero", with_fleet(rollout={"max_surge": 0, "max_unavailable": 0}), f"{F}:rollout",
     "cannot both be 0"),
    ("both-zero-percent", with_fleet(rollout={"max_surge": "0%", "max_unavailable": "0%"}), f"{F}:rollout",
     "cannot both be 0"),
    ("rollout-typo", with_fleet(rollout={"max_surg": 2}), f"{F}:rollout:max_surg",
     "did you mean 'max_surge'?"),
    ("warmup-negative", with_fleet(rollout={"warmup": -5}), f"{F}:rollout:warmup", "seconds >= 0"),
    ("deadline-zero", with_fleet(rollout={"progress_deadline": 0}), f"{F}:rollout:progress_deadline",
     "integer >= 1"),
    ("auto-rollback-string", with_fleet(rollout={"auto_rollback": "yes"}), f"{F}:rollout:auto_rollback",
     "expected true or false"),
    ("http-port-zero", with_fleet(tests={"http": {"port": 0}}), f"{F}:tests:http:port", "integer >= 1"),
    ("http-port-huge", with_fleet(tests={"http": {"port": 70000}}), f"{F}:tests:http:port", "<= 65535"),
    ("http-path-relative", with_fleet(tests={"http": {"port": 80, "path": "healthz"}}),
     f"{F}:tests:http:path", "URL path such as /healthz"),
    ("converge-string", with_fleet(tests={"converge": "true"}), f"{F}:tests:converge", "true or false"),
    ("nodebalancer-no-port", with_fleet(nodebalancer={"id": 5}), f"{F}:nodebalancer:port", "required"),
    ("nodebalancer-id-zero", with_fleet(nodebalancer={"id": 0, "port": 80}), f"{F}:nodebalancer:id",
     "integer >= 1"),
    ("nodebalancer-id-and-label", with_fleet(nodebalancer={"id": 5, "label": "web-lb", "port": 80},
                                             tests={"http": {"port": 8080}}),
     f"{F}:nodebalancer", "exactly one of id"),
    ("nodebalancer-neither", with_fleet(nodebalancer={"port": 80}, tests={"http": {"port": 8080}}),
     f"{F}:nodebalancer", "exactly one of id"),
    ("nodebalancer-bad-label", with_fleet(nodebalancer={"label": "web lb", "port": 80}),
     f"{F}:nodebalancer:label", "3-32 letters"),
    ("nodebalancer-without-http", with_fleet(nodebalancer={"label": "web-lb", "port": 80}),
     f"{F}:nodebalancer", "needs tests:http"),
    ("volumes-mapping", with_fleet(volumes={"name": "data"}), f"{F}:volumes", "expected a list of mappings"),
    ("volume-too-small", with_fleet(volumes=[{"name": "d", "size": 5, "mount": "/d"}]), f"{F}:volumes:0:size",
     "integer >= 10"),
    ("volume-relative-mount", with_fleet(volumes=[{"name": "d", "size": 10, "mount": "d"}]),
     f"{F}:volumes:0:mount", "absolute path"),
    ("volume-name-dot", with_fleet(volumes=[{"name": "my.data", "size": 10, "mount": "/d"}]),
     f"{F}:volumes:0:name", "not a valid Linode volume label"),
    ("volume-label-too-long", with_fleet(volumes=[{"name": "d" * 30, "size": 10, "mount": "/d"}]),
     f"{F}:volumes:0:name", "must be 1-32 characters"),
    ("volume-twice", with_fleet(volumes=[{"name": "d", "size": 10, "mount": "/a"},
                                         {"name": "d", "size": 10, "mount": "/b"}]),
     f"{F}:volumes", "volume name 'd' is used more than once"),
    ("retention-zero", with_fleet(retention={"keep": 0}), f"{F}:retention:keep", "integer >= 1"),
    ("image-label-clash", pillar({"a": good_fleet(version="b-1"), "a-b": good_fleet(version="1")}),
     "immutable:fleets:a-b:version", "also the image label of fleet 'a'"),
]


@pytest.mark.parametrize(("value", "path", "message"), [case[1:] for case in BAD_INPUTS],
                         ids=[case[0] for case in BAD_INPUTS])
def test_bad_input_names_its_path_and_what_was_expected(value, path, message):
    found = problems_of(copy.deepcopy(value))
    assert path in found, f"no problem at {path}; got {found}"
    assert message in found[path]


def test_table_holds_at_least_thirty_distinct_bad_inputs():
    assert len({case[0] for case in BAD_INPUTS}) == len(BAD_INPUTS) >= 30


def test_every_problem_of_a_pillar_is_reported_together():
    bad = pillar(
        {
            "web": good_fleet(version=1.4, count=-2, rollout={"max_surge": 0, "max_unavailable": 0}),
            "api": good_fleet(bake={"states": "x"}),
        },
        linode={"region": "us-east", "tpye": "g6"},
    )
    found = problems_of(bad)
    assert set(found) == {
        "immutable:linode:tpye",
        f"{F}:version",
        f"{F}:count",
        f"{F}:rollout",
        "immutable:fleets:api:bake:states",
    }


def test_error_message_lists_each_problem_on_its_own_line():
    with pytest.raises(SpecError) as caught:
        spec.parse(with_fleet(count=-1, version=2))
    lines = str(caught.value).splitlines()
    assert lines[0] == "invalid immutable pillar (2 problems):"
    assert f"  - {F}:version: " in lines[1] + lines[2]
    assert any(line.startswith(f"  - {F}:count: expected an integer >= 0") for line in lines)


def test_null_settings_fall_back_to_defaults():
    web = spec.parse(with_fleet(rollout=None, tests={"http": None})).fleet("web")
    assert web.rollout == spec.RolloutSpec()
    assert web.tests.http is None


def test_settings_reference_documents_every_setting_with_its_default():
    rows = {key: (default, doc) for key, default, doc in spec.settings_reference()}
    assert rows["rollout:max_surge"] == (1, "servers above count during a roll")
    assert rows["version"][0] == "required"
    assert rows["volumes:N:mount"][0] == "required"
    assert all(doc for _default, doc in rows.values())
