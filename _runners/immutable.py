"""Operator verbs of salt-immutable, run on the master: ``salt-run immutable.<verb>``.

Thin: each verb checks its arguments, makes one library call through ``salt_immutable.api`` and turns
the library's errors into a clean failure (no traceback, non-zero exit, ``result: False``).
"""

import logging
from typing import TYPE_CHECKING

try:
    from salt_immutable import api, errors

    IMPORT_ERROR = None
except ImportError as err:  # the classic sync path on a master without the library
    IMPORT_ERROR = str(err)

if TYPE_CHECKING:
    __opts__: dict
    __context__: dict
    __jid_event__: object

log = logging.getLogger(__name__)

__virtualname__ = "immutable"


def __virtual__():
    if IMPORT_ERROR:
        return False, f"the salt_immutable library is not importable ({IMPORT_ERROR}): pip install salt-immutable"
    return __virtualname__


def plan(fleet=None):
    """
    Show what ``immutable.roll`` works towards: the desired fleets, validated from the master's pillar.

    No Linode API is called. A pillar with problems fails with every problem named by its pillar path.

    CLI Example:

    .. code-block:: bash

        salt-run immutable.plan
        salt-run immutable.plan fleet=web --out=json

    fleet
        Only this fleet. Defaults to every fleet of the pillar.
    """
    return _envelope(api.plan, __opts__, fleet=fleet)


def bake(fleet=None, version=None, force=False, keep_builder_on_failure=False, quiet=False):
    """
    Bake the image of a fleet: build, seal, capture and prove it. Idempotent.

    A builder Linode applies the fleet's bake states, passes its tests and is sealed; its disk becomes
    the image ``<fleet>-<version>``, which a candidate Linode must then prove (boot states, tests,
    zero changes under test=True). A proven image for the version is returned as it is.

    CLI Example:

    .. code-block:: bash

        salt-run immutable.bake fleet=web
        salt-run immutable.bake fleet=web version=1.4.3 keep_builder_on_failure=True

    fleet
        The fleet to bake. Required.
    version
        The version to bake. Defaults to the fleet's version in pillar.
    force
        Re-bake an existing image that is not proven yet, instead of proving it. Defaults to False.
    keep_builder_on_failure
        Keep the builder (or candidate) and its key when the bake fails, for debugging. Defaults to False.
    quiet
        Print no progress lines (useful with --out=json). Defaults to False.
    """
    return _envelope(
        api.bake,
        __opts__,
        fleet,
        version=version,
        force=force,
        keep_builder_on_failure=keep_builder_on_failure,
        progress=None if quiet else _progress,
    )


def _progress(message):
    __jid_event__.fire_event({"message": message, "outputter": "immutable_progress"}, "progress")


def _envelope(verb, *args, **kwargs):
    """Run a verb; a library error becomes a structured failure with a non-zero exit code."""
    try:
        return verb(*args, **kwargs)
    except errors.ImmutableError as err:
        log.error("immutable: %s", err)
        failure = api.failure(err)
        __context__["retcode"] = failure["retcode"]
        return failure
