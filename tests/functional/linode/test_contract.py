"""Contract tests of the cloud adapter over real HTTP, against the Linode API emulator.

Each test gets a fresh emulator (``tests/support/emulator.py``: time scale 0.01, rate limits off).
Waits poll fast and retries sleep through an injected ``sleep`` wherever the test does not need the
emulator's own clock to move.
"""

import base64
import logging
import random
import time

import pytest
import requests

from salt_immutable import errors
from salt_immutable.linode import LinodeProvider
from salt_immutable.model import ImageRef, NodeBalancerNode, ObservedServer, VolumeRef
from tests.support.emulator import EMULATOR_TOKEN, EmulatorControl

PLACE = {"region": "us-east", "type": "g6-standard-1", "image": "linode/debian12"}
WEB = ("immutable", "fleet:web", "version:1.0.0")
CLOUD_CONFIG = "#cloud-config\nhostname: web-g1-1\nruncmd:\n  - [touch, /run/seeded]\n"


class Sleeps(list):
    """A ``sleep`` that records what it was asked and waits at most ``cap`` seconds."""

    def __init__(self, cap=0.0):
        super().__init__()
        self.cap = cap

    def __call__(self, seconds):
        self.append(seconds)
        time.sleep(min(seconds, self.cap))


@pytest.fixture
def make_provider(emulator):
    """``make_provider(**options)``: a provider on the emulator with fast test defaults."""

    def make(api_url=None, **options):
        defaults = {
            "timeout": 5.0,
            "max_attempts": 4,
            "backoff": 0.01,
            "max_backoff": 0.05,
            "poll_interval": 0.01,
            "rng": random.Random(0),
        }
        return LinodeProvider(EMULATOR_TOKEN, api_url or emulator.api_url, **{**defaults, **options})

    return make


@pytest.fixture
def provider(make_provider):
    return make_provider()


@pytest.fixture
def control(emulator_control):
    return emulator_control


def running_server(provider, label, tags=WEB):
    server = provider.create_instance(label, **PLACE, tags=tags)
    return provider.wait_for_status(server.id, "running", provider.deadline(10))


def offline_server(provider, label, tags=WEB):
    server = running_server(provider, label, tags)
    provider.shutdown(server.id)
    return provider.wait_for_status(server.id, "offline", provider.deadline(10))


def api_get(emulator, path):
    """A GET straight to the emulator, around the adapter."""
    answer = requests.get(
        emulator.api_url + path, headers={"Authorization": f"Bearer {EMULATOR_TOKEN}"}, timeout=10
    )
    answer.raise_for_status()
    return answer.json()


def requests_to(control, method, route):
    return [r for r in control.requests() if r["method"] == method and r["route"] == f"{method} {route}"]


# -- instances -------------------------------------------------------------------------------------


def test_create_with_label_tags_and_user_data_then_wait_until_running(provider, emulator):
    created = provider.create_instance("web-g1-1", **PLACE, tags=WEB, user_data=CLOUD_CONFIG)

    assert isinstance(created, ObservedServer)
    assert (created.label, created.status, created.tags) == ("web-g1-1", "provisioning", WEB)
    assert (created.region, created.type, created.image) == ("us-east", "g6-standard-1", "linode/debian12")
    assert created.created is not None and created.created.tzinfo is not None
    running = provider.wait_for_status(created.id, "running", provider.deadline(10))
    assert running.status == "running"
    assert running.id == created.id and running.ipv4 and running.private_ip == running.ipv4[0]
    # The emulator refuses user_data that is not base64, so getting here proves the encoding.
    assert api_get(emulator, f"/linode/instances/{created.id}")["has_user_data"] is True


def test_user_data_travels_base64_encoded(provider, emulator, monkeypatch):
    sent = []
    original = requests.Session.request

    def spy(session, method, url, *args, **kwargs):
        if method.upper() == "POST" and url.endswith("/linode/instances"):
            sent.append(kwargs.get("data"))
        return original(session, method, url, *args, **kwargs)

    monkeypatch.setattr(requests.Session, "request", spy)
    provider.create_instance("web-g1-1", **PLACE, tags=WEB, user_data=CLOUD_CONFIG)

    (body,) = sent
    assert f'"user_data": "{base64.b64encode(CLOUD_CONFIG.encode()).decode()}"' in body
    assert '"booted": true' in body and '"root_pass": ' in body


def test_a_repeated_create_returns_the_linode_it_made(provider, control):
    first = provider.create_instance("web-g1-1", **PLACE, tags=WEB)
    again = provider.create_instance("web-g1-1", **PLACE, tags=WEB)

    assert again.id == first.id
    assert control.stats()["POST /linode/instances"] == 1


def test_a_create_never_adopts_a_linode_that_is_not_ours(provider):
    provider.create_instance("web-g1-1", **PLACE, tags=("someone-else",))
    with pytest.raises(errors.Conflict, match=r"create instance web-g1-1 failed: .*lacks tags"):
        provider.create_instance("web-g1-1", **PLACE, tags=WEB)


def test_a_lost_answer_to_a_create_leaves_exactly_one_linode(provider, control):
    control.add_fault(r"/linode/instances", 502, method="POST", when="after")

    server = provider.create_instance("web-g1-1", **PLACE, tags=WEB)

    found = [s for s in provider.list_instances() if s.label == "web-g1-1"]
    assert [s.id for s in found] == [server.id]
    assert control.stats()["POST /linode/instances"] == 1


def test_a_create_refused_before_the_api_acted_is_sent_again(provider, control):
    control.add_fault(r"/linode/instances", 503, method="POST", when="before")

    server = provider.create_instance("web-g1-1", **PLACE, tags=WEB)

    assert server.label == "web-g1-1"
    assert control.stats()["POST /linode/instances"] == 2
    assert len(provider.list_instances()) == 1


def test_list_a_fleet_by_its_tags(provider):
    web = [provider.create_instance(f"web-g1-{n}", **PLACE, tags=WEB).id for n in (1, 2)]
    provider.create_instance("api-g1-1", **PLACE, tags=("immutable", "fleet:api"))
    provider.create_instance("web-stray", **PLACE, tags=("fleet:web",))

    assert sorted(s.id for s in provider.list_fleet("web")) == sorted(web)
    assert provider.list_fleet("nothing") == []


def test_list_a_fleet_of_250_over_pages_of_100_or_in_one_page_of_500(make_provider, emulator, control):
    """Pages of 100 when asked for; the adapter by default asks for pages of 500: one request."""
    provider = make_provider(page_size=100)
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {EMULATOR_TOKEN}"
    for n in range(250):
        body = {**PLACE, "label": f"big-g1-{n}", "tags": ["immutable", "fleet:big"], "root_pass": "x" * 20}
        session.post(f"{emulator.api_url}/linode/instances", json=body, timeout=10).raise_for_status()
    session.post(
        f"{emulator.api_url}/linode/instances",
        json={**PLACE, "label": "other-1", "tags": ["immutable"], "root_pass": "x" * 20},
        timeout=10,
    ).raise_for_status()
    session.close()
    control.clear_requests()

    fleet = provider.list_fleet("big")

    assert len(fleet) == 250
    assert {s.label for s in fleet} == {f"big-g1-{n}" for n in range(250)}
    assert all(isinstance(s, ObservedServer) for s in fleet)
    assert control.stats()["GET /linode/instances"] == 3  # pages of 100, 100 and 50
    control.clear_requests()
    assert len(make_provider().list_fleet("big")) == 250
    assert control.stats()["GET /linode/instances"] == 1, "the adapter asks for pages of 500"


def test_find_instance_by_label(provider):
    made = provider.create_instance("web-g1-1", **PLACE, tags=WEB)

    assert provider.find_instance("web-g1-1").id == made.id
    assert provider.find_instance("web-g1-9") is None


def test_set_instance_tags_replaces_every_tag(provider, emulator):
    server = provider.create_instance("web-g1-1", **PLACE, tags=WEB)
    replaced = ("immutable", "fleet:web", "version:1.1.0", "proven")

    tagged = provider.set_instance_tags(server.id, replaced)
    again = provider.set_instance_tags(server.id, replaced)

    assert isinstance(tagged, ObservedServer)
    assert (tagged.id, tagged.tags) == (server.id, replaced)
    assert again.tags == replaced
    assert api_get(emulator, f"/linode/instances/{server.id}")["tags"] == list(replaced)
    assert [s.id for s in provider.list_instances(["proven"])] == [server.id]
    assert provider.list_instances(["version:1.0.0"]) == []
    assert provider.set_instance_tags(server.id, ()).tags == ()


def test_disable_watchdog_turns_lassie_off_and_changes_nothing_else(provider, emulator):
    server = provider.create_instance("web-1.0.0-build", **PLACE, tags=WEB)
    assert api_get(emulator, f"/linode/instances/{server.id}")["watchdog_enabled"] is True

    disabled = provider.disable_watchdog(server.id)

    assert isinstance(disabled, ObservedServer) and (disabled.id, disabled.tags) == (server.id, WEB)
    answer = api_get(emulator, f"/linode/instances/{server.id}")
    assert answer["watchdog_enabled"] is False and answer["label"] == "web-1.0.0-build"


def test_a_lost_answer_to_set_instance_tags_is_simply_sent_again(provider, control):
    server = provider.create_instance("web-g1-1", **PLACE, tags=WEB)
    control.add_fault(r"/linode/instances/\d+", 502, method="PUT", when="after")

    tagged = provider.set_instance_tags(server.id, ("immutable", "retired"))

    assert tagged.tags == ("immutable", "retired")
    assert [r["status"] for r in requests_to(control, "PUT", "/linode/instances/{id}")] == [502, 200]


def test_set_instance_tags_on_a_missing_linode_is_not_found(provider):
    with pytest.raises(errors.NotFound, match="tag instance 12345 failed"):
        provider.set_instance_tags(12345, ("x",))


def test_type_hourly_price_is_read_with_one_request(provider, control):
    price = provider.type_hourly_price("g6-standard-1")

    assert isinstance(price, float)
    assert price == 0.018
    assert control.stats() == {"total": 1, "GET /linode/types/{id}": 1}
    with pytest.raises(errors.NotFound, match="get type price g6-nothing-1 failed"):
        provider.type_hourly_price("g6-nothing-1")


def test_shutdown_then_offline(provider):
    server = running_server(provider, "web-g1-1")

    provider.shutdown(server.id)

    assert provider.wait_for_status(server.id, "offline", provider.deadline(10)).status == "offline"


def test_reboot_and_boot_come_back_running(provider):
    server = running_server(provider, "web-g1-1")
    provider.reboot(server.id)
    assert provider.wait_for_status(server.id, "running", provider.deadline(10)).status == "running"
    provider.shutdown(server.id)
    provider.wait_for_status(server.id, "offline", provider.deadline(10))

    provider.boot(server.id)

    assert provider.wait_for_status(server.id, "running", provider.deadline(10)).status == "running"


def test_a_boot_that_fails_is_reported_as_such(provider, control):
    control.set_transitions(policy="reads", reads=1)
    server = provider.create_instance("web-g1-1", **PLACE, tags=WEB)
    control.fail_next_boot(server.id)

    with pytest.raises(
        errors.ActionFailed, match=r"wait for instance web-g1-1 failed: .*offline, not running"
    ):
        provider.wait_for_status(server.id, "running", provider.deadline(10))


def test_planned_boot_failures_fail_exactly_the_chosen_boots(provider, control, emulator):
    control.fail_boots(1, skip=1)
    first, second, third = (provider.create_instance(f"web-g1-{n}", **PLACE, tags=WEB) for n in (1, 2, 3))

    # The second boot fails: its Linode comes to rest offline (maybe before a wait could see it boot).
    assert provider.wait_for_status(second.id, "offline", provider.deadline(10)).status == "offline"
    assert provider.wait_for_status(first.id, "running", provider.deadline(10)).status == "running"
    assert provider.wait_for_status(third.id, "running", provider.deadline(10)).status == "running"
    failed = [e for e in api_get(emulator, "/account/events")["data"] if e["status"] == "failed"]
    assert [(e["action"], e["entity"]["id"]) for e in failed] == [("linode_boot", second.id)]


def test_a_wait_that_outlives_its_deadline_times_out(provider, control):
    control.set_transitions(policy="timed", time_scale=100)  # provisioning now takes 1000 s
    server = provider.create_instance("web-g1-1", **PLACE, tags=WEB)

    with pytest.raises(errors.ProviderTimeout, match="wait for instance web-g1-1 failed: not running, still"):
        provider.wait_for_status(server.id, "running", provider.deadline(0.2))


def test_polls_read_fresh_status(provider, control):
    control.set_transitions(policy="reads", reads=1)
    server = provider.create_instance("web-g1-1", **PLACE, tags=WEB)

    seen = [provider.get_instance(server.id).status for _ in range(3)]

    # Each read moves the emulator on one step; a cached status would not have changed.
    assert seen[0] != "running" and seen[-1] == "running"


def test_delete_returns_once_the_linode_is_gone_and_is_idempotent(provider, control):
    server = provider.create_instance("web-g1-1", **PLACE, tags=WEB)
    control.set_transitions(time_scale=0.1)  # the delete lasts 0.2 s: it is seen deleting first

    provider.delete_instance(server.id)

    with pytest.raises(errors.NotFound):
        provider.get_instance(server.id)
    assert control.stats()["GET /linode/instances/{id}"] >= 2, "it waited through deleting"
    provider.delete_instance(server.id)


def test_a_linode_that_is_never_gone_fails_its_delete_at_the_deadline(make_provider, control):
    provider = make_provider()
    server = provider.create_instance("web-g1-1", **PLACE, tags=WEB)
    control.set_transitions(time_scale=100.0)  # the delete lasts 200 s

    with pytest.raises(errors.ProviderTimeout, match=r"wait for delete web-g1-1 failed: still deleting after 0.2 s"):
        provider.delete_instance(server.id, timeout=0.2)


def test_root_disk_is_the_ext4_disk_not_the_swap(provider):
    server = running_server(provider, "web-g1-1")

    disk = provider.root_disk(server.id)

    assert disk.filesystem == "ext4"
    assert "swap" not in disk.label.lower()
    assert disk.size > 512
    assert provider.config_ids(server.id)


# -- images ----------------------------------------------------------------------------------------


def test_capture_and_wait_polls_the_image_by_id_only(provider, control):
    server = offline_server(provider, "web-1-0-0-build")
    disk = provider.root_disk(server.id)
    control.clear_requests()

    image = provider.capture_image(disk.id, "web-1.0.0", description="fleet web 1.0.0", tags=WEB)
    assert control.stats().get("GET /images") == 1  # the one look-up that makes the capture idempotent
    ready = provider.wait_for_image(image.id, provider.deadline(10))

    assert isinstance(ready, ImageRef)
    assert image.status == "creating" and ready.status == "available"
    assert (ready.id, ready.label, ready.tags) == (image.id, "web-1.0.0", WEB)
    assert ready.description == "fleet web 1.0.0"
    assert "cloud-init" in ready.capabilities and not ready.is_public
    stats = control.stats()
    assert stats.get("GET /images") == 1  # the wait never read the (rate-limited) list
    assert stats["GET /images/{id}"] >= 1
    assert all(
        r["path"].startswith("/v4/images/private/") for r in requests_to(control, "GET", "/images/{id}")
    )


def test_a_repeated_capture_returns_the_image_it_made(provider, control):
    disk = provider.root_disk(offline_server(provider, "web-1-0-0-build").id)

    first = provider.capture_image(disk.id, "web-1.0.0", tags=WEB)
    again = provider.capture_image(disk.id, "web-1.0.0", tags=WEB)

    assert again.id == first.id
    assert control.stats()["POST /images"] == 1


def test_a_lost_answer_to_a_capture_leaves_one_image(provider, control):
    disk = provider.root_disk(offline_server(provider, "web-1-0-0-build").id)
    control.add_fault(r"/images", 504, method="POST", when="after")

    image = provider.capture_image(disk.id, "web-1.0.0", tags=WEB)

    assert [i.id for i in provider.list_images(["fleet:web"])] == [image.id]


def test_a_failed_capture_is_reported_as_such(provider, control):
    disk = provider.root_disk(offline_server(provider, "web-1-0-0-build").id)
    control.fail_next_captures(1)
    image = provider.capture_image(disk.id, "web-1.0.0", tags=WEB)

    with pytest.raises(errors.ActionFailed, match=f"wait for image {image.id} failed .*capture failed"):
        provider.wait_for_image(image.id, provider.deadline(10))


def test_image_tags_lookup_and_delete(provider):
    disk = provider.root_disk(offline_server(provider, "web-1-0-0-build").id)
    image = provider.capture_image(disk.id, "web-1.0.0", tags=WEB)
    provider.wait_for_image(image.id, provider.deadline(10))

    tagged = provider.set_image_tags(image.id, (*WEB, "proven"))

    assert tagged.tags == (*WEB, "proven")
    assert provider.find_image("web-1.0.0", ["proven"]).id == image.id
    assert provider.find_image("web-1.0.0", ["no-such-tag"]) is None
    assert [i.id for i in provider.list_images(["fleet:web", "proven"])] == [image.id]
    provider.delete_image(image.id)
    provider.delete_image(image.id)
    assert provider.find_image("web-1.0.0") is None
    with pytest.raises(errors.NotFound, match=f"get image {image.id} failed"):
        provider.get_image(image.id)


def test_wait_for_image_rides_out_an_emulator_restart(emulator_factory, make_provider, tmp_path):
    state = tmp_path / "restarting"
    first = emulator_factory(state_dir=state, time_scale=0.02)  # a capture takes 1.2 s
    port = first.port
    steps = []
    armed = []

    def sleep(seconds):
        if armed and not steps:  # the first pause of the wait: the emulator goes away ...
            first.stop()
            steps.append("stopped")
        elif armed and steps == ["stopped"]:  # ... and comes back on its state while the adapter retries
            emulator_factory(state_dir=state, port=port, time_scale=0.02)
            steps.append("restarted")
        time.sleep(min(seconds, 0.02))

    provider = make_provider(api_url=first.api_url, sleep=sleep)
    disk = provider.root_disk(offline_server(provider, "web-1-0-0-build").id)
    image = provider.capture_image(disk.id, "web-1.0.0", tags=WEB)
    armed.append(True)

    ready = provider.wait_for_image(image.id, provider.deadline(30))

    assert steps == ["stopped", "restarted"]
    assert (ready.id, ready.status) == (image.id, "available")


# -- retries, timeouts and errors ------------------------------------------------------------------


def test_a_500_on_a_read_is_retried(provider, control):
    server = provider.create_instance("web-g1-1", **PLACE, tags=WEB)
    control.add_fault(r"/linode/instances/\d+", 500, method="GET")

    assert provider.get_instance(server.id).id == server.id
    assert [r["status"] for r in requests_to(control, "GET", "/linode/instances/{id}")] == [500, 200]


def test_injected_429s_are_waited_out_honouring_retry_after(make_provider, control):
    sleeps = Sleeps()
    provider = make_provider(sleep=sleeps)
    server = provider.create_instance("web-g1-1", **PLACE, tags=WEB)
    control.add_fault(r"/linode/instances/\d+", 429, method="GET", count=3, retry_after=2)

    assert provider.get_instance(server.id).id == server.id
    assert len(sleeps) == 3 and all(s >= 2 for s in sleeps)


def test_a_429_storm_ends_in_transient_after_max_attempts(make_provider, control):
    sleeps = Sleeps()
    provider = make_provider(sleep=sleeps, max_attempts=3)
    server = provider.create_instance("web-g1-1", **PLACE, tags=WEB)
    control.add_fault(r"/linode/instances/\d+", 429, method="GET", count=50, retry_after=1)

    with pytest.raises(errors.Transient) as caught:
        provider.get_instance(server.id)

    assert str(caught.value) == (
        f"get instance {server.id} failed (HTTP 429): Too many requests; gave up after 3 attempts"
    )
    assert len(sleeps) == 2
    assert len(requests_to(control, "GET", "/linode/instances/{id}")) == 3


def test_real_rate_limits_are_waited_out(emulator_factory, make_provider):
    limited = emulator_factory(rate_limits=True)
    provider = make_provider(api_url=limited.api_url, max_attempts=4)
    server = provider.create_instance("web-g1-1", **PLACE, tags=WEB)
    control = EmulatorControl(limited.url)
    control.set_rate_limits(limits={"default": {"limit": 2, "window": 1}})
    try:
        reads = [provider.get_instance(server.id).id for _ in range(4)]
        statuses = [r["status"] for r in requests_to(control, "GET", "/linode/instances/{id}")]
    finally:
        control.close()

    assert reads == [server.id] * 4
    assert 429 in statuses and statuses[-1] == 200


def test_a_timeout_is_transient_and_names_the_operation(make_provider, control):
    provider = make_provider(timeout=0.2, max_attempts=2)
    server = provider.create_instance("web-g1-1", **PLACE, tags=WEB)
    control.add_fault(r"/linode/instances/\d+", "timeout", method="GET", count=2, delay=1.0)

    with pytest.raises(errors.Transient) as caught:
        provider.get_instance(server.id)

    assert str(caught.value) == (
        f"get instance {server.id} failed: the API did not answer in time; gave up after 2 attempts"
    )


def test_linode_busy_is_retried_until_the_linode_is_free(make_provider, control):
    control.set_transitions(policy="reads", reads=1)
    provider = make_provider(sleep=Sleeps(), max_attempts=6)
    server = provider.create_instance("web-g1-1", **PLACE, tags=WEB)

    provider.shutdown(server.id)  # provisioning, then booting: the Linode is busy twice

    shutdowns = [r["status"] for r in requests_to(control, "POST", "/linode/instances/{id}/shutdown")]
    assert shutdowns[0] == 400 and shutdowns[-1] == 200
    assert provider.wait_for_status(server.id, "offline", provider.deadline(10)).status == "offline"


def test_not_found_names_the_resource(provider):
    with pytest.raises(errors.NotFound) as caught:
        provider.get_instance(12345)

    assert str(caught.value) == "get instance 12345 failed (HTTP 404): Not found"
    assert (caught.value.resource, caught.value.status) == (12345, 404)


def test_a_validation_error_carries_the_api_reason_and_field(provider):
    with pytest.raises(errors.InvalidRequest) as caught:
        provider.create_instance("web-g1-1", "mars-north", "g6-standard-1", "linode/debian12", tags=WEB)

    assert str(caught.value) == "create instance web-g1-1 failed (HTTP 400): region: region is not valid"
    assert caught.value.reasons == ("region: region is not valid",)


def test_user_data_too_big_is_refused_naming_the_field(provider):
    with pytest.raises(errors.InvalidRequest, match=r"\(HTTP 400\): metadata\.user_data: "):
        provider.create_instance("web-g1-1", **PLACE, tags=WEB, user_data="x" * 100_000)


def test_a_bad_token_is_a_provider_error(emulator):
    provider = LinodeProvider("wrong-token", emulator.api_url, max_attempts=1)

    with pytest.raises(errors.ProviderError, match=r"list instances failed \(HTTP 401\): Invalid Token"):
        provider.list_instances()


def test_the_token_never_shows_in_errors_or_logs(make_provider, control, caplog):
    caplog.set_level(logging.DEBUG)
    provider = make_provider(timeout=0.2, max_attempts=2)
    server = provider.create_instance("web-g1-1", **PLACE, tags=WEB)
    control.add_fault(r"/linode/instances/\d+", "timeout", method="GET", count=2, delay=1.0)
    control.add_fault(r"/volumes", 503, method="GET", count=10)
    raised = []
    for attempt in (
        lambda: provider.get_instance(server.id),
        lambda: provider.find_volume("data-1"),
        lambda: provider.get_image("private/404"),
        lambda: provider.create_instance("x", **PLACE),
    ):
        with pytest.raises(errors.ProviderError) as caught:
            attempt()
        raised.append(caught.value)

    assert [type(e) for e in raised] == [
        errors.Transient,
        errors.Transient,
        errors.NotFound,
        errors.InvalidRequest,
    ]
    retries = [record.getMessage() for record in caplog.records
               if (record.name, record.levelno) == ("salt_immutable.linode", logging.WARNING)]
    assert retries == [
        f"get instance {server.id}: the API did not answer in time; attempt 1 of 2, retrying in 0.0 s",
        "find volume data-1: Service Unavailable; attempt 1 of 2, retrying in 0.0 s",
    ], "each retry is logged as a warning naming the operation, the resource and the reason"
    for error in raised:
        assert EMULATOR_TOKEN not in str(error) and EMULATOR_TOKEN not in repr(error)
        assert EMULATOR_TOKEN not in repr(error.__cause__)
    assert all(EMULATOR_TOKEN not in record.getMessage() for record in caplog.records)
    assert EMULATOR_TOKEN not in caplog.text


# -- volumes ---------------------------------------------------------------------------------------


def test_volume_create_attach_detach_delete(provider):
    server = running_server(provider, "web-g1-1")
    config_id = provider.config_ids(server.id)[0]

    volume = provider.create_volume("web-data-1", 20, "us-east", tags=("immutable", "fleet:web"))
    assert isinstance(volume, VolumeRef)
    assert (volume.label, volume.size, volume.region, volume.linode_id) == ("web-data-1", 20, "us-east", None)
    assert volume.tags == ("immutable", "fleet:web")
    assert volume.filesystem_path == "/dev/disk/by-id/scsi-0Linode_Volume_web-data-1"
    active = provider.wait_for_volume(volume.id, provider.deadline(10))
    assert active.status == "active"
    assert provider.create_volume("web-data-1", 20, "us-east").id == volume.id
    assert [v.id for v in provider.list_volumes(["fleet:web"])] == [volume.id]

    attached = provider.attach_volume(volume.id, server.id, config_id)
    assert attached.linode_id == server.id
    assert provider.get_volume(volume.id).linode_id == server.id

    provider.detach_volume(volume.id)
    assert provider.get_volume(volume.id).linode_id is None

    provider.delete_volume(volume.id)
    provider.delete_volume(volume.id)
    assert provider.find_volume("web-data-1") is None


def test_attach_sends_the_config_id_the_api_reads(provider):
    server = running_server(provider, "web-g1-1")
    volume = provider.create_volume("web-data-1", 20, "us-east")

    with pytest.raises(errors.InvalidRequest, match="config_id: "):
        provider.attach_volume(volume.id, server.id, config_id=999)


def test_a_lost_answer_to_an_attach_is_not_sent_twice(provider, control):
    server = running_server(provider, "web-g1-1")
    volume = provider.create_volume("web-data-1", 20, "us-east")
    control.add_fault(r"/volumes/\d+/attach", 502, method="POST", when="after")

    attached = provider.attach_volume(volume.id, server.id)

    assert attached.linode_id == server.id
    assert len(requests_to(control, "POST", "/volumes/{id}/attach")) == 1


def test_deleting_an_attached_volume_is_refused_with_the_reason(provider):
    server = running_server(provider, "web-g1-1")
    volume = provider.create_volume("web-data-1", 20, "us-east")
    provider.attach_volume(volume.id, server.id)

    with pytest.raises(errors.InvalidRequest, match=f"delete volume {volume.id} failed .*detached"):
        provider.delete_volume(volume.id)


# -- NodeBalancer nodes ----------------------------------------------------------------------------


@pytest.fixture
def balancer(emulator):
    """``(nodebalancer_id, config_id)`` of a NodeBalancer with one port-80 config."""
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {EMULATOR_TOKEN}"
    nodebalancer = session.post(f"{emulator.api_url}/nodebalancers", json={"region": "us-east"}, timeout=10)
    nodebalancer.raise_for_status()
    nb_id = nodebalancer.json()["id"]
    config = session.post(
        f"{emulator.api_url}/nodebalancers/{nb_id}/configs",
        json={"port": 80, "protocol": "http", "check": "none"},
        timeout=10,
    )
    config.raise_for_status()
    yield nb_id, config.json()["id"], session
    session.close()


def test_nodebalancer_nodes_create_update_delete_and_fresh_listing(provider, balancer, emulator):
    nb_id, config_id, session = balancer
    server = running_server(provider, "web-g1-1")
    address = f"{server.private_ip}:8080"

    node = provider.create_node(nb_id, config_id, "web-g1-1", address, mode="accept", weight=50)
    assert isinstance(node, NodeBalancerNode)
    assert (node.config_id, node.nodebalancer_id, node.label, node.address) == (
        config_id,
        nb_id,
        "web-g1-1",
        address,
    )
    assert (node.mode, node.weight) == ("accept", 50)
    assert provider.create_node(nb_id, config_id, "web-g1-1", address).id == node.id
    assert [n.id for n in provider.list_nodes(nb_id, config_id)] == [node.id]

    # A node added behind the adapter's back shows in the next listing.
    other = session.post(
        f"{emulator.api_url}/nodebalancers/{nb_id}/configs/{config_id}/nodes",
        json={"label": "web-g1-2", "address": "127.0.9.9:8080"},
        timeout=10,
    )
    other.raise_for_status()
    assert {n.address for n in provider.list_nodes(nb_id, config_id)} == {address, "127.0.9.9:8080"}

    drained = provider.update_node(nb_id, config_id, node.id, mode="drain")
    assert (drained.mode, drained.weight) == ("drain", 50)
    reweighted = provider.update_node(nb_id, config_id, node.id, weight=10)
    assert (reweighted.mode, reweighted.weight) == ("drain", 10)
    assert [n.mode for n in provider.list_nodes(nb_id, config_id) if n.id == node.id] == ["drain"]

    provider.delete_node(nb_id, config_id, node.id)
    provider.delete_node(nb_id, config_id, node.id)
    assert [n.address for n in provider.list_nodes(nb_id, config_id)] == ["127.0.9.9:8080"]


def test_a_lost_answer_to_a_node_create_leaves_one_node(provider, balancer, control):
    nb_id, config_id, _ = balancer
    control.add_fault(r"/nodebalancers/\d+/configs/\d+/nodes", 502, method="POST", when="after")

    node = provider.create_node(nb_id, config_id, "web-g1-1", "127.0.5.5:80")

    assert [n.id for n in provider.list_nodes(nb_id, config_id)] == [node.id]
