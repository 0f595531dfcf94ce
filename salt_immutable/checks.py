"""EFFECTS: the checks a machine booted for a fleet must pass, shared by the bake's proof and the roll's gates.

Each check raises :class:`~salt_immutable.errors.CheckFailed` naming the minion and what failed.
"""

import contextlib
import json
import time
import urllib.error
import urllib.request

from salt_immutable.errors import CheckFailed


def failed_states(applied):
    """The ids of the states that failed in a ``state.apply`` return (or its render errors)."""
    if not isinstance(applied, dict):
        return [str(line) for line in (applied if isinstance(applied, list) else [applied])]
    return [entry.get("__id__", key) for key, entry in applied.items() if entry.get("result") is False]


def apply_states(salt, minion_id, states, what, timeout):
    """``state.apply`` of ``states`` on ``minion_id``; CheckFailed naming the failed state ids."""
    applied, _ = salt.call(minion_id, "state.apply", [",".join(states)], timeout=timeout)
    failed = failed_states(applied)
    if failed:
        raise CheckFailed(f"{what} failed on {minion_id}: {', '.join(failed)}")


def verify(salt, minion_id, saltcheck, converge, states, timeout):
    """``immutable.verify`` on the minion: saltcheck tests and, with ``converge``, zero changes for ``states``."""
    kwarg = {"saltcheck": list(saltcheck), "converge": converge, "states": list(states)}
    outcome, _ = salt.call(minion_id, "immutable.verify", kwarg=kwarg, timeout=timeout)
    if not isinstance(outcome, dict) or not outcome.get("result"):
        failures = outcome.get("failures") if isinstance(outcome, dict) else [str(outcome)]
        raise CheckFailed(f"tests failed on {minion_id}: {'; '.join(failures)}")


def check_release(salt, minion_id, image, timeout):
    """The minion must tell, through ``immutable.release``, the provenance ``image`` was captured with."""
    release, _ = salt.call(minion_id, "immutable.release", timeout=timeout)
    if image.description and release != json.loads(image.description):
        raise CheckFailed(f"{minion_id} reports release {release}, not the provenance of {image.id}")


def check_sealed(salt, minion_id, builder_identity, timeout):
    """``immutable.check_image`` on a machine booted from an image: the seal's sweep finished, and the
    machine holds none of ``builder_identity`` (hashes from ``immutable.identity``; None checks the sweep)."""
    checked, _ = salt.call(minion_id, "immutable.check_image", kwarg={"builder": builder_identity}, timeout=timeout)
    if not isinstance(checked, dict) or checked.get("result") is not True:
        problems = checked.get("problems") if isinstance(checked, dict) else [str(checked)]
        raise CheckFailed(f"the image {minion_id} booted from is not sealed: {'; '.join(map(str, problems or ['?']))}")


def answers_http(url, timeout=5):
    """True when ``url`` answers 2xx now."""
    with contextlib.suppress(OSError, urllib.error.URLError), urllib.request.urlopen(url, timeout=timeout) as answer:
        return answer.status < 300
    return False


def wait_for_http(url, deadline, interval=1.0):
    """Poll ``url`` until it answers 2xx; CheckFailed when ``deadline`` passes first."""
    while not deadline.expired():
        if answers_http(url):
            return
        time.sleep(deadline.pause(interval))
    raise CheckFailed(f"health check {url} did not answer 2xx within {deadline.seconds:g}s")
