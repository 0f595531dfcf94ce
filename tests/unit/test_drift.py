"""The fleet's drift report, from the answers of the minions' ``immutable.drift``."""

import pytest

from salt_immutable.drift import NO_ANSWER, fleet_report


def entry(state_id, name, state="file.managed"):
    return {"id": state_id, "state": state, "name": name, "comment": "would change", "changes": {"diff": "..."}}


def answer(*drifted, ignored=()):
    return {"result": not drifted, "fleet": "web", "version": "g1", "states": ["webapp"],
            "drifted": list(drifted), "files": [], "ignored": list(ignored)}


def test_servers_are_sorted_into_drifted_clean_and_unreachable():
    report = fleet_report({
        "web-3": answer(entry("app_config", "/etc/app.conf"), entry("nginx", "nginx", state="service.running")),
        "web-1": answer(),
        "web-2": "ERROR: immutable.drift: the states webapp cannot be checked: ...",
        "web-4": None,
    })
    assert report["drifted"] == ["web-3"] and report["clean"] == ["web-1"]
    assert report["unreachable"] == {
        "web-2": "ERROR: immutable.drift: the states webapp cannot be checked: ...", "web-4": NO_ANSWER,
    }
    assert report["servers"] == {
        "web-1": {"files": [], "states": [], "ignored": []},
        "web-3": {"files": ["/etc/app.conf"], "states": ["app_config", "nginx"], "ignored": []},
    }


def test_files_are_the_sorted_paths_of_drifted_file_states_only():
    report = fleet_report({"web-1": answer(entry("b", "/etc/b"), entry("pkg", "curl", state="pkg.installed"),
                                           entry("a", "/etc/a", state="file.directory"))})
    assert report["servers"]["web-1"]["files"] == ["/etc/a", "/etc/b"]


@pytest.mark.parametrize("ignore", [["/etc/motd"], ["motd"], ["*/motd"], "/etc/mo*"], ids=str)
def test_the_fleet_ignore_matches_id_or_name_and_makes_a_server_clean(ignore):
    report = fleet_report({"web-1": answer(entry("motd", "/etc/motd"), ignored=[entry("tmp", "/tmp/x")])}, ignore)
    assert report["clean"] == ["web-1"] and report["drifted"] == []
    assert report["servers"]["web-1"] == {"files": [], "states": [], "ignored": ["tmp", "motd"]}


def test_the_fleet_ignore_leaves_what_it_does_not_match():
    report = fleet_report({"web-1": answer(entry("motd", "/etc/motd"), entry("app", "/etc/app.conf"))}, ["/etc/motd"])
    assert report["drifted"] == ["web-1"]
    assert report["servers"]["web-1"] == {"files": ["/etc/app.conf"], "states": ["app"], "ignored": ["motd"]}


@pytest.mark.parametrize("garbled", [{}, {"ret": {}, "retcode": 0}, {"drifted": "nope"}, {"drifted": [],
                                                                                          "ignored": ["x"]}],
                         ids=["empty", "salt envelope", "drifted not a list", "ignored not entries"])
def test_an_answer_that_is_no_drift_report_is_unreachable_never_clean(garbled):
    report = fleet_report({"web-1": garbled})
    assert report["clean"] == [] and report["drifted"] == [] and report["servers"] == {}
    assert report["unreachable"]["web-1"].startswith("not a drift report")


def test_no_answers_is_an_empty_report():
    assert fleet_report({}) == {"drifted": [], "clean": [], "unreachable": {}, "servers": {}}
