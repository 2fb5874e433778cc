"""The resumable job state on disk: round trip, and a full disk surfaces as OSError(ENOSPC) (reported `disk_full`)."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest
import torch

from workers.job_state import STATE_FILE, load_job_state, save_job_state

CPU = torch.device("cpu")


def test_state_round_trips(tmp_path: Path) -> None:
    save_job_state(tmp_path, 7, {"h": torch.arange(6.0).reshape(2, 3)}, CPU)
    saved = load_job_state(tmp_path, CPU)
    assert (
        saved is not None and saved.next_frame == 7 and torch.equal(saved.tensors["h"], torch.arange(6.0).reshape(2, 3))
    )


def test_a_full_disk_is_an_enospc_oserror_and_leaves_no_temp_file(tmp_path: Path) -> None:
    """The temp file points at /dev/full, whose every write fails with ENOSPC, as on a full volume."""
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full on this system")
    name = STATE_FILE
    (tmp_path / f".{name}.tmp").symlink_to("/dev/full")
    with pytest.raises(OSError) as err:
        save_job_state(tmp_path, 1, {"h": torch.zeros(1000)}, CPU)
    assert err.value.errno == errno.ENOSPC
    assert not (tmp_path / f".{name}.tmp").is_symlink() and not (tmp_path / name).exists()
