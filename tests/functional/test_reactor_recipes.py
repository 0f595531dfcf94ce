"""The reactor recipes of salt/reactor/immutable rendered by Salt's own renderers, as the master's reactor
renders them for an event: what each does for the events it is mapped to, and what it refuses."""

import json

import pytest
import salt.config
import salt.loader
import salt.template

from tests.support.saltconfig import REPO

RECIPES = REPO / "salt" / "reactor" / "immutable"
SECRET = "0123456789abcdef"
HOOK = "http://127.0.0.1:9/hook"


def render(recipe, tag, data, **settings):
    """The reaction ``recipe`` renders for the event, with ``immutable_reactor:`` set to ``settings``."""
    opts = salt.config.minion_config(None)
    opts.update(file_client="local", immutable_reactor=settings)

    def config_get(key, default=""):
        value = opts
        for part in key.split(":"):
            value = value.get(part, default) if isinstance(value, dict) else default
        return value

    renderers = salt.loader.render(opts, {"config.get": config_get})
    return salt.template.compile_template(str(RECIPES / recipe), renderers, "jinja|yaml", [], [], tag=tag,
                                          data=data)


def approval(secret=SECRET, **post):
    return {"post": {"fleet": "web", "roll_id": "1a2b3c4d", **post}, "headers": {"X-Immutable-Approval": secret}}


def runner_args(reaction):
    (step,) = reaction.values()
    ((function, arguments),) = step.items()
    (args,) = [item["args"] for item in arguments if "args" in item]
    return function, {key: value for item in args for key, value in item.items()}


@pytest.mark.parametrize(("post", "reject"), [({}, False), ({"approved": "false"}, True), ({"approved": False}, True),
                                              ({"approved": True}, False)])
def test_an_approval_with_the_shared_secret_runs_immutable_approve(post, reject):
    reaction = render("approve.sls", "salt/netapi/hook/immutable/approve", approval(**post),
                      approval_secret=SECRET)
    assert runner_args(reaction) == ("runner.immutable.approve",
                                     {"fleet": "web", "roll_id": "1a2b3c4d", "reject": reject})


@pytest.mark.parametrize(("data", "settings"), [
    (approval(secret="guessed"), {"approval_secret": SECRET}),
    (approval(secret=""), {"approval_secret": ""}),
    ({"post": {"fleet": "web"}, "headers": {}}, {"approval_secret": SECRET}),
    (approval(), {}),
    ({"post": {"roll_id": "1a2b3c4d"}, "headers": {"X-Immutable-Approval": SECRET}}, {"approval_secret": SECRET}),
    ({**approval(), "id": "web-g2-1", "cmd": "_minion_event"}, {"approval_secret": SECRET}),
])
def test_an_approval_without_the_right_secret_or_a_fleet_does_nothing(data, settings):
    assert render("approve.sls", "salt/netapi/hook/immutable/approve", data, **settings) == {}


def notified(tag, data, webhook=HOOK):
    reaction = render("notify.sls", tag, data, webhook=webhook)
    if not reaction:
        return None
    function, args = runner_args(reaction)
    assert function == "runner.http.query" and args["url"] == HOOK and args["method"] == "POST"
    return json.loads(args["data"])


def test_a_failed_roll_is_posted_with_what_failed_where():
    data = {"roll_id": "1a2b3c4d", "to": "1.4.3", "failure": {"server": "web-g7-2", "gate": "http", "cause": "503"}}
    body = notified("salt/immutable/web/roll/failed", data)
    assert body == {"text": "roll 1a2b3c4d of web to 1.4.3 failed on web-g7-2: 503",
                    "tag": "salt/immutable/web/roll/failed", "fleet": "web", "event": data}


def test_a_checkpoint_is_posted_with_the_command_that_approves_it():
    data = {"roll_id": "1a2b3c4d", "batch": 1, "timeout": 600,
            "approve": "salt-run immutable.approve fleet=web roll_id=1a2b3c4d"}
    assert notified("salt/immutable/web/roll/checkpoint", data)["text"] == (
        "roll 1a2b3c4d of web waits for approval after batch 1 (up to 600 s): "
        "salt-run immutable.approve fleet=web roll_id=1a2b3c4d")


def test_only_a_failed_bake_phase_is_posted():
    started = {"fleet": "web", "version": "1.4.3", "phase": "seal", "status": "started"}
    assert notified("salt/immutable/web/bake/seal", started) is None
    failed = {**started, "status": "failed", "error": "secrets are still on disk in: /srv/x"}
    assert notified("salt/immutable/web/bake/seal", failed)["text"] == (
        "bake of web@1.4.3 failed in seal: secrets are still on disk in: /srv/x")


def test_without_a_webhook_nothing_is_posted():
    assert notified("salt/immutable/web/roll/failed", {"roll_id": "r", "to": "1"}, webhook="") is None


@pytest.mark.parametrize("header", ["X-Immutable-Push", "X-Gitlab-Token"])
def test_a_pillar_push_with_the_secret_starts_the_push_orchestration(header):
    data = {"post": {"ref": "main"}, "headers": {header: SECRET}}
    reaction = render("pillar_push.sls", "salt/netapi/hook/immutable/pillar", data, push_secret=SECRET)
    assert runner_args(reaction) == ("runner.state.orchestrate", {"mods": "orch.immutable.pillar_push"})


@pytest.mark.parametrize(("data", "settings"), [
    ({"headers": {"X-Immutable-Push": "guessed"}}, {"push_secret": SECRET}),
    ({"headers": {"X-Immutable-Push": SECRET}}, {}),
    ({"headers": {}}, {"push_secret": SECRET}),
    ({"headers": {"X-Immutable-Push": SECRET}, "id": "web-g2-1", "cmd": "_minion_event"}, {"push_secret": SECRET}),
])
def test_a_pillar_push_without_the_right_secret_does_nothing(data, settings):
    assert render("pillar_push.sls", "salt/netapi/hook/immutable/pillar", data, **settings) == {}
