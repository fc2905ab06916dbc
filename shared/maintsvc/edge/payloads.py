"""Sizes of what a function hands back to Lambda, shared by the router and the
Idempotency-Key replay (docs/decisions.md, "Response sizes")."""

# Lambda refuses a response payload over 6 MiB; stay clear of it, headers included.
MAX_PAYLOAD_BYTES = 6_000_000
# JSON bodies above this go back as base64 (see http.json_response); below it, as text.
PLAIN_BODY_LIMIT = 1_000_000
