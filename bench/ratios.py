"""PURE: the arithmetic of the figures — batches, lower bounds, ratios, per-server counts, verdicts."""

from __future__ import annotations

import math


def batches_allowed(count, surge):
    """How many rounds of replacement a roll of ``count`` servers needs when ``surge`` new servers may
    exist at once (with ``max_unavailable: 0``): ``ceil(count / surge)``.

    >>> batches_allowed(10, 3), batches_allowed(1, 1), batches_allowed(30, 8)
    (4, 1, 4)
    """
    if count < 1 or surge < 1:
        raise ValueError(f"count and surge must be 1 or more, not {count} and {surge}")
    return math.ceil(count / surge)


def lower_bound(replacement_seconds, count, surge):
    """The shortest a roll can be: one server's replacement time for each round the surge allows."""
    return replacement_seconds * batches_allowed(count, surge)


def ratio(measured, bound):
    """``measured / bound``, rounded to 3 places."""
    if bound <= 0:
        raise ValueError(f"a lower bound must be positive, not {bound}")
    return round(measured / bound, 3)


def per_server(counts, servers):
    """``{endpoint: requests per server}`` from request ``counts`` over a roll that replaced ``servers``,
    busiest endpoint first; the ``total`` key is the sum."""
    if servers < 1:
        raise ValueError(f"a roll replaces 1 server or more, not {servers}")
    rows = {route: round(n / servers, 2) for route, n in counts.items() if route != "total"}
    ordered = dict(sorted(rows.items(), key=lambda item: (-item[1], item[0])))
    return {"total": round(sum(n for route, n in counts.items() if route != "total") / servers, 2), **ordered}


def verdict(value, target, *, strict=False):
    """``met`` when ``value`` is within ``target`` (``<=``, or ``<`` when ``strict``), else ``gap``."""
    within = value < target if strict else value <= target
    return "met" if within else "gap"


def share(part, whole):
    """``part`` as a percentage of ``whole`` (0 for an empty whole), rounded to 1 place."""
    return round(100.0 * part / whole, 1) if whole else 0.0
