"""A tiny validator for the compact schema in tests/data/linode_schema.json (stdlib only).

A schema node is ``{"type": [...], "enum"?: [...], "format"?: "date-time", "properties"?: {...},
"items"?: {...}, "optional"?: true}``. ``validate`` returns every mismatch instead of stopping at the
first one, and ``summarize`` folds them into one message, so a test reports all of a kind's problems at once.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "data" / "linode_schema.json"

# linode_api4 parses datetimes with exactly this format; the live API sends UTC without zone or fraction.
DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$")


def load_schema(path: Path = SCHEMA_PATH) -> dict[str, Any]:
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _type_ok(actual: str, allowed: list[str]) -> bool:
    return actual in allowed or (actual == "integer" and "number" in allowed)


def validate(value: Any, node: dict[str, Any], where: str = "") -> list[tuple[str, str]]:
    """All mismatches of `value` against schema `node`, as ``(where, problem)`` pairs; ``where`` is a
    property path like ``.specs.disk`` or ``.data[3].id`` below the value's own path."""
    allowed = node["type"]
    actual = json_type(value)
    if not _type_ok(actual, allowed):
        return [(where, f"type {actual}, expected {'|'.join(allowed)} (got {_short(value)})")]
    if value is None:
        return []
    problems = []
    if "enum" in node and value not in node["enum"]:
        problems.append((where, f"{value!r} is not in the spec's enum {node['enum']}"))
    if node.get("format") == "date-time" and not DATETIME.match(value):
        problems.append((where, f"{value!r} is not a YYYY-MM-DDTHH:MM:SS datetime"))
    if actual == "object" and "properties" in node:
        props = node["properties"]
        for key in sorted(set(value) - set(props)):
            problems.append((f"{where}.{key}", f"unexpected key, not in the spec (got {_short(value[key])})"))
        for key in sorted(set(props) - set(value)):
            if not props[key].get("optional"):
                problems.append((f"{where}.{key}", "missing key"))
        for key in sorted(set(value) & set(props)):
            problems.extend(validate(value[key], props[key], f"{where}.{key}"))
    if actual == "array" and "items" in node:
        for i, item in enumerate(value):
            problems.extend(validate(item, node["items"], f"{where}[{i}]"))
    return problems


def summarize(kind: str, findings: list[tuple[str, str, str]]) -> str:
    """One readable report for a kind from ``(object label, where, problem)`` triples: identical
    problems at the same property (array indices folded) are listed once, with a count and an example."""
    grouped: dict[tuple[str, str], list[str]] = {}
    for label, where, problem in findings:
        folded = re.sub(r"\[\d+\]", "[]", where)
        got = re.search(r" \((got .*)\)$", problem)
        generic = problem[: got.start()] if got else problem
        grouped.setdefault((folded, generic), []).append(
            f"{label}{where}" + (f" {got.group(1)}" if got else "")
        )
    lines = [f"{kind}: {len(grouped)} mismatch(es) with the spec schema ({len(findings)} occurrences):"]
    for (folded, problem), examples in sorted(grouped.items()):
        lines.append(f"  {kind}{folded}: {problem} -- {len(examples)}x, e.g. {examples[0]}")
    return "\n".join(lines)


def _short(value: Any, limit: int = 60) -> str:
    text = json.dumps(value, sort_keys=True)
    return text if len(text) <= limit else text[: limit - 3] + "..."
