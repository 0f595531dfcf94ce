"""PURE: the minions' ``immutable.drift`` answers → one report on a fleet's drift.

Each server answers for itself (``salt <fleet> immutable.drift``): the states of its image that would
change it. A server that failed (its answer is Salt's error text) or did not answer (None) is
*unreachable*: its drift is unknown, never taken for clean.

``ignore`` here is the fleet-wide list of known noise, on top of what each server was told to ignore:
glob patterns (``fnmatch``) matched against a drifted state's id and name (for a file state, its path).
"""

from fnmatch import fnmatchcase

NO_ANSWER = "no answer"


def _ignored(entry, patterns):
    return any(fnmatchcase(str(entry.get(field, "")), pattern) for pattern in patterns for field in ("id", "name"))


def _unreadable(answer):
    """Why ``answer`` is no drift report, or None when it is one."""
    if answer is None:
        return NO_ANSWER
    if not isinstance(answer, dict):
        return str(answer)
    for entries in (answer.get("drifted"), answer.get("ignored", [])):
        if not isinstance(entries, list) or not all(isinstance(entry, dict) for entry in entries):
            return f"not a drift report: {answer!r:.200}"
    return None


def fleet_report(answers, ignore=()):
    """The fleet's drift from ``{minion_id: answer}``, where an answer is what ``immutable.drift`` returned
    on that minion, or a string (the minion's error) or None (no answer).

    Returns ``{"drifted": [minion ids], "clean": [minion ids], "unreachable": {minion_id: reason},
    "servers": {minion_id: {"files": [paths], "states": [state ids], "ignored": [state ids]}}}``: ids sorted;
    ``servers`` holds every server that answered, its ``files`` the paths of its drifted ``file.*`` states
    and its ``ignored`` the ids it skipped (its own ``ignore`` first, then the fleet's).

    >>> fleet_report({"web-1": {"drifted": [{"id": "motd", "state": "file.managed", "name": "/etc/motd"}]},
    ...               "web-2": None}, ignore=["/etc/motd"])["clean"]
    ['web-1']
    """
    patterns = [ignore] if isinstance(ignore, str) else list(ignore)
    report = {"drifted": [], "clean": [], "unreachable": {}, "servers": {}}
    for minion_id in sorted(answers):
        answer = answers[minion_id]
        reason = _unreadable(answer)
        if reason is not None:
            report["unreachable"][minion_id] = reason
            continue
        kept = [entry for entry in answer["drifted"] if not _ignored(entry, patterns)]
        skipped = [entry for entry in answer["drifted"] if _ignored(entry, patterns)]
        report["servers"][minion_id] = {
            "files": sorted({str(entry.get("name")) for entry in kept if str(entry.get("state")).startswith("file.")}),
            "states": [entry.get("id") for entry in kept],
            "ignored": [entry.get("id") for entry in answer.get("ignored", []) + skipped],
        }
        report["drifted" if kept else "clean"].append(minion_id)
    return report
