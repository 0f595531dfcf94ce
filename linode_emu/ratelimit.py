"""Per-endpoint rate limits with Linode's 429 answer and ``X-RateLimit-*`` headers."""

from __future__ import annotations

import math
import threading

from linode_emu.errors import EmuApiError
from linode_emu.transitions import SystemClock

# (requests, window seconds) per endpoint class; the real API's limits (linode-api-facts.md).
DEFAULT_LIMITS = {
    "linode_create": (20, 15.0),
    "image_list": (20, 60.0),
    "volume_create": (100, 60.0),
    "collection": (200, 60.0),
    "default": (1600, 60.0),
}


class RateLimiter:
    """Fixed windows per endpoint: a window opens at an endpoint's first request and lasts ``window``
    seconds; requests beyond the class's limit in it get 429 ``Too many requests`` with ``Retry-After``.
    """

    def __init__(self, enabled: bool = True, clock=None):
        self._lock = threading.Lock()
        self._clock = clock or SystemClock()
        self.enabled = enabled
        self.limits = dict(DEFAULT_LIMITS)
        self._windows: dict[str, tuple[float, int]] = {}

    def configure(self, enabled: bool | None = None, limits: dict | None = None) -> None:
        """Switch limits on/off and/or change some classes: ``{"class": {"limit": n, "window": s}}``.

        Raises ValueError for an unknown class or a bad number. Open windows start over.
        """
        new_limits = dict(self.limits)
        for name, spec in (limits or {}).items():
            new_limits[name] = _parse_limit(name, spec)
        with self._lock:
            self.limits = new_limits
            if enabled is not None:
                self.enabled = enabled
            self._windows.clear()

    def reset(self, enabled: bool) -> None:
        """Back to the real limits, switched as given, with no open windows."""
        with self._lock:
            self.enabled = enabled
            self.limits = dict(DEFAULT_LIMITS)
            self._windows.clear()

    def to_json(self) -> dict:
        return {
            "enabled": self.enabled,
            "limits": {
                name: {"limit": limit, "window": window} for name, (limit, window) in self.limits.items()
            },
        }

    def hit(self, endpoint: str, rate_class: str) -> dict:
        """Count one request; the ``X-RateLimit-*`` headers to send, or EmuApiError 429 when over."""
        if not self.enabled:
            return {}
        limit, window = self.limits[rate_class]
        with self._lock:
            now = self._clock.now()
            start, count = self._windows.get(endpoint, (now, 0))
            if now >= start + window:
                start, count = now, 0
            reset = start + window
            headers = {"X-RateLimit-Limit": str(limit), "X-RateLimit-Reset": str(math.ceil(reset))}
            if count >= limit:
                headers["X-RateLimit-Remaining"] = "0"
                headers["Retry-After"] = str(max(1, math.ceil(reset - now)))
                raise EmuApiError(429, "Too many requests", headers=headers)
            self._windows[endpoint] = (start, count + 1)
            headers["X-RateLimit-Remaining"] = str(limit - count - 1)
            return headers


def _parse_limit(name: str, spec) -> tuple[int, float]:
    if name not in DEFAULT_LIMITS:
        raise ValueError(f"unknown rate-limit class {name!r} (known: {', '.join(DEFAULT_LIMITS)})")
    if not isinstance(spec, dict):
        raise ValueError(f"limits.{name} must be an object with limit and window")
    limit = spec.get("limit", DEFAULT_LIMITS[name][0])
    window = spec.get("window", DEFAULT_LIMITS[name][1])
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
        raise ValueError(f"limits.{name}.limit must be an integer >= 0")
    if isinstance(window, bool) or not isinstance(window, (int, float)) or window <= 0:
        raise ValueError(f"limits.{name}.window must be a number > 0")
    return limit, float(window)
