"""The on-box half of salt-immutable, run on minions: ``salt <target> immutable.<function>``.

Standalone on purpose (Salt and the standard library only): it reaches minions through
``saltutil.sync_modules`` from ``salt://_modules``, where the salt-immutable package is not installed.
"""

import json

from salt.exceptions import CommandExecutionError

__virtualname__ = "immutable"

RELEASE_FILE = "/etc/immutable-release"


def __virtual__():
    return __virtualname__


def release(path=RELEASE_FILE):
    """
    Return the provenance baked into this server's image: fleet, version, states, base image, ...

    CLI Example:

    .. code-block:: bash

        salt 'web-*' immutable.release

    path
        The release file written into the image at bake time. Defaults to ``/etc/immutable-release``.
    """
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except FileNotFoundError as err:
        raise CommandExecutionError(
            f"immutable.release: {path} does not exist: this minion was not booted from a salt-immutable image"
        ) from err
    except (OSError, ValueError) as err:
        raise CommandExecutionError(f"immutable.release: cannot read {path}: {err}") from err
