"""MediaStorage: streamed, capped, atomic uploads under server-chosen names; nothing half-written left."""

from __future__ import annotations

import errno
import io
from pathlib import Path

import pytest

from app.errors import ApiError
from app.storage import MediaStorage, is_job_id, new_job_id


def test_upload_is_written_under_the_given_name(media_root: Path):
    storage = MediaStorage(media_root)
    job_id = new_job_id()
    path = storage.save_upload(io.BytesIO(b"x" * 3_000_000), job_id, "labels.upload", max_bytes=4_000_000)
    assert path == media_root.resolve() / "jobs" / job_id / "input" / "labels.upload"
    assert path.stat().st_size == 3_000_000
    assert list(path.parent.iterdir()) == [path]


def test_over_the_cap_is_413_and_removes_the_partial(media_root: Path):
    storage = MediaStorage(media_root)
    job_id = new_job_id()
    with pytest.raises(ApiError) as err:
        storage.save_upload(io.BytesIO(b"x" * 2_500_000), job_id, "labels.upload", max_bytes=2_000_000)
    assert err.value.status_code == 413 and err.value.code == "upload_too_large"
    assert list(storage.input_dir(job_id).iterdir()) == []


def test_empty_upload_is_refused(media_root: Path):
    with pytest.raises(ApiError) as err:
        MediaStorage(media_root).save_upload(io.BytesIO(b""), new_job_id(), "a", max_bytes=10)
    assert err.value.code == "empty_file"


def test_full_disk_is_507(media_root: Path):
    class FullDisk(io.RawIOBase):
        def read(self, size: int = -1) -> bytes:
            raise OSError(errno.ENOSPC, "No space left on device")

    storage = MediaStorage(media_root)
    job_id = new_job_id()
    with pytest.raises(ApiError) as err:
        storage.save_upload(FullDisk(), job_id, "labels.upload", max_bytes=10)
    assert err.value.status_code == 507 and err.value.code == "insufficient_storage"
    assert list(storage.input_dir(job_id).iterdir()) == []


def test_job_ids_are_validated_before_becoming_paths(media_root: Path):
    assert is_job_id(new_job_id()) and not is_job_id("../etc") and not is_job_id("A" * 32)
    with pytest.raises(ValueError):
        MediaStorage(media_root).job_dir("../../etc")


def test_uploads_and_their_folders_are_private_whatever_the_umask(media_root: Path):
    import os

    old = os.umask(0o022)
    try:
        storage = MediaStorage(media_root)
        job_id = new_job_id()
        path = storage.save_upload(io.BytesIO(b"x" * 10), job_id, "labels.upload", max_bytes=100)
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o600
    for folder in (storage.jobs_root, storage.job_dir(job_id), storage.input_dir(job_id)):
        assert folder.stat().st_mode & 0o777 == 0o700, folder


def test_a_read_only_media_volume_is_a_clear_503(media_root: Path, monkeypatch: pytest.MonkeyPatch):
    """EROFS from the volume (simulated: the test runs as root, for whom chmod does not stop writes)."""
    import os

    real_open = os.open

    def read_only_open(path, flags, *args, **kwargs):  # type: ignore[no-untyped-def]
        if flags & (os.O_WRONLY | os.O_RDWR) and str(path).startswith(str(media_root.resolve())):
            raise OSError(errno.EROFS, "Read-only file system", str(path))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", read_only_open)
    storage = MediaStorage(media_root)
    with pytest.raises(ApiError) as err:
        storage.ensure_writable()
    assert (err.value.status_code, err.value.code) == (503, "storage_unavailable")
    job_id = new_job_id()
    with pytest.raises(ApiError) as err:
        storage.save_upload(io.BytesIO(b"x" * 10), job_id, "labels.upload", max_bytes=100)
    assert (err.value.status_code, err.value.code) == (503, "storage_unavailable")
    assert list(storage.input_dir(job_id).iterdir()) == []
