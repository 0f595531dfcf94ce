"""Bad input: malformed pillars and runner arguments, each refused through :mod:`salt_immutable.api` (as the
runner calls it, with master opts and a compiled pillar) with an error naming its pillar path or argument,
and with no mutating API call reaching the emulator."""

import copy

import pytest

from linode_emu.server import EmulatorServer
from salt_immutable import api
from salt_immutable.errors import ArgumentError, SpecError
from tests.reliability.harness import master_opts
from tests.support.emulator import EMULATOR_DEFAULTS, EMULATOR_TOKEN, EmulatorControl

FLEET = {"version": "1.0.0", "count": 3, "bake": {"states": ["app"]}, "tests": {"http": {"port": 8080}}}
GOOD = {"linode": {"region": "us-east"}, "fleets": {"web": FLEET}}
WEB = "immutable:fleets:web"
RULE = {"protocol": "TCP", "ports": "22", "addresses": {"ipv4": ["10.0.0.0/8"]}}


def fleet(**changes):
    """The good pillar with fleet ``web``'s keys ``changes`` replaced."""
    pillar = copy.deepcopy(GOOD)
    pillar["fleets"]["web"].update(changes)
    return pillar


def firewall(**settings):
    return fleet(linode={"firewall": settings})


# (case, pillar, the path named)
BAD_PILLARS = [
    ("max_surge negative", fleet(rollout={"max_surge": -1}), f"{WEB}:rollout:max_surge"),
    ("max_surge over 100%", fleet(rollout={"max_surge": "150%"}), f"{WEB}:rollout:max_surge"),
    ("surge and unavailable both 0", fleet(rollout={"max_surge": 0, "max_unavailable": 0}), f"{WEB}:rollout"),
    ("max_unavailable a word", fleet(rollout={"max_unavailable": "x"}), f"{WEB}:rollout:max_unavailable"),
    ("warmup negative", fleet(rollout={"warmup": -2}), f"{WEB}:rollout:warmup"),
    ("progress_deadline 0", fleet(rollout={"progress_deadline": 0}), f"{WEB}:rollout:progress_deadline"),
    ("auto_rollback a string", fleet(rollout={"auto_rollback": "yes"}), f"{WEB}:rollout:auto_rollback"),
    ("checkpoint listed twice", fleet(rollout={"checkpoints": [1, 1]}), f"{WEB}:rollout:checkpoints"),
    ("checkpoint 0", fleet(rollout={"checkpoints": [0]}), f"{WEB}:rollout:checkpoints"),
    ("checkpoint_timeout negative", fleet(rollout={"checkpoint_timeout": -1}), f"{WEB}:rollout:checkpoint_timeout"),
    ("rollout key misspelt", fleet(rollout={"max_srge": 1}), f"{WEB}:rollout:max_srge"),
    ("version a number", fleet(version=1.4), f"{WEB}:version"),
    ("version empty", fleet(version=""), f"{WEB}:version"),
    ("count negative", fleet(count=-1), f"{WEB}:count"),
    ("count a string", fleet(count="3"), f"{WEB}:count"),
    ("count a boolean", fleet(count=True), f"{WEB}:count"),
    ("bake missing", {**GOOD, "fleets": {"web": {"version": "1", "count": 1}}}, f"{WEB}:bake"),
    ("bake secret empty", fleet(bake={"states": ["app"], "secrets": [""]}), f"{WEB}:bake:secrets"),
    ("boot states a string", fleet(boot={"states": "app"}), f"{WEB}:boot:states"),
    ("http port too high", fleet(tests={"http": {"port": 70000}}), f"{WEB}:tests:http:port"),
    ("http path relative", fleet(tests={"http": {"port": 80, "path": "healthz"}}), f"{WEB}:tests:http:path"),
    ("converge a string", fleet(tests={"converge": "no"}), f"{WEB}:tests:converge"),
    ("nodebalancer id and label", fleet(nodebalancer={"id": 3, "label": "web-lb", "port": 80}),
     f"{WEB}:nodebalancer"),
    ("nodebalancer neither id nor label", fleet(nodebalancer={"port": 80}), f"{WEB}:nodebalancer"),
    ("nodebalancer port 0", fleet(nodebalancer={"label": "web-lb", "port": 0}), f"{WEB}:nodebalancer:port"),
    ("nodebalancer label too short", fleet(nodebalancer={"label": "x", "port": 80}), f"{WEB}:nodebalancer:label"),
    ("drain_seconds negative", fleet(nodebalancer={"label": "web-lb", "port": 80, "drain_seconds": -1}),
     f"{WEB}:nodebalancer:drain_seconds"),
    ("nodebalancer without tests:http", fleet(nodebalancer={"label": "web-lb", "port": 80}, tests={}),
     f"{WEB}:nodebalancer"),
    ("volume too small", fleet(volumes=[{"name": "data", "size": 5, "mount": "/data"}]), f"{WEB}:volumes:0:size"),
    ("volume mount relative", fleet(volumes=[{"name": "data", "size": 10, "mount": "data"}]),
     f"{WEB}:volumes:0:mount"),
    ("volume name twice", fleet(volumes=[{"name": "d", "size": 10, "mount": "/a"}, {"name": "d", "size": 10,
                                                                                    "mount": "/b"}]),
     f"{WEB}:volumes"),
    ("volume without size", fleet(volumes=[{"name": "data", "mount": "/data"}]), f"{WEB}:volumes:0:size"),
    ("retention keep 0", fleet(retention={"keep": 0}), f"{WEB}:retention:keep"),
    ("prune_after_roll a number", fleet(retention={"prune_after_roll": 1}), f"{WEB}:retention:prune_after_roll"),
    ("drift ignore empty", fleet(drift={"ignore": [""]}), f"{WEB}:drift:ignore"),
    ("firewall id and label", firewall(id=1, label="web-fw"), f"{WEB}:linode:firewall"),
    ("firewall neither id nor label", firewall(), f"{WEB}:linode:firewall"),
    ("managed firewall by id", firewall(id=2, rules={}), f"{WEB}:linode:firewall"),
    ("firewall label with a space", firewall(label="a b", rules={}), f"{WEB}:linode:firewall:label"),
    ("firewall rule ports a word", firewall(label="web-fw", rules={"inbound": [{**RULE, "ports": "abc"}]}),
     f"{WEB}:linode:firewall:rules:inbound:0:ports"),
    ("firewall rule without protocol", firewall(label="web-fw", rules={"inbound": [{"ports": "22"}]}),
     f"{WEB}:linode:firewall:rules:inbound:0:protocol"),
    ("firewall rules unknown key", firewall(label="web-fw", rules={"sideways": []}),
     f"{WEB}:linode:firewall:rules:sideways"),
    ("region a number", {**GOOD, "linode": {"region": 5}}, "immutable:linode:region"),
    ("linode key misspelt", {**GOOD, "linode": {"regoin": "us-east"}}, "immutable:linode:regoin"),
    ("token in pillar", {**GOOD, "linode_token": "tok-in-pillar"}, "immutable:linode_token"),
    ("fleet name with a space", {**GOOD, "fleets": {"web app": FLEET}}, "immutable:fleets:web app"),
    ("fleet key unknown", fleet(colour="red"), f"{WEB}:colour"),
    ("linode type empty", fleet(linode={"type": ""}), f"{WEB}:linode:type"),
    ("fleets a list", {**GOOD, "fleets": []}, "immutable:fleets"),
]

# (case, verb, arguments, the argument named); the pillar is good
BAD_ARGUMENTS = [
    ("bake without fleet", api.bake, {"fleet": None}, "fleet"),
    ("bake version a number", api.bake, {"fleet": "web", "version": 1.1}, "version"),
    ("roll version a number", api.roll, {"fleet": "web", "version": 2.0}, "version"),
    ("roll version no label", api.roll, {"fleet": "web", "version": "bad label!"}, "version"),
    ("roll unknown fleet", api.roll, {"fleet": "db"}, "fleet"),
    ("rollback to a number", api.rollback, {"fleet": "web", "to": 1.5}, "to"),
    ("rollback without fleet", api.rollback, {"fleet": None}, "fleet"),
    ("prune keep 0", api.prune, {"keep": 0}, "keep"),
    ("prune keep a boolean", api.prune, {"keep": True}, "keep"),
    ("prune keep a string", api.prune, {"keep": "3"}, "keep"),
    ("unlock without fleet", api.unlock, {"fleet": None}, "fleet"),
    ("unlock a path", api.unlock, {"fleet": "../etc"}, "fleet"),
    ("approve a fleet with a space", api.approve, {"fleet": "a b"}, "fleet"),
    ("retire without fleet", api.retire, {"fleet": None}, "fleet"),
    ("retire a fleet the pillar wants", api.retire, {"fleet": "web"}, f"{WEB}:count"),
    ("history timeline without fleet", api.history, {"roll_id": "1a2b3c4d"}, "fleet"),
    ("history unknown fleet", api.history, {"fleet": "db"}, "fleet"),
    ("plan unknown fleet", api.plan, {"fleet": "db"}, "fleet"),
    ("status unknown fleet", api.status, {"fleet": "db"}, "fleet"),
    ("drift unknown fleet", api.drift, {"fleet": "db"}, "fleet"),
]

# every verb that reads the pillar refuses a bad one the same way
PILLAR_VERBS = [
    ("plan", api.plan, {}), ("bake", api.bake, {"fleet": "web"}), ("roll", api.roll, {}),
    ("rollback", api.rollback, {"fleet": "web"}), ("prune", api.prune, {}), ("status", api.status, {}),
    ("drift", api.drift, {}), ("retire", api.retire, {"fleet": "web"}),
]


@pytest.fixture(scope="module")
def cloud(tmp_path_factory):
    """One emulator for the module (nothing is meant to change on it): the server and its control."""
    with EmulatorServer(tmp_path_factory.mktemp("emulator"), **EMULATOR_DEFAULTS) as server:
        control = EmulatorControl(server.url)
        yield server, control
        control.close()


@pytest.fixture
def opts_for(cloud, tmp_path):
    """Master opts (the README's config, pointed at the emulator) whose pillar is ``immutable``."""
    server, control = cloud
    control.clear_requests()

    def build(immutable):
        return master_opts(tmp_path, immutable, linode_token=EMULATOR_TOKEN, api_url=server.api_url,
                           master_address="127.0.0.1")

    yield build
    mutations = {route: n for route, n in control.stats().items() if route.split(" ")[0] in ("POST", "PUT", "DELETE")}
    assert mutations == {}, "a refused verb changed nothing"


def assert_names(refused, path):
    paths = [p for p, message in refused.value.problems if message]
    assert path in paths, refused.value.problems
    assert path in str(refused.value)


@pytest.mark.parametrize(("pillar", "path"), [case[1:] for case in BAD_PILLARS], ids=[c[0] for c in BAD_PILLARS])
def test_a_bad_pillar_is_refused_naming_its_path(opts_for, pillar, path):
    with pytest.raises(SpecError) as refused:
        api.roll(opts_for(pillar), fleet="web")
    assert_names(refused, path)


@pytest.mark.parametrize(("verb", "arguments", "name"), [case[1:] for case in BAD_ARGUMENTS],
                         ids=[c[0] for c in BAD_ARGUMENTS])
def test_a_bad_argument_is_refused_naming_it(opts_for, verb, arguments, name):
    with pytest.raises(SpecError) as refused:
        verb(opts_for(GOOD), **arguments)
    assert isinstance(refused.value, ArgumentError) == (":" not in name), "an argument's error names the argument"
    assert_names(refused, name)


@pytest.mark.parametrize(("verb", "arguments"), [case[1:] for case in PILLAR_VERBS], ids=[c[0] for c in PILLAR_VERBS])
def test_every_verb_refuses_a_bad_pillar(opts_for, verb, arguments):
    with pytest.raises(SpecError) as refused:
        verb(opts_for(fleet(rollout={"max_surge": -1})), **arguments)
    assert_names(refused, f"{WEB}:rollout:max_surge")


def test_the_tables_hold_at_least_forty_cases():
    assert len(BAD_PILLARS) + len(BAD_ARGUMENTS) >= 40
