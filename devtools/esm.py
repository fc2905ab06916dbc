"""Lambda's stream event source mapping under failure, reproduced in process for tests.

A DynamoDB stream consumer does not see each record once. Lambda retries a
batch whose invocation failed (MaximumRetryAttempts -1: until the record is
MaximumRecordAgeInSeconds old), splits a failing batch in two when
BisectBatchOnFunctionError is on and retries each half, resends a batch from
the first reported failure when the function returns a partial batch
response, and delivers records again when a checkpoint is lost. This module
drives a handler through those paths, and `fail_call` makes any one of the
consumer's DynamoDB calls fail, so a test can check that the derived state
comes out exact whichever call failed and however the records came back.
"""

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from devtools.triggers import failure_position

Record = dict[str, Any]
Handler = Callable[[dict[str, Any]], Any]


class InjectedFailure(Exception):
    """The failure `fail_call` raises in place of a DynamoDB call."""


@dataclass
class Mapping:
    """One event source mapping: how it reacts when the handler fails."""

    handler: Handler
    bisect: bool = True
    # Bisected halves: Lambda sends the first half first; True sends the second half first,
    # as a consumer must not depend on the order.
    second_half_first: bool = False
    report_batch_item_failures: bool = False
    max_invocations: int = 200
    invocations: list[int] = field(default_factory=list)  # the batch sizes sent
    errors: list[Exception] = field(default_factory=list)  # what the failed invocations raised

    def deliver(self, records: Sequence[Record]) -> None:
        """Send `records` as one batch and follow Lambda's retries until none is left."""
        pending = [list(records)]
        while pending:
            batch = pending.pop(0)
            if not batch:
                continue
            if len(self.invocations) >= self.max_invocations:
                raise AssertionError(
                    f"still failing after {self.max_invocations} invocations: {self.errors[-1]!r}"
                )
            self.invocations.append(len(batch))
            try:
                result = self.handler({"Records": batch})
            except Exception as error:
                self.errors.append(error)
                if self.bisect and len(batch) > 1:
                    middle = len(batch) // 2
                    halves = [batch[:middle], batch[middle:]]
                    if self.second_half_first:
                        halves.reverse()
                    pending[:0] = halves
                else:
                    pending.insert(0, batch)
                continue
            failed_from = (
                failure_position(batch, result) if self.report_batch_item_failures else None
            )
            if failed_from is not None:
                pending.insert(0, batch[failed_from:])


@contextmanager
def fail_call(client: Any, number: int, operation: str | None = None) -> Iterator[list[str]]:
    """The `number`-th DynamoDB call made through `client` (1-based; only calls of
    `operation` when given) raises InjectedFailure instead of reaching the table, once.
    Yields the names of the calls made, to size the next test's range."""
    made: list[str] = []

    def maybe_fail(event_name: str, **kwargs: Any) -> None:
        name = event_name.rsplit(".", 1)[-1]
        if operation is not None and name != operation:
            return
        made.append(name)
        if len(made) == number:
            raise InjectedFailure(f"call {number} ({name}) failed")

    events = client.meta.events
    events.register("before-call.dynamodb.*", maybe_fail)
    try:
        yield made
    finally:
        events.unregister("before-call.dynamodb.*", maybe_fail)
