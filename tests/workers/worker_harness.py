"""`v2v worker` with test-only slow-downs, run as `python -m tests.workers.worker_harness [worker args]`.

Env: V2V_TEST_FRAME_DELAY (seconds to sleep after each frame, so a test can act mid-job) and
V2V_TEST_CRASH_AT_FRAME (the process SIGKILLs itself once that many frames are done: a worker that keeps dying).
"""

from __future__ import annotations

import os
import signal
import sys
import time

from cli.main import main
from workers.hooks import JobHooks

_report = JobHooks.report_progress
_delay = float(os.environ.get("V2V_TEST_FRAME_DELAY", "0"))
_crash_at = int(os.environ.get("V2V_TEST_CRASH_AT_FRAME", "0"))


def _report_slowly(self: JobHooks, done: int, total: int) -> None:
    _report(self, done, total)
    if _crash_at and done >= _crash_at:
        os.kill(os.getpid(), signal.SIGKILL)
    time.sleep(_delay)


JobHooks.report_progress = _report_slowly  # type: ignore[method-assign]

if __name__ == "__main__":
    sys.exit(main(["worker", *sys.argv[1:]]))
