"""`srfm degrade` (test and training layouts, reproducibility, errors) and `evaluate --lr-dir`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from keras_srfm import cli
from keras_srfm.imaging.locks import LOCK_NAME


def _hr_folder(root: Path, sizes: tuple[tuple[int, int], ...] = ((50, 42), (40, 36))) -> Path:
    folder = root / "HR"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i, (w, h) in enumerate(sizes):
        coarse = rng.integers(0, 256, (h // 6 + 1, w // 6 + 1, 3)).astype(np.uint8)
        Image.fromarray(coarse).resize((w, h), Image.BICUBIC).save(folder / f"img{i}.png")
    return folder


def _files(folder: Path) -> dict[str, bytes]:
    """The files written, less the folder's lock file (keras_srfm.imaging.locks)."""
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name != LOCK_NAME}


def test_test_layout_lr_sizes_and_manifest(tmp_path, capsys):
    hr = _hr_folder(tmp_path)
    out = tmp_path / "out"
    assert cli.main(["degrade", "--hr-dir", str(hr), "--out", str(out), "--seed", "3", "--no-progress"]) == 0
    files = _files(out)
    lr_names = sorted(n for n in files if n != "degradation.json")
    assert [Path(n).stem for n in lr_names] == ["img0", "img1"]
    for name, (w, h) in zip(lr_names, ((48, 40), (40, 36)), strict=True):  # mod-cropped to 4
        with Image.open(out / name) as image:
            assert image.size == (w // 4, h // 4) and image.mode == "RGB"
            assert image.format == ("JPEG" if name.endswith(".jpg") else "PNG")
    manifest = json.loads(files["degradation.json"])
    assert manifest["seed"] == 3 and manifest["config"]["jpeg_range"] == [30, 95]
    assert sorted(manifest["files"]) == ["img0.png", "img1.png"]
    assert not list(out.glob(".*.part"))
    assert "wrote 2 LR images" in capsys.readouterr().err


def test_jpeg_files_decode_to_the_chains_lr():
    import tensorflow as tf

    from keras_srfm.config import DegradationConfig
    from keras_srfm.data.degradation import degrade_image, image_seed

    hr = np.asarray(Image.new("RGB", (32, 32), (90, 140, 200)))
    for copy in range(6):
        lr, data = degrade_image(hr, image_seed(0, "x", copy), DegradationConfig())
        if data is not None:
            np.testing.assert_array_equal(tf.io.decode_jpeg(data, dct_method="INTEGER_ACCURATE").numpy(), lr)
            # Pillow (libjpeg, ISLOW IDCT) reads the same pixels as TensorFlow.
            import io

            np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(data)).convert("RGB")), lr)
            return
    pytest.fail("no copy of 6 ended in JPEG (probability 1/64)")


def test_training_layout_copies(tmp_path):
    hr = _hr_folder(tmp_path)
    out = tmp_path / "train"
    test_out = tmp_path / "test"
    args = ["--hr-dir", str(hr), "--seed", "9", "--no-progress"]
    assert cli.main(["degrade", *args, "--out", str(out), "--copies", "2"]) == 0
    assert cli.main(["degrade", *args, "--out", str(test_out)]) == 0
    files = _files(out)
    assert sorted(n for n in files if n.startswith("HR/")) == ["HR/img0.png", "HR/img1.png"]
    lr = sorted(n for n in files if n.startswith("LR/"))
    assert [Path(n).stem for n in lr] == ["img0_0", "img0_1", "img1_0", "img1_1"]
    with Image.open(out / "HR" / "img0.png") as image:
        assert image.size == (48, 40)  # mod-cropped
    from keras_srfm.imaging.formats import training_pairs

    pairs = training_pairs(out)
    assert [(hr.name, [p.stem for p in lrs]) for hr, lrs in pairs] == [
        ("img0.png", ["img0_0", "img0_1"]), ("img1.png", ["img1_0", "img1_1"])
    ]  # fmt: skip
    # Copy 0 is the test-layout image; copy 1 differs.
    test_files = _files(test_out)
    for stem in ("img0", "img1"):
        first = next(n for n in lr if Path(n).stem == f"{stem}_0")
        assert files[first] == test_files[f"{stem}{Path(first).suffix}"]
        second = next(n for n in lr if Path(n).stem == f"{stem}_1")
        assert files[second] != files[first]


def test_errors_are_one_line_and_write_nothing(tmp_path, capsys):
    hr = _hr_folder(tmp_path)
    (hr / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    out = tmp_path / "out"
    cases = [
        (["--hr-dir", str(hr), "--out", str(out)], "bad image"),
        (["--hr-dir", str(tmp_path / "missing"), "--out", str(out)], "not found"),
        (["--hr-dir", str(hr), "--out", str(hr)], "bad image"),  # input checked first
        (["--hr-dir", str(hr), "--out", str(out), "--copies", "0"], "--copies"),
    ]
    (tmp_path / "bad.json").write_text('{"jpeg_range": [0, 200]}')
    cases.append((["--hr-dir", str(hr), "--out", str(out), "--config", str(tmp_path / "bad.json")], "jpeg_range"))
    for argv, message in cases:
        assert cli.main(["degrade", *argv]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("srfm degrade: error:") and message in err and "\n" not in err
    assert not out.exists()
    (hr / "broken.png").unlink()
    assert cli.main(["degrade", "--hr-dir", str(hr), "--out", str(hr)]) == 2
    assert "--out must differ" in capsys.readouterr().err


def test_evaluate_with_lr_dir(tmp_path, capsys):
    hr = _hr_folder(tmp_path, ((56, 52), (64, 60)))  # VIF needs 41 px after shaving
    lr = tmp_path / "lr"
    assert cli.main(["degrade", "--hr-dir", str(hr), "--out", str(lr), "--no-progress"]) == 0
    capsys.readouterr()
    report = tmp_path / "r.json"
    argv = ["evaluate", "--model", "bicubic", "--hr-dir", str(hr), "--lr-dir", str(lr), "--no-progress"]
    assert cli.main([*argv, "--json", str(report)]) == 0
    row = f"{tmp_path.name} (lr)"  # .../<tmp>/HR is named after its parent
    assert f"| {row} |" in capsys.readouterr().out
    document = json.loads(report.read_text())
    assert "given LR file" in document["protocol"] and document["lr_dirs"] == [str(lr)]
    degraded = document["datasets"][row]["mean"]["psnr"]
    clean_report = tmp_path / "clean.json"
    assert cli.main(["evaluate", "--model", "bicubic", "--hr-dir", str(hr), "--no-progress",
                     "--json", str(clean_report)]) == 0  # fmt: skip
    capsys.readouterr()
    clean = json.loads(clean_report.read_text())["datasets"][tmp_path.name]["mean"]["psnr"]
    assert degraded < clean - 1.0  # the degraded LR loses more than bicubic alone
    # Errors: a missing pair, and a count mismatch.
    next(lr.glob("img1.*")).unlink()
    assert cli.main(argv) == 2
    assert "no LR file for img1.png" in capsys.readouterr().err
    assert cli.main([*argv, "--lr-dir", str(lr)]) == 2
    assert "one --lr-dir per --hr-dir" in capsys.readouterr().err


@pytest.mark.slow
def test_rebuilds_bit_for_bit_in_fresh_processes(tmp_path):
    hr = _hr_folder(tmp_path, ((64, 64), (52, 60), (80, 44)))
    outputs = []
    for index, onednn in enumerate(("1", "0")):  # the command turns oneDNN off either way
        out = tmp_path / f"out{index}"
        env = {**os.environ, "TF_ENABLE_ONEDNN_OPTS": onednn, "TF_CPP_MIN_LOG_LEVEL": "3"}
        result = subprocess.run(
            [sys.executable, "-m", "keras_srfm.cli", "degrade", "--hr-dir", str(hr), "--out", str(out),
             "--seed", "5", "--copies", "2"],
            capture_output=True, text=True, env=env, check=False,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        assert "degrade: 100%" in result.stderr  # the progress bar
        outputs.append(_files(out))
    assert outputs[0] == outputs[1]
    assert json.loads(outputs[0]["degradation.json"])["onednn"] == "off"


def test_strength_clean_is_matlab_bicubic_and_mild_is_recorded(tmp_path):
    from keras_srfm.evaluation.protocol import mod_crop
    from keras_srfm.imaging.imresize import imresize

    hr = _hr_folder(tmp_path)
    clean, mild = tmp_path / "clean", tmp_path / "mild"
    assert cli.main(["degrade", "--hr-dir", str(hr), "--out", str(clean), "--strength", "clean", "--no-progress"]) == 0
    for path in sorted(hr.iterdir()):
        expected = imresize(mod_crop(np.asarray(Image.open(path).convert("RGB"))), scale=0.25)
        np.testing.assert_array_equal(np.asarray(Image.open(clean / f"{path.stem}.png")), expected)
    assert cli.main(["degrade", "--hr-dir", str(hr), "--out", str(mild), "--strength", "mild", "--no-progress"]) == 0
    manifest = json.loads((mild / "degradation.json").read_text())
    assert manifest["strength"] == "mild" and manifest["config"]["second_round_prob"] == 0.0


def test_strength_clean_refuses_copies(tmp_path, capsys):
    hr = _hr_folder(tmp_path)
    out = tmp_path / "out"
    code = cli.main(["degrade", "--hr-dir", str(hr), "--out", str(out), "--strength", "clean", "--copies", "2"])
    assert code != 0 and not out.exists()
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--strength clean" in err[0]
