"""`keras_srfm.imaging.atomic`: a file appears under its final name whole, or the old one stays."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from keras_srfm.imaging import atomic, image_io
from keras_srfm.training import run_setup


class Boom(Exception):
    pass


def _names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_atomic_save_writes_through_a_part_file(tmp_path):
    seen = []

    def write(handle):
        seen.append(_names(tmp_path))
        handle.write(b"new")

    atomic.atomic_save(tmp_path / "out.bin", write)
    assert (tmp_path / "out.bin").read_bytes() == b"new"
    [[part]] = seen
    assert atomic.PART_RE.fullmatch(part) and part.startswith(f".out.bin.srfm-{os.getpid()}-")
    assert _names(tmp_path) == ["out.bin"]


@pytest.mark.parametrize("fsync", [False, True])
def test_a_failed_write_removes_the_temp_file_and_keeps_the_target(tmp_path, fsync):
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")

    def write(handle):
        handle.write(b"half")
        raise Boom

    with pytest.raises(Boom):
        atomic.atomic_save(target, write, fsync=fsync)
    assert target.read_bytes() == b"old"
    assert _names(tmp_path) == ["out.bin"]


def test_interrupt_is_cleaned_up_too(tmp_path):
    def write(handle):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic.atomic_save(tmp_path / "out.bin", write)
    assert _names(tmp_path) == []


def test_atomic_write_str_and_bytes(tmp_path):
    atomic.atomic_write(tmp_path / "a" / "b.txt", "héllo\n")  # folders created
    atomic.atomic_write(tmp_path / "c.bin", b"\x00\xff")
    assert (tmp_path / "a" / "b.txt").read_bytes() == "héllo\n".encode()
    assert (tmp_path / "c.bin").read_bytes() == b"\x00\xff"
    assert _names(tmp_path) == ["a", "c.bin"]


def test_files_get_the_umask_mode(tmp_path):
    old = os.umask(0o022)
    try:
        atomic.atomic_write(tmp_path / "x.txt", "x")
    finally:
        os.umask(old)
    assert (tmp_path / "x.txt").stat().st_mode & 0o777 == 0o644


def test_write_json_format(tmp_path):
    document = {"b": 1, "a": [1, 2], "é": None}
    atomic.write_json(tmp_path / "doc.json", document)
    assert (tmp_path / "doc.json").read_text() == json.dumps(document, indent=2) + "\n"
    assert (tmp_path / "doc.json").read_text().startswith('{\n  "b": 1,')
    atomic.write_json(tmp_path / "sorted.json", document, sort_keys=True)
    assert (tmp_path / "sorted.json").read_text() == json.dumps(document, indent=2, sort_keys=True) + "\n"


def test_open_run_dir_writes_config_json_with_sorted_keys(tmp_path, capsys):
    from keras_srfm.config import (
        DataConfig,
        DiscriminatorConfig,
        GeneratorConfig,
        LossConfig,
        TrainConfig,
    )

    run = run_setup.RunConfig(TrainConfig(), DataConfig(), GeneratorConfig(), DiscriminatorConfig(), LossConfig())
    assert run_setup.open_run_dir(tmp_path / "run", run) == []
    text = (tmp_path / "run" / "config.json").read_text()
    assert text == json.dumps(run.to_dict(), indent=2, sort_keys=True) + "\n"
    assert "srfm train: configuration" in capsys.readouterr().out


def test_atomic_path_keeps_the_extension_and_replaces(tmp_path):
    target = tmp_path / "model.keras"
    target.write_text("old")
    with atomic.atomic_path(target) as tmp:
        assert tmp.parent == tmp_path and tmp.name.endswith(".part.keras")
        assert tmp.name.startswith(f".model.keras.srfm-{os.getpid()}-")
        assert not tmp.exists()
        tmp.write_text("new")
    assert target.read_text() == "new"
    assert _names(tmp_path) == ["model.keras"]


@pytest.mark.parametrize("folder", [False, True])
def test_atomic_path_cleans_up_a_failed_writer(tmp_path, folder):
    target = tmp_path / "model.keras"
    target.write_text("old")
    with pytest.raises(Boom), atomic.atomic_path(target) as tmp:
        if folder:
            (tmp / "sub").mkdir(parents=True)
            (tmp / "sub" / "f").write_text("x")
        else:
            tmp.write_text("half")
        raise Boom
    assert target.read_text() == "old"
    assert _names(tmp_path) == ["model.keras"]


def test_a_stale_part_file_is_removed_by_upscale_cleanup(tmp_path):
    """A killed writer's temp file is found by `remove_stale_parts` (its pid is gone)."""
    child = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    pid = int(child.stdout)
    stale = tmp_path / f".out.png.srfm-{pid}-ab12cd34.part"
    stale.write_bytes(b"half")
    assert atomic.PART_RE.fullmatch(stale.name)
    assert image_io.remove_stale_parts(tmp_path) == [stale]

