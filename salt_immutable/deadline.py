"""PURE: one time budget shared by every wait of an operation.

A bake or a roll makes one :class:`Deadline` and hands it to each wait it performs, so that the waits
together, not each of them, stay within the budget the operator gave.
"""

import time

from salt_immutable.errors import ProviderTimeout


class Deadline:
    """A budget of ``seconds`` that starts when the object is made, measured on ``clock``.

    ``clock`` returns seconds as a float and only ever grows (``time.monotonic`` by default); tests
    inject a fake one.
    """

    def __init__(self, seconds, clock=time.monotonic):
        if seconds < 0:
            raise ValueError(f"a deadline needs a budget of 0 seconds or more, not {seconds}")
        self.seconds = seconds
        self._clock = clock
        self._start = clock()

    def elapsed(self):
        """Seconds spent since the deadline was made."""
        return self._clock() - self._start

    def remaining(self):
        """Seconds left before the deadline, never below 0."""
        return max(0.0, self.seconds - self.elapsed())

    def expired(self):
        """True once the whole budget is spent."""
        return self.remaining() <= 0

    def pause(self, interval):
        """How long to sleep before the next poll: ``interval``, cut short by the deadline."""
        return min(interval, self.remaining())

    def exceeded(self, operation, resource, detail):
        """The :class:`ProviderTimeout` for a wait that ran out of time.

        ``detail`` says what was still the case, e.g. ``"not running, still booting"``; the budget is
        appended: ``wait for instance web-g1-1 failed: not running, still booting after 300 s``.
        """
        return ProviderTimeout(operation, resource, [f"{detail} after {self.seconds:g} s"])

    def check(self, operation, resource, detail):
        """Raise :meth:`exceeded` when the deadline has expired; do nothing otherwise."""
        if self.expired():
            raise self.exceeded(operation, resource, detail)
