"""Injected faults: answer the next N matching API requests with an error, a delay, or nothing."""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass

TIMEOUT = "timeout"
WHEN = ("before", "after")


@dataclass
class Fault:
    """One rule. ``path`` is a regex that must match the whole path after ``/v4`` (or ``/v4beta``).

    ``when="before"`` answers instead of the API; ``"after"`` lets the API act and then answers the
    fault (a gateway that lost the answer). ``status="timeout"`` holds ``delay`` seconds and closes the
    connection without answering; otherwise ``delay`` is waited before answering.
    """

    id: int
    path: str
    status: int | str
    method: str | None = None
    count: int = 1
    when: str = "before"
    retry_after: float | None = None
    delay: float = 0.0

    def __post_init__(self):
        self._regex = re.compile(self.path)

    def matches(self, method: str, path: str) -> bool:
        return (self.method is None or self.method == method) and self._regex.fullmatch(path) is not None

    def to_json(self) -> dict:
        return {
            "id": self.id,
            "method": self.method,
            "path": self.path,
            "status": self.status,
            "count": self.count,
            "when": self.when,
            "retry_after": self.retry_after,
            "delay": self.delay,
        }


def parse_fault(fault_id: int, spec: dict) -> Fault:
    """A Fault from the control API's JSON; ValueError naming what is wrong."""
    unknown = set(spec) - {"method", "path", "status", "count", "when", "retry_after", "delay"}
    if unknown:
        raise ValueError(f"unknown fault fields: {', '.join(sorted(unknown))}")
    status = spec.get("status")
    if status != TIMEOUT and (
        isinstance(status, bool) or not isinstance(status, int) or not 400 <= status <= 599
    ):
        raise ValueError("status must be an HTTP error status (400-599) or 'timeout'")
    if not isinstance(spec.get("path"), str):
        raise ValueError("path must be a regular expression")
    try:
        re.compile(spec["path"])
    except re.error as err:
        raise ValueError(f"path is not a valid regular expression: {err}") from None
    method = spec.get("method")
    if method is not None and not isinstance(method, str):
        raise ValueError("method must be a string")
    count = spec.get("count", 1)
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ValueError("count must be a positive integer")
    if spec.get("when", "before") not in WHEN:
        raise ValueError("when must be 'before' or 'after'")
    for name in ("retry_after", "delay"):
        value = spec.get(name)
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0
        ):
            raise ValueError(f"{name} must be a number >= 0")
    return Fault(
        id=fault_id,
        path=spec["path"],
        status=status,
        method=method.upper() if method else None,
        count=count,
        when=spec.get("when", "before"),
        retry_after=spec.get("retry_after"),
        delay=float(spec.get("delay") or 0.0),
    )


class FaultInjector:
    """The active fault rules, consumed by matching requests in the order they were added."""

    def __init__(self):
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self._next_id = 1

    def add(self, spec: dict) -> Fault:
        with self._lock:
            fault = parse_fault(self._next_id, spec)
            self._next_id += 1
            self._faults.append(fault)
            return fault

    def take(self, method: str, path: str) -> Fault | None:
        """The first rule matching this request, with one use consumed; None when none matches."""
        with self._lock:
            for fault in self._faults:
                if fault.matches(method, path):
                    fault.count -= 1
                    if fault.count == 0:
                        self._faults.remove(fault)
                    return fault
        return None

    def to_json(self) -> list[dict]:
        with self._lock:
            return [fault.to_json() for fault in self._faults]

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()
