"""Errors the HTTP edge turns into the error envelope.

Domain code raises these and knows nothing of HTTP beyond the status each
one maps to; `maintsvc.edge.http` is the single place that renders them.
"""


class ApiError(Exception):
    """An error with an HTTP status, a code and a client-facing message."""

    status = 500
    code = "INTERNAL_ERROR"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ValidationError(ApiError):
    status = 400
    code = "BAD_REQUEST"


class UnauthorizedError(ApiError):
    status = 401
    code = "UNAUTHORIZED"


class ForbiddenError(ApiError):
    status = 403
    code = "FORBIDDEN"


class NotFoundError(ApiError):
    status = 404
    code = "NOT_FOUND"


class ConflictError(ApiError):
    status = 409
    code = "CONFLICT"


class IdempotencyInProgressError(ApiError):
    """A request with this Idempotency-Key is still running: retry after it has answered."""

    status = 409
    code = "IDEMPOTENCY_IN_PROGRESS"


class PreconditionFailedError(ApiError):
    """If-Match named another version of the resource than the one stored."""

    status = 412
    code = "PRECONDITION_FAILED"


class IdempotencyKeyReusedError(ApiError):
    """An Idempotency-Key sent again with another request than the one it first came with."""

    status = 422
    code = "IDEMPOTENCY_KEY_REUSED"


def maintenance_not_found(raw_id: object) -> NotFoundError:
    return NotFoundError(f"Maintenance with id '{raw_id}' not found")


def event_not_found(raw_id: object) -> NotFoundError:
    return NotFoundError(f"Event with id '{raw_id}' not found for this maintenance")


def maintenance_changed() -> PreconditionFailedError:
    return PreconditionFailedError("The maintenance does not match If-Match: it has changed")


def event_changed() -> PreconditionFailedError:
    return PreconditionFailedError("The event does not match If-Match: it has changed")
