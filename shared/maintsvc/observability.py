"""Logging and metrics: one Logger and one Metrics object for the whole service.

Tracing (X-Ray) is left out on purpose: the SDK is not in the Lambda runtime
and would add to every cold start; see docs/decisions.md.
"""

from aws_lambda_powertools import Logger, Metrics

SERVICE = "maintenance-windows"

logger = Logger(service=SERVICE)
metrics = Metrics(namespace="MaintenanceWindows", service=SERVICE)
