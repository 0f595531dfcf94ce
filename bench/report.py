"""The benchmark's results: ``bench/results/latest.json`` (everything measured) and ``latest.md`` (each
figure with the command that reproduces it, its target, and met or the gap named and explained)."""

from __future__ import annotations

import json
from pathlib import Path

RESULTS = Path(__file__).parent / "results"
ORDER = ("roll", "api", "bake", "scale")


def write(results, folder=RESULTS):
    """Write ``latest.json`` and ``latest.md`` in ``folder``; return their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    as_json, as_markdown = folder / "latest.json", folder / "latest.md"
    as_json.write_text(json.dumps(results, indent=1, sort_keys=False) + "\n")
    as_markdown.write_text(markdown(results))
    return as_json, as_markdown


def markdown(results):
    """The Markdown report of ``results`` (``{"run": {...}, "figures": {name: figure}}``)."""
    run, figures = results["run"], results["figures"]
    lines = ["# salt-immutable benchmarks: latest run", "",
             f"`{run['command']}` on {run['started']}, {run['seconds']:.0f} s in all "
             f"({run['platform']}). Claims are ratios and counts measured side by side in this run, "
             "never absolute times. What each figure means: [bench/README.md](../README.md).", "",
             "| figure | target | measured | verdict |", "|---|---|---|---|"]
    named = [(name, figures[name]) for name in ORDER if name in figures]
    lines += [f"| {f['title']} | {f['target']} | {f['value']} | {f['verdict']} |" for _, f in named]
    for _, figure in named:
        lines += ["", *section(figure)]
    return "\n".join(lines) + "\n"


def section(figure):
    """One figure's section: heading, command, target, verdict, its table and notes."""
    lines = [f"## {figure['title']}: {figure['verdict']}", "",
             f"- Reproduce: `{figure['command']}`", f"- Target: {figure['target']}",
             f"- Measured: {figure['value']}", ""]
    lines += table(figure["columns"], figure["rows"])
    lines += ["", *(f"- {note}" for note in figure["notes"])]
    return lines


def table(columns, rows):
    """A Markdown table; cells are written as they are (pipes escaped)."""
    def cells(values):
        return "| " + " | ".join(str(value).replace("|", "\\|") for value in values) + " |"
    return [cells(columns), cells("---" for _ in columns), *(cells(row) for row in rows)]
