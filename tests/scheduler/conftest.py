"""The scheduler's tests run its writes on threads: every moto request is made atomic here.

DynamoDB executes each request atomically; moto's in-process backend does
not, and a Query paging through a due shard while another thread rewrites
that shard's items can, in moto only, return an item twice. So every test
here holds the root conftest's request lock (`atomic_calls`): threads still
interleave between requests, which is where real races happen. Fixtures that
add latency (test_throughput.py) sleep outside it.
"""

import pytest


@pytest.fixture(autouse=True)
def atomic_requests(atomic_calls: None) -> None:
    """Applies `atomic_calls` to every scheduler test."""
