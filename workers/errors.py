"""The worker's exception vocabulary: what a job can fail with, as machine-readable codes for `meta["error"]`.

* JobError(code, message, retryable)      a job failed for a reason the client can be told
* JobCanceled (BaseException)             the client asked to stop; `except Exception` must not swallow it
"""

from __future__ import annotations


class JobError(Exception):
    """A job failure with a stable `code` (e.g. "decode_failed", "disk_full", "bad_references").

    `retryable=False` (the default) means running the job again cannot help, so RQ's retries are skipped.
    """

    def __init__(self, code: str, message: str, retryable: bool = False) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.retryable = retryable


class JobCanceled(BaseException):
    """Raised between frames when the job's cancel key is set. Cleanup code must re-raise it."""
