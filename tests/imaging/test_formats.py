"""One list of image extensions: every folder reader uses it and names what it leaves out."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from keras_srfm.data import files
from keras_srfm.evaluation import protocol
from keras_srfm.imaging import formats, image_io
from keras_srfm.mos import prepare


def test_every_reader_uses_the_one_list():
    assert protocol.IMAGE_EXTENSIONS is formats.IMAGE_EXTENSIONS
    assert image_io.IMAGE_EXTENSIONS is formats.IMAGE_EXTENSIONS
    assert prepare.IMAGE_SUFFIXES is formats.IMAGE_EXTENSIONS
    # Training decodes in tf.data: the same list less what tf.io.decode_image cannot read.
    expected = tuple(e for e in formats.IMAGE_EXTENSIONS if e not in formats.TF_UNSUPPORTED)
    assert expected == files.IMAGE_SUFFIXES
    assert set(formats.OUTPUT_FORMATS) <= set(formats.IMAGE_EXTENSIONS)


def test_listing_names_what_it_skips(tmp_path: Path):
    for name in ["b.PNG", "a.webp", "c.gif", "d.tif", "notes.txt", ".hidden.png", "sub/e.jpg"]:
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    os.mkfifo(tmp_path / "pipe.png")
    flat = formats.list_image_files(tmp_path)
    assert [p.name for p in flat.images] == ["a.webp", "b.PNG", "c.gif", "d.tif"]
    assert [p.name for p in flat.skipped] == ["notes.txt", "pipe.png"]
    assert flat.skipped_note() == (
        f"skipped 2 file(s) in {tmp_path} that are not images it reads "
        f"({' '.join(formats.IMAGE_EXTENSIONS)}): notes.txt, pipe.png"
    )
    deep = formats.list_image_files(tmp_path, extensions=formats.TRAIN_EXTENSIONS, recursive=True)
    assert [p.relative_to(tmp_path).as_posix() for p in deep.images] == [
        "a.webp", "b.PNG", "c.gif", "sub/e.jpg",
    ]  # fmt: skip
    assert "d.tif" in deep.skipped_note() and "tf.data has no TIFF decoder" in deep.skipped_note()


@pytest.mark.parametrize("count", [5, 7])
def test_long_skip_lists_are_cut(tmp_path: Path, count: int):
    for i in range(count):
        (tmp_path / f"f{i}.txt").write_text("")
    note = formats.list_image_files(tmp_path).skipped_note()
    assert note.endswith("f3.txt, f4.txt" + (" and 2 more" if count == 7 else ""))
