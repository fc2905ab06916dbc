"""Lambda on the transition queue: applies status changes at their due second.

The scheduler tick enqueues each change due within the next minute with a
delay that makes it visible at its due time (maintsvc.lifecycle.transition_queue). This
function applies a batch of them with the tick's own conditional writes;
stale and duplicate messages are dropped, failures are reported per message
so SQS redelivers only those.
"""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from maintsvc.config import load_settings
from maintsvc.lifecycle.transition_queue import apply_messages
from maintsvc.observability import logger, metrics
from maintsvc.storage.store import Store


@metrics.log_metrics
@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Partial batch response (ReportBatchItemFailures): the failed message ids."""
    settings = load_settings()
    report = apply_messages(Store(settings.table_name), settings, event.get("Records", []))
    metrics.add_metric(name="QueuedTransitionsApplied", unit="Count", value=report.applied)
    metrics.add_metric(name="QueuedTransitionsDropped", unit="Count", value=report.dropped)
    if report.lags:
        # Due time to written, per batch: the figure behind "within 5 s".
        metrics.add_metric(name="QueuedTransitionLag", unit="Seconds", value=max(report.lags))
    logger.info("transition batch done", extra=report.as_dict())
    return {"batchItemFailures": [{"itemIdentifier": m} for m in report.failed]}
