"""A roll's timeline: lanes and segments from its events, and the SVG drawn from them."""

import copy
import xml.etree.ElementTree as ET

import pytest

from salt_immutable.timeline import NO_EVENTS, WIDTH, fleet_events, lanes, render_svg

SVG = "{http://www.w3.org/2000/svg}"


def event(at, kind, server=None, **extra):
    return {"at": at, "server": server, "event": kind, **extra}


def roll(*events, outcome="succeeded", ended="2024-05-01T12:00:45Z", failure=None):
    """A roll of web from 1.0.0 to 1.1.0 that started at 12:00:00 and, by default, took 45 s."""
    return {"roll_id": "5c1f9e2a", "fleet": "web", "verb": "roll", "from_versions": ["1.0.0"], "to_version": "1.1.0",
            "started": "2024-05-01T12:00:00Z", "ended": ended, "outcome": outcome, "failure": failure,
            "events": list(events)}


# Old web-g1-1 serves from before the roll, drains at 40 and goes at 42; new web-g2-1 is created at 1,
# passes three gates and serves from 20; batch 1 pauses at a checkpoint at 21, approved at 30.
ONE_SWAP = roll(
    event(0, "batch", batch=1),
    event(1, "created", "web-g2-1"),
    event(5, "gate", "web-g2-1", gate="running"),
    event(9, "gate", "web-g2-1", gate="minion"),
    event(12, "gate", "web-g2-1", gate="boot states"),
    event(20, "in_service", "web-g2-1"),
    event(21, "checkpoint", batch=1),
    event(30, "approved"),
    event(31, "batch", batch=2),
    event(40, "draining", "web-g1-1"),
    event(42, "destroyed", "web-g1-1"),
)


def parse(record):
    """The SVG of ``record``, parsed: it must be well-formed XML with an <svg> root."""
    root = ET.fromstring(render_svg(record))
    assert root.tag == f"{SVG}svg"
    return root


def drawn_lanes(root):
    return root.findall(f"{SVG}g[@class='lane']")


def by_server(record):
    return {lane["server"]: lane for lane in lanes(record)}


def segments(lane):
    return [(segment["kind"], segment["from"], segment["to"]) for segment in lane["segments"]]


def marks(lane):
    return [(mark["kind"], mark["at"]) for mark in lane["marks"]]


def titles(element):
    return [title.text for title in element.iter(f"{SVG}title")]


def texts(root):
    return ["".join(text.itertext()) for text in root.iter(f"{SVG}text")]


# --- lanes -----------------------------------------------------------------------------------------------


def test_lanes_follow_first_appearance_not_names():
    assert [lane["server"] for lane in lanes(ONE_SWAP)] == ["web-g2-1", "web-g1-1"]


def test_a_new_server_starts_at_creation_and_serves_from_in_service_to_the_end_of_the_roll():
    new = by_server(ONE_SWAP)["web-g2-1"]

    assert segments(new) == [("starting", 1.0, 20.0), ("serving", 20.0, 45.0)]
    assert new["marks"] == [{"kind": "gate", "at": 5.0, "gate": "running"},
                            {"kind": "gate", "at": 9.0, "gate": "minion"},
                            {"kind": "gate", "at": 12.0, "gate": "boot states"}]


def test_an_old_server_serves_from_0_then_drains_until_destroyed():
    old = by_server(ONE_SWAP)["web-g1-1"]

    assert segments(old) == [("serving", 0.0, 40.0), ("draining", 40.0, 42.0)]
    assert marks(old) == [("destroyed", 42.0)]


def test_an_old_server_destroyed_without_draining_served_until_then():
    lane = by_server(roll(event(3, "destroyed", "web-g1-2")))["web-g1-2"]

    assert segments(lane) == [("serving", 0.0, 3.0)]
    assert marks(lane) == [("destroyed", 3.0)]


def test_a_running_roll_ends_at_its_last_event():
    record = roll(event(1, "created", "web-g2-1"), event(8, "in_service", "web-g2-1"),
                  event(11, "batch", batch=2), outcome="running", ended=None)

    assert segments(by_server(record)["web-g2-1"]) == [("starting", 1.0, 8.0), ("serving", 8.0, 11.0)]
    assert "running · 11 s so far" in texts(parse(record))[0]


def test_a_failed_gate_is_marked_with_its_gate_and_the_records_cause():
    record = roll(
        event(1, "created", "web-g2-1"),
        event(6, "failed", "web-g2-1", gate="http"),
        event(7, "quarantined", "web-g2-1"),
        outcome="failed", failure={"server": "web-g2-1", "gate": "http", "cause": "HTTP 502 from /health"},
    )
    lane = by_server(record)["web-g2-1"]

    assert segments(lane) == [("starting", 1.0, 7.0)]
    assert lane["marks"] == [{"kind": "failed", "at": 6.0, "gate": "http", "cause": "HTTP 502 from /health"},
                             {"kind": "quarantined", "at": 7.0}]


def test_fleet_wide_events_are_listed_with_short_labels():
    record = roll(event(0, "batch", batch=1), event(21, "checkpoint", batch=1), event(30, "checkpoint_timeout"),
                  event(31, "rollback", to="1.0.0"), event(32, "rejected"))

    assert [(item["at"], item["label"]) for item in fleet_events(record)] == [
        (0.0, "batch 1"), (21.0, "checkpoint 1"), (30.0, "timeout"), (31.0, "rollback → 1.0.0"), (32.0, "rejected"),
    ]
    assert lanes(record) == []


# --- the SVG ---------------------------------------------------------------------------------------------


def test_the_svg_has_one_lane_per_server_in_first_appearance_order():
    root = parse(ONE_SWAP)
    drawn = drawn_lanes(root)

    assert [lane.get("data-server") for lane in drawn] == ["web-g2-1", "web-g1-1"]
    assert [lane.find(f"{SVG}text").text for lane in drawn] == ["web-g2-1", "web-g1-1"]
    assert root.get("width") == str(WIDTH)


def test_the_svg_draws_each_segment_with_its_kind_and_times():
    old, new = reversed(drawn_lanes(parse(ONE_SWAP)))

    assert [(rect.get("class"), titles(rect)) for rect in new.findall(f"{SVG}rect")] == [
        ("segment starting", ["web-g2-1: starting 1 s → 20 s"]),
        ("segment serving", ["web-g2-1: serving 20 s → 45 s"]),
    ]
    assert [rect.get("class") for rect in old.findall(f"{SVG}rect")] == ["segment serving", "segment draining"]
    assert titles(old.find(f"{SVG}g[@class='mark destroyed']")) == ["web-g1-1: destroyed at 42 s"]


def test_a_server_serving_before_the_roll_starts_at_the_left_of_the_time_axis():
    root = parse(ONE_SWAP)
    axis = root.find(f".//{SVG}line[@class='axis']")
    old = drawn_lanes(root)[1]

    assert old.find(f"{SVG}rect[@class='segment serving']").get("x") == axis.get("x1")


def test_gates_are_ticks_with_their_name_in_a_tooltip():
    new = drawn_lanes(parse(ONE_SWAP))[0]

    assert [titles(tick) for tick in new.findall(f"{SVG}line[@class='mark gate']")] == [
        ["web-g2-1: running passed at 5 s"],
        ["web-g2-1: minion passed at 9 s"],
        ["web-g2-1: boot states passed at 12 s"],
    ]


def test_fleet_wide_events_are_dashed_lines_with_a_label():
    groups = parse(ONE_SWAP).findall(f"{SVG}g[@class='fleet-event']")

    assert [group.find(f"{SVG}text").text for group in groups] == ["batch 1", "checkpoint 1", "approved", "batch 2"]
    assert all(group.find(f"{SVG}line").get("stroke-dasharray") for group in groups)


def test_a_failed_gate_is_a_red_mark_and_quarantine_a_different_one():
    record = roll(event(1, "created", "web-g2-1"), event(6, "failed", "web-g2-1", gate="http", cause="refused"),
                  event(7, "quarantined", "web-g2-1"), outcome="failed")
    lane = drawn_lanes(parse(record))[0]
    failed = lane.find(f"{SVG}circle[@class='mark failed']")
    quarantined = lane.find(f"{SVG}polygon[@class='mark quarantined']")

    assert failed.get("fill") == "#d62728"
    assert titles(failed) == ["web-g2-1: http failed at 6 s: refused"]
    assert quarantined is not None and quarantined.get("fill") != failed.get("fill")


def test_the_title_names_fleet_verb_versions_roll_outcome_and_seconds():
    record = roll(event(1, "created", "web-g2-1"), outcome="failed",
                  failure={"server": "web-g2-1", "gate": "http", "cause": "refused"})

    headline, failure = texts(parse(record))[:2]
    assert headline == "web roll 1.0.0 → 1.1.0 · roll 5c1f9e2a · failed · 45 s"
    assert failure == "failed on web-g2-1 at gate http: refused"


def test_text_from_outside_is_escaped():
    record = roll(event(1, "created", 'web-<&>"-1'), event(4, "failed", 'web-<&>"-1', gate="<gate>"),
                  outcome="failed", failure={"server": 'web-<&>"-1', "gate": "<gate>", "cause": "<script>x</script>"})
    svg = render_svg(record)
    root = ET.fromstring(svg)
    lane = drawn_lanes(root)[0]

    assert "<script>" not in svg and "web-&lt;&amp;&gt;" in svg
    assert lane.get("data-server") == 'web-<&>"-1' and lane.find(f"{SVG}text").text == 'web-<&>"-1'
    assert titles(lane.find(f"{SVG}circle")) == ['web-<&>"-1: <gate> failed at 4 s: <script>x</script>']


def test_characters_xml_cannot_hold_are_replaced():
    root = parse(roll(event(1, "created", "web\x00\x1b-1")))

    assert drawn_lanes(root)[0].find(f"{SVG}text").text == "web\ufffd\ufffd-1"


@pytest.mark.parametrize("events", [None, [], "not a list"], ids=["no key", "empty", "not a list"])
def test_a_record_without_events_says_so(events):
    record = roll()
    if events is None:
        del record["events"]
    else:
        record["events"] = events
    root = parse(record)

    assert NO_EVENTS in texts(root)
    assert drawn_lanes(root) == [] and lanes(record) == [] and fleet_events(record) == []


def test_unknown_kinds_and_broken_events_never_crash():
    record = roll(
        event(1, "created", "web-g2-1"),
        event(2, "rebooted", "web-g2-1"),
        event(3, None, "web-g2-1"),
        event(4, "solar_flare"),
        {"server": "web-g2-1", "event": "in_service"},  # no "at": skipped
        {"at": float("nan"), "server": "web-g2-1", "event": "destroyed"},
        "not an event",
        event(5, "gate", "web-g2-1"),  # no gate name
    )
    root = parse(record)
    lane = drawn_lanes(root)[0]

    assert marks(by_server(record)["web-g2-1"]) == [("rebooted", 2.0), ("event", 3.0), ("gate", 5.0)]
    assert [dot.get("data-event") for dot in lane.findall(f"{SVG}circle[@class='mark other']")] == ["rebooted", "event"]
    assert [group.get("data-event") for group in root.findall(f"{SVG}g[@class='fleet-event']")] == ["solar_flare"]


def test_events_out_of_order_are_drawn_in_time_order():
    shuffled = roll(*reversed(ONE_SWAP["events"]))

    assert by_server(shuffled) == by_server(ONE_SWAP)


def test_the_height_grows_with_the_lanes_and_the_width_is_fixed():
    three = roll(*[event(index, "created", f"web-g2-{index}") for index in (1, 2, 3)])
    roots = [parse(roll(event(1, "created", "web-g2-1"))), parse(three)]

    assert [root.get("width") for root in roots] == [str(WIDTH)] * 2
    assert int(roots[0].get("height")) < int(roots[1].get("height"))
    assert [len(drawn_lanes(root)) for root in roots] == [1, 3]


def test_the_same_record_gives_the_same_bytes_and_is_left_untouched():
    before = copy.deepcopy(ONE_SWAP)

    assert render_svg(ONE_SWAP) == render_svg(copy.deepcopy(ONE_SWAP))
    assert before == ONE_SWAP


def test_close_fleet_wide_labels_take_different_rows():
    record = roll(event(0, "created", "web-g2-1"), event(30, "checkpoint", batch=1), event(30.5, "approved", batch=1),
                  event(31, "batch", batch=2), event(44, "destroyed", "web-g2-1"))
    root = parse(record)
    heights = [text.get("y") for group in root.iter("{http://www.w3.org/2000/svg}g")
               if group.get("class") == "fleet-event" for text in group.iter("{http://www.w3.org/2000/svg}text")]
    assert len(heights) == 3 and len(set(heights)) == 3, heights
