"""Lambda behind GET /api/v4/monitors/{monitor_tag}/maintenance: is a monitor in maintenance?"""

from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response

from maintsvc.clock import now_seconds
from maintsvc.config import load_settings
from maintsvc.derived import monitor_windows
from maintsvc.edge.http import build_handler, respond
from maintsvc.observability import logger
from maintsvc.storage.items import with_feed_url
from maintsvc.storage.store import Store

app = APIGatewayHttpResolver()


@app.get("/api/v4/monitors/<monitor_tag>/maintenance")
def monitor_maintenance(monitor_tag: str) -> Response[Any]:
    settings = load_settings()
    query = app.current_event.query_string_parameters
    tag, at = monitor_windows.parse_request(monitor_tag, query, now_seconds())
    status = monitor_windows.monitor_status(
        Store(settings.table_name), tag, at, settings.ready_window_seconds
    )
    site = settings.public_site_url
    upcoming = status["next"]
    return respond(
        app,
        200,
        {
            **status,
            "events": [with_feed_url(e, site) for e in status["events"]],
            "next": None if upcoming is None else with_feed_url(upcoming, site),
        },
    )


lambda_handler = logger.inject_lambda_context(build_handler(app))
