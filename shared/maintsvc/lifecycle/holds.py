"""Holds: how a pause, a schedule change or a delete stops windows from starting.

A window starts (an event moves into READY or ONGOING) with one conditional
UpdateItem on the event alone (maintsvc.lifecycle.status_changes): the
scheduler and the transition worker read the maintenance first, but that
read can be seconds old when the write lands. So whatever must stop windows
from starting changes the events themselves before its request answers:

- a pause (PATCH status INACTIVE) puts a `hold` ("INACTIVE") on every open
  event; an unheld start fails on a held event;
- a schedule change deletes its old schedule's pending events (a conditional
  write fails on a deleted event) and holds ("stale") those it could not
  delete because every attempt was contended;
- a DELETE deletes the open events first, before the rest of the purge.

A held event starts only in a transaction that checks the maintenance is
ACTIVE, not being deleted and still on the event's schedule version, and
removes the hold (status_changes.apply_transition): after a resume, each
held event's first start costs that transaction, once. Resuming writes
nothing for the holds: the events still waiting for their start keep them.

Which events: the open events index (GSI4) is eventually consistent, so an
event written a moment ago may be missing from it. An open event that can
still start was written before its start (the status-from-time rule makes an
event written at or after its start ONGOING or ended), so one written less
than OPEN_INDEX_LAG_BOUND ago starts after now minus the bound, where a
strongly consistent read of the start-ordered local index (LSI1) finds it;
GSI4 has long caught up with everything written before. A reschedule while
paused writes a pending event at any time, but keeps the hold it already has.
"""

import contextvars
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from maintsvc.storage.access import event_items, maintenance_items
from maintsvc.storage.store import ConditionFailed, Item, Store

# Far beyond a global index's lag (well under a second, seconds when it throttles its
# table): the history an hour holds is all a pause reads beyond the open events.
OPEN_INDEX_LAG_BOUND = 3600
# Why an event is held (its `hold`): its maintenance was paused, or its schedule replaced.
PAUSED = "INACTIVE"
STALE = "stale"
# Holds written at once: a pause of a maintenance at the 500-event cap takes ~30 rounds.
HOLD_WORKERS = 16


def open_events_now(store: Store, maintenance_id: int, now: int) -> list[Item]:
    """Every open event of a maintenance, none missing however recently written, start
    ascending (event_items.open_events_since, the recent ones strongly consistent)."""
    return event_items.open_events_since(store, maintenance_id, now - OPEN_INDEX_LAG_BOUND)


def hold_events(store: Store, events: Sequence[Item], reason: str) -> list[Item]:
    """Hold each event (`reason`), several at once; returns them as stored after the hold,
    in the given order, leaving out those that are gone or ended meanwhile.

    The write asks only that the event is still open, so one that started or
    moved since it was read is held all the same, and the answer tells the
    caller where it really is now.
    """
    if not events:
        return []
    context = contextvars.copy_context()

    def hold(event: Item) -> Item | None:
        try:
            return event_items.hold_event(store, event, reason)
        except ConditionFailed:
            return None

    with ThreadPoolExecutor(min(len(events), HOLD_WORKERS)) as pool:
        held = list(pool.map(lambda e: context.copy().run(hold, e), events))
    return [e for e in held if e is not None]


def hold_paused(store: Store, now: int) -> int:
    """Hold the open events of every INACTIVE maintenance; returns how many were held.

    For data written before holds existed (`maintctl hold-paused`, once after
    the upgrade): a maintenance paused then has unheld events, and while
    older code still runs during the deployment, a pause it answers holds
    nothing. Safe at any time: a hold on an event of a maintenance resumed
    meanwhile only makes its next start the checked transaction.
    """
    held = 0
    for maintenance in maintenance_items.list_maintenances(store, "INACTIVE", None):
        held += len(hold_events(store, open_events_now(store, maintenance["id"], now), PAUSED))
    return held
