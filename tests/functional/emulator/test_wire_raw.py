"""Wire details over raw HTTP: envelopes, headers, status codes, auth, paths, dates, rate limits."""

from __future__ import annotations

import json

import pytest
import requests

from tests.support.emulator import EMULATOR_TOKEN, wait_until
from tests.support.emulator_helpers import API_DATE, ROOT_PASS

AUTH = {"Authorization": f"Bearer {EMULATOR_TOKEN}"}
LINODE = {"region": "us-east", "type": "g6-nanode-1", "image": "linode/debian12", "root_pass": ROOT_PASS}


class Api:
    """Raw requests against one emulator, with the token."""

    def __init__(self, base: str):
        self.base = base
        self.session = requests.Session()
        self.session.headers.update(AUTH)

    def __call__(self, method: str, path: str, body=None, headers=None, base=None) -> requests.Response:
        url = (base or self.base) + path
        return self.session.request(method, url, json=body, headers=headers, timeout=10)


@pytest.fixture
def api(emulator):
    client = Api(emulator.api_url)
    yield client
    client.session.close()


def create(api: Api, label: str, **extra) -> dict:
    response = api("POST", "/linode/instances", {**LINODE, "label": label, **extra})
    assert response.status_code == 200, response.text
    return response.json()


def errors(response: requests.Response) -> list[dict]:
    return response.json()["errors"]


def test_list_envelope_and_page_parameters(emulator, api):
    for n in range(30):
        emulator.backend.create_instance(region="us-east", type="g6-nanode-1", label=f"web-{n:02d}")
    whole = api("GET", "/linode/instances").json()
    assert (whole["page"], whole["pages"], whole["results"], len(whole["data"])) == (1, 1, 30, 30)
    second = api("GET", "/linode/instances?page=2&page_size=25").json()
    assert (second["page"], second["pages"], second["results"], len(second["data"])) == (2, 2, 30, 5)
    assert [item["label"] for item in second["data"]] == [f"web-{n:02d}" for n in range(25, 30)]
    response = api("GET", "/linode/instances?page_size=10")
    assert response.status_code == 400
    assert errors(response)[0]["field"] == "page_size"


def test_x_filter_header(api):
    create(api, "web-1", tags=["fleet:web"])
    create(api, "db-1", tags=["fleet:db"])
    found = api("GET", "/linode/instances", headers={"X-Filter": json.dumps({"tags": "fleet:web"})}).json()
    assert [item["label"] for item in found["data"]] == ["web-1"]
    assert found["results"] == 1
    response = api("GET", "/linode/instances", headers={"X-Filter": json.dumps({"status": "running"})})
    assert (response.status_code, errors(response)) == (
        400,
        [{"reason": "Cannot filter on status", "field": "X-Filter"}],
    )
    response = api("GET", "/linode/instances", headers={"X-Filter": "{oops"})
    assert (response.status_code, errors(response)[0]["field"]) == (400, "X-Filter")


def test_error_bodies_and_statuses(api):
    response = api("GET", "/linode/instances/1")
    assert (response.status_code, response.json()) == (404, {"errors": [{"reason": "Not found"}]})
    assert api("GET", "/no/such/thing").status_code == 404
    assert api("PATCH", "/linode/instances").status_code == 405
    assert api("DELETE", "/regions").status_code == 405
    response = api("POST", "/linode/instances", headers={"Content-Type": "application/json"})
    assert [error["field"] for error in errors(response)] == ["type", "region"]
    bad = api.session.post(api.base + "/linode/instances", data="{not json", timeout=10)
    assert bad.status_code == 400
    response = api("POST", "/linode/instances", {**LINODE, "label": 42})
    assert (response.status_code, errors(response)[0]["field"]) == (400, "label")
    response = api("POST", "/linode/instances", {**LINODE, "label": "web-1", "metadata": {"user_data": 5}})
    assert errors(response)[0]["field"] == "metadata.user_data"


def test_actions_answer_200_with_an_empty_object(api, emulator_control):
    emulator_control.set_transitions(policy="immediate")
    linode = create(api, "web-1")
    api("GET", f"/linode/instances/{linode['id']}")
    for action in ("shutdown", "boot", "reboot"):
        response = api("POST", f"/linode/instances/{linode['id']}/{action}")
        assert (response.status_code, response.text) == (200, "{}")
        assert response.headers["Content-Type"] == "application/json"
        assert response.headers["Content-Length"] == "2"
        api("GET", f"/linode/instances/{linode['id']}")
    response = api("DELETE", f"/linode/instances/{linode['id']}")
    assert (response.status_code, response.json()) == (200, {})


def test_v4beta_and_trailing_slash(api, emulator):
    assert api("GET", "/regions", base=emulator.url + "/v4beta").json()["results"] == 4
    assert api("GET", "/regions/").json()["results"] == 4
    assert api("GET", "/regions/us-east").json()["id"] == "us-east"
    assert api("GET", "/images/linode/ubuntu24.04").json()["label"] == "Ubuntu 24.04 LTS"


def test_private_image_ids_with_a_slash_or_percent_2f(api, emulator_control):
    emulator_control.set_transitions(policy="immediate")
    linode = create(api, "web-1", booted=False)
    api("GET", f"/linode/instances/{linode['id']}")
    disk = api("GET", f"/linode/instances/{linode['id']}/disks").json()["data"][0]
    image = api("POST", "/images", {"disk_id": disk["id"], "label": "web-v1", "cloud_init": True}).json()
    number = image["id"].split("/")[1]
    by_slash = api("GET", f"/images/private/{number}").json()
    by_escape = api("GET", f"/images/private%2F{number}").json()
    assert by_slash == by_escape
    assert by_slash["id"] == image["id"]
    assert api("PUT", f"/images/private%2F{number}", {"label": "web-v1b"}).json()["label"] == "web-v1b"
    assert api("DELETE", f"/images/private%2F{number}").json() == {}
    assert api("GET", f"/images/private/{number}").status_code == 404


def test_dates_are_seconds_in_utc_without_zone(api, emulator_control):
    emulator_control.set_transitions(policy="immediate")
    linode = create(api, "web-1")
    volume = api("POST", "/volumes", {"label": "data", "size": 10, "region": "us-east"}).json()
    events = api("GET", "/account/events").json()["data"]
    stamps = [linode["created"], linode["updated"], volume["created"], volume["updated"]]
    stamps += [event["created"] for event in events]
    assert stamps and all(API_DATE.match(stamp) for stamp in stamps)


def test_token_is_required_when_configured(emulator):
    url = emulator.api_url + "/linode/instances"
    invalid = {"errors": [{"reason": "Invalid Token"}]}
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": EMULATOR_TOKEN}):
        response = requests.get(url, headers=headers, timeout=10)
        assert (response.status_code, response.json()) == (401, invalid)
    assert requests.get(url, headers=AUTH, timeout=10).status_code == 200


def test_any_token_is_accepted_without_one_configured(emulator_factory):
    server = emulator_factory(token=None)
    assert requests.get(server.api_url + "/regions", timeout=10).status_code == 200


def test_rate_limit_storm_gets_429_with_headers(emulator_factory):
    server = emulator_factory(rate_limits=True, policy="immediate")
    api = Api(server.api_url)
    answers = [api("POST", "/linode/instances", {**LINODE, "label": f"web-{n}"}) for n in range(22)]
    assert [a.status_code for a in answers] == [200] * 20 + [429, 429]
    assert answers[0].headers["X-RateLimit-Limit"] == "20"
    assert answers[0].headers["X-RateLimit-Remaining"] == "19"
    assert int(answers[0].headers["X-RateLimit-Reset"]) > 0
    refused = answers[-1]
    assert errors(refused) == [{"reason": "Too many requests"}]
    assert 1 <= int(refused.headers["Retry-After"]) <= 15
    assert refused.headers["X-RateLimit-Remaining"] == "0"
    assert api("GET", "/linode/instances").json()["results"] == 20
    assert api("GET", "/regions").headers["X-RateLimit-Limit"] == "200"
    assert api("GET", "/regions/us-east").headers["X-RateLimit-Limit"] == "1600"
    api.session.close()


def test_rate_limits_are_switchable_and_configurable(emulator_factory):
    server = emulator_factory(rate_limits=True)
    api = Api(server.api_url)
    control = server.url + "/_emulator/rate-limits"
    limits = {"default": {"limit": 2, "window": 60}}
    assert (
        requests.put(control, json={"limits": limits}, timeout=10).json()["limits"]["default"]
        == limits["default"]
    )
    assert [api("GET", "/regions/us-east").status_code for _ in range(3)] == [200, 200, 429]
    requests.put(control, json={"enabled": False}, timeout=10)
    response = api("GET", "/regions/us-east")
    assert response.status_code == 200
    assert "X-RateLimit-Limit" not in response.headers
    assert requests.put(control, json={"limits": {"nope": {}}}, timeout=10).status_code == 400
    api.session.close()


def test_linode_busy_over_http(api, emulator_control):
    linode = create(api, "web-1")
    response = api("POST", f"/linode/instances/{linode['id']}/shutdown")
    assert (response.status_code, errors(response)) == (400, [{"reason": "Linode busy."}])
    wait_until(lambda: api("GET", f"/linode/instances/{linode['id']}").json()["status"] == "running")
    assert api("POST", f"/linode/instances/{linode['id']}/shutdown").status_code == 200


def test_user_data_is_accepted_but_never_returned(api):
    linode = create(api, "web-1", metadata={"user_data": "I2Nsb3VkLWNvbmZpZwpob3N0bmFtZTogd2ViLTEK"})
    fetched = api("GET", f"/linode/instances/{linode['id']}").json()
    assert fetched["has_user_data"] is True
    assert "user_data" not in fetched and "metadata" not in fetched
