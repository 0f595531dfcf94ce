"""A clock that tests move by hand."""


class FakeClock:
    """Call it for the time (seconds); ``sleep`` moves it on, by at least ``min_step`` so loops progress."""

    def __init__(self, min_step=0.0):
        self.now = 0.0
        self.min_step = min_step

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.now += max(seconds, self.min_step)
