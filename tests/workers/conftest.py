"""Worker test fixtures shared across modules: the real `v2v worker` subprocesses of tests/workers/test_worker.py."""

from tests.workers.test_worker import manifest, start_worker  # noqa: F401
