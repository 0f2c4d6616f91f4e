"""`srfm upscale`: inputs, outputs, errors and exit status (run in-process through cli.main)."""

from __future__ import annotations

import os
from pathlib import Path

import keras
import numpy as np
import pytest
from PIL import Image

from keras_srfm.cli import main
from keras_srfm.inference import upscalers
from keras_srfm.models.generator import build_generator


@pytest.fixture(scope="module")
def model_file(tmp_path_factory) -> str:
    keras.utils.set_random_seed(0)
    path = tmp_path_factory.mktemp("model") / "tiny.keras"
    build_generator(num_blocks=2, filters=8, init_scale=0.6).save(path)
    return str(path)


@pytest.fixture()
def images(tmp_path) -> Path:
    folder = tmp_path / "in"
    folder.mkdir()
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (30, 41, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(folder / "rgb.png")
    Image.fromarray(rgb[..., 0]).save(folder / "gray.png")
    Image.fromarray(np.dstack([rgb, rgb[..., 1]])).save(folder / "rgba.png")
    Image.fromarray(rgb).save(folder / "photo.jpg", quality=90)
    return folder


def _upscale(capsys, *argv: str) -> tuple[int, str]:
    status = main(["upscale", "--quiet", *argv])
    return status, capsys.readouterr().err


def test_folder_all_good(capsys, images, tmp_path, model_file):
    out = tmp_path / "out"
    status, err = _upscale(
        capsys, str(images), "--output-dir", str(out), "--model", model_file, "--tile-size", "20"
    )
    assert status == 0, err
    assert sorted(os.listdir(out)) == ["gray_x4.png", "photo_x4.png", "rgb_x4.png", "rgba_x4.png"]
    modes = {name: Image.open(out / name).mode for name in os.listdir(out)}
    assert modes == {
        "gray_x4.png": "L",
        "photo_x4.png": "RGB",
        "rgb_x4.png": "RGB",
        "rgba_x4.png": "RGBA",
    }
    assert Image.open(out / "rgb_x4.png").size == (164, 120)
    # The file holds what the Python API returns.
    expected = upscalers.load_upscaler(model_file, tile_size=0)(
        np.asarray(Image.open(images / "rgb.png"))
    )
    written = np.asarray(Image.open(out / "rgb_x4.png"))
    assert np.abs(written.astype(int) - expected).max() <= 1


def test_bad_inputs_are_reported_and_the_rest_processed(capsys, images, tmp_path):
    (images / "empty.png").write_bytes(b"")
    (images / "text.png").write_text("hello")
    good = (images / "rgb.png").read_bytes()
    (images / "truncated.png").write_bytes(good[: len(good) // 2])
    Image.new("RGB", (300, 200)).save(images / "huge.png")
    out = tmp_path / "out"
    status, err = _upscale(
        capsys, str(images), str(images / "nothing*.png"), "--output-dir", str(out),
        "--model", "bicubic", "--max-pixels", "50000",
    )  # fmt: skip
    assert status == 1
    errors = [line for line in err.splitlines() if ": error: " in line]
    assert len(errors) == 5
    for name, reason in [
        ("empty.png", "empty file"),
        ("text.png", "not a recognised image"),
        ("truncated.png", "truncated"),
        ("huge.png", "exceeds the limit of 50000"),
        ("nothing*.png", "no such file"),
    ]:
        assert any(name in line and reason in line for line in errors), (name, err)
    assert sorted(os.listdir(out)) == ["gray_x4.png", "photo_x4.png", "rgb_x4.png", "rgba_x4.png"]
    assert "upscaled 4/9" in err


def test_glob_and_format(capsys, images, tmp_path):
    out = tmp_path / "out"
    status, err = _upscale(
        capsys, str(images / "*.png"), "-o", str(out), "--model", "nearest", "--format", "jpg"
    )
    assert status == 0, err
    assert sorted(os.listdir(out)) == ["gray_x4.jpg", "rgb_x4.jpg", "rgba_x4.jpg"]
    assert "transparency dropped" in err


def test_never_overwrites_an_input(capsys, images):
    before = (images / "rgb.png").read_bytes()
    status, err = _upscale(
        capsys, str(images / "rgb.png"), "-o", str(images), "--model", "nearest", "--suffix", ""
    )
    assert status == 1 and "would overwrite an input" in err
    assert (images / "rgb.png").read_bytes() == before


def test_unwritable_output_dir_is_one_line_error(capsys, images, tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    status, err = _upscale(capsys, str(images), "-o", str(blocker / "out"), "--model", "nearest")
    assert status == 2
    assert err.strip().count("\n") == 0 and "is not writable" in err and str(blocker) in err


def test_missing_default_model_is_one_line_error(capsys, images, tmp_path, monkeypatch):
    monkeypatch.setenv("SRFM_MODELS_DIR", str(tmp_path / "exported_models"))
    status, err = _upscale(capsys, str(images), "-o", str(tmp_path / "out"))
    assert status == 2
    assert err.startswith("srfm upscale: error: no model is shipped") and err.count("\n") == 1
    assert not (tmp_path / "out").exists()  # a failed command leaves no empty output folder


def test_bad_tile_flags(capsys, images, tmp_path, model_file):
    status, err = _upscale(
        capsys, str(images), "-o", str(tmp_path / "o"), "--model", model_file, "--tile-size", "10"
    )
    assert status == 2 and "tile_size must exceed twice the tile overlap" in err
    assert not (tmp_path / "o").exists()


def test_existing_outputs_are_never_overwritten_silently(capsys, images, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "rgb_x4.png").write_bytes(b"keep me")
    status, err = _upscale(capsys, str(images), "-o", str(out), "--model", "nearest")
    assert status == 1
    assert (out / "rgb_x4.png").read_bytes() == b"keep me"
    assert [line for line in err.splitlines() if ": error: " in line] == [
        f"srfm upscale: error: {images / 'rgb.png'}: {out / 'rgb_x4.png'} exists; "
        "use --overwrite or --skip-existing"
    ]
    assert "upscaled 3/4" in err  # the other files are done

    status, err = _upscale(
        capsys, str(images), "-o", str(out), "--model", "nearest", "--skip-existing"
    )
    assert status == 0, err
    assert (out / "rgb_x4.png").read_bytes() == b"keep me"
    assert err.strip().splitlines() == [  # every output exists: one line, no model loaded
        f"srfm upscale: nothing to do: all 4 output(s) exist in {out} (--skip-existing)"
    ]

    status, err = _upscale(capsys, str(images), "-o", str(out), "--model", "nearest", "--overwrite")
    assert status == 0, err
    assert Image.open(out / "rgb_x4.png").size == (4 * 41, 4 * 30)
    assert err.count("replaced the existing") == 4

    with pytest.raises(SystemExit):
        main(["upscale", str(images), "-o", str(out), "--overwrite", "--skip-existing"])


@pytest.mark.parametrize("kind", ["garbage", "truncated", "other zip"])
def test_a_file_that_is_not_a_keras_archive_is_named_so(capsys, images, tmp_path, model_file, kind):
    """Keras itself says "File not found" for these, which sends a user after a path problem."""
    import zipfile

    bad = tmp_path / "bad.keras"
    if kind == "garbage":
        bad.write_bytes(b"garbage bytes, not a model")
    elif kind == "truncated":  # a download cut short
        data = Path(model_file).read_bytes()
        bad.write_bytes(data[: len(data) // 2])
    else:
        with zipfile.ZipFile(bad, "w") as archive:
            archive.writestr("notes.txt", "hello")
    status, err = _upscale(capsys, str(images), "-o", str(tmp_path / "o"), "--model", str(bad))
    assert status == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and f"{bad} is " in lines[0] and "not a .keras model archive" in lines[0], err
    assert "not found" not in lines[0].lower()
    assert not (tmp_path / "o").exists()


def test_a_batch_run_again_reads_no_output_and_does_no_work(capsys, images, monkeypatch):
    """The output folder inside the input tree: the second run takes none of its files."""
    out = images / "out"
    args = [str(images), "-r", "-o", str(out), "--model", "nearest"]
    status, err = _upscale(capsys, *args)
    assert status == 0 and "4 done" in err, err
    first = {p: p.stat().st_mtime_ns for p in out.rglob("*")}
    assert len(first) == 4

    def no_model(*_: object, **__: object) -> None:
        raise AssertionError("the model was loaded for a batch with nothing to do")

    monkeypatch.setattr(upscalers, "load_upscaler", no_model)
    status, err = _upscale(capsys, *args, "--skip-existing")
    assert status == 0
    assert err.strip().splitlines() == [
        f"srfm upscale: note: {out} (the output folder) is not read as input",
        f"srfm upscale: nothing to do: all 4 output(s) exist in {out} (--skip-existing)",
    ]
    status, err = _upscale(capsys, *args)  # without a flag: refused in one line, nothing read
    assert status == 2
    assert err.strip().splitlines()[-1] == (
        f"srfm upscale: error: all 4 output(s) exist in {out}; nothing was written: use "
        "--skip-existing to finish a batch or --overwrite to redo it"
    )
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*")} == first  # no out/out, no change
    monkeypatch.undo()
    status, err = _upscale(capsys, *args, "--overwrite")
    assert status == 0 and "4 done" in err and not (out / "out").exists()


@pytest.mark.slow
def test_a_fifo_named_png_is_refused_and_the_rest_processed(images, tmp_path):
    import subprocess
    import sys

    fifo = images / "a_fifo.png"
    os.mkfifo(fifo)  # no writer: reading it would block forever
    out = tmp_path / "out"
    result = subprocess.run(
        [sys.executable, "-c", "import sys; from keras_srfm.cli import main; sys.exit(main())",
         "upscale", "-q", str(fifo), str(images / "rgb.png"), "-o", str(out), "--model", "nearest"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if ": error: " in line]
    assert errors == [f"srfm upscale: error: {fifo}: not a regular file (a FIFO); skipped"]
    assert os.listdir(out) == ["rgb_x4.png"]


def test_folder_files_it_does_not_read_are_named(capsys, images, tmp_path):
    (images / "notes.txt").write_text("hello")
    (images / "anim.gif").write_bytes((images / "rgb.png").read_bytes())  # read by content
    status, err = _upscale(capsys, str(images), "-o", str(tmp_path / "out"), "--model", "nearest")
    assert status == 0, err
    notes = [line for line in err.splitlines() if "skipped 1 file(s)" in line]
    assert len(notes) == 1 and notes[0].endswith(": notes.txt")
    assert "anim_x4.png" in os.listdir(tmp_path / "out")
    status, err = _upscale(
        capsys, str(images / "anim.gif"), "-o", str(tmp_path / "same"), "--model", "nearest",
        "--format", "same",
    )  # fmt: skip
    assert status == 0 and os.listdir(tmp_path / "same") == ["anim_x4.png"], err


def test_16_bit_input_runs_the_keras_model_in_float(capsys, tmp_path, model_file):
    import tensorflow as tf

    values = np.random.default_rng(5).integers(0, 65536, (20, 23, 3)).astype(np.uint16)
    src = tmp_path / "deep.png"
    src.write_bytes(tf.io.encode_png(values).numpy())
    status, err = _upscale(capsys, str(src), "-o", str(tmp_path / "out"), "--model", model_file)
    assert status == 0 and "8-bit" not in err, err
    written = tf.io.decode_png((tmp_path / "out" / "deep_x4.png").read_bytes(), dtype=tf.uint16)
    upscaler = upscalers.load_upscaler(model_file)
    expected = upscaler.upscale_float(values / 65535.0).astype(np.float64)
    np.testing.assert_array_equal(written.numpy(), np.rint(expected * 65535))
    assert written.numpy().max() > 255


def test_one_missing_file_is_one_line_and_no_folder(capsys, tmp_path):
    """The error is the whole output: no 'upscaled 0/1' summary after it, no empty folder."""
    status, err = _upscale(capsys, str(tmp_path / "missing.png"), "-o", str(tmp_path / "out"),
                           "--model", "nearest")
    assert status == 1
    assert err.splitlines() == [f"srfm upscale: error: {tmp_path / 'missing.png'}: no such file, or no images matched"]
    assert not (tmp_path / "out").exists()


def test_a_batch_with_a_missing_file_still_ends_with_its_summary(capsys, images, tmp_path):
    status, err = _upscale(capsys, str(images), str(tmp_path / "missing.png"), "-o",
                           str(tmp_path / "out"), "--model", "nearest", "--quiet")
    assert status == 1
    assert "missing.png: no such file" in err and err.strip().splitlines()[-1].startswith("upscaled ")
