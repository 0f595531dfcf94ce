"""Rate limits per endpoint (pure, on a manual clock)."""

from __future__ import annotations

import pytest

from linode_emu.errors import EmuApiError
from linode_emu.ratelimit import DEFAULT_LIMITS, RateLimiter
from tests.support.emulator_helpers import START, ManualClock


def test_defaults_are_the_real_limits():
    assert DEFAULT_LIMITS["linode_create"] == (20, 15.0)
    assert DEFAULT_LIMITS["image_list"] == (20, 60.0)
    assert DEFAULT_LIMITS["volume_create"] == (100, 60.0)
    assert DEFAULT_LIMITS["collection"] == (200, 60.0)
    assert DEFAULT_LIMITS["default"] == (1600, 60.0)


def test_requests_beyond_the_limit_get_429_until_the_window_ends():
    clock = ManualClock()
    limiter = RateLimiter(clock=clock)
    headers = [limiter.hit("POST /linode/instances", "linode_create") for _ in range(20)]
    assert [h["X-RateLimit-Remaining"] for h in headers] == [str(n) for n in range(19, -1, -1)]
    assert {h["X-RateLimit-Limit"] for h in headers} == {"20"}
    assert {h["X-RateLimit-Reset"] for h in headers} == {str(int(START + 15))}

    clock.advance(5)
    with pytest.raises(EmuApiError) as caught:
        limiter.hit("POST /linode/instances", "linode_create")
    error = caught.value
    assert (error.status, error.reason) == (429, "Too many requests")
    assert error.headers["Retry-After"] == "10"
    assert error.headers["X-RateLimit-Remaining"] == "0"

    clock.advance(10)
    assert limiter.hit("POST /linode/instances", "linode_create")["X-RateLimit-Remaining"] == "19"


def test_endpoints_have_separate_windows():
    limiter = RateLimiter(clock=ManualClock())
    limiter.configure(limits={"default": {"limit": 1, "window": 60}})
    limiter.hit("GET /linode/instances/{id}", "default")
    limiter.hit("GET /volumes/{id}", "default")
    with pytest.raises(EmuApiError):
        limiter.hit("GET /volumes/{id}", "default")


def test_disabled_limits_send_no_headers_and_never_refuse():
    limiter = RateLimiter(enabled=False, clock=ManualClock())
    assert all(limiter.hit("GET /images", "image_list") == {} for _ in range(100))
    limiter.configure(enabled=True)
    assert limiter.hit("GET /images", "image_list")["X-RateLimit-Limit"] == "20"
    limiter.reset(enabled=False)
    assert limiter.to_json()["enabled"] is False


@pytest.mark.parametrize(
    "limits",
    [{"nope": {"limit": 1}}, {"default": 5}, {"default": {"limit": -1}}, {"default": {"window": 0}}],
)
def test_bad_limit_settings_are_refused(limits):
    with pytest.raises(ValueError):
        RateLimiter().configure(limits=limits)
