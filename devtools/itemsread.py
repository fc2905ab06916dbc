"""What a request costs in items: the count the Scale issue's figures are stated in."""

from typing import Any

from devtools.triggers import consuming_stream


class ItemsRead:
    """Items DynamoDB evaluates per request: a Query's ScannedCount, the items a Get returns.

    Register it as a botocore `after-call.dynamodb.*` handler on the client the
    service uses; `make bench` and the tests read `items` after a request.
    """

    def __init__(self) -> None:
        self.items = 0

    def __call__(self, event_name: str, parsed: dict[str, Any], **kwargs: Any) -> None:
        if consuming_stream():  # the stream's consumers, run between requests locally
            return
        operation = event_name.rsplit(".", 1)[-1]
        if operation == "Query":
            self.items += parsed.get("ScannedCount", 0)
        elif operation == "GetItem":
            self.items += int("Item" in parsed)
        elif operation == "BatchGetItem":
            self.items += sum(len(v) for v in parsed.get("Responses", {}).values())
