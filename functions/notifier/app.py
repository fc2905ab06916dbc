"""Lambda on the table's stream: publishes one EventBridge event per event status change and
per maintenance created, updated or deleted."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from maintsvc.config import load_settings
from maintsvc.derived.notifications import publish_changes
from maintsvc.observability import logger
from maintsvc.storage.store import Store


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Partial batch response: Lambda retries from the first record that failed to publish."""
    settings = load_settings()
    failed_at = publish_changes(
        Store(settings.table_name),
        event.get("Records", []),
        settings.event_bus_name,
        settings.public_site_url,
    )
    if failed_at is None:
        return {"batchItemFailures": []}
    logger.warning(
        "publishing failed; the batch is retried from this record", extra={"seq": failed_at}
    )
    return {"batchItemFailures": [{"itemIdentifier": failed_at}]}
