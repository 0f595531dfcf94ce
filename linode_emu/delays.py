"""Every wait of the emulator, in one place, each of one of two kinds.

*Simulated* delays are Linode's time: how long Linode takes to boot, shut down, capture an image, or how
often a NodeBalancer checks its nodes. Each is given here in Linode's seconds and multiplied by the time
scale (``--time-scale``, ``PUT /_emulator/transitions``): at time scale 0.5 everything Linode does takes
half as long. Event durations follow, as they are measured between a job's start and its end.

*Real* waits are the emulator's own mechanics, not Linode's time, and are never scaled: how often the
server's ticker lets the world move, polls, grace periods for real processes, bounds on real I/O with a
real machine (which answers in real time whatever the scale), and delays a test asked for in real seconds.

Every sleep, wait, timer, timeout and deadline in ``linode_emu`` takes its seconds from a function of this
module, so that its kind is decided here; ``tests/functional/test_emulator_time_scale.py`` walks the
sources to keep it so.
"""

from __future__ import annotations

# Simulated: Linode's seconds per job action (its event's duration at time scale 1).
JOB_SECONDS = {
    "linode_create": 10.0,
    "linode_boot": 8.0,
    "linode_shutdown": 4.0,
    "linode_reboot": 12.0,
    "lassie_reboot": 8.0,  # the Shutdown Watchdog boots a Linode that powered itself off
    "linode_rebuild": 15.0,
    "linode_delete": 2.0,
    "linode_resize_create": 10.0,  # a resize waits in Linode's queue before it starts
    "linode_resize": 180.0,  # a cold resize moves the Linode to a new host: minutes on Linode
    "disk_create": 15.0,
    "disk_resize": 30.0,
    "disk_delete": 5.0,
    "disk_duplicate": 30.0,
    "disk_imagize": 60.0,
    "image_upload": 30.0,  # from the end of the upload to an available image
    "volume_create": 10.0,
    "volume_attach": 5.0,
    "volume_detach": 5.0,
    "volume_resize": 10.0,
    "volume_clone": 20.0,
}

# Real: the emulator's mechanics, in real seconds.
REAL_SECONDS = {
    # How often, with machines, jobs progress and NodeBalancer proxies follow the API without any request;
    # also the shortest NodeBalancer check interval (nothing changes faster than the ticker).
    "tick": 0.25,
    "http_poll": 0.05,  # the API server's accept loop checks for a stop this often
    "main_poll": 0.2,  # ``python -m linode_emu`` checks for SIGTERM/SIGINT this often
    "pid1_poll": 0.2,  # a machine's PID 1 reaps orphans and checks for SIGTERM this often
    "reap_poll": 0.05,  # a stopping PID 1 looks for exited processes this often
    "stop_grace": 5.0,  # a stopping PID 1 waits this long after SIGTERM before SIGKILL
    "machine_stop": 15.0,  # the driver waits this long for a machine to stop before killing it
    "thread_join": 5.0,  # a stopping NodeBalancer proxy waits this long for each of its threads
    "node_connect": 2.0,  # a NodeBalancer proxy gives up connecting to a node after this long
    # The serving emulator saves its state at most this often: a killed emulator loses at most this much.
    "state_save": 0.2,
}


def job(action: str, time_scale: float) -> float:
    """Seconds a job of ``action`` takes at ``time_scale`` (KeyError for an action with no delay)."""
    return JOB_SECONDS[action] * time_scale


def check_interval(seconds: float, time_scale: float) -> float:
    """Seconds between two health checks of a NodeBalancer config whose ``check_interval`` is ``seconds``,
    at ``time_scale``; never shorter than the ticker's period."""
    return max(REAL_SECONDS["tick"], float(seconds) * time_scale)


def real(name: str) -> float:
    """Real seconds of the mechanism ``name`` of :data:`REAL_SECONDS` (never scaled)."""
    return REAL_SECONDS[name]


def io_timeout(seconds: float) -> float:
    """A bound on real I/O with a machine (a NodeBalancer's ``check_timeout``), in real seconds: machines
    answer in real time, so a scaled bound would judge a healthy machine DOWN."""
    return float(seconds)


def requested(seconds: float) -> float:
    """A delay a test asked for over the control API (a fault's ``delay``), in real seconds: it is measured
    against the client's own real timeouts."""
    return float(seconds)
