"""The one error hierarchy of salt-immutable.

Library code raises these; the Salt faces translate them exactly once (``CommandExecutionError`` in
modules, ``result=False`` in states, a non-zero exit in runners). Messages carry the operation, the
resource and the cause, so they can be shown to an operator as they are.
"""


class ImmutableError(Exception):
    """Base class of every error salt-immutable raises on purpose."""


class SpecError(ImmutableError):
    """The ``immutable`` pillar does not describe valid fleets.

    ``problems`` lists every problem found, each as ``(pillar_path, message)``.
    """

    WHAT = "invalid immutable pillar"

    def __init__(self, problems):
        self.problems = tuple(problems)
        lines = [f"{path}: {message}" for path, message in self.problems]
        count = len(self.problems)
        header = f"{self.WHAT} ({count} problem{'s' if count != 1 else ''}):"
        super().__init__("\n".join([header, *(f"  - {line}" for line in lines)]))


class ArgumentError(SpecError):
    """A verb's argument is missing or wrong: ``problems`` are ``(argument, message)`` pairs."""

    WHAT = "invalid argument"


class ConfigError(ImmutableError):
    """The master configuration lacks or garbles a setting salt-immutable needs."""


class ProviderError(ImmutableError):
    """A cloud API call failed.

    ``operation`` is what we tried ("create instance"), ``resource`` what it was about
    ("web-g1-1"), ``reasons`` the API's own error reasons and ``status`` the HTTP status, if any.
    """

    def __init__(self, operation, resource=None, reasons=(), status=None):
        self.operation = operation
        self.resource = resource
        self.reasons = tuple(reasons)
        self.status = status
        where = f" {resource}" if resource else ""
        why = "; ".join(self.reasons) or "no reason given"
        code = f" (HTTP {status})" if status else ""
        super().__init__(f"{operation}{where} failed{code}: {why}")


class NotFound(ProviderError):
    """The resource does not exist (HTTP 404)."""


class InvalidRequest(ProviderError):
    """The API rejected the request as invalid (HTTP 400)."""


class Conflict(ProviderError):
    """The resource is busy or in a state that forbids the action (409, ``Linode busy.``)."""


class Transient(ProviderError):
    """A failure worth retrying that persisted through every retry (429, 5xx, timeouts)."""


class ProviderProtocolError(ProviderError):
    """The API answered with something the client could not understand."""


class ProviderTimeout(ProviderError):
    """A resource did not reach the awaited status before its deadline."""


class ActionFailed(ProviderError):
    """An asynchronous cloud action ended in failure rather than in the awaited status.

    For example a boot that fell back to ``offline`` instead of reaching ``running``, or a captured
    image that vanished before it became ``available`` (Linode deletes the image of a failed capture).
    Unlike :class:`ProviderTimeout`, waiting longer would not help.
    """


class SaltCallError(ImmutableError):
    """A call to a minion failed or got no answer; the message names the minion and the function."""


class BakeError(ImmutableError):
    """A bake failed; the message names the phase and the cause (failed state ids, failed tests...)."""


class LockHeld(ImmutableError):
    """Another roll or bake holds the fleet's lock, or a lock could not be broken because its id differs.

    ``fleet`` names the fleet and ``holder`` is the lock record of whoever holds it (a dict with
    ``lock_id``, ``purpose``, ``roll_id``, ``host``, ``pid``, ``started``...), or None.
    """

    def __init__(self, message, fleet=None, holder=None):
        self.fleet = fleet
        self.holder = holder
        super().__init__(message)


class LockLost(ImmutableError):
    """Our fleet lock was broken or taken over while we worked: stop mutating the fleet.

    ``fleet`` and ``lock_id`` say which lock was ours; ``holder`` is the record that holds it now, or None.
    """

    def __init__(self, message, fleet=None, lock_id=None, holder=None):
        self.fleet = fleet
        self.lock_id = lock_id
        self.holder = holder
        super().__init__(message)


class CheckFailed(ImmutableError):
    """A machine failed one of the fleet's checks (states, tests, release, HTTP); the message says which."""


class GateFailed(ImmutableError):
    """A new server did not pass a gate of the roll. ``server``, ``gate`` and ``cause`` say which and why."""

    def __init__(self, server, gate, cause):
        self.server = server
        self.gate = gate
        self.cause = str(cause)
        super().__init__(f"{server} failed the {gate} gate: {cause}")


class CheckpointFailed(GateFailed):
    """A roll's approval checkpoint was rejected or not approved in time: the roll fails as on a failed gate."""

    def __init__(self, batch, cause):
        self.batch = batch
        self.server, self.gate, self.cause = None, "checkpoint", str(cause)
        ImmutableError.__init__(self, f"checkpoint after batch {batch}: {cause}")


class RollError(ImmutableError):
    """A roll failed. ``report`` is the fleet's roll result: what failed, where, and the state it is left in."""

    def __init__(self, message, report=None):
        self.report = report
        super().__init__(message)
