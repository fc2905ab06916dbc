"""API fuzzing of the local stack with schemathesis: `make fuzz` (see fuzz/run.py)."""
