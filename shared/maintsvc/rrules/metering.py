"""Metering dateutil through a private attribute, so that no expansion runs away.

dateutil cannot stop a search that finds nothing: for
``FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=31`` it walks to year 9999 (0.2 s), for the
same rule with FREQ=DAILY 3 s. dateutil 2.9 has no public way to bound that
work: ``until`` is only compared with occurrences found, ``count`` only
counts them, and ``after``, ``xafter`` and ``between`` run the same loop; no
callback exists. So every expansion runs dateutil on a subclass that meters
it through a private attribute: dateutil's loop reads ``_byeaster`` (a part
this package never passes: the parser rejects BYEASTER) twice to set up and
then each time it enters a new year (YEARLY), a new month (MONTHLY) or a new
calendar month (other frequencies). Counting those reads tells how many
months the search has at least covered and roughly how much work it has
done.

This is the only module that touches dateutil's private state. The read
pattern is pinned by
``tests/unit/test_rrules.py::test_dateutil_reads_byeaster_as_the_meter_expects``
(a dateutil upgrade that reads it more often would make searches stop
early), and dateutil is pinned in ``shared/requirements.txt``.

A search stops

- once it is past the calendar month of its horizon: exact, nothing that
  could match is lost;
- or once its work exceeds ``_WORK_BUDGET``, in units of about a microsecond
  of dateutil on one core (100 ms; the costs of a step are estimated per
  plan, see ``plan.tick_cost``). The meter says so (``budget_hit``) and the
  caller decides what an unfinished search means.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any, Final

from dateutil.rrule import MONTHLY, YEARLY, rrule

from maintsvc.rrules.parse import Freq

# Work is counted in units of roughly a microsecond of dateutil on one core.
_WORK_BUDGET: Final = 100_000


class Stop(Exception):
    """Raised inside dateutil's loop to end a search."""


class Meter:
    """Counts dateutil's entries into a new period (YEARLY, MONTHLY) or calendar month."""

    __slots__ = ("budget_hit", "cost", "months_per_step", "reads", "stop_after", "work")

    def __init__(
        self, freq: Freq, interval: int, tick_cost: float, start: datetime, horizon: datetime
    ) -> None:
        if freq == YEARLY:
            first_month, self.months_per_step = start.year * 12, 12 * interval
        else:
            first_month = start.year * 12 + start.month - 1
            self.months_per_step = interval if freq == MONTHLY else 1
        last_month = horizon.year * 12 + horizon.month - 1
        # Reads 1 and 2 are dateutil's set-up; read 2 + k starts a period at least
        # k * months_per_step months after the first: past the horizon's month, stop.
        self.stop_after = 2 + (last_month - first_month) // self.months_per_step
        self.reads = 0
        self.cost = tick_cost
        self.work = 0.0
        self.budget_hit = False

    def step(self) -> None:
        """One read of ``_byeaster``: stop past the horizon, else charge a step."""
        self.reads += 1
        if self.reads > self.stop_after:
            raise Stop
        if self.reads > 2:
            self.charge(self.cost)

    def charge(self, units: float) -> None:
        """Work done inside dateutil's loop: over budget, stop it there."""
        self.work += units
        if self.work > _WORK_BUDGET:
            self.budget_hit = True
            raise Stop

    def add(self, units: float) -> None:
        """Work done outside dateutil's loop, checked by the next ``exhausted``."""
        self.work += units

    def exhausted(self) -> bool:
        """Whether the work is over budget (and the search is then unfinished)."""
        if self.work > _WORK_BUDGET:
            self.budget_hit = True
        return self.budget_hit


class MeteredRRule(rrule):
    """dateutil's rrule, reporting to a meter each time its loop reads ``_byeaster``.

    ``parts`` are dateutil's keyword arguments; BYEASTER is never among them.
    """

    def __init__(self, meter: Meter, freq: Freq, **parts: Any) -> None:
        self._meter = meter
        super().__init__(freq, **parts)

    @property
    def _byeaster(self) -> None:
        self._meter.step()
        return None

    @_byeaster.setter
    def _byeaster(self, value: object) -> None:
        """dateutil's constructor stores None here: nothing here passes BYEASTER."""


def walk(rule: MeteredRRule) -> Iterator[datetime]:
    """The rule's wall times until its meter stops it."""
    try:
        yield from rule
    except (Stop, ValueError):
        # ValueError: dateutil's "no BYHOUR/BYMINUTE reachable", which the plan
        # already turns into an empty one; kept as a safety net.
        return
