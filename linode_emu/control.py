"""The ``/_emulator/...`` control API: reset, statistics, request log, faults, injected failures,
transition policy and rate limits. Never authenticated, rate-limited or counted. Answers are JSON:

- ``POST /reset``: forget every object, back to the run's defaults; ``{}``.
- ``GET /stats``: ``{"total": n, "<METHOD> <route pattern>": n, ...}``, e.g. ``"GET /images/{id}"``.
- ``GET /requests``: ``{"requests": [{"method", "path", "route", "status", "time"}]}``;
  ``DELETE /requests`` clears the log and the statistics.
- ``POST /faults`` adds a rule (``faults.Fault``: method, path, status, count, when, retry_after,
  delay) and answers it with its id; ``GET /faults`` -> ``{"faults": [...]}``; ``DELETE /faults``.
- ``POST /boot-failures`` ``{"linode_id": n}``: that Linode's next boot fails; ``{}``. Or
  ``{"count": n, "skip": k}``: of the boots of any Linode to come (a create's boot, a boot, a reboot),
  the next k pass and the n after them fail; it replaces the previous such plan (``count`` 0 clears it)
  and answers ``{"count": n, "skip": k}``. A failing boot ends ``offline`` with a failed ``linode_boot``
  (or ``linode_reboot``) event. Restarting the machines of an emulator restart is no boot here.
- ``POST /capture-failures`` ``{"count": n}``: the next n captures fail.
- ``GET|PUT /transitions`` ``{"policy": "timed|immediate|reads", "reads": n, "time_scale": f}``.
- ``GET|PUT /rate-limits`` ``{"enabled": bool, "limits": {"<class>": {"limit": n, "window": s}}}``.
"""

from __future__ import annotations

import threading
from collections import Counter, deque
from dataclasses import replace

from linode_emu.backend import Backend
from linode_emu.errors import EmuApiError, invalid, not_found
from linode_emu.faults import FaultInjector
from linode_emu.ratelimit import RateLimiter
from linode_emu.transitions import TransitionPolicy
from linode_emu.wire import Body

PREFIX = "/_emulator"
_LOG_SIZE = 100_000


class RequestLog:
    """Counts per route and the most recent API requests."""

    def __init__(self):
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()
        self._entries: deque[dict] = deque(maxlen=_LOG_SIZE)

    def record(self, method: str, path: str, route: str, status, when: float) -> None:
        with self._lock:
            self._counts[route] += 1
            self._entries.append(
                {"method": method, "path": path, "route": route, "status": status, "time": when}
            )

    def stats(self) -> dict:
        with self._lock:
            return {"total": sum(self._counts.values()), **self._counts}

    def entries(self) -> list[dict]:
        with self._lock:
            return [dict(entry) for entry in self._entries]

    def clear(self) -> None:
        with self._lock:
            self._counts.clear()
            self._entries.clear()


class Control:
    """Serves ``/_emulator/...``; ``defaults`` are the run's initial policy and rate-limit switch."""

    def __init__(
        self,
        backend: Backend,
        faults: FaultInjector,
        limiter: RateLimiter,
        log: RequestLog,
        default_policy: TransitionPolicy,
        rate_limits_enabled: bool,
    ):
        self._backend = backend
        self._faults = faults
        self._limiter = limiter
        self._log = log
        self._default_policy = default_policy
        self._rate_limits_enabled = rate_limits_enabled
        self._routes = {
            ("POST", "/reset"): self._reset,
            ("GET", "/stats"): lambda body: self._log.stats(),
            ("GET", "/requests"): lambda body: {"requests": self._log.entries()},
            ("DELETE", "/requests"): self._clear_log,
            ("POST", "/faults"): self._add_fault,
            ("GET", "/faults"): lambda body: {"faults": self._faults.to_json()},
            ("DELETE", "/faults"): self._clear_faults,
            ("POST", "/boot-failures"): self._fail_boot,
            ("POST", "/capture-failures"): self._fail_captures,
            ("GET", "/transitions"): lambda body: self._backend.policy.to_json(),
            ("PUT", "/transitions"): self._set_transitions,
            ("GET", "/rate-limits"): lambda body: self._limiter.to_json(),
            ("PUT", "/rate-limits"): self._set_rate_limits,
        }

    def handle(self, method: str, path: str, raw_body: bytes) -> dict:
        """The JSON answer to a control request (``path`` without the ``/_emulator`` prefix)."""
        action = self._routes.get((method, path.rstrip("/")))
        if action is None:
            raise not_found()
        return action(Body.parse(raw_body))

    def _reset(self, body: Body) -> dict:
        self._backend.reset()
        self._backend.set_policy(self._default_policy)
        self._limiter.reset(self._rate_limits_enabled)
        self._faults.clear()
        self._log.clear()
        return {}

    def _clear_log(self, body: Body) -> dict:
        self._log.clear()
        return {}

    def _add_fault(self, body: Body) -> dict:
        try:
            return self._faults.add(body.as_dict()).to_json()
        except ValueError as err:
            raise EmuApiError(400, str(err)) from None

    def _clear_faults(self, body: Body) -> dict:
        self._faults.clear()
        return {}

    def _fail_boot(self, body: Body) -> dict:
        if body.has("linode_id"):
            return self._fail_linode_boot(body)
        if not body.has("count"):
            raise invalid("count" if body.has("skip") else "linode_id", "linode_id or count is required")
        return self._plan_boot_failures(body)

    def _fail_linode_boot(self, body: Body) -> dict:
        """``{"linode_id": n}``: that Linode's next boot fails."""
        linode_id = body.integer("linode_id")
        for name in ("count", "skip"):
            if body.has(name):
                raise invalid(name, f"{name} cannot go with linode_id: give one or the other")
        self._backend.fail_next_boot(linode_id)
        return {}

    def _plan_boot_failures(self, body: Body) -> dict:
        """``{"count": n, "skip": k}``: the next k boots of any Linode pass, the n after them fail."""
        count, skip = body.integer("count"), body.integer("skip", 0)
        for name, value in (("count", count), ("skip", skip)):
            if value < 0:
                raise invalid(name, f"{name} must be >= 0")
        return self._backend.fail_boots(count, skip)

    def _fail_captures(self, body: Body) -> dict:
        count = body.integer("count", 1)
        if count < 0:
            raise invalid("count", "count must be >= 0")
        self._backend.fail_next_captures(count)
        return {}

    def _set_transitions(self, body: Body) -> dict:
        changes = body.changes(policy="text", reads="integer", time_scale="number")
        try:
            policy = replace(self._backend.policy, **changes)
        except ValueError as err:
            raise EmuApiError(400, str(err)) from None
        self._backend.set_policy(policy)
        return policy.to_json()

    def _set_rate_limits(self, body: Body) -> dict:
        try:
            self._limiter.configure(enabled=body.boolean("enabled"), limits=body.mapping("limits"))
        except ValueError as err:
            raise EmuApiError(400, str(err)) from None
        return self._limiter.to_json()
