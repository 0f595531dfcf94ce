"""A machine that powers itself off (a sealed builder does): its Linode goes offline, and Lassie, the
Shutdown Watchdog, boots it again unless ``watchdog_enabled`` is off — as on Linode."""

from __future__ import annotations

import pytest

from tests.support.emulator_helpers import PoweringOffDriver, create_linode, run_until_idle


@pytest.fixture
def driver():
    return PoweringOffDriver()


def running_linode(backend, clock, **kwargs):
    linode_id = create_linode(backend, **kwargs)["id"]
    run_until_idle(backend, clock)
    assert backend.get_instance(linode_id)["status"] == "running"
    return linode_id


def test_with_its_watchdog_off_a_linode_that_powered_itself_off_stays_offline(make_backend, clock, driver):
    backend = make_backend(driver=driver)
    linode_id = running_linode(backend, clock)
    assert backend.update_instance(linode_id, {"watchdog_enabled": False})["watchdog_enabled"] is False
    driver.halting.append(linode_id)
    backend.tick()
    assert backend.get_instance(linode_id)["status"] == "offline"
    run_until_idle(backend, clock)
    assert backend.get_instance(linode_id)["status"] == "offline"
    assert [e["action"] for e in backend.list_events() if e["action"] == "lassie_reboot"] == []


def test_with_its_watchdog_on_lassie_boots_it_again(make_backend, clock, driver):
    backend = make_backend(driver=driver)
    linode_id = running_linode(backend, clock)
    driver.halting.append(linode_id)
    backend.tick()
    assert backend.get_instance(linode_id)["status"] == "booting"
    run_until_idle(backend, clock)
    assert backend.get_instance(linode_id)["status"] == "running"
    (event,) = [e for e in backend.list_events() if e["action"] == "lassie_reboot"]
    assert event["entity"]["id"] == linode_id and event["status"] == "finished"


def test_a_linode_shut_down_through_the_api_is_not_a_halt(make_backend, clock, driver):
    backend = make_backend(driver=driver)
    linode_id = running_linode(backend, clock)
    backend.shutdown_instance(linode_id)
    driver.halting.append(linode_id)  # the machine's PID 1 exits because it was asked to
    backend.tick()
    run_until_idle(backend, clock)
    assert backend.get_instance(linode_id)["status"] == "offline"
    assert [e["action"] for e in backend.list_events() if e["action"] == "lassie_reboot"] == []
