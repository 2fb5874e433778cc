"""An API process whose upload copy stalls half-way (for killing it mid-submit): `create_app` is the real app with
`MediaStorage.save_upload` writing the first chunk of the upload to its `.partial` file and then sleeping."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import BinaryIO

from fastapi import FastAPI

from app import storage
from app.main import create_app as create_real_app

STALL_S = 120.0


def _stalling_save_upload(self: storage.MediaStorage, source: BinaryIO, job_id: str, dest_name: str,
                          max_bytes: int) -> Path:
    folder = self.input_dir(job_id)
    storage.make_private_dirs(folder, self.root)
    partial = folder / f"{dest_name}.partial"
    with open(partial, "wb") as out:
        out.write(source.read(storage.CHUNK_BYTES))
        out.flush()
        os.fsync(out.fileno())
    time.sleep(STALL_S)  # the test SIGKILLs the process here
    raise RuntimeError("the stalling API was not killed")


def create_app() -> FastAPI:
    storage.MediaStorage.save_upload = _stalling_save_upload  # type: ignore[method-assign]
    return create_real_app()
