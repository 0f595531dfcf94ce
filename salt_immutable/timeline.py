"""PURE: one roll record → a self-contained SVG picture of its timeline.

``record`` is a roll as ``immutable.history`` returns it (a JSON-ready dict). Its ``events`` list, in
time order, says what happened ``at`` seconds after the roll started: to one server (``created``,
``gate``, ``in_service``, ``draining``, ``destroyed``, ``failed``, ``quarantined``) or to the whole
fleet (``server`` None: ``batch``, ``checkpoint``, ``approved``, ``rejected``, ``checkpoint_timeout``,
``rollback``). Records written before events were kept have none: their picture says so.

:func:`lanes` turns the events into one lane per server, in order of first appearance, each with the
segments of its life (``starting``: created and going through its gates, ``serving``, ``draining``)
and its marks (gates passed, a failed gate, quarantine, destruction, kinds this module does not know).
A server whose first event is ``draining`` or ``destroyed`` served before the roll: it serves from 0.
:func:`fleet_events` lists the fleet-wide events. :func:`render_svg` draws both: a title line, the
lanes, dashed lines for the fleet-wide events, a time axis in seconds and a legend.

Every text from the record is escaped, events that are not dicts or have no finite ``at`` are
skipped and unknown kinds get a generic mark: no record makes it crash. The same record always gives
the same bytes. Standard library only.
"""

import math
import re
from datetime import datetime
from xml.sax.saxutils import escape

STARTING = "starting"
SERVING = "serving"
DRAINING = "draining"
NO_EVENTS = "no events were recorded for this roll"
TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"

WIDTH = 960
LEFT = 170  # the column of server labels
RIGHT = 30
TOP = 94  # the first lane, below the title, the failure line and three rows of fleet-wide labels
LANE = 28
BAR = 14
AXIS = 42
LEGEND = 30
LABEL_CHARS = 24

COLOURS = {
    STARTING: "#9ecae1",
    SERVING: "#31a354",
    DRAINING: "#fd8d3c",
    "gate": "#08306b",
    "failed": "#d62728",
    "quarantined": "#9467bd",
    "destroyed": "#252525",
    "other": "#7f7f7f",
    "fleet": "#636363",
}

# Characters XML 1.0 does not allow at all, even escaped: they would make the document unreadable.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


# --- the record as data ----------------------------------------------------------------------------


def _seconds(value):
    """``value`` as finite seconds (negative ones are 0), or None when it is no number."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return max(float(value), 0.0)


def _events(record):
    """The record's usable events, sorted by ``at`` (stable, so same-time events keep their order)."""
    raw = record.get("events")
    if not isinstance(raw, list):
        return []
    kept = [{**event, "at": _seconds(event.get("at"))} for event in raw if isinstance(event, dict)]
    return sorted((event for event in kept if event["at"] is not None), key=lambda event: event["at"])


def _duration(record):
    """Seconds from ``started`` to ``ended``, or None while running or when either cannot be read."""
    try:
        started = datetime.strptime(record.get("started"), TIME_FORMAT)
        ended = datetime.strptime(record.get("ended"), TIME_FORMAT)
    except (TypeError, ValueError):
        return None
    seconds = (ended - started).total_seconds()
    return seconds if seconds >= 0 else None


def _roll_end(record, events):
    """When the roll ended, in seconds: its duration, or its last event if that comes later (or it runs)."""
    last = events[-1]["at"] if events else 0.0
    return max(_duration(record) or 0.0, last)


class _Lane:
    """One server's segments and marks, built event by event; at most one segment is open."""

    def __init__(self, server):
        self.server = server
        self.segments = []
        self.marks = []
        self.open = None  # (kind, since)

    def fresh(self):
        """True before the lane has any segment, open or closed."""
        return self.open is None and not self.segments

    def begin(self, kind, at):
        """Close the open segment at ``at`` and open one of ``kind``."""
        self.close(at)
        self.open = (kind, at)

    def close(self, at):
        """End the open segment, if any, at ``at``."""
        if self.open is not None:
            kind, since = self.open
            self.segments.append({"kind": kind, "from": since, "to": max(at, since)})
            self.open = None

    def mark(self, kind, at, **extra):
        """Add a mark of ``kind`` at ``at``, with ``extra`` keys (``gate``, ``cause``)."""
        self.marks.append({"kind": kind, "at": at, **extra})

    def to_json(self, end):
        """The lane as :func:`lanes` returns it, its open segment ending at ``end``."""
        self.close(end)
        return {"server": self.server, "segments": self.segments, "marks": self.marks}


def _kind(event):
    """An event's kind as text, ``event`` when it has none."""
    return "event" if event.get("event") is None else str(event["event"])


def _cause(event, failure, server):
    """Why a gate failed: the event's own ``cause``, else the record's failure when it names this server."""
    if event.get("cause") is not None:
        return str(event["cause"])
    if isinstance(failure, dict) and failure.get("server") == server and failure.get("cause") is not None:
        return str(failure["cause"])
    return None


def _take(lane, event, failure):
    """Apply one event of ``lane``'s server to it."""
    kind, at = event.get("event"), event["at"]
    if kind == "created":
        lane.begin(STARTING, at)
    elif kind == "in_service":
        lane.begin(SERVING, at)
    elif kind in ("draining", "destroyed"):
        if lane.fresh():
            lane.begin(SERVING, 0.0)  # it served before the roll started
        if kind == "draining":
            lane.begin(DRAINING, at)
        else:
            lane.close(at)
            lane.mark("destroyed", at)
    elif kind in ("gate", "failed"):
        if lane.fresh():
            lane.begin(STARTING, at)  # created before what the record tells (a resumed roll)
        gate = None if event.get("gate") is None else str(event["gate"])
        if kind == "gate":
            lane.mark("gate", at, gate=gate)
        else:
            lane.mark("failed", at, gate=gate, cause=_cause(event, failure, lane.server))
    elif kind == "quarantined":
        lane.close(at)
        lane.mark("quarantined", at)
    else:
        lane.mark(_kind(event), at)


def lanes(record):
    """One lane per server of ``record``'s events, in order of first appearance.

    Each lane is ``{"server": label, "segments": [{"kind": "starting"|"serving"|"draining", "from": s,
    "to": s}], "marks": [{"kind": ..., "at": s, ...}]}``. Marks are ``gate`` (with ``gate``), ``failed``
    (with ``gate`` and ``cause``, None when unknown), ``quarantined``, ``destroyed``, or the kind of an
    event this module does not know. A segment still open at the end of the roll ends there.

    >>> lanes({"events": [{"at": 0, "server": "web-1", "event": "created"},
    ...                   {"at": 4, "server": "web-1", "event": "in_service"}]})[0]["segments"]
    [{'kind': 'starting', 'from': 0.0, 'to': 4.0}, {'kind': 'serving', 'from': 4.0, 'to': 4.0}]
    """
    events = _events(record)
    found = {}
    for event in events:
        if event.get("server") is not None:
            server = str(event["server"])
            _take(found.setdefault(server, _Lane(server)), event, record.get("failure"))
    end = _roll_end(record, events)
    return [lane.to_json(end) for lane in found.values()]


def _fleet_label(event):
    """A fleet-wide event's short label: ``batch 2``, ``checkpoint 1``, ``rollback → 1.0.0``, ..."""
    kind = event.get("event")
    if kind in ("batch", "checkpoint") and event.get("batch") is not None:
        return f"{kind} {event['batch']}"
    if kind == "checkpoint_timeout":
        return "timeout"
    if kind == "rollback" and event.get("to") is not None:
        return f"rollback → {event['to']}"
    return _kind(event)


def fleet_events(record):
    """The fleet-wide events of ``record`` (``server`` None), by time: ``[{"at": s, "event": kind, "label": text}]``."""
    return [
        {"at": event["at"], "event": _kind(event), "label": _fleet_label(event)}
        for event in _events(record) if event.get("server") is None
    ]


# --- words -------------------------------------------------------------------------------------------


def _secs(value):
    """``12 s``, ``37.5 s``: seconds to one decimal, without a trailing ``.0``."""
    return f"{value:.1f}".removesuffix(".0") + " s"


def _headline(record, end):
    """The title line: fleet, verb, from → to, roll id, outcome and seconds."""
    versions = record.get("from_versions")
    before = ", ".join(str(version) for version in versions) if isinstance(versions, list) and versions else "nothing"
    duration = _duration(record)
    outcome = record.get("outcome", "?")
    took = _secs(end) + " so far" if duration is None and outcome == "running" else _secs(duration or end)
    return (f"{record.get('fleet', '?')} {record.get('verb', '?')} {before} → {record.get('to_version', '?')}"
            f" · roll {record.get('roll_id', '?')} · {outcome} · {took}")


def _failure_line(failure):
    """The record's failure in one line (``failed on web-g2-1 at gate http: ...``), or "" when none."""
    if not isinstance(failure, dict):
        return ""
    line = "failed"
    if failure.get("server") is not None:
        line += f" on {failure['server']}"
    if failure.get("gate") is not None:
        line += f" at gate {failure['gate']}"
    detail = failure.get("cause") or failure.get("message") or failure.get("reason")
    if detail is not None:
        line += f": {detail}"
    return _clip(line, 140)


def _clip(text, size):
    return text if len(text) <= size else text[: size - 1] + "…"


def _mark_tip(server, mark):
    """A mark's tooltip: ``web-g2-1: http failed at 15 s: connection refused``."""
    at = _secs(mark["at"])
    if mark["kind"] == "gate":
        return f"{server}: {mark['gate']} passed at {at}"
    if mark["kind"] == "failed":
        cause = f": {mark['cause']}" if mark.get("cause") else ""
        return f"{server}: {mark['gate']} failed at {at}{cause}"
    return f"{server}: {mark['kind']} at {at}"


# --- SVG ---------------------------------------------------------------------------------------------


def _text(value):
    """``value`` as XML character data: invalid characters replaced, ``<&>`` escaped."""
    return escape(_NOT_XML.sub("\ufffd", str(value)))


def _n(value):
    """A coordinate, always with one decimal, so that output does not depend on float noise."""
    return f"{value:.1f}"


def _attr(value):
    """An attribute value: a float as :func:`_n` writes it, anything else as escaped text."""
    if isinstance(value, float):
        return _n(value)
    return escape(_NOT_XML.sub("\ufffd", str(value)), {'"': "&quot;"})


def _open(name, attrs):
    """``<name a="v" ...`` without its closing ``>``; attribute values are escaped here."""
    pairs = "".join(f' {key}="{_attr(value)}"' for key, value in attrs.items())
    return f"<{name}{pairs}"


def _tag(name, attrs, body=""):
    """``<name a="v">body</name>``, where ``body`` is markup already escaped."""
    return f"{_open(name, attrs)}>{body}</{name}>" if body else f"{_open(name, attrs)}/>"


def _tip(text):
    return f"<title>{_text(text)}</title>"


class _Scale:
    """Seconds → x pixels over the plot area, from 0 to the end of the roll."""

    def __init__(self, end):
        self.end = max(end, 1.0)

    def x(self, seconds):
        return LEFT + (WIDTH - LEFT - RIGHT) * min(seconds, self.end) / self.end


def _tick_step(end):
    """A round step (1, 2 or 5 times a power of ten) giving at most about 10 ticks over ``end`` seconds."""
    raw = max(end, 1.0) / 8
    power = 10 ** math.floor(math.log10(raw))
    return next(power * factor for factor in (1, 2, 5, 10) if power * factor >= raw)


def _title_lines(record, end):
    bold = {"x": 12.0, "y": 22.0, "font-size": 14, "font-weight": "bold"}
    parts = [_tag("text", bold, _text(_headline(record, end)))]
    failure = _failure_line(record.get("failure"))
    if failure:
        parts.append(_tag("text", {"x": 12.0, "y": 40.0, "fill": COLOURS["failed"]}, _text(failure)))
    return parts


def _lane_svg(index, lane, scale):
    """One lane: its label, segments and marks, as a ``<g class="lane">``."""
    top = TOP + index * LANE
    bar = top + (LANE - BAR) / 2
    parts = [_tag("text", {"x": LEFT - 8.0, "y": top + LANE / 2 + 4, "text-anchor": "end"},
                  _text(_clip(lane["server"], LABEL_CHARS)))]
    for segment in lane["segments"]:
        left = scale.x(segment["from"])
        tip = f"{lane['server']}: {segment['kind']} {_secs(segment['from'])} → {_secs(segment['to'])}"
        parts.append(_tag("rect", {"class": f"segment {segment['kind']}", "x": left, "y": bar,
                                   "width": max(scale.x(segment["to"]) - left, 1.0), "height": float(BAR),
                                   "fill": COLOURS[segment["kind"]]}, _tip(tip)))
    parts += [_mark_svg(mark, scale.x(mark["at"]), bar, _mark_tip(lane["server"], mark)) for mark in lane["marks"]]
    return _tag("g", {"class": "lane", "data-server": lane["server"]}, "".join(parts))


def _stripes(count):
    """Every other lane's background, shaded, drawn first so that the grid and the bars lie on top."""
    return [_tag("rect", {"x": 0.0, "y": float(TOP + index * LANE), "width": WIDTH, "height": LANE, "fill": "#f4f4f4"})
            for index in range(1, count, 2)]


def _mark_svg(mark, x, bar, tip):
    """A gate tick, a red dot (failed), a diamond (quarantined), a cross (destroyed) or a grey dot."""
    middle = bar + BAR / 2
    kind = mark["kind"]
    if kind == "gate":
        return _tag("line", {"class": "mark gate", "x1": x, "y1": bar - 3, "x2": x, "y2": bar + BAR + 3,
                             "stroke": COLOURS["gate"], "stroke-width": 1.5}, _tip(tip))
    if kind == "failed":
        return _tag("circle", {"class": "mark failed", "cx": x, "cy": middle, "r": 5.5, "fill": COLOURS["failed"],
                               "stroke": "#ffffff"}, _tip(tip))
    if kind == "quarantined":
        points = f"{_n(x)},{_n(middle - 7)} {_n(x + 7)},{_n(middle)} {_n(x)},{_n(middle + 7)} {_n(x - 7)},{_n(middle)}"
        return _tag("polygon", {"class": "mark quarantined", "points": points, "fill": COLOURS["quarantined"],
                                "stroke": "#ffffff"}, _tip(tip))
    if kind == "destroyed":
        cross = "".join(_tag("line", {"x1": x - 5, "y1": middle + dy, "x2": x + 5, "y2": middle - dy})
                        for dy in (-5.0, 5.0))
        return _tag("g", {"class": "mark destroyed", "stroke": COLOURS["destroyed"], "stroke-width": 2},
                    _tip(tip) + cross)
    return _tag("circle", {"class": "mark other", "data-event": kind, "cx": x, "cy": middle, "r": 4.0,
                           "fill": COLOURS["other"]}, _tip(tip))


LABEL_ROWS = (54.0, 68.0, 82.0)
CHAR_WIDTH = 6.5  # an 11 px label's characters, about


def _label_rows(events, scale):
    """The row of each fleet-wide label: the first whose last label ends before this one starts, else the
    row whose last label ends soonest (close events overlap as little as the rows allow)."""
    ends, rows = [float("-inf")] * len(LABEL_ROWS), []
    for event in events:
        x = scale.x(event["at"])
        free = [row for row, end in enumerate(ends) if end < x]
        row = free[0] if free else min(range(len(ends)), key=ends.__getitem__)
        ends[row] = x + 3 + CHAR_WIDTH * len(_clip(event["label"], 30))
        rows.append(row)
    return rows


def _fleet_svg(row, event, scale, bottom):
    """A fleet-wide event: a dashed line across every lane, its label on one of the rows above them."""
    x = scale.x(event["at"])
    label_y = LABEL_ROWS[row]
    line = _tag("line", {"x1": x, "y1": label_y + 3, "x2": x, "y2": float(bottom), "stroke": COLOURS["fleet"],
                         "stroke-dasharray": "4 3"})
    label = _tag("text", {"x": x + 3, "y": label_y, "font-size": 11, "fill": COLOURS["fleet"]},
                 _text(_clip(event["label"], 30)))
    return _tag("g", {"class": "fleet-event", "data-event": event["event"]},
                _tip(f"{event['label']} at {_secs(event['at'])}") + line + label)


def _axis_svg(scale, top, bottom):
    """The time axis under the lanes: a baseline, a tick and a faint grid line every round step."""
    step = _tick_step(scale.end)
    parts = [_tag("line", {"class": "axis", "x1": float(LEFT), "y1": float(bottom), "x2": float(WIDTH - RIGHT),
                           "y2": float(bottom), "stroke": "#000000"})]
    for number in range(int(scale.end / step + 1e-9) + 1):
        x = scale.x(number * step)
        parts.append(_tag("line", {"x1": x, "y1": float(top), "x2": x, "y2": float(bottom), "stroke": "#e5e5e5"}))
        parts.append(_tag("line", {"x1": x, "y1": float(bottom), "x2": x, "y2": bottom + 5.0, "stroke": "#000000"}))
        parts.append(_tag("text", {"class": "tick", "x": x, "y": bottom + 18.0, "text-anchor": "middle"},
                          _text(f"{number * step:g}")))
    parts.append(_tag("text", {"x": LEFT - 8.0, "y": bottom + 18.0, "text-anchor": "end"}, "seconds"))
    return _tag("g", {"class": "axis"}, "".join(parts))


_LEGEND = (
    (STARTING, "starting (creation, gates)"),
    (SERVING, "serving"),
    (DRAINING, "draining"),
    ("gate", "gate passed"),
    ("failed", "gate failed"),
    ("quarantined", "quarantined"),
    ("destroyed", "destroyed"),
    ("fleet", "fleet-wide event"),
)


def _legend_svg(y):
    """A row of samples, each drawn as in the picture and followed by its meaning."""
    parts, x = [], 12.0
    for kind, words in _LEGEND:
        if kind in (STARTING, SERVING, DRAINING):
            parts.append(_tag("rect", {"x": x, "y": y - 11, "width": 14.0, "height": float(BAR) - 2,
                                       "fill": COLOURS[kind]}))
        elif kind == "fleet":
            parts.append(_tag("line", {"x1": x + 7, "y1": y - 13, "x2": x + 7, "y2": y + 3,
                                       "stroke": COLOURS["fleet"], "stroke-dasharray": "4 3"}))
        else:
            parts.append(_mark_svg({"kind": kind}, x + 7, y - 12, words))
        parts.append(_tag("text", {"x": x + 20, "y": y}, _text(words)))
        x += 34 + 6.5 * len(words)
    return _tag("g", {"class": "legend"}, "".join(parts))


def _document(height, parts):
    """The SVG root around ``parts``, on a white background."""
    root = {"xmlns": "http://www.w3.org/2000/svg", "width": WIDTH, "height": height,
            "viewBox": f"0 0 {WIDTH} {height}", "font-family": "sans-serif", "font-size": 12}
    background = _tag("rect", {"width": WIDTH, "height": height, "fill": "#ffffff"})
    return _open("svg", root) + ">" + background + "".join(parts) + "</svg>\n"


def render_svg(record):
    """``record``'s timeline as a self-contained SVG document (a str), 960 px wide.

    A title line, then one lane per server (see :func:`lanes`), dashed lines for the fleet-wide events
    (:func:`fleet_events`), a time axis in seconds and a legend; the height follows the number of lanes.
    A record without events gets its title and the words ``no events were recorded for this roll``.
    """
    events = _events(record)
    end = _roll_end(record, events)
    if not events:
        parts = [*_title_lines(record, end),
                 _tag("text", {"class": "no-events", "x": 12.0, "y": float(TOP)}, _text(NO_EVENTS))]
        return _document(TOP + LANE, parts)
    scale = _Scale(end)
    found = lanes(record)
    bottom = TOP + len(found) * LANE
    parts = [*_title_lines(record, end), *_stripes(len(found)), _axis_svg(scale, TOP, bottom)]
    parts += [_lane_svg(index, lane, scale) for index, lane in enumerate(found)]
    fleet_wide = fleet_events(record)
    rows = _label_rows(fleet_wide, scale)
    parts += [_fleet_svg(row, event, scale, bottom) for row, event in zip(rows, fleet_wide, strict=True)]
    parts.append(_legend_svg(bottom + AXIS + 12.0))
    return _document(bottom + AXIS + LEGEND, parts)
