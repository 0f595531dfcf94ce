"""The pure parts of ``bench/``: the figures' arithmetic, the bake's overhead from its progress lines, and
the report's rendering."""

import pytest

from bench import api, bake, ratios, report


@pytest.mark.parametrize(("count", "surge", "rounds"), [(1, 1, 1), (3, 1, 3), (10, 3, 4), (30, 8, 4), (4, 4, 1)])
def test_a_roll_needs_one_round_per_surge_full_of_servers(count, surge, rounds):
    assert ratios.batches_allowed(count, surge) == rounds


def test_the_lower_bound_is_one_replacement_per_round_and_the_ratio_divides_by_it():
    bound = ratios.lower_bound(2.0, 10, 3)
    assert bound == 8.0
    assert ratios.ratio(9.2, bound) == 1.15
    with pytest.raises(ValueError):
        ratios.ratio(1.0, 0)
    with pytest.raises(ValueError):
        ratios.batches_allowed(0, 1)


def test_requests_per_server_are_by_endpoint_busiest_first_with_their_total():
    counts = {"total": 30, "GET /linode/instances": 12, "POST /linode/instances": 3,
              "DELETE /linode/instances/{id}": 15}
    assert ratios.per_server(counts, 3) == {
        "total": 10.0, "DELETE /linode/instances/{id}": 5.0, "GET /linode/instances": 4.0,
        "POST /linode/instances": 1.0,
    }


def test_verdicts_and_shares():
    assert ratios.verdict(12, 12) == "met" and ratios.verdict(12.01, 12) == "gap"
    assert ratios.verdict(1.0, 1.0, strict=True) == "gap"
    assert ratios.share(1, 4) == 25.0 and ratios.share(1, 0) == 0.0


def test_api_economy_counts_a_rolls_requests_per_server_and_its_429s():
    log = [{"route": "POST /linode/instances", "status": 200}, {"route": "POST /linode/instances", "status": 429},
           {"route": "GET /linode/instances", "status": 200}, {"route": "GET /linode/instances", "status": 200}]
    (row,) = api.economy([{"servers": 2, "requests": log}])
    assert row["per_server"]["total"] == 2.0 and row["rate_limited"] == 1 and row["verdict"] == "met"


def progress(*timed_messages):
    return [(at, f"[web@1.0.0] {message}") for at, message in timed_messages]


def test_the_bake_overhead_subtracts_state_runs_capture_and_the_candidates_boot():
    run = {"wall_seconds": 100.0,
           "result": {"timings": {"builder": 10.0, "configure": 30.0, "test": 5.0, "seal": 4.0, "capture": 20.0,
                                  "prove": 25.0}},
           "lines": progress((60.0, "booting candidate web-1.0.0-proof from private/1"),
                             (70.0, "applying boot states x on web-1.0.0-proof"),
                             (82.0, "checking that web-1.0.0-proof holds none of the builder's identity"))}
    figure = bake.overhead(run)
    assert figure["subtracted"] == {"state_runs": 47.0, "capture": 20.0, "candidate_boot": 10.0, "builder_boot": 10.0}
    assert figure["overhead_seconds"] == 23.0 and figure["overhead_without_builder_boot_seconds"] == 13.0
    assert figure["remaining"]["prove_after_checks"] == 3.0 and figure["remaining"]["outside_phases"] == 6.0
    assert figure["verdict"] == "gap"


def test_a_missing_progress_line_is_named():
    with pytest.raises(ValueError, match="booting candidate"):
        bake.first_at(progress((1.0, "testing web-1.0.0-build")), bake.CANDIDATE_BOOT)


def figure(verdict="met"):
    return {"title": "Roll efficiency", "command": "python -m bench.run --only roll", "target": "<= 1.15",
            "value": "worst ratio 1.1", "verdict": verdict, "columns": ["N", "ratio"], "rows": [[1, 1.05], [3, 1.1]],
            "notes": ["a | note"]}


def test_the_report_gives_each_figure_its_command_target_verdict_table_and_notes():
    text = report.markdown({"run": {"command": "python -m bench.run", "started": "2026-01-01 00:00 UTC",
                                    "seconds": 12.3, "platform": "Linux"},
                            "figures": {"scale": figure("gap") | {"title": "Control-loop scale"}, "roll": figure()}})
    assert text.index("## Roll efficiency: met") < text.index("## Control-loop scale: gap")
    assert "- Reproduce: `python -m bench.run --only roll`" in text and "- Target: <= 1.15" in text
    assert "| Roll efficiency | <= 1.15 | worst ratio 1.1 | met |" in text
    assert "| 3 | 1.1 |" in text and "- a | note" in text


def test_a_table_escapes_pipes_in_cells():
    assert report.table(["a"], [["x|y"]]) == ["| a |", "| --- |", "| x\\|y |"]
