"""Benchmarks that print numbers (`make bench`)."""

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def offline_environment(table_name: str) -> None:
    """Dummy credentials, one region, no endpoint: every AWS call goes to moto in-process.

    Called before moto or boto3 is imported (moto reads the environment then).
    """
    sys.path[:0] = [str(ROOT / "shared"), str(ROOT)]
    os.environ.update(
        {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_REGION": "us-east-1",
            "TABLE_NAME": table_name,
            "POWERTOOLS_LOG_LEVEL": "ERROR",
        }
    )
    for name in [n for n in os.environ if n.startswith("AWS_ENDPOINT_URL")]:
        os.environ.pop(name)
    os.environ.pop("TRANSITION_QUEUE_URL", None)
