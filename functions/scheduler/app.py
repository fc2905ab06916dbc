"""Lambda run every minute by EventBridge: one scheduler tick."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from maintsvc.clock import now_seconds
from maintsvc.config import load_settings
from maintsvc.lifecycle.scheduler import run_tick
from maintsvc.lifecycle.transition_queue import queue_url_from_env
from maintsvc.observability import logger, metrics
from maintsvc.storage.store import Store

# Stop taking new pages with this much of the Lambda timeout left.
SAFETY_MILLIS = 10_000


@metrics.log_metrics
@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = load_settings()
    report = run_tick(
        Store(settings.table_name),
        settings,
        now_seconds(),
        time_left=lambda: context.get_remaining_time_in_millis() > SAFETY_MILLIS,
        queue_url=queue_url_from_env(),
    )
    metrics.add_metric(name="Transitions", unit="Count", value=report.transitions)
    metrics.add_metric(name="EventsMaterialised", unit="Count", value=report.events_created)
    metrics.add_metric(name="TickStoppedEarly", unit="Count", value=int(report.stopped_early))
    metrics.add_metric(name="DueBacklog", unit="Count", value=report.backlog)
    metrics.add_metric(name="TopupFailures", unit="Count", value=report.topup_failures)
    # How the on-the-second path is doing: what went to the queue, what did not, and how
    # late the changes the tick had to apply itself were (near 0 while the queue keeps up).
    metrics.add_metric(name="TransitionsEnqueued", unit="Count", value=report.enqueued)
    metrics.add_metric(name="EnqueueFailures", unit="Count", value=report.enqueue_failures)
    metrics.add_metric(name="TickTransitionLag", unit="Seconds", value=report.max_lag)
    logger.info("tick done", extra=report.as_dict())
    return report.as_dict()
