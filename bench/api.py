"""Figure 2, API economy: Linode API requests per replaced server in figure 1's rolls, by endpoint, from
the emulator's request log (cleared just before each measured roll), and the 429 answers among them.

The rolls run with Linode's rate limits on, each window scaled by the run's time scale like every other
delay (20 creates a 15 s window at time scale 1 are 20 creates a 1.5 s window at 0.1), so that the rolls'
request rate meets the limits as it would at real speed.
"""

from __future__ import annotations

from collections import Counter

from bench import ratios

TARGET = 12
RATE_LIMITED = 429


def counts(requests):
    """``{"total": n, "<METHOD> <route>": n}`` from a request log."""
    by_route = Counter(entry["route"] for entry in requests)
    return {"total": sum(by_route.values()), **by_route}


def economy(rolls):
    """Figure 2 from figure 1's rolls: per roll, requests per server by endpoint and 429 answers."""
    rows = []
    for roll in rolls:
        log = roll["requests"]
        per_server = ratios.per_server(counts(log), roll["servers"])
        rows.append({"servers": roll["servers"], "requests": len(log), "per_server": per_server,
                     "rate_limited": sum(1 for entry in log if entry["status"] == RATE_LIMITED),
                     "verdict": ratios.verdict(per_server["total"], TARGET)})
    return rows


def figure(rows):
    """Figure 2 for the report: requests per replaced server by endpoint, and 429 answers."""
    worst = max(row["per_server"]["total"] for row in rows)
    routes = sorted({route for row in rows for route in row["per_server"] if route != "total"},
                    key=lambda route: -max(row["per_server"].get(route, 0) for row in rows))
    limited = sum(row["rate_limited"] for row in rows)
    met = ratios.verdict(worst, TARGET) == "met" and limited == 0
    return {
        "title": "API economy",
        "command": ".venv/bin/python -m bench.run --only api",
        "target": f"<= {TARGET} requests per replaced server; zero 429 with Linode's rate limits on",
        "value": f"worst {worst} requests per server; {limited} answers 429",
        "verdict": "met" if met else "gap",
        "columns": ["endpoint", *(f"N={row['servers']}" for row in rows)],
        "rows": [["total", *(row["per_server"]["total"] for row in rows)],
                 *([route, *(row["per_server"].get(route, 0) for row in rows)] for route in routes),
                 ["429 answers", *(row["rate_limited"] for row in rows)]],
        "notes": [
            "Requests of figure 1's measured rolls (the emulator's request log, cleared before each), divided "
            "by N. The stand-in's minions answer the release gate from their own disk, as real ones do, so "
            "every request counted is the product's.",
            "Rate limits on, with each window scaled by the time scale like every other delay.",
        ],
    }
