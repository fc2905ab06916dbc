"""The HTTP edge: what API Gateway hands a function and what it gets back.

Routing glue and the error envelope (`http`), request models (`models`),
API-key checks (`apikeys`), ETag preconditions (`etags`) and Idempotency-Key
replay (`idempotency`). Nothing below this package knows about HTTP.
"""
