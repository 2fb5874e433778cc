"""Media storage seam: where a job's files live and how uploads get there.

Layout (docs/conventions.md): `ROOT/jobs/<job_id>/input/<server-chosen name>`, `frames/`, `state/`,
`result.mp4`. Uploads are copied in chunks to a size-capped `.partial` file, then renamed; a client's
file name is never used as a path. Folders are created 0700 and files 0600 (uploads are private to the service's
user, whatever the umask). A media volume that cannot be written (read-only, wrong owner) is a 503
"storage_unavailable" (`ensure_writable`, and every failed upload write), never a 500.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
import uuid
from pathlib import Path
from typing import BinaryIO

from app.errors import ApiError

CHUNK_BYTES = 1024 * 1024
DIR_MODE = 0o700
FILE_MODE = 0o600
_UNWRITABLE = frozenset({errno.EROFS, errno.EACCES, errno.EPERM})
_FULL = frozenset({errno.ENOSPC, errno.EDQUOT})
_JOB_ID = re.compile(r"^[0-9a-f]{32}$")


def new_job_id() -> str:
    return uuid.uuid4().hex


def is_job_id(value: str) -> bool:
    """True for ids this service makes (uuid4 hex); anything else is never turned into a path."""
    return bool(_JOB_ID.match(value))


def storage_error(exc: OSError) -> ApiError | None:
    """The API error for a media-volume write failure: 507 when full, 503 when it cannot be written; else None."""
    if exc.errno in _FULL:
        return ApiError(507, "insufficient_storage", "the server's media storage is full")
    if exc.errno in _UNWRITABLE:
        return ApiError(503, "storage_unavailable", "the server's media storage cannot be written (read-only?)")
    return None


def make_private_dirs(path: Path, root: Path) -> None:
    """Create `path` and its missing parents up to `root` (included) with mode 0700."""
    missing = [p for p in (path, *path.parents) if p == root or root in p.parents]
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=DIR_MODE)
        except FileExistsError:
            pass


class MediaStorage:
    """Files of every job under one root (a volume shared with the workers)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root).resolve()

    @property
    def jobs_root(self) -> Path:
        return self.root / "jobs"

    def job_dir(self, job_id: str) -> Path:
        if not is_job_id(job_id):
            raise ValueError(f"not a job id: {job_id!r}")
        return self.jobs_root / job_id

    def input_dir(self, job_id: str) -> Path:
        return self.job_dir(job_id) / "input"

    def result_path(self, job_id: str, sample: int = 0) -> Path:
        """Sample `sample`'s video: `result.mp4`, then `result_01.mp4`, ... (`workers.loop.video_name`)."""
        return self.job_dir(job_id) / ("result.mp4" if sample == 0 else f"result_{sample:02d}.mp4")

    def frames_dir(self, job_id: str) -> Path:
        return self.job_dir(job_id) / "frames"

    def ensure_writable(self) -> None:
        """Raise ApiError 503 "storage_unavailable" (read-only, wrong owner) or 507 "insufficient_storage" (full)
        unless a file can be created in the jobs folder right now. Cheap: call it before accepting an upload."""
        probe = self.jobs_root / f".write-check-{uuid.uuid4().hex}"
        try:
            make_private_dirs(self.jobs_root, self.root)
            fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
            try:
                os.write(fd, b"\0")
            finally:
                os.close(fd)
            probe.unlink()
        except OSError as exc:
            with contextlib.suppress(OSError):
                probe.unlink(missing_ok=True)
            unusable = ApiError(503, "storage_unavailable", "the server's media storage cannot be written")
            raise (storage_error(exc) or unusable) from exc

    def save_upload(self, source: BinaryIO, job_id: str, dest_name: str, max_bytes: int) -> Path:
        """Copy `source` in chunks to the job's `input/dest_name`; returns the final path.

        Raises ApiError 413 "upload_too_large" past `max_bytes` (counted while copying), 400 "empty_file" for zero
        bytes, 507 "insufficient_storage" when the disk is full and 503 "storage_unavailable" when it cannot be
        written; the partial file is removed in every case. Folders are 0700, the file 0600.
        """
        if "/" in dest_name or dest_name.startswith("."):
            raise ValueError(f"bad destination name {dest_name!r}")
        folder = self.input_dir(job_id)
        final = folder / dest_name
        partial = folder / f"{dest_name}.partial"
        written = 0
        try:
            make_private_dirs(folder, self.root)
            with os.fdopen(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE), "wb") as out:
                while chunk := source.read(CHUNK_BYTES):
                    written += len(chunk)
                    if written > max_bytes:
                        raise ApiError(413, "upload_too_large", f"{dest_name}: larger than {max_bytes} bytes")
                    out.write(chunk)
            if written == 0:
                raise ApiError(400, "empty_file", f"{dest_name}: the uploaded file is empty")
            partial.rename(final)
        except OSError as exc:
            partial.unlink(missing_ok=True)
            error = storage_error(exc)
            if error is not None:
                raise error from exc
            raise
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        return final

    def remove_job(self, job_id: str) -> None:
        """Delete the job's folder and everything in it (no error if it is already gone)."""
        shutil.rmtree(self.job_dir(job_id), ignore_errors=True)

    def job_ids_on_disk(self) -> list[str]:
        if not self.jobs_root.is_dir():
            return []
        return [p.name for p in self.jobs_root.iterdir() if p.is_dir() and is_job_id(p.name)]
