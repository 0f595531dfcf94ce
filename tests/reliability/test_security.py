"""Security of a roll against the emulator: the Linode token reaches no pillar, log line (DEBUG), event,
return, progress line, roll record or Linode user_data, through a roll that retries, fails a gate and
rolls back; a destroyed server's minion key is gone. The lab-level checks (images, master job cache) live in
``tests/integration`` (see README.md)."""

import logging

from salt_immutable import history, master
from tests.reliability.harness import FLEET, World, assert_clean, master_opts, pillar, provider_for
from tests.support.emulator import EmulatorControl

SECRET_TOKEN = "tok-SECRET-reliability-7f3a9c"


def test_the_token_reaches_no_log_event_return_record_or_user_data(emulator_factory, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    emulator = emulator_factory(token=SECRET_TOKEN)
    world = World(emulator.api_url, tmp_path, provider=provider_for(emulator.api_url, token=SECRET_TOKEN))
    control = EmulatorControl(emulator.url)
    reports = [world.roll("1")]
    control.add_fault(r"/linode/instances", 503, method="POST", count=2)
    control.fail_boots(count=1)
    control.close()
    reports.append(world.roll("2"))  # retried 503s, a failed boot, a rollback

    assert [r["outcome"] for r in reports] == [history.SUCCEEDED, history.ROLLED_BACK]
    logged = "\n".join(f"{record.name} {record.getMessage()}" for record in caplog.records)
    assert "retrying" in logged, "the logs saw the retries"
    places = {
        "log": logged,
        "events": repr(world.salt.fired),
        "returns": repr(reports),
        "progress": "\n".join(world.lines),
        "records": "\n".join(path.read_text() for path in (tmp_path / "state").rglob("*.json")),
        "emulator state (user_data)": (tmp_path / "emulator-0" / "state.json").read_text(),
        "keys": (tmp_path / "keys.json").read_text(),
    }
    leaked = [place for place, text in places.items() if SECRET_TOKEN in text]
    assert leaked == []


def test_the_token_in_the_master_config_is_not_in_the_compiled_pillar(tmp_path):
    opts = master_opts(tmp_path, pillar("1")["immutable"], linode_token=SECRET_TOKEN)
    compiled = master.compile_fleet_pillar(opts, opts["id"])
    assert compiled["immutable"]["fleets"][FLEET]["version"] == "1", "the pillar was compiled"
    assert SECRET_TOKEN not in repr(compiled)


def test_the_keys_of_destroyed_and_failed_servers_are_gone(world, emulator_control):
    first = world.roll("1")
    emulator_control.fail_boots(count=1)
    failed = world.roll("2")  # app-g2-1 fails its boot and is removed

    assert failed["outcome"] == history.ROLLED_BACK and failed["failure"]["server"] == "app-g2-1"
    assert "app-g2-1" not in world.minion_keys()
    emulator_control.fail_boots(count=0)
    replaced = world.roll("3")
    assert replaced["outcome"] == history.SUCCEEDED
    assert set(replaced["destroyed"]) == {s["label"] for s in first["servers"]}
    assert {s["label"] for s in first["servers"]} & set(world.minion_keys()) == set()
    assert_clean(world, "3")
