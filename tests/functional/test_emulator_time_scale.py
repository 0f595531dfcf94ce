"""Every simulated delay of the emulator follows its time scale, and every wait takes its seconds from
``linode_emu.delays`` (the one table that says which waits are Linode's time and which are real).

In-process: the backend on a clock moved by hand, a NodeBalancer proxy's check loop, and the emulator's
sources read as syntax trees. No daemon.
"""

from __future__ import annotations

import ast
import textwrap
from pathlib import Path

import pytest

import linode_emu
from linode_emu import delays
from linode_emu.backend import Backend
from linode_emu.balancer import BalancerProxy, Balancers, check_settings
from linode_emu.transitions import TransitionPolicy
from tests.support.emulator_helpers import PoweringOffDriver

SCALES = (1.0, 0.25)
LONG = 100_000.0  # seconds: longer than any job at any scale tested
ROOT_PASS = "s3cret-pass"
SOURCES = Path(linode_emu.__file__).parent


class Clock:
    """Seconds that move only when told to."""

    def __init__(self):
        self.current = 1_750_000_000.0

    def now(self):
        return self.current


# ------------------------------------------------------------------ jobs: each action's event duration


def linode(backend, **kwargs):
    params = {"region": "us-east", "type": "g6-nanode-1", "image": "linode/debian12", "root_pass": ROOT_PASS}
    return backend.create_instance(**{**params, **kwargs})["id"]


def root_disk(backend, linode_id):
    return next(disk["id"] for disk in backend.list_disks(linode_id) if disk["filesystem"] == "ext4")


def small_root(backend):
    """An offline Linode whose root disk leaves most of its plan's space free."""
    return linode(backend, booted=False, boot_size=5000)


def volume(backend, linode_id=None):
    return backend.create_volume(label="data", region="us-east", linode_id=linode_id)["id"]


def powered_off_from_inside(backend):
    """A running Linode whose machine powers itself off: the next tick sees it, and Lassie boots it."""
    linode_id = linode(backend)
    return lambda: (backend._driver.halting.append(linode_id), backend.tick())


# For each job action: (set up what the action needs, then return the request that starts the job).
TRIGGERS = {
    "lassie_reboot": powered_off_from_inside,
    "linode_create": lambda b: lambda: linode(b),
    "linode_boot": lambda b: (lambda i: lambda: b.boot_instance(i))(linode(b, booted=False)),
    "linode_shutdown": lambda b: (lambda i: lambda: b.shutdown_instance(i))(linode(b)),
    "linode_reboot": lambda b: (lambda i: lambda: b.reboot_instance(i))(linode(b)),
    "linode_rebuild": lambda b: (lambda i: lambda: b.rebuild_instance(i, image="linode/debian12", root_pass=ROOT_PASS))(
        linode(b)
    ),
    "linode_delete": lambda b: (lambda i: lambda: b.delete_instance(i))(linode(b)),
    "disk_imagize": lambda b: (lambda i: lambda: b.create_image(disk_id=root_disk(b, i)))(linode(b, booted=False)),
    "volume_create": lambda b: lambda: volume(b),
    "volume_attach": lambda b: (lambda i, v: lambda: b.attach_volume(v, i))(linode(b), volume(b)),
    "volume_detach": lambda b: (lambda i: lambda: b.detach_volume(volume(b, i)))(linode(b)),
    "volume_resize": lambda b: (lambda v: lambda: b.resize_volume(v, 30))(volume(b)),
    "volume_clone": lambda b: (lambda v: lambda: b.clone_volume(v, "copy"))(volume(b)),
    "linode_resize_create": lambda b: (lambda i: lambda: b.resize_instance(i, type="g6-standard-1"))(linode(b)),
    "linode_resize": lambda b: (lambda i: lambda: b.resize_instance(i, type="g6-standard-1"))(linode(b)),
    "disk_create": lambda b: (lambda i: lambda: b.create_disk(i, size=100, label="scratch"))(small_root(b)),
    "disk_resize": lambda b: (lambda i: lambda: b.resize_disk(i, root_disk(b, i), 6000))(small_root(b)),
    "disk_delete": lambda b: (lambda i: lambda: b.delete_disk(i, root_disk(b, i)))(small_root(b)),
    "disk_duplicate": lambda b: (lambda i: lambda: b.clone_disk(i, root_disk(b, i)))(small_root(b)),
    "image_upload": lambda b: (lambda path: lambda: b.receive_image_upload(*path.rsplit("/", 1), b"image"))(
        b.create_image_upload(label="uploaded", region="us-east")["upload_path"]
    ),
}


def job_duration(action, time_scale):
    """The ``duration`` of the event of a job of ``action`` on a backend at ``time_scale``."""
    clock = Clock()
    backend = Backend(clock=clock, policy=TransitionPolicy(time_scale=time_scale), driver=PoweringOffDriver())
    trigger = TRIGGERS[action](backend)
    clock.current += LONG  # what the trigger needs is done
    backend.list_events()
    known = {event["id"] for event in backend.list_events()}
    trigger()
    clock.current += LONG
    (event,) = [e for e in backend.list_events() if e["id"] not in known and e["action"] == action]
    assert event["status"] == "finished"
    return event["duration"]


def test_every_job_kind_is_measured_here():
    assert set(TRIGGERS) == set(delays.JOB_SECONDS)


@pytest.mark.parametrize("action", sorted(delays.JOB_SECONDS))
def test_a_jobs_event_lasts_in_proportion_to_the_time_scale(action):
    durations = [job_duration(action, scale) for scale in SCALES]
    assert durations[0] > 0
    assert durations[1] == pytest.approx(durations[0] * SCALES[1] / SCALES[0], abs=0.002)


# ------------------------------------------------------------------ NodeBalancer health checks


CONFIG = {"protocol": "tcp", "check": "connection", "check_interval": 8, "check_timeout": 3, "check_attempts": 2}


class RecordingStop:
    """A proxy's stop event that records the one wait of its check loop, then stops it."""

    def __init__(self):
        self.waits = []

    def is_set(self):
        return bool(self.waits)

    def wait(self, seconds):
        self.waits.append(seconds)
        return True

    def set(self):
        self.waits.append("stopped")


def waited_between_checks(time_scale):
    """How long a NodeBalancer proxy's check loop waits between two checks, at ``time_scale``."""
    proxy = BalancerProxy("127.0.0.1", 0, check_settings(CONFIG, time_scale), nodes=list, report=None)
    try:
        proxy._stop = RecordingStop()
        proxy._check_loop()
        return list(proxy._stop.waits)
    finally:
        proxy.stop()


def test_the_wait_between_health_checks_is_in_proportion_to_the_time_scale():
    (at_one,), (at_other,) = (waited_between_checks(scale) for scale in SCALES)
    assert at_one == pytest.approx(CONFIG["check_interval"] / SCALES[0])
    assert at_other == pytest.approx(at_one * SCALES[1] / SCALES[0])


class _Backend:
    """What Balancers reads of the backend: one config, no nodes, and the policy's time scale."""

    def __init__(self, time_scale):
        self.policy = TransitionPolicy(time_scale=time_scale)

    def balancer_configs(self):
        return [{"id": 1, "address": "127.0.0.1", "port": 0, **CONFIG}]

    def balancer_nodes(self, config_id):
        return []

    def set_node_status(self, node_id, status):
        raise AssertionError("no node to report on")


def test_the_nodebalancers_run_at_the_backends_time_scale():
    intervals = []
    for scale in SCALES:
        balancers = Balancers(_Backend(scale), log=print)
        try:
            balancers.reconcile()
            intervals.append(balancers.proxies[1][1].settings.interval)
        finally:
            balancers.close()
    assert intervals[1] == pytest.approx(intervals[0] * SCALES[1] / SCALES[0])


# ------------------------------------------------------------------ no wait outside the table


WAITING_CALLS = {"sleep", "wait", "Timer", "settimeout", "alarm", "setitimer", "select", "call_later"}
WAITING_KEYWORDS = {"timeout", "poll_interval"}
CLOCKS = {"time", "monotonic", "perf_counter", "now", "_now"}


def _name(node):
    if isinstance(node, ast.Attribute):
        return node.attr
    return node.id if isinstance(node, ast.Name) else None


def _from_table(node):
    """Whether ``node`` is a call of a function of ``linode_emu.delays`` (or None: no bound, no delay)."""
    if isinstance(node, ast.Constant) and node.value is None:
        return True
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and _name(node.func.value) == "delays"


def _is_clock(node):
    return isinstance(node, ast.Call) and _name(node.func) in CLOCKS and not node.args


def _seconds_of(call):
    """The expressions giving seconds to a waiting call: its timing keywords, and for a waiting function its
    positional seconds (``select``'s fourth, ``join``'s first when it is not an iterable of strings)."""
    found = [keyword.value for keyword in call.keywords if keyword.arg in WAITING_KEYWORDS]
    name = _name(call.func)
    if name == "select" and len(call.args) >= 4:
        found.append(call.args[3])
    joins_seconds = name == "join" and call.args and isinstance(call.args[0], ast.Constant)
    if (name in WAITING_CALLS - {"select"} or joins_seconds) and call.args:
        found.append(call.args[0])
    return found


def unscaled_waits(source, filename="<source>"):
    """``file:line: code`` of each sleep, wait, timer, timeout or clock deadline whose seconds do not come
    from ``linode_emu.delays``, and the number of waits found in all."""
    problems, found = [], 0
    for node in ast.walk(ast.parse(source)):
        seconds = []
        if isinstance(node, ast.Call):
            seconds = _seconds_of(node)
        elif isinstance(node, ast.BinOp) and (_is_clock(node.left) or _is_clock(node.right)):
            other = node.right if _is_clock(node.left) else node.left
            seconds = [] if _is_clock(other) or not isinstance(node.op, (ast.Add, ast.Sub)) else [other]
        found += len(seconds)
        for expression in seconds:
            if not _from_table(expression):
                problems.append(f"{filename}:{node.lineno}: {ast.get_source_segment(source, node)}")
    return problems, found


def test_the_check_catches_unscaled_waits():
    source = textwrap.dedent(
        """
        import threading, time
        time.sleep(1)
        threading.Event().wait(self.interval)
        threading.Timer(DELAY, go)
        deadline = time.monotonic() + GRACE
        socket.create_connection(address, timeout=2)
        server.serve_forever(poll_interval=0.5)
        select.select([a], [], [], 0.1)
        thread.join(5)
        time.sleep(delays.real("tick"))
        ", ".join(names)
        process.wait()
        """
    )
    problems, found = unscaled_waits(source)
    assert [problem.split(":")[1] for problem in problems] == [str(line) for line in range(3, 11)]
    assert found == 9


def test_every_wait_of_the_emulator_takes_its_seconds_from_the_delays_table():
    problems, found = [], 0
    for path in sorted(SOURCES.rglob("*.py")):
        if path.name == "delays.py":
            continue
        file_problems, file_found = unscaled_waits(path.read_text(), str(path.relative_to(SOURCES.parent)))
        problems += file_problems
        found += file_found
    assert problems == []
    assert found >= 12  # the walk sees the emulator's waits (it is not vacuous)
