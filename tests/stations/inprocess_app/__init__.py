"""A test-only app for a daphne process: a DataTransfer vendor handler that queues a call from inside the
server process, the way a view or an in-process job does (tests/stations/test_calls.py)."""
