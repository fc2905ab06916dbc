"""Recurrence rules: validating RFC 5545 RRULE text and expanding it without running away.

A schedule is an RRULE value (``FREQ=WEEKLY;BYDAY=SU;BYHOUR=2``), a start
(UTC seconds, whole minutes) and an IANA time zone (docs/behaviour.md §3,
§6). The start, seen as wall-clock time in the zone, is the rule's DTSTART;
BYHOUR, BYDAY, ... and an UNTIL without ``Z`` are wall-clock times in that
zone (a date alone is its midnight, as dateutil reads it); an UNTIL with
``Z`` is an instant. Occurrences are what dateutil yields from DTSTART (the
start itself only if the rule matches it), as UTC instants.

The package, in the order a rule goes through it:

- ``parse``: text to a validated ``Rule``, with the contract's messages;
- ``zones``: IANA zone names and wall-clock time;
- ``plan``: rule + zone + start to the ``Plan`` dateutil runs, rewritten so
  that each call does little work;
- ``metering``: the one place that reaches into dateutil's private state, to
  stop a search that has done enough work;
- ``expand``: the occurrences of a plan between two instants;
- ``schedule``: ``parse_schedule`` and ``Schedule``, what callers use.

Measured (time.perf_counter, best of 3, warm, on a 2-core machine busy with
other test suites): over some 60 pathological rules (those in
``tests/unit/test_rrules.py`` among them) the slowest calls took 30-80 ms,
never above 140 ms; a first call in a process adds about 30 ms of loading
(zone list, zone file, dateutil). A query costs at most the work budget plus
about a microsecond per occurrence it returns (``limit`` is the caller's
choice). ``parse_schedule`` of a COUNT rule also expands it completely, once
(see ``schedule``): at most one more budget plus a few microseconds per
occurrence: 15-140 ms for accepted rules with COUNT up to 10000
(``FREQ=MONTHLY;COUNT=10000`` the dearest), up to about 180 ms for a
rejected one; its queries are then a bisection.
"""

from maintsvc.numbers import MAX_TIMESTAMP
from maintsvc.rrules.parse import MAX_COUNT, MAX_INTERVAL, MAX_RRULE_LENGTH, normalise_rrule
from maintsvc.rrules.schedule import FIRST_OCCURRENCE_DAYS, Schedule, parse_schedule
from maintsvc.rrules.zones import validate_timezone

__all__ = [
    "FIRST_OCCURRENCE_DAYS",
    "MAX_COUNT",
    "MAX_INTERVAL",
    "MAX_RRULE_LENGTH",
    "MAX_TIMESTAMP",
    "Schedule",
    "normalise_rrule",
    "parse_schedule",
    "validate_timezone",
]
