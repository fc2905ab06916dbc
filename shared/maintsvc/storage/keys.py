"""The key layout of the single table: every key string is built here.

See docs/data-model.md for the access pattern each key serves. Numbers in
sort keys are zero-padded to 12 digits so that string order is numeric order
(253402300799, the largest accepted timestamp, has 12 digits).
"""

DUE_SHARDS = 4
MAINTENANCE_LIST = "MAINTENANCE"
APIKEY_LIST = "APIKEY"
TOPUP_QUEUE = "TOPUP"
PURGE_QUEUE = "PURGE"
META = "META"
GONE = "GONE"
SEQ = "SEQ"
IDEMPOTENCY = "IDEM"


MAX_PADDED = 999_999_999_999  # the largest number a 12-digit sort key part holds


def pad(number: int) -> str:
    return f"{number:012d}"


def maintenance_pk(maintenance_id: int) -> str:
    return f"M#{maintenance_id}"


def maintenance_key(maintenance_id: int) -> dict[str, str]:
    return {"PK": maintenance_pk(maintenance_id), "SK": META}


def gone_key(maintenance_id: int) -> dict[str, str]:
    """What a deleted maintenance leaves for a while: its title and monitors, for notifications."""
    return {"PK": maintenance_pk(maintenance_id), "SK": GONE}


def maintenance_list_sk(status: str, maintenance_id: int) -> str:
    return f"{status}#{pad(maintenance_id)}"


def event_sk(event_id: int) -> str:
    return f"E#{pad(event_id)}"


def event_key(maintenance_id: int, event_id: int) -> dict[str, str]:
    return {"PK": maintenance_pk(maintenance_id), "SK": event_sk(event_id)}


def occurrence_sk(original_start: int) -> str:
    return f"O#{pad(original_start)}"


def occurrence_key(maintenance_id: int, original_start: int) -> dict[str, str]:
    return {"PK": maintenance_pk(maintenance_id), "SK": occurrence_sk(original_start)}


def original_start(marker_sk: str) -> int:
    """The original start an occurrence marker's SK names (the inverse of occurrence_sk)."""
    return int(marker_sk[2:])


def start_order_sk(start: int, event_id: int) -> str:
    """LSI1SK and GSI2SK: start ascending, then event id."""
    return f"{pad(start)}#{pad(event_id)}"


# The feed is counted per status in buckets of 64^level seconds (level 0: one second, level
# 4: 2^24 s, about 194 days); its index partitions are the level-3 buckets (2^18 s, about
# 3 days) of one status. See docs/data-model.md, "The feed".
COUNT_LEVEL_BITS = 6
COUNT_TOP_LEVEL = 4
FEED_BUCKET_LEVEL = 3


def count_bucket(level: int, at: int) -> int:
    """The bucket of `level` that second `at` falls in."""
    return at >> (COUNT_LEVEL_BITS * level)


def feed_pk(status: str, start: int) -> str:
    """GSI2PK: the events of one status starting in one level-3 bucket."""
    return f"FEED#{status}#{count_bucket(FEED_BUCKET_LEVEL, start)}"


def feed_bucket_pk(status: str, bucket: int) -> str:
    return f"FEED#{status}#{bucket}"


def count_pk(level: int, parent: int | None) -> str:
    """The counters of one level, partitioned by their parent bucket (the top level: one)."""
    return f"COUNT#{level}" if parent is None else f"COUNT#{level}#{parent}"


def count_key(level: int, at: int) -> dict[str, str]:
    """The counter item of `level` whose bucket holds second `at`."""
    bucket = count_bucket(level, at)
    parent = None if level == COUNT_TOP_LEVEL else bucket >> COUNT_LEVEL_BITS
    return {"PK": count_pk(level, parent), "SK": pad(bucket)}


def counted_record_key(event_id: str) -> dict[str, str]:
    """Marks one stream record (by its eventID, unique in the stream) as counted, so however
    Lambda retries, bisects or redelivers it, its deltas are added once."""
    return {"PK": f"COUNTED#{event_id}", "SK": "R"}


# The reconciler's checkpoint (maintsvc.derived.reconcile).
RECONCILE_KEY = {"PK": "RECONCILE", "SK": "STATE"}


def open_pk(maintenance_id: int) -> str:
    """GSI4PK: a maintenance's events that are not yet COMPLETED or CANCELLED."""
    return f"OPEN#{maintenance_id}"


def due_pk(event_id: int) -> str:
    return f"DUE#{event_id % DUE_SHARDS}"


def due_pks() -> list[str]:
    return [f"DUE#{shard}" for shard in range(DUE_SHARDS)]


def expire_pk(event_id: int) -> str:
    """Terminal events, keyed by their end: the history the scheduler expires."""
    return f"EXPIRE#{event_id % DUE_SHARDS}"


def expire_pks() -> list[str]:
    return [f"EXPIRE#{shard}" for shard in range(DUE_SHARDS)]


def queue_sk(at: int, item_id: int) -> str:
    """GSI3SK: the time work becomes due, then the id."""
    return f"{pad(at)}#{pad(item_id)}"


def queue_time(queue_sk: str) -> int:
    """When the work a GSI3SK queues falls due (the inverse of queue_sk's first part)."""
    return int(queue_sk.split("#", 1)[0])


def queue_upper_bound(now: int) -> str:
    """Every GSI3SK due at or before `now` sorts at or below this."""
    return f"{pad(now)}#~"


def seq_key() -> dict[str, str]:
    return {"PK": SEQ, "SK": SEQ}


def api_key_key(digest: str) -> dict[str, str]:
    return {"PK": f"KEY#{digest}", "SK": "KEY"}


def api_key_name_key(name: str) -> dict[str, str]:
    return {"PK": f"KEYNAME#{name}", "SK": "KEYNAME"}


def idempotency_pk(api_key_digest: str) -> str:
    """The partition of one API key's Idempotency-Key records (their SK: IDEM#<key hash>)."""
    return f"{IDEMPOTENCY}#{api_key_digest}"


# -- monitor windows (docs/data-model.md, "Monitor windows") ---------------------------------
# A window [start, end) of duration d is filed at level ceil(log2 d), in the level's bucket of
# 2^level seconds that holds its start; every timestamp the API accepts is below 2^38, so
# levels 0..38 hold any window. The tags ever filed are listed in TAG_REGISTRY_SHARDS items.
WINDOW_TOP_LEVEL = 38
TAG_REGISTRY_SHARDS = 16


def monitor_windows_pk(tag: str) -> str:
    """The partition of one monitor tag's window buckets."""
    return f"MW#{tag}"


def window_level(start: int, end: int) -> int:
    """The bucket level of a window: the least L with 2^L >= its duration (0 for d <= 1)."""
    return min(max(end - start - 1, 0).bit_length(), WINDOW_TOP_LEVEL)


def window_bucket_key(tag: str, level: int, bucket: int) -> dict[str, str]:
    return {"PK": monitor_windows_pk(tag), "SK": f"B#{level:02d}#{pad(bucket)}"}


def filed_bucket_key(tag: str, start: int, end: int) -> dict[str, str]:
    """The bucket a window is filed in: its level's bucket holding its start."""
    level = window_level(start, end)
    return window_bucket_key(tag, level, start >> level)


def stabbing_keys(tag: str, at: int) -> list[dict[str, str]]:
    """Every bucket that can hold a window containing second `at`: per level L, the buckets
    of `at` and the one before (such a window starts less than 2^L seconds before `at`)."""
    return [
        window_bucket_key(tag, level, bucket)
        for level in range(WINDOW_TOP_LEVEL + 1)
        for bucket in sorted({at >> level, max((at >> level) - 1, 0)})
    ]


def tag_registry_key(tag: str) -> dict[str, str]:
    """The registry shard naming `tag` among the tags ever filed (the reconciler's list of
    tags to sweep). `MW#` with no tag: tags are never empty, so no tag's partition."""
    shard = sum(tag.encode()) % TAG_REGISTRY_SHARDS
    return {"PK": monitor_windows_pk(""), "SK": f"T#{shard:02d}"}


def tag_registry_keys() -> list[dict[str, str]]:
    return [{"PK": monitor_windows_pk(""), "SK": f"T#{s:02d}"} for s in range(TAG_REGISTRY_SHARDS)]


def window_attribute(event_id: int) -> str:
    """A window's attribute in its bucket items."""
    return f"e{event_id}"


def next_windows_pk(tag: str) -> str:
    """One tag's windows in start order (the next one after a second)."""
    return f"MN#{tag}"


def next_window_key(tag: str, start: int, event_id: int) -> dict[str, str]:
    return {"PK": next_windows_pk(tag), "SK": start_order_sk(start, event_id)}
