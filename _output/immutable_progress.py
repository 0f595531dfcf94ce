"""Prints salt-immutable's progress events as plain lines while a runner works.

Runners fire ``{"message": ..., "outputter": "immutable_progress"}`` progress events; without this
outputter salt-run would print each one as a nested event dictionary. ``--out`` still wins.
"""

__virtualname__ = "immutable_progress"


def __virtual__():
    return __virtualname__


def output(data, **kwargs):
    """
    Return the progress message of a runner event.

    CLI Example:

    .. code-block:: bash

        salt-run immutable.bake fleet=web
    """
    event = data.get("event", data) if isinstance(data, dict) else {}
    return str(event.get("message", data)) if isinstance(event, dict) else str(data)
