"""Lambda on the table's stream: keeps the derived read models, the feed's counters
(maintsvc.derived.feed_counters) and the monitor-window index
(maintsvc.derived.monitor_windows).

Lambda delivers a record more than once (a failed batch is retried, bisected,
or delivered again after a lost checkpoint), so both parts are exact under
any delivery: the window index files each touched event as it is now, and
each record's counter deltas are added once (its COUNTED# marker). The
idempotent window writes go first and the counting last, so a failure
leaves nothing half-counted for a retry to find (docs/decisions.md, "Exact
under failure").
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
    windows = index_stream_batch(store, records)
    counted = count_stream_batch(store, records, now_seconds())
    return {"records": len(records), "records_counted": counted, "window_writes": windows}
