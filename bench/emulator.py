"""The Linode emulator as a subprocess on loopback (``--machines none``), and its control API."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile

import requests

TOKEN = "bench-token"
READY = "linode_emu listening on "
START_TIMEOUT = 30
STOP_TIMEOUT = 15
HTTP_TIMEOUT = 30
SHM = "/dev/shm"


class Emulator:
    """A running emulator: ``api_url`` for clients, the control API as methods."""

    def __init__(self, url):
        self.url = url
        self.api_url = f"{url}/v4"
        self._session = requests.Session()

    def control(self, method, path, body=None):
        """The JSON answer of ``/_emulator/<path>``; raises ``requests.HTTPError`` on a refusal."""
        answer = self._session.request(method, f"{self.url}/_emulator/{path}", json=body, timeout=HTTP_TIMEOUT)
        answer.raise_for_status()
        return answer.json()

    def stats(self):
        """``{"total": n, "<METHOD> <route>": n}`` since the log was last cleared."""
        return self.control("GET", "stats")

    def requests(self):
        """The request log since it was last cleared: ``[{"method", "path", "route", "status", "time"}]``."""
        return self.control("GET", "requests")["requests"]

    def clear_log(self):
        self.control("DELETE", "requests")

    def rate_limits(self, enabled, window_scale=1.0):
        """Switch Linode's rate limits on or off, each window multiplied by ``window_scale``."""
        limits = self.control("GET", "rate-limits")["limits"]
        scaled = {name: {"limit": spec["limit"], "window": spec["window"] * window_scale}
                  for name, spec in limits.items()}
        return self.control("PUT", "rate-limits", {"enabled": enabled, "limits": scaled})

    def transitions(self, **policy):
        return self.control("PUT", "transitions", policy)

    def close(self):
        self._session.close()


@contextlib.contextmanager
def running(time_scale):
    """An :class:`Emulator` started with ``--machines none`` at ``time_scale`` (rate limits on), stopped
    by its pid when the block ends."""
    with tempfile.TemporaryDirectory(prefix="bench-emu-", dir=state_parent()) as state_dir:
        process = subprocess.Popen(
            [sys.executable, "-m", "linode_emu", "--machines", "none", "--state-dir", state_dir, "--port", "0",
             "--time-scale", str(time_scale), "--token", TOKEN],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )
        emulator = None
        try:
            emulator = Emulator(listening_url(process))
            yield emulator
        finally:
            if emulator is not None:
                emulator.close()
            stop(process)


def state_parent():
    """Where the emulator keeps its state: tmpfs when there is one (it fsyncs its state on every write,
    which on a disk makes filling a large account take minutes), else the default temporary folder."""
    return SHM if os.path.isdir(SHM) and os.access(SHM, os.W_OK) else None


def listening_url(process):
    """The URL the emulator prints once it accepts requests."""
    line = process.stdout.readline()
    if not line.startswith(READY):
        raise RuntimeError(f"the emulator did not start: {line!r} (exit code {process.poll()})")
    return line[len(READY):].strip()


def stop(process):
    """SIGTERM the emulator (by its pid), SIGKILL it if it does not stop in time."""
    process.terminate()
    try:
        process.wait(STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    process.stdout.close()
