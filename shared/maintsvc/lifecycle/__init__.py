"""How events come to exist and move through their statuses.

`statuses` holds the status-from-time rule, `status_changes` the conditional
writes that move an event, `materialise` expands a schedule into events,
`scheduler` is the every-minute tick, `transition_queue` the look-ahead queue
and its worker that apply changes at their second, `retention` and `deletion`
remove history and deleted maintenances.
"""
