"""Lambda behind the events routes, the global feed /api/v4/maintenances/events and the
calendar feed /api/v4/maintenances/calendar.ics."""

from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response

from maintsvc.clock import now_seconds
from maintsvc.config import load_settings
from maintsvc.edge.http import (
    build_handler,
    if_match,
    json_body,
    paging,
    parse_id,
    positive_id,
    respond,
    respond_calendar,
    respond_page,
    respond_tagged,
    respond_unless_cached,
)
from maintsvc.errors import maintenance_not_found
from maintsvc.observability import logger
from maintsvc.resources import calendar, events
from maintsvc.storage.items import with_event_url, with_feed_url
from maintsvc.storage.store import Store

app = APIGatewayHttpResolver()
EVENT_PATH = "/api/v4/maintenances/<maintenance_id>/events/<event_id>"
CALENDAR_PATH = "/api/v4/maintenances/calendar.ics"


def _store() -> Store:
    return Store(load_settings().table_name)


def _shown(resource: dict[str, Any]) -> dict[str, Any]:
    """The event as responses show it: with its status-page `url` when one is set."""
    return with_event_url(resource, load_settings().public_site_url)


@app.get("/api/v4/maintenances/events")
def list_feed() -> Response[Any]:
    # Imported here: the feed and its counters are this route's alone, and every module
    # imported at load is compiled on each cold start of the other routes too.
    from maintsvc.derived import feed

    query = app.current_event.query_string_parameters or {}
    page, limit = paging(query)
    listed = feed.list_feed(_store(), query, page, limit, now_seconds())
    site = load_settings().public_site_url
    return respond_page(
        app, {**listed, "events": [with_feed_url(e, site) for e in listed["events"]]}
    )


@app.get(CALENDAR_PATH)
def calendar_feed() -> Response[Any]:
    """Read-only keys may also come as `?token=` (build_handler below): calendar apps cannot
    send headers."""
    text = calendar.calendar_feed(
        _store(),
        app.current_event.query_string_parameters,
        load_settings().public_site_url,
        app.current_event.request_context.domain_name,
        now_seconds(),
    )
    return respond_calendar(app, text, calendar.TOO_LARGE)


@app.get("/api/v4/maintenances/<maintenance_id>/events")
def list_events(maintenance_id: str) -> Response[Any]:
    number = positive_id(maintenance_id, maintenance_not_found)
    page, limit = paging(app.current_event.query_string_parameters)
    listed = events.list_events(_store(), maintenance_id, number, page, limit)
    return respond_page(app, {**listed, "events": [_shown(e) for e in listed["events"]]})


@app.get(EVENT_PATH)
def get_event(maintenance_id: str, event_id: str) -> Response[Any]:
    number = positive_id(maintenance_id, maintenance_not_found)
    event = events.get_event(_store(), maintenance_id, number, event_id, parse_id(event_id))
    return respond_unless_cached(app, "event", _shown(event))


@app.patch(EVENT_PATH)
def update_event(maintenance_id: str, event_id: str) -> Response[Any]:
    number = positive_id(maintenance_id, maintenance_not_found)
    body = json_body(app)
    event = events.update_event(
        _store(),
        load_settings(),
        maintenance_id,
        number,
        event_id,
        parse_id(event_id),
        body,
        now_seconds(),
        expect=if_match(app, _shown),
    )
    return respond_tagged(app, 200, "event", _shown(event))


@app.delete(EVENT_PATH)
def delete_event(maintenance_id: str, event_id: str) -> Response[Any]:
    number = positive_id(maintenance_id, maintenance_not_found)
    events.delete_event(
        _store(),
        maintenance_id,
        number,
        event_id,
        parse_id(event_id),
        expect=if_match(app, _shown),
    )
    return respond(app, 200, {"message": f"Event with id '{event_id}' deleted successfully"})


lambda_handler = logger.inject_lambda_context(
    build_handler(app, token_routes={f"GET {CALENDAR_PATH}"})
)
