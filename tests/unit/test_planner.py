"""The roll's pure decisions: fenceposts, one plan per snapshot, and whole rolls simulated to the end."""

import itertools
import random

import pytest

from salt_immutable.rollout import math as rollmath
from salt_immutable.rollout import planner
from salt_immutable.rollout.planner import (
    ADMIT,
    CREATE,
    DRAIN,
    DRAINING,
    IN_SERVICE,
    PENDING,
    REMOVE,
    Goal,
    Server,
    plan,
)
from salt_immutable.spec import Quantity


def q(value):
    return Quantity(int(value[:-1]), percent=True) if isinstance(value, str) else Quantity(value)


@pytest.mark.parametrize(
    ("count", "surge", "unavailable", "expected"),
    [
        (10, "25%", "25%", (3, 2)),
        (3, "25%", "25%", (1, 0)),  # surge rounds up, unavailable down
        (1, "25%", "25%", (1, 0)),
        (2, "50%", "50%", (1, 1)),
        (3, "100%", 0, (3, 0)),  # blue/green
        (1, "100%", 0, (1, 0)),
        (1, 0, "50%", (1, 0)),  # both round to 0: one surge, never the only server first
        (3, "0%", "10%", (1, 0)),
        (4, 0, 1, (0, 1)),
        (5, 2, "40%", (2, 2)),
        (0, "25%", "25%", (1, 0)),
    ],
)
def test_fenceposts_round_surge_up_and_unavailable_down_and_never_both_zero(count, surge, unavailable, expected):
    assert rollmath.fenceposts(q(surge), q(unavailable), count) == expected


def goal(count=3, surge=1, unavailable=0, version="2", generation=2):
    return Goal("web", version, count, surge, unavailable, generation)


def old(index, version="1", state=IN_SERVICE, healthy=True, generation=1):
    return Server(f"web-g{generation}-{index}", version, generation, state, healthy)


def new(index, state=IN_SERVICE, healthy=True, version="2", generation=2):
    return Server(f"web-g{generation}-{index}", version, generation, state, healthy)


def kinds(result):
    return [(action.kind, action.label) for action in result.actions]


@pytest.mark.parametrize(
    ("name", "the_goal", "servers", "expected", "complete"),
    [
        ("empty fleet: create every server at once", goal(), [],
         [(CREATE, "web-g2-1"), (CREATE, "web-g2-2"), (CREATE, "web-g2-3")], False),
        ("bump: one surge server first, no old one drained", goal(), [old(1), old(2), old(3)],
         [(CREATE, "web-g2-1")], False),
        ("a new one in service: the oldest old one drains", goal(), [old(1), old(2), old(3), new(1)],
         [(DRAIN, "web-g1-1")], False),
        ("a draining one still counts against the surge", goal(),
         [old(1, state=DRAINING), old(2), old(3), new(1)], [(DRAIN, "web-g1-1")], False),
        ("unhealthy new one in service: counts unavailable, holds old ones back", goal(),
         [old(1), old(2), old(3), new(1, healthy=False)], [], False),
        ("unhealthy new pending one is removed, never put in service", goal(),
         [old(1), old(2), old(3), new(1, state=PENDING, healthy=False)], [(REMOVE, "web-g2-1")], False),
        ("pending from a killed roll: admitted, not duplicated", goal(),
         [old(1), old(2), old(3), new(1, state=PENDING)], [(ADMIT, "web-g2-1")], False),
        ("pending of another version: removed", goal(version="3", generation=3),
         [old(1), old(2), old(3), new(1, state=PENDING)], [(REMOVE, "web-g2-1")], False),  # it still counts
        ("unhealthy old one drains first and for free", goal(),
         [old(1), old(2, healthy=False), old(3), new(1), new(2)], [(DRAIN, "web-g1-2"), (DRAIN, "web-g1-1")], False),
        ("unhealthy old one drains even with no budget", goal(),
         [old(1), old(2, healthy=False), old(3)], [(CREATE, "web-g2-1"), (DRAIN, "web-g1-2")], False),
        ("fleet of 1, surge 1: the replacement first", goal(count=1), [old(1)], [(CREATE, "web-g2-1")], False),
        ("fleet of 1, surge 0 unavailable 1 (asked for): drained first", goal(count=1, surge=0, unavailable=1),
         [old(1)], [(DRAIN, "web-g1-1")], False),
        ("blue/green: all new at once", goal(surge=3), [old(1), old(2), old(3)],
         [(CREATE, "web-g2-1"), (CREATE, "web-g2-2"), (CREATE, "web-g2-3")], False),
        ("blue/green: all old at once once all new serve", goal(surge=3),
         [old(1), old(2), old(3), new(1), new(2), new(3)],
         [(DRAIN, "web-g1-1"), (DRAIN, "web-g1-2"), (DRAIN, "web-g1-3")], False),
        ("unavailable 1, surge 0: drains one before any new one", goal(surge=0, unavailable=1),
         [old(1), old(2), old(3)], [(DRAIN, "web-g1-1")], False),
        ("unavailable 1, surge 1: create and drain in one batch", goal(surge=1, unavailable=1),
         [old(1), old(2), old(3)], [(CREATE, "web-g2-1"), (DRAIN, "web-g1-1")], False),
        ("scale up, same version", goal(count=5, version="1", generation=2), [old(1), old(2), old(3)],
         [(CREATE, "web-g2-1"), (CREATE, "web-g2-2")], False),
        ("scale down, same version: the oldest go", goal(count=1, version="1"),
         [old(1), old(2), old(3, generation=3)], [(DRAIN, "web-g1-1"), (DRAIN, "web-g1-2")], False),
        ("scale down: a surplus pending one is removed, not admitted", goal(count=1),
         [new(1), new(2, state=PENDING)], [(REMOVE, "web-g2-2")], False),
        ("scale to zero", goal(count=0), [old(1), old(2)], [(DRAIN, "web-g1-1"), (DRAIN, "web-g1-2")], False),
        ("labels skip those taken", goal(count=2), [new(1), new(3)], [], True),
        ("a fresh label fills the gap", goal(count=3), [new(1), new(3)], [(CREATE, "web-g2-2")], False),
        ("converged: nothing to do", goal(), [new(1), new(2), new(3)], [], True),
    ],
)
def test_plan_rules(name, the_goal, servers, expected, complete):
    result = plan(the_goal, servers)
    assert kinds(result) == expected, name
    assert result.complete is complete, name
    assert all(action.reason for action in result.actions)


def test_a_blocked_plan_says_why():
    result = plan(goal(), [old(1), old(2), old(3), new(1, healthy=False)])
    assert result.actions == () and not result.complete
    assert "web-g2-1 in service but unhealthy" in result.waiting


def test_reasons_name_the_numbers():
    (action,) = plan(goal(), [old(1), old(2), old(3), new(1)]).actions
    assert action.reason == "runs 1, not 2; 4 available, at least 3 must stay"


# ----------------------------------------------------------------------------- simulated rolls


def simulate(the_goal, servers, fail=(), rng=None, limit=50):
    """Run plans against a fake world whose actions all succeed (but servers named in ``fail`` go
    unhealthy once in service). Checks the invariants on every batch; returns the log and the world."""
    world, log = list(servers), []
    min_available = max(0, the_goal.count - the_goal.unavailable)
    for _ in range(limit):
        result = plan(the_goal, world)
        if result.complete or not result.actions:
            return log, world, result
        log.append(sorted((a.kind, a.label) for a in result.actions))
        creates = result.of_kind(CREATE)
        # peak: every create lands before any drain finishes
        assert len(world) + len(creates) <= the_goal.count + the_goal.surge or not creates
        available = [s for s in world if s.state == IN_SERVICE and s.healthy]
        going = {a.label for a in result.actions if a.kind in (DRAIN, REMOVE)}
        left = [s for s in available if s.label not in going]
        assert len(left) >= min(min_available, len(available)), (log, world)
        world = apply(result, world, the_goal, fail)
        if rng is not None:
            rng.shuffle(world)
    raise AssertionError(f"no convergence in {limit} batches: {log}")


def apply(result, world, the_goal, fail):
    by_label = {s.label: s for s in world}
    for action in result.actions:
        if action.kind in (DRAIN, REMOVE):
            by_label.pop(action.label)
        elif action.kind in (CREATE, ADMIT):
            by_label[action.label] = Server(action.label, the_goal.version, the_goal.generation, IN_SERVICE,
                                            action.label not in fail)
    return list(by_label.values())


FLEETS = [1, 2, 3, 4, 7]
BUDGETS = [(1, 0), (0, 1), ("25%", "25%"), ("100%", 0), (2, 1), (0, "50%"), ("50%", "50%")]


@pytest.mark.parametrize(("count", "budget"), list(itertools.product(FLEETS, BUDGETS)))
def test_every_roll_converges_within_its_bounds(count, budget):
    surge, unavailable = rollmath.fenceposts(q(budget[0]), q(budget[1]), count)
    the_goal = goal(count=count, surge=surge, unavailable=unavailable)
    log, world, result = simulate(the_goal, [old(i) for i in range(1, count + 1)])
    assert result.complete
    assert sorted(s.version for s in world) == ["2"] * count
    if surge > 0 and unavailable == 0:
        assert log[0][0][0] == CREATE, "the first batch must add before it takes away"


@pytest.mark.parametrize("seed", range(20))
def test_shuffled_snapshots_roll_the_same_way(seed):
    rng = random.Random(seed)
    servers = [old(i) for i in range(1, 6)]
    rng.shuffle(servers)
    log, _, result = simulate(goal(count=5, surge=2, unavailable=1), servers, rng=rng)
    ordered_log, _, _ = simulate(goal(count=5, surge=2, unavailable=1), [old(i) for i in range(1, 6)])
    assert result.complete and len(log) == len(ordered_log)


def test_a_new_server_failing_after_it_was_put_in_service_holds_the_old_fleet():
    log, world, result = simulate(goal(), [old(1), old(2), old(3)], fail={"web-g2-1"})
    assert not result.complete and "unhealthy" in result.waiting
    assert sorted(s.label for s in world if s.version == "1") == ["web-g1-1", "web-g1-2", "web-g1-3"]
    assert log == [[(CREATE, "web-g2-1")]]


def test_the_library_simulation_matches_and_test_mode_sees_the_same_batches():
    log, _, _ = simulate(goal(), [old(1), old(2), old(3)])
    batches = planner.simulate(goal(), [old(1), old(2), old(3)])
    assert [sorted((a.kind, a.label) for a in batch.actions) for batch in batches] == log


def test_golden_roll_of_three_with_one_surge():
    log, _, _ = simulate(goal(), [old(1), old(2), old(3)])
    assert log == [
        [(CREATE, "web-g2-1")],
        [(DRAIN, "web-g1-1")],
        [(CREATE, "web-g2-2")],
        [(DRAIN, "web-g1-2")],
        [(CREATE, "web-g2-3")],
        [(DRAIN, "web-g1-3")],
    ]


def test_a_server_marked_for_replacement_is_replaced_like_an_old_one_and_the_others_stay():
    the_goal = Goal("web", "1", 3, 1, 0, 5, frozenset({"web-g1-2"}))
    log, world, result = simulate(the_goal, [old(1), old(2), old(3)])
    assert log == [[(CREATE, "web-g5-1")], [(DRAIN, "web-g1-2")]]
    assert result.complete and sorted(s.label for s in world) == ["web-g1-1", "web-g1-3", "web-g5-1"]
    first = planner.plan(the_goal, [old(1), old(2), old(3)])
    assert first.counts["old"] == 1 and first.counts["new"] == 2


def test_the_drain_of_a_replaced_server_says_why():
    the_goal = Goal("web", "1", 3, 1, 0, 5, frozenset({"web-g1-2"}))
    result = planner.plan(the_goal, [old(1), old(2), old(3), new(1, version="1", generation=5)])
    (drain,) = result.actions
    assert (drain.kind, drain.label) == (DRAIN, "web-g1-2")
    assert drain.reason.startswith("marked for replacement (drift); 4 available")


def test_a_pending_server_marked_for_replacement_is_removed_without_draining():
    the_goal = Goal("web", "1", 1, 1, 0, 5, frozenset({"web-g1-1"}))
    result = planner.plan(the_goal, [old(1, state=PENDING)])
    assert kinds(result)[0] == (REMOVE, "web-g1-1")
    assert result.actions[0].reason == "pending and marked for replacement: never in service"
