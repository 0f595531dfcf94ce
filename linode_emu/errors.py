"""The one error type of the emulator: what the API answers when a request fails."""

from __future__ import annotations


class EmuApiError(Exception):
    """A request failed; ``server.py`` turns it into Linode's JSON error body.

    ``headers`` carries extra response headers (``Retry-After`` on a 429).
    """

    def __init__(self, status: int, reason: str, field: str | None = None, headers: dict | None = None):
        super().__init__(f"[{status}] {field + ': ' if field else ''}{reason}")
        self.status = status
        self.reason = reason
        self.field = field
        self.headers = dict(headers or {})

    def to_json(self) -> dict:
        """Linode's error envelope: ``{"errors": [{"reason", "field"?}]}``."""
        error = {"reason": self.reason}
        if self.field:
            error["field"] = self.field
        return {"errors": [error]}


def not_found() -> EmuApiError:
    """404 as Linode answers it for a missing object or route."""
    return EmuApiError(404, "Not found")


def invalid(field: str, reason: str) -> EmuApiError:
    """400 naming the request field at fault."""
    return EmuApiError(400, reason, field)


def linode_busy() -> EmuApiError:
    """400 for an action on a Linode while another job runs on it."""
    return EmuApiError(400, "Linode busy.")
