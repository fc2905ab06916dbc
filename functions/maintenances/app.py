"""Lambda behind /api/v4/maintenances, /api/v4/maintenances/{maintenance_id} and the schedule
preview /api/v4/maintenances/preview."""

from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response

from maintsvc.clock import now_seconds
from maintsvc.config import load_settings
from maintsvc.edge.http import (
    bounded_listing,
    build_handler,
    if_match,
    json_body,
    paging,
    positive_id,
    respond,
    respond_page,
    respond_tagged,
    respond_unless_cached,
)
from maintsvc.errors import maintenance_not_found
from maintsvc.observability import logger
from maintsvc.resources import maintenances
from maintsvc.storage.items import with_maintenance_url
from maintsvc.storage.store import Store

app = APIGatewayHttpResolver()
PREVIEW_PATH = "/api/v4/maintenances/preview"
# A DELETE purges items until this much of the Lambda timeout is left; the scheduler
# finishes a maintenance too large for one invocation.
DELETE_RESERVE_MILLIS = 15_000


def _store() -> Store:
    return Store(load_settings().table_name)


def _shown(resource: dict[str, Any]) -> dict[str, Any]:
    """The maintenance as responses show it: with its status-page `url` when one is set."""
    return with_maintenance_url(resource, load_settings().public_site_url)


@app.get("/api/v4/maintenances")
def list_maintenances() -> Response[Any]:
    query = app.current_event.query_string_parameters or {}
    status, tag = query.get("status"), query.get("monitor_tag")
    if "page" not in query and "limit" not in query:  # Kener's shape: everything
        found = maintenances.list_maintenances(_store(), status, tag)
        return bounded_listing(app, {"maintenances": [_shown(m) for m in found]})
    page = maintenances.list_maintenances_page(_store(), status, tag, *paging(query))
    return respond_page(app, {**page, "maintenances": [_shown(m) for m in page["maintenances"]]})


@app.post("/api/v4/maintenances")
def create_maintenance() -> Response[Any]:
    created = maintenances.create_maintenance(
        _store(), load_settings(), json_body(app), now_seconds()
    )
    return respond_tagged(app, 201, "maintenance", _shown(created))


@app.post(PREVIEW_PATH)
def preview_maintenance() -> Response[Any]:
    """A create's body, validated as a create, answered with its next windows; writes nothing,
    so build_handler ignores an Idempotency-Key here."""
    from maintsvc.resources import preview  # zoneinfo and the rules: only this route pays

    return respond(app, 200, preview.preview(json_body(app), now_seconds()))


@app.get("/api/v4/maintenances/<maintenance_id>")
def get_maintenance(maintenance_id: str) -> Response[Any]:
    number = positive_id(maintenance_id, maintenance_not_found)
    found = maintenances.get_maintenance(_store(), maintenance_id, number)
    return respond_unless_cached(app, "maintenance", _shown(found))


@app.patch("/api/v4/maintenances/<maintenance_id>")
def update_maintenance(maintenance_id: str) -> Response[Any]:
    number = positive_id(maintenance_id, maintenance_not_found)
    body = json_body(app)
    updated = maintenances.update_maintenance(
        _store(),
        load_settings(),
        maintenance_id,
        number,
        body,
        now_seconds(),
        expect=if_match(app, _shown),
    )
    return respond_tagged(app, 200, "maintenance", _shown(updated))


@app.delete("/api/v4/maintenances/<maintenance_id>")
def delete_maintenance(maintenance_id: str) -> Response[Any]:
    number = positive_id(maintenance_id, maintenance_not_found)
    context = app.lambda_context
    maintenances.delete_maintenance(
        _store(),
        maintenance_id,
        number,
        now_seconds(),
        time_left=lambda: context.get_remaining_time_in_millis() > DELETE_RESERVE_MILLIS,
        expect=if_match(app, _shown),
    )
    return respond(
        app, 200, {"message": f"Maintenance with id '{maintenance_id}' deleted successfully"}
    )


lambda_handler = logger.inject_lambda_context(
    build_handler(app, writes_nothing={f"POST {PREVIEW_PATH}"})
)
