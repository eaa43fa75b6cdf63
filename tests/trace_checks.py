"""Checks of Chrome's Trace Event Format, as ``tcomp.profile`` writes it (tests share them).

:func:`check_trace` checks what Perfetto and chrome://tracing need to open a
file: a JSON object with ``traceEvents``; every complete event (``"ph": "X"``)
has a name, a category, numeric non-negative ``ts`` and ``dur``
(microseconds), integer ``pid`` and ``tid`` and an ``args`` object; every
metadata event (``"ph": "M"``) names a process or thread; every track a span
is on is named; spans on one track nest or are disjoint (an importer cannot
place two partly overlapping spans on one track).
"""

from __future__ import annotations

import json
from numbers import Real
from typing import Any

SLACK_US = 1e-3  # microseconds: the float rounding of ts + dur
METADATA = {"process_name": "name", "thread_name": "name", "process_sort_index": "sort_index"}


def check_trace(text: str) -> dict[str, Any]:
    """The trace parsed from ``text``; raises AssertionError naming what is wrong."""
    data = json.loads(text)
    assert isinstance(data, dict) and isinstance(data.get("traceEvents"), list), data.keys()
    named_processes, named_threads = set(), set()
    for event in data["traceEvents"]:
        assert event.get("ph") in ("X", "M"), event
        assert isinstance(event.get("pid"), int) and isinstance(event.get("tid"), int), event
        assert isinstance(event.get("name"), str) and event["name"], event
        assert isinstance(event.get("args"), dict), event
        if event["ph"] == "M":
            assert event["name"] in METADATA, event
            assert METADATA[event["name"]] in event["args"], event
            if event["name"] == "process_name":
                named_processes.add(event["pid"])
            elif event["name"] == "thread_name":
                named_threads.add((event["pid"], event["tid"]))
            continue
        assert isinstance(event.get("cat"), str) and event["cat"], event
        for key in ("ts", "dur"):
            value = event.get(key)
            assert isinstance(value, Real) and not isinstance(value, bool), event
            assert value >= 0, event
        json.dumps(event["args"])  # plain data
    for event in spans(data):
        assert event["pid"] in named_processes, f"unnamed process: {event}"
        assert (event["pid"], event["tid"]) in named_threads, f"unnamed thread: {event}"
    check_nesting(data)
    return data


def spans(data: dict[str, Any], category: str | None = None) -> list[dict[str, Any]]:
    """The complete events (of ``category``), in file order."""
    return [
        e
        for e in data["traceEvents"]
        if e["ph"] == "X" and (category is None or e["cat"] == category)
    ]


def end(event: dict[str, Any]) -> float:
    return event["ts"] + event["dur"]


def within(inner: dict[str, Any], outer: dict[str, Any]) -> bool:
    """Whether ``inner`` lies inside ``outer`` in time."""
    return outer["ts"] - SLACK_US <= inner["ts"] and end(inner) <= end(outer) + SLACK_US


def check_nesting(data: dict[str, Any]) -> None:
    """Spans of one (pid, tid) track nest or are disjoint."""
    tracks: dict[tuple[int, int], list[dict[str, Any]]] = {}
    for event in spans(data):
        tracks.setdefault((event["pid"], event["tid"]), []).append(event)
    for track, events in tracks.items():
        events.sort(key=lambda e: (e["ts"], -e["dur"]))
        open_spans: list[dict[str, Any]] = []
        for event in events:
            while open_spans and end(open_spans[-1]) <= event["ts"] + SLACK_US:
                open_spans.pop()
            if open_spans:
                assert end(event) <= end(open_spans[-1]) + SLACK_US, (
                    f"on track {track}, {event['name']} overlaps {open_spans[-1]['name']} "
                    "without nesting inside it"
                )
            open_spans.append(event)


def containing(event: dict[str, Any], candidates: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The candidates that ``event`` lies within."""
    return [c for c in candidates if within(event, c)]
