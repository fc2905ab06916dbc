"""Read models derived from the table's stream, and the reads they serve.

`feed_counters` and `feed` serve the global events feed, `monitor_windows`
the monitor status route, `notifications` the EventBridge announcements.
"""
