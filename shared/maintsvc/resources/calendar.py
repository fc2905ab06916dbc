"""The calendar feed, `GET /maintenances/calendar.ics` (docs/decisions.md, "The calendar feed").

Calendar apps subscribe to a URL and poll it, so people see a window in
their calendar before it happens. The feed is RFC 5545 text built with the
`icalendar` library: one VEVENT per stored event of the listed maintenances
(those naming any of the `monitors` tags, when given) whose window ends less
than CALENDAR_HISTORY_DAYS ago, up to what is materialised ahead, at most
MAX_CALENDAR_EVENTS of them (upcoming windows first), so the answer stays
far below Lambda's response limit in normal use.

Cost (docs/data-model.md, pattern 31): the listing (one GSI1 Query per MB),
then one LSI1 Query per listed maintenance, 16 at a time, each reading only
that maintenance's events from the window's start on.
"""

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from maintsvc.lifecycle.statuses import CANCELLED, PENDING
from maintsvc.numbers import MAX_TIMESTAMP
from maintsvc.storage.access import event_items, maintenance_items
from maintsvc.storage.access.event_items import SEQUENCE
from maintsvc.storage.items import event_url, is_live
from maintsvc.storage.store import Item, Store

if TYPE_CHECKING:
    from icalendar import Event

# History shown: windows that ended less than this long ago (the store keeps more, up to
# HISTORY_RETENTION_DAYS, but a calendar is for what is coming and what just happened).
CALENDAR_HISTORY_DAYS = 30
# At most this many VEVENTs: ~1 KB each for typical titles and descriptions, so ~1 MB; the
# answer only reaches Lambda's limit (4.5 MB of text) with descriptions of thousands of
# characters on most events, which is the edge's 400 (docs/decisions.md).
MAX_CALENDAR_EVENTS = 1000
PRODID = "-//maintenance-windows//Kener v4 maintenance API//EN"
CALENDAR_NAME = "Maintenance windows"
# How often calendar apps should poll (RFC 7986 REFRESH-INTERVAL, and Outlook's X- twin).
REFRESH = timedelta(hours=1)
# A UID's host when neither PUBLIC_SITE_URL nor the request names one.
FALLBACK_HOST = "maintenance-windows.invalid"
TOO_LARGE = (
    "The calendar is too large for one response: filter it with the monitors query parameter"
)
DAY = 86400


def calendar_tags(query: Mapping[str, str] | None) -> frozenset[str] | None:
    """`monitors=a,b`: the tags a maintenance must name one of (None: every maintenance).

    As in the feed: trimmed, empty parts dropped, an empty value counts as
    absent, and tags are free-form (one nobody names matches nothing).
    """
    raw = (query or {}).get("monitors", "")
    tags = frozenset(t.strip() for t in raw.split(",") if t.strip())
    return tags or None


def uid_host(site: str, request_host: str | None) -> str:
    """The host in every UID: PUBLIC_SITE_URL's when set (one identity however the API is
    reached), else the API's own domain from the request."""
    host = urlsplit(site).hostname if site else None
    return host or (request_host or "").strip().lower() or FALLBACK_HOST


def calendar_entries(
    store: Store, tags: frozenset[str] | None, now: int
) -> list[tuple[Item, Item]]:
    """(event, maintenance) for each VEVENT, start ascending then event id.

    The window is every stored event ending after `now - CALENDAR_HISTORY_DAYS`;
    each maintenance's events are read from that bound less its duration, so
    a generated window still running (or ended within the window) is found
    whatever its length. Past MAX_CALENDAR_EVENTS, the events not yet ended
    are kept first (soonest first), then the most recently ended.
    """
    listed = [
        m
        for m in maintenance_items.list_maintenances(store, None, None)
        if is_live(m) and (tags is None or tags & _tags_of(m))
    ]
    since = now - CALENDAR_HISTORY_DAYS * DAY
    by_id = {m["id"]: m for m in listed}
    first_starts = {m["id"]: max(since - m["duration_seconds"], 0) for m in listed}
    found = [
        (event, by_id[mid])
        for mid, events in event_items.events_from_at_once(store, first_starts).items()
        for event in events
        if event["end_date_time"] > since
    ]
    if len(found) > MAX_CALENDAR_EVENTS:
        upcoming = sorted(
            (e for e in found if e[0]["end_date_time"] > now), key=lambda e: _order(e[0])
        )
        ended = sorted(
            (e for e in found if e[0]["end_date_time"] <= now),
            key=lambda e: (-e[0]["end_date_time"], _order(e[0])),
        )
        found = (upcoming + ended)[:MAX_CALENDAR_EVENTS]
    return sorted(found, key=lambda e: _order(e[0]))


def _tags_of(maintenance: Item) -> set[str]:
    return {m["monitor_tag"] for m in maintenance.get("monitors") or []}


def _order(event: Item) -> tuple[int, int]:
    return event["start_date_time"], event["id"]


def ics_status(event: Item, maintenance: Item) -> str:
    """STATUS: CANCELLED as stored; a paused maintenance's pending window TENTATIVE (it
    happens only if the maintenance is resumed before it); everything else CONFIRMED."""
    if event["status"] == CANCELLED:
        return "CANCELLED"
    if maintenance["status"] != "ACTIVE" and event["status"] in PENDING:
        return "TENTATIVE"
    return "CONFIRMED"


def ics_sequence(event: Item, maintenance: Item) -> int:
    """SEQUENCE: grows whenever a calendar app must replace its copy of the VEVENT.

    The event's own `sequence` (its moves, early ends and cancellation,
    counted by the write that makes them) plus its maintenance's revisions
    since the first (a PATCH of the title, description, monitors or status,
    which change SUMMARY, DESCRIPTION and STATUS). Both only grow, so their sum does.
    """
    return int(event.get(SEQUENCE, 0)) + max(int(maintenance.get("revision", 1)) - 1, 0)


def ics_description(maintenance: Item) -> str | None:
    """DESCRIPTION: the maintenance's description, then the monitors it affects and how."""
    parts = []
    if maintenance.get("description"):
        parts.append(str(maintenance["description"]))
    monitors = maintenance.get("monitors") or []
    if monitors:
        named = ", ".join(f"{m['monitor_tag']} ({m['impact']})" for m in monitors)
        parts.append(f"Monitors: {named}")
    return "\n\n".join(parts) or None


def _instant(seconds: int) -> datetime:
    # An end past 9999-12-31T23:59:59Z (a window of the last accepted start) is shown there.
    return datetime.fromtimestamp(min(seconds, MAX_TIMESTAMP), UTC)


def _stamp(iso: str) -> datetime:
    """`2026-01-01T00:00:00.000Z` as an aware datetime (iCalendar keeps the seconds)."""
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).replace(microsecond=0)


def render_calendar(
    entries: Iterable[tuple[Item, Item]], host: str, site: str, tags: frozenset[str] | None
) -> str:
    """The VCALENDAR text of these entries (deterministic: the ETag is its hash)."""
    import icalendar  # only the calendar route pays for its import

    calendar = icalendar.Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    name = CALENDAR_NAME if tags is None else f"{CALENDAR_NAME}: {', '.join(sorted(tags))}"
    calendar.add("name", name)
    calendar.add("x-wr-calname", name)
    calendar.add("refresh-interval", REFRESH, parameters={"VALUE": "DURATION"})
    calendar.add("x-published-ttl", icalendar.vDuration(REFRESH))
    for event, maintenance in entries:
        calendar.add_component(_vevent(icalendar.Event(), event, maintenance, host, site))
    text: bytes = calendar.to_ical()
    return text.decode()


def _vevent(vevent: "Event", event: Item, maintenance: Item, host: str, site: str) -> "Event":
    """One VEVENT. DTSTAMP is LAST-MODIFIED: without a METHOD, RFC 5545 makes it the time
    the information was last revised, which keeps the feed (and its ETag) stable."""
    revised = _stamp(max(event["updated_at"], maintenance["updated_at"]))
    vevent.add("uid", f"{event['maintenance_id']}-{event['id']}@{host}")
    vevent.add("dtstamp", revised)
    vevent.add("dtstart", _instant(event["start_date_time"]))
    vevent.add("dtend", _instant(event["end_date_time"]))
    vevent.add("summary", maintenance["title"])
    description = ics_description(maintenance)
    if description is not None:
        vevent.add("description", description)
    vevent.add("status", ics_status(event, maintenance))
    vevent.add("sequence", ics_sequence(event, maintenance))
    vevent.add("created", _stamp(event["created_at"]))
    vevent.add("last-modified", revised)
    vevent.add("transp", "TRANSPARENT")  # a maintenance window does not make people busy
    if site:
        vevent.add("url", event_url(site, event["id"]))
    return vevent


def calendar_feed(
    store: Store, query: Mapping[str, str] | None, site: str, request_host: str | None, now: int
) -> str:
    """The calendar feed's text for this query (docs/decisions.md, "The calendar feed")."""
    tags = calendar_tags(query)
    entries = calendar_entries(store, tags, now)
    return render_calendar(entries, uid_host(site, request_host), site, tags)
