"""Media storage seam: where a job's files live and how uploads get there.

Layout (docs/conventions.md): `ROOT/jobs/<job_id>/input/<server-chosen name>`, `frames/`, `state/`,
`result.mp4`. Uploads are copied in chunks to a size-capped `.partial` file, then renamed; a client's
file name is never used as a path.
"""

from __future__ import annotations

import errno
import re
import shutil
import uuid
from pathlib import Path
from typing import BinaryIO

from app.errors import ApiError

CHUNK_BYTES = 1024 * 1024
_JOB_ID = re.compile(r"^[0-9a-f]{32}$")


def new_job_id() -> str:
    return uuid.uuid4().hex


def is_job_id(value: str) -> bool:
    """True for ids this service makes (uuid4 hex); anything else is never turned into a path."""
    return bool(_JOB_ID.match(value))


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

    def save_upload(self, source: BinaryIO, job_id: str, dest_name: str, max_bytes: int) -> Path:
        """Copy `source` in chunks to the job's `input/dest_name`; returns the final path.

        Raises ApiError 413 "upload_too_large" past `max_bytes`, 400 "empty_file" for zero bytes and 507
        "insufficient_storage" when the disk is full; the partial file is removed in every case.
        """
        if "/" in dest_name or dest_name.startswith("."):
            raise ValueError(f"bad destination name {dest_name!r}")
        folder = self.input_dir(job_id)
        folder.mkdir(parents=True, exist_ok=True)
        final = folder / dest_name
        partial = folder / f"{dest_name}.partial"
        written = 0
        try:
            with open(partial, "wb") as out:
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
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                raise ApiError(507, "insufficient_storage", "the server's media storage is full") from exc
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
