"""`history.csv` / `curve.csv` under faults: an append is whole or absent (`run_setup`)."""

from __future__ import annotations

import os

import pytest


def test_a_failed_append_leaves_the_log_as_it_was(tmp_path, monkeypatch):
    import errno

    from keras_srfm.training import run_setup

    log = tmp_path / "history.csv"
    run_setup.append_history_row(log, 0, 2, {"loss": 1.0})
    before = log.read_bytes()

    def full(fd):  # the disk fills as the row is flushed to it
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OSError):
        run_setup.append_history_row(log, 1, 4, {"loss": 0.5})
    assert log.read_bytes() == before
    with pytest.raises(OSError):
        run_setup.append_history_row(tmp_path / "new.csv", 0, 2, {"loss": 1.0})
    assert not (tmp_path / "new.csv").exists()


def test_a_row_cut_short_by_a_kill_is_dropped_on_resume(tmp_path):
    from keras_srfm.training import run_setup

    log = tmp_path / "history.csv"
    log.write_text("epoch,step,loss\n0,2,1.0\n1,4,0.5\n2,")  # killed while writing step 6's row
    assert run_setup.last_logged_step(log, 2) == 4
    assert run_setup.truncate_after_step(log, 4, 2) == 0
    assert log.read_text().splitlines() == ["epoch,step,loss", "0,2,1.0", "1,4,0.5"]
    (tmp_path / "h2.csv").write_text("epoch,st")  # not even the header
    run_setup.truncate_after_step(tmp_path / "h2.csv", 0, 2)
    assert not (tmp_path / "h2.csv").exists()
