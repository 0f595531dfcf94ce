"""The one error type of the emulator: what the API answers when a request fails."""

from __future__ import annotations

from collections.abc import Callable


class EmuApiError(Exception):
    """A request failed; ``server.py`` turns it into Linode's JSON error body.

    ``headers`` carries extra response headers (``Retry-After`` on a 429). ``more`` are further
    ``(field, reason)`` problems of the same request (a 400 names every invalid field at once);
    ``reason`` and ``field`` are the first one.
    """

    def __init__(
        self,
        status: int,
        reason: str,
        field: str | None = None,
        headers: dict | None = None,
        more: list[tuple[str | None, str]] | None = None,
    ):
        self.status = status
        self.reason = reason
        self.field = field
        self.headers = dict(headers or {})
        self.problems = [(field, reason), *(more or [])]
        super().__init__(f"[{status}] " + "; ".join(f"{f + ': ' if f else ''}{r}" for f, r in self.problems))

    def to_json(self) -> dict:
        """Linode's error envelope: ``{"errors": [{"reason", "field"?}, ...]}``."""
        errors = [{"reason": reason, **({"field": field} if field else {})} for field, reason in self.problems]
        return {"errors": errors}


def not_found() -> EmuApiError:
    """404 as Linode answers it for a missing object or route."""
    return EmuApiError(404, "Not found")


def invalid(field: str, reason: str) -> EmuApiError:
    """400 naming the request field at fault."""
    return EmuApiError(400, reason, field)


def linode_busy() -> EmuApiError:
    """400 for an action on a Linode while another job runs on it."""
    return EmuApiError(400, "Linode busy.")


class FieldProblems:
    """Collects the 400s of a request's field checks, so that one answer names every invalid field (as the
    API does: ``type: A valid plan type by that ID was not found; region: region is not valid``).

    ``value(check, *args)`` runs a check and returns its result (None when it failed); ``raise_any()``
    raises one EmuApiError with every problem, in the order the checks ran. Other errors pass through.
    """

    def __init__(self):
        self._errors: list[EmuApiError] = []

    def value(self, check: Callable, *args, **kwargs):
        try:
            return check(*args, **kwargs)
        except EmuApiError as err:
            if err.status != 400:
                raise
            self._errors.append(err)
            return None

    def raise_any(self) -> None:
        if not self._errors:
            return
        problems = [problem for err in self._errors for problem in err.problems]
        (field, reason), *more = problems
        raise EmuApiError(400, reason, field, more=more)
