"""The shared API rate budget: a token bucket on a fake clock."""

import threading

import pytest

from salt_immutable.budget import RateBudget
from tests.support.clock import FakeClock as Clock


def test_a_burst_goes_at_once_then_requests_are_paced_at_the_rate():
    clock = Clock()
    budget = RateBudget(per_minute=60, burst=3, clock=clock, sleep=clock.sleep)
    assert [budget.take() for _ in range(3)] == [0.0, 0.0, 0.0]
    assert budget.take() == pytest.approx(1.0)  # 60 a minute: one a second
    assert budget.take() == pytest.approx(1.0)
    assert clock.now == pytest.approx(2.0)


def test_idle_time_refills_the_bucket_up_to_the_burst():
    clock = Clock()
    budget = RateBudget(per_minute=60, burst=2, clock=clock, sleep=clock.sleep)
    budget.take(), budget.take()
    clock.now += 100
    assert [budget.take() for _ in range(2)] == [0.0, 0.0] and budget.take() > 0


def test_threads_share_one_budget():
    clock = Clock()
    guard = threading.Lock()

    def sleep(seconds):
        with guard:
            clock.sleep(seconds)

    budget = RateBudget(per_minute=6000, burst=5, clock=clock, sleep=sleep)  # 100 a second
    threads = [threading.Thread(target=lambda: [budget.take() for _ in range(10)]) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert not any(thread.is_alive() for thread in threads)
    assert clock.now >= (30 - 5) / 100 - 1e-9, "three threads spent more than the budget allows"


def test_a_budget_needs_a_rate():
    with pytest.raises(ValueError, match="more than 0 requests a minute"):
        RateBudget(per_minute=0)
