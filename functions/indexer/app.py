"""Lambda on the table's stream: keeps the derived read models (the feed's counters).

A failed batch raises: Lambda retries it (bisecting on repeated failure), and
each read model applies a batch at most once (maintsvc.feedcounts).
"""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from maintsvc.clock import now_seconds
from maintsvc.config import load_settings
from maintsvc.feedcounts import count_stream_batch
from maintsvc.observability import logger
from maintsvc.store import Store


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    store = Store(load_settings().table_name)
    records = event.get("Records", [])
    chunks = count_stream_batch(store, records, now_seconds())
    return {"records": len(records), "counter_transactions": chunks}
