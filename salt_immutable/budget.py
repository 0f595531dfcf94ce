"""PURE: the account's API rate budget, shared by everything one verb sends to the Linode API.

Linode counts requests per account (1,600 a minute for most endpoints); fleets rolled concurrently by
one ``salt-run`` share one :class:`RateBudget`, so together they stay inside it instead of running into
429s one after the other.
"""

import threading
import time

LINODE_PER_MINUTE = 1600
# A token short by less than this counts as whole: float rounding must not make a waiter spin for ever.
_ROUNDING = 1e-9


class RateBudget:
    """A token bucket: ``per_minute`` requests a minute on average, at most ``burst`` at once.

    :meth:`take` blocks until a request may go. Thread-safe; ``clock`` and ``sleep`` are injectable.
    """

    def __init__(self, per_minute=LINODE_PER_MINUTE, burst=None, clock=time.monotonic, sleep=time.sleep):
        if per_minute <= 0:
            raise ValueError(f"a rate budget needs more than 0 requests a minute, not {per_minute}")
        self.rate = per_minute / 60.0
        self.burst = burst or max(1, int(self.rate * 10))
        self._tokens = float(self.burst)
        self._clock, self._sleep = clock, sleep
        self._last = clock()
        self._lock = threading.Lock()

    def take(self):
        """Wait until one request fits in the budget, and spend it; returns the seconds waited."""
        waited = 0.0
        while True:
            with self._lock:
                now = self._clock()
                self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
                self._last = now
                if self._tokens >= 1 - _ROUNDING:
                    self._tokens = max(0.0, self._tokens - 1)
                    return waited
                pause = (1 - self._tokens) / self.rate
            self._sleep(pause)
            waited += pause
