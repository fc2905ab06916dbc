"""Lambda on the table's stream: keeps the derived read models, the feed's counters
(maintsvc.derived.feed_counters) and the monitor-window index (maintsvc.derived.monitor_windows).

A failed batch raises: Lambda retries it (bisecting on repeated failure); the
counters apply a batch at most once, and the window index's writes are
idempotent, so a retried batch converges.
"""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from maintsvc.clock import now_seconds
from maintsvc.config import load_settings
from maintsvc.derived.feed_counters import count_stream_batch
from maintsvc.derived.monitor_windows import index_stream_batch
from maintsvc.observability import logger
from maintsvc.storage.store import Store


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    store = Store(load_settings().table_name)
    records = event.get("Records", [])
    chunks = count_stream_batch(store, records, now_seconds())
    windows = index_stream_batch(store, records)
    return {"records": len(records), "counter_transactions": chunks, "window_writes": windows}
