"""X-Filter: parse Linode's filter JSON and apply it to a collection (pure; no HTTP, no state).

Grammar (the spec's "Filtering and Sorting" chapter): an object whose keys are ANDed. A key is a
field (dotted for nested fields, e.g. ``entity.id``) or an operator: ``+and``/``+or`` take a list of
filter objects; ``+order_by`` (a filterable field), ``+order`` (asc|desc) and ``+limit`` (what
linode_api4's ``limit()`` sends) shape the result. A field's condition is a value (equality; for a
list field such as ``tags`` it is membership) or an object of ``+gt +gte +lt +lte +contains +neq``
(all must hold) and ``+or``/``+and`` lists of conditions. linode_api4 nests ``+order_by`` and
``+limit`` inside ``+and`` when it combines filters, so those are accepted at any depth.
"""

from __future__ import annotations

import json
import operator
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from linode_emu.errors import EmuApiError

FIELD = "X-Filter"
_COMPARISONS = {"+gt": operator.gt, "+gte": operator.ge, "+lt": operator.lt, "+lte": operator.le}
_DIRECTIVES = ("+order_by", "+order", "+limit")

Predicate = Callable[[dict], bool]


@dataclass
class Query:
    """A parsed X-Filter: which items match, their order and how many."""

    predicate: Predicate
    order_by: str | None = None
    descending: bool = False
    limit: int | None = None

    def apply(self, items: Iterable[dict]) -> list[dict]:
        """The matching items, ordered and limited."""
        selected = [item for item in items if self.predicate(item)]
        if self.order_by:
            selected.sort(key=lambda item: _sort_key(lookup(item, self.order_by)), reverse=self.descending)
        if self.limit is not None:
            selected = selected[: self.limit]
        return selected


MATCH_ALL = Query(predicate=lambda item: True)


def parse(header: str | None, filterable: frozenset[str]) -> Query:
    """Parse an X-Filter header value against the collection's filterable fields.

    Raises EmuApiError 400 (field ``X-Filter``) for bad JSON, unknown operators, and
    ``Cannot filter on <key>`` for a key that is not filterable.
    """
    if not header:
        return MATCH_ALL
    try:
        document = json.loads(header)
    except ValueError:
        raise EmuApiError(400, "Invalid JSON", FIELD) from None
    directives: dict = {}
    predicate = _compile_object(document, filterable, directives)
    return Query(predicate=predicate, **_directives(directives, filterable))


def lookup(item: dict, dotted_key: str):
    """The value at a dotted key (``entity.id``), or None when any part is missing."""
    value = item
    for part in dotted_key.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def _directives(found: dict, filterable: frozenset[str]) -> dict:
    order_by = found.get("+order_by")
    if order_by is not None and (not isinstance(order_by, str) or order_by not in filterable):
        raise EmuApiError(400, f"Cannot filter on {order_by}", FIELD)
    order = found.get("+order", "asc")
    if order not in ("asc", "desc"):
        raise EmuApiError(400, "+order must be 'asc' or 'desc'", FIELD)
    limit = found.get("+limit")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise EmuApiError(400, "+limit must be a positive integer", FIELD)
    return {"order_by": order_by, "descending": order == "desc", "limit": limit}


def _compile_object(document, filterable: frozenset[str], directives: dict) -> Predicate:
    if not isinstance(document, dict):
        raise EmuApiError(400, "A filter must be a JSON object", FIELD)
    parts = []
    for key, value in document.items():
        if key in _DIRECTIVES:
            directives.setdefault(key, value)
        elif key in ("+and", "+or"):
            parts.append(_compile_group(key, value, filterable, directives))
        elif key.startswith("+"):
            raise EmuApiError(400, f"Unknown filter operator {key}", FIELD)
        elif key not in filterable:
            raise EmuApiError(400, f"Cannot filter on {key}", FIELD)
        else:
            parts.append(_compile_field(key, value))
    return lambda item: all(part(item) for part in parts)


def _compile_group(op: str, members, filterable: frozenset[str], directives: dict) -> Predicate:
    if not isinstance(members, list):
        raise EmuApiError(400, f"{op} takes a list of filters", FIELD)
    parts = [_compile_object(member, filterable, directives) for member in members]
    combine = all if op == "+and" else any
    return lambda item: combine(part(item) for part in parts)


def _compile_field(key: str, condition) -> Predicate:
    test = _compile_condition(key, condition)
    return lambda item: test(lookup(item, key))


def _compile_condition(key: str, condition) -> Callable[[object], bool]:
    """A test of one field's value: a plain value means equality (membership for lists)."""
    if not isinstance(condition, dict):
        return lambda value: _equals(value, condition)
    tests = [_compile_operator(key, op, operand) for op, operand in condition.items()]
    return lambda value: all(test(value) for test in tests)


def _compile_operator(key: str, op: str, operand) -> Callable[[object], bool]:
    if op in ("+or", "+and"):
        if not isinstance(operand, list):
            raise EmuApiError(400, f"{op} takes a list of values", FIELD)
        tests = [_compile_condition(key, member) for member in operand]
        combine = any if op == "+or" else all
        return lambda value: combine(test(value) for test in tests)
    if op == "+neq":
        return lambda value: not _equals(value, operand)
    if op == "+contains":
        if not isinstance(operand, str):
            raise EmuApiError(400, f"+contains on {key} takes a string", FIELD)
        return lambda value: _any_element(
            value, lambda element: isinstance(element, str) and operand in element
        )
    if op in _COMPARISONS:
        compare = _COMPARISONS[op]
        return lambda value: _any_element(value, lambda element: _compare(key, compare, element, operand))
    raise EmuApiError(400, f"Unknown filter operator {op}", FIELD)


def _equals(value, expected) -> bool:
    if isinstance(value, list) and not isinstance(expected, list):
        return expected in value
    return value == expected


def _any_element(value, test: Callable[[object], bool]) -> bool:
    if isinstance(value, list):
        return any(test(element) for element in value)
    return test(value)


def _compare(key: str, compare, value, operand) -> bool:
    if value is None:
        return False
    try:
        return compare(value, operand)
    except TypeError:
        raise EmuApiError(400, f"Cannot compare {key} with {operand!r}", FIELD) from None


def _sort_key(value):
    return (value is None, value if value is not None else 0)
