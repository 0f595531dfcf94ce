"""The /_emulator control API: faults, injected failures, statistics, request log, reset, policies."""

from __future__ import annotations

import time

import pytest
import requests
from linode_api4 import ApiError, Image, LinodeClient

from tests.support.emulator import EMULATOR_TOKEN, EmulatorControl, wait_until
from tests.support.emulator_helpers import ROOT_PASS

AUTH = {"Authorization": f"Bearer {EMULATOR_TOKEN}"}
LINODE = {"region": "us-east", "type": "g6-nanode-1", "image": "linode/debian12", "root_pass": ROOT_PASS}


def post_linode(emulator, label: str) -> requests.Response:
    return requests.post(
        emulator.api_url + "/linode/instances", json={**LINODE, "label": label}, headers=AUTH, timeout=10
    )


def count_linodes(emulator) -> int:
    return requests.get(emulator.api_url + "/linode/instances", headers=AUTH, timeout=10).json()["results"]


def test_fault_before_answers_instead_of_the_api(emulator, emulator_control):
    fault = emulator_control.add_fault("/linode/instances", 503, method="POST", count=2, retry_after=3)
    assert (fault["id"], fault["count"]) == (1, 2)
    first, second, third = (post_linode(emulator, "web-1") for _ in range(3))
    assert [first.status_code, second.status_code, third.status_code] == [503, 503, 200]
    assert first.json() == {"errors": [{"reason": "Service Unavailable"}]}
    assert first.headers["Retry-After"] == "3"
    assert count_linodes(emulator) == 1
    assert emulator_control.faults() == []


def test_fault_after_acts_then_loses_the_answer(emulator, emulator_control):
    emulator_control.add_fault("/linode/instances", 502, method="POST", when="after")
    response = post_linode(emulator, "web-1")
    assert (response.status_code, response.json()) == (502, {"errors": [{"reason": "Bad Gateway"}]})
    assert count_linodes(emulator) == 1
    retry = post_linode(emulator, "web-1")
    assert retry.json()["errors"][0]["reason"] == "Label must be unique among your linodes"
    assert count_linodes(emulator) == 1


def test_linode_api4_retries_a_lost_create_into_a_duplicate_attempt(emulator, emulator_control):
    """Why creates must be idempotent in salt_immutable: the client retries POST on 502."""
    emulator_control.add_fault("/linode/instances", 502, method="POST", when="after")
    client = LinodeClient(EMULATOR_TOKEN, base_url=emulator.api_url, retry_rate_limit_interval=0.01)
    with pytest.raises(ApiError) as caught:
        client.linode.instance_create(
            "g6-nanode-1", "us-east", image="linode/debian12", root_pass=ROOT_PASS, label="web-1"
        )
    assert caught.value.errors == ["Label must be unique among your linodes"]
    assert count_linodes(emulator) == 1
    client.session.close()


def test_timeout_fault_closes_the_connection_without_an_answer(emulator, emulator_control):
    emulator_control.add_fault(r"/linode/instances/\d+", "timeout", method="GET", delay=0.1)
    linode = post_linode(emulator, "web-1").json()
    started = time.monotonic()
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{emulator.api_url}/linode/instances/{linode['id']}", headers=AUTH, timeout=10)
    assert 0.1 <= time.monotonic() - started < 5
    assert requests.get(f"{emulator.api_url}/linode/instances/{linode['id']}", headers=AUTH, timeout=10).ok
    timeouts = [entry for entry in emulator_control.requests() if entry["status"] == "timeout"]
    assert [entry["route"] for entry in timeouts] == ["GET /linode/instances/{id}"]


def test_fault_delay_and_list_and_clear(emulator, emulator_control):
    emulator_control.add_fault("/regions", 500, delay=0.05, count=5)
    started = time.monotonic()
    assert requests.get(emulator.api_url + "/regions", headers=AUTH, timeout=10).status_code == 500
    assert time.monotonic() - started >= 0.05
    assert emulator_control.faults()[0]["count"] == 4
    emulator_control.clear_faults()
    assert requests.get(emulator.api_url + "/regions", headers=AUTH, timeout=10).status_code == 200
    bad = requests.post(emulator.url + "/_emulator/faults", json={"path": "/x", "status": 200}, timeout=10)
    assert bad.status_code == 400


def test_stats_count_api_requests_by_route(emulator, emulator_control):
    linode = post_linode(emulator, "web-1").json()
    for _ in range(2):
        requests.get(f"{emulator.api_url}/linode/instances/{linode['id']}", headers=AUTH, timeout=10)
    requests.get(emulator.api_url + "/images/linode/debian12", headers=AUTH, timeout=10)
    requests.get(emulator.url + "/v4beta/nothing/here", headers=AUTH, timeout=10)
    emulator_control.faults()
    stats = emulator_control.stats()
    assert stats == {
        "total": 5,
        "POST /linode/instances": 1,
        "GET /linode/instances/{id}": 2,
        "GET /images/{id}": 1,
        "GET /v4beta/nothing/here": 1,
    }
    log = emulator_control.requests()
    assert [(entry["method"], entry["route"], entry["status"]) for entry in log][:2] == [
        ("POST", "POST /linode/instances", 200),
        ("GET", "GET /linode/instances/{id}", 200),
    ]
    assert log[0]["path"] == "/v4/linode/instances"
    assert all(isinstance(entry["time"], float) for entry in log)
    emulator_control.clear_requests()
    assert emulator_control.stats() == {"total": 0}


def test_unauthorized_and_refused_requests_are_counted_too(emulator, emulator_control):
    requests.get(emulator.api_url + "/regions", timeout=10)
    assert emulator_control.requests()[0]["status"] == 401


def test_reset_forgets_everything_and_restores_defaults(emulator, emulator_control):
    post_linode(emulator, "web-1")
    emulator_control.set_transitions(policy="reads", reads=3)
    emulator_control.add_fault("/regions", 500)
    assert emulator_control.reset() == {}
    assert count_linodes(emulator) == 0
    assert emulator_control.faults() == []
    assert requests.get(emulator.url + "/_emulator/transitions", timeout=10).json() == {
        "policy": "timed",
        "reads": 1,
        "time_scale": 0.01,
    }
    assert emulator_control.stats()["total"] == 1


def test_transition_policy_over_the_control_api(emulator, emulator_control):
    assert emulator_control.set_transitions(policy="reads", reads=2) == {
        "policy": "reads",
        "reads": 2,
        "time_scale": 0.01,
    }
    linode = post_linode(emulator, "web-1").json()
    url = f"{emulator.api_url}/linode/instances/{linode['id']}"
    statuses = [requests.get(url, headers=AUTH, timeout=10).json()["status"] for _ in range(4)]
    assert statuses == ["provisioning", "booting", "booting", "running"]
    assert emulator_control.set_transitions(time_scale=0.5)["time_scale"] == 0.5
    for body in ({"policy": "someday"}, {"reads": 0}, {"time_scale": "fast"}):
        assert requests.put(emulator.url + "/_emulator/transitions", json=body, timeout=10).status_code == 400


def test_boot_and_capture_failures(emulator, emulator_control):
    linode = post_linode(emulator, "web-1").json()
    emulator_control.fail_next_boot(linode["id"])
    url = f"{emulator.api_url}/linode/instances/{linode['id']}"
    wait_until(lambda: requests.get(url, headers=AUTH, timeout=10).json()["status"] == "offline")
    events = requests.get(emulator.api_url + "/account/events", headers=AUTH, timeout=10).json()["data"]
    assert [(e["action"], e["status"]) for e in events] == [
        ("linode_boot", "failed"),
        ("linode_create", "finished"),
    ]

    emulator_control.fail_next_captures(1)
    disk = requests.get(url + "/disks", headers=AUTH, timeout=10).json()["data"][0]
    image = requests.post(
        emulator.api_url + "/images", json={"disk_id": disk["id"]}, headers=AUTH, timeout=10
    ).json()
    emulator_control.set_transitions(policy="immediate")
    client = LinodeClient(EMULATOR_TOKEN, base_url=emulator.api_url)
    with pytest.raises(ApiError) as caught:
        client.load(Image, image["id"])
    assert caught.value.status == 404
    imagize = client.account.events()[0]
    assert (imagize.action, imagize.status) == ("disk_imagize", "failed")
    client.session.close()
    missing = requests.post(emulator.url + "/_emulator/boot-failures", json={"linode_id": 1}, timeout=10)
    assert missing.status_code == 404


def linode_status(emulator, linode_id: int) -> str:
    url = f"{emulator.api_url}/linode/instances/{linode_id}"
    return requests.get(url, headers=AUTH, timeout=10).json()["status"]


def settled_statuses(emulator, ids: list[int]) -> list[str]:
    """The statuses of these Linodes once none of them is provisioning, booting or rebooting."""

    def settled():
        statuses = [linode_status(emulator, linode_id) for linode_id in ids]
        return statuses if all(s in ("running", "offline") for s in statuses) else None

    return wait_until(settled)


def failed_events(emulator) -> list[tuple[str, int]]:
    events = requests.get(emulator.api_url + "/account/events", headers=AUTH, timeout=10).json()["data"]
    return sorted((e["action"], e["entity"]["id"]) for e in events if e["status"] == "failed")


def test_planned_boot_failures_skip_boots_then_fail_that_many(emulator, emulator_control):
    assert emulator_control.fail_boots(2, skip=1) == {"count": 2, "skip": 1}

    ids = [post_linode(emulator, f"web-{n}").json()["id"] for n in range(1, 5)]

    assert settled_statuses(emulator, ids) == ["running", "offline", "offline", "running"]
    assert failed_events(emulator) == [("linode_boot", ids[1]), ("linode_boot", ids[2])]
    requests.post(f"{emulator.api_url}/linode/instances/{ids[1]}/boot", headers=AUTH, timeout=10)
    assert settled_statuses(emulator, [ids[1]]) == ["running"]  # the plan is used up


def test_planned_boot_failures_count_boots_and_reboots_too(emulator, emulator_control):
    linode_id = requests.post(
        emulator.api_url + "/linode/instances",
        json={**LINODE, "label": "web-1", "booted": False},
        headers=AUTH,
        timeout=10,
    ).json()["id"]
    assert settled_statuses(emulator, [linode_id]) == ["offline"]  # no boot yet
    emulator_control.fail_boots(1, skip=1)
    url = f"{emulator.api_url}/linode/instances/{linode_id}"

    requests.post(url + "/boot", headers=AUTH, timeout=10).raise_for_status()
    assert settled_statuses(emulator, [linode_id]) == ["running"]
    requests.post(url + "/reboot", headers=AUTH, timeout=10).raise_for_status()
    assert settled_statuses(emulator, [linode_id]) == ["offline"]

    assert failed_events(emulator) == [("linode_reboot", linode_id)]


def test_a_new_boot_failure_plan_replaces_the_last_and_count_0_clears_it(emulator, emulator_control):
    emulator_control.fail_boots(3)
    assert emulator_control.fail_boots(0) == {"count": 0, "skip": 0}

    ids = [post_linode(emulator, f"web-{n}").json()["id"] for n in (1, 2)]

    assert settled_statuses(emulator, ids) == ["running", "running"]
    assert failed_events(emulator) == []


def test_a_boot_failure_plan_survives_a_restart(emulator_factory, tmp_path):
    state = tmp_path / "restarting"
    first = emulator_factory(state_dir=state)
    control = EmulatorControl(first.url)
    try:
        control.fail_boots(1, skip=1)
    finally:
        control.close()
    first.stop()
    second = emulator_factory(state_dir=state)

    ids = [post_linode(second, f"web-{n}").json()["id"] for n in (1, 2, 3)]

    assert settled_statuses(second, ids) == ["running", "offline", "running"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "linode_id"),
        ({"skip": 1}, "count"),
        ({"count": -1}, "count"),
        ({"count": "two"}, "count"),
        ({"count": True}, "count"),
        ({"count": 1, "skip": -2}, "skip"),
        ({"count": 1, "skip": 1.5}, "skip"),
        ({"linode_id": 5, "count": 1}, "count"),
        ({"linode_id": 5, "skip": 0}, "skip"),
        ({"linode_id": "5"}, "linode_id"),
    ],
)
def test_bad_boot_failure_bodies_are_refused_naming_the_field(emulator, body, field):
    answer = requests.post(emulator.url + "/_emulator/boot-failures", json=body, timeout=10)

    assert answer.status_code == 400
    (error,) = answer.json()["errors"]
    assert error["field"] == field and field in error["reason"]


def test_control_api_is_not_rate_limited_authenticated_or_faulted(emulator_factory):
    server = emulator_factory(rate_limits=True)
    control = server.url + "/_emulator"
    limited = requests.put(
        control + "/rate-limits", json={"limits": {"default": {"limit": 1, "window": 60}}}, timeout=10
    )
    assert (limited.status_code, limited.json()["limits"]["default"]) == (200, {"limit": 1, "window": 60})
    faulted = requests.post(control + "/faults", json={"path": ".*", "status": 500, "count": 100}, timeout=10)
    assert (faulted.status_code, faulted.json()["path"], faulted.json()["count"]) == (200, ".*", 100)
    api = [requests.get(server.api_url + "/regions/us-east", headers=AUTH, timeout=10).status_code for _ in range(2)]
    assert api == [500, 429], "the API takes the fault, then meets the limit"

    listed = [requests.get(control + "/faults", timeout=10) for _ in range(5)]  # no token, over the limit

    assert [answer.status_code for answer in listed] == [200] * 5
    assert [answer.json()["faults"][0]["count"] for answer in listed] == [99] * 5, "only the API took the fault"
    assert requests.get(control + "/nothing", timeout=10).status_code == 404
