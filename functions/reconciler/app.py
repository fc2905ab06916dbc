"""Lambda run every 5 minutes by EventBridge: a bounded slice of the sweep that re-derives
the feed's counters and the monitor-window index from the events and fixes any drift
(maintsvc.derived.reconcile; docs/decisions.md, "Exact under failure")."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from maintsvc.clock import now_seconds
from maintsvc.config import load_settings
from maintsvc.derived.reconcile import reconcile
from maintsvc.observability import logger, metrics
from maintsvc.storage.store import Store

# Stop starting units of work with this much of the Lambda timeout left.
SAFETY_MILLIS = 30_000
# No cap but time in production; a test may bound a run to a few units of work.
MAX_UNITS_PER_RUN: int | None = None


@metrics.log_metrics
@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    store = Store(load_settings().table_name)
    report = reconcile(
        store,
        now_seconds(),
        time_left=lambda: context.get_remaining_time_in_millis() > SAFETY_MILLIS,
        max_units=MAX_UNITS_PER_RUN,
    )
    metrics.add_metric(name="DerivedStateDrift", unit="Count", value=report.drift)
    metrics.add_metric(name="ReconcileCycles", unit="Count", value=report.cycles_completed)
    if report.drift:
        logger.warning("derived state drift fixed", extra=report.as_dict())
    else:
        logger.info("reconcile slice done", extra=report.as_dict())
    return report.as_dict()
