"""`srfm evaluate`: the bicubic row of Table I, report files, grayscale handling, bad input."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from keras_srfm import cli
from keras_srfm.evaluation import protocol
from keras_srfm.imaging.imresize import imresize, nearest
from keras_srfm.metrics.fidelity import psnr, rgb_to_gray, ssim
from keras_srfm.metrics.vif import vif

# Bicubic x4 baseline, published (Table I) PSNR and the SSIM range of the benchmarks README.
# Set14 with this protocol (LR rounded to uint8 RGB, gray `bridge` scored on its gray values)
# is 25.990 dB: within 0.01 dB of 26.00 (the Y-first double pipeline gives 26.000).
BICUBIC = {
    "Set5": (28.42, (0.810, 0.810), 0.408),
    "Set14": (26.00, (0.702, 0.704), 0.327),
    "BSD100": (25.96, (0.667, 0.669), 0.293),
}


def _write_png(path: Path, array: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)
    return path


def _smooth_image(seed: int, shape: tuple[int, ...]) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = np.cumsum(np.cumsum(rng.normal(size=shape), axis=0), axis=1)
    base = (base - base.min()) / (np.ptp(base) + 1e-9) * 255
    return base.astype(np.uint8)


def _upscaler(spec: str):
    from keras_srfm.inference.upscalers import load_upscaler

    return load_upscaler(spec)


@pytest.fixture()
def hr_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "Tiny" / "HR"
    _write_png(folder / "a.png", _smooth_image(0, (66, 70, 3)))  # not a multiple of 4
    _write_png(folder / "b.png", _smooth_image(1, (64, 64, 3)))
    _write_png(folder / "gray.png", _smooth_image(2, (60, 68)))  # mode L
    return folder


# === Acceptance: the bicubic row ===


def test_bicubic_row_matches_table_1(shared_data: Path, tmp_path: Path, capsys) -> None:
    bench = shared_data / "benchmarks"
    out_json = tmp_path / "bicubic.json"
    argv = ["evaluate", "--model", "bicubic", "--json", str(out_json), "--no-progress"]
    for name in BICUBIC:
        argv += ["--hr-dir", str(bench / name / "HR")]
    assert cli.main(argv) == 0
    table = capsys.readouterr().out
    document = json.loads(out_json.read_text())
    assert list(document["datasets"]) == list(BICUBIC)
    for name, (psnr_ref, (ssim_lo, ssim_hi), vif_ref) in BICUBIC.items():
        result = document["datasets"][name]
        mean = result["mean"]
        assert abs(mean["psnr"] - psnr_ref) <= 0.01, (name, mean)
        assert ssim_lo <= round(mean["ssim"], 3) <= ssim_hi, (name, mean)
        assert mean["vif"] == pytest.approx(vif_ref, abs=0.001), (name, mean)
        assert result["num_images"] == len(result["per_image"])
        assert f"| {name} | {mean['psnr']:.2f}/{mean['ssim']:.3f}/{mean['vif']:.3f} |" in table
    assert len(document["datasets"]["BSD100"]["per_image"]) == 100
    assert "| Set5 | 28.42/0.810/" in table


# === Folder runs and report files ===


def test_folder_run_writes_reports(hr_folder: Path, tmp_path: Path, capsys) -> None:
    out_json, out_csv, sr_dir = tmp_path / "r.json", tmp_path / "r.csv", tmp_path / "sr"
    argv = ["evaluate", "--model", "nearest", "--hr-dir", str(hr_folder), "--no-progress"]
    argv += ["--json", str(out_json), "--csv", str(out_csv), "--save-sr", str(sr_dir)]
    assert cli.main(argv) == 0
    assert "| Tiny | " in capsys.readouterr().out  # .../Tiny/HR is named Tiny

    document = json.loads(out_json.read_text())
    assert document["model"] == "nearest"
    per_image = document["datasets"]["Tiny"]["per_image"]
    assert sorted(per_image) == ["a.png", "b.png", "gray.png"]
    for values in per_image.values():
        assert set(values) == {"psnr", "ssim", "vif"}
    mean = document["datasets"]["Tiny"]["mean"]
    assert mean["psnr"] == pytest.approx(np.mean([v["psnr"] for v in per_image.values()]))

    rows = list(csv.DictReader(out_csv.open()))
    assert [r["image"] for r in rows] == ["a.png", "b.png", "gray.png"]
    assert float(rows[0]["psnr"]) == pytest.approx(per_image["a.png"]["psnr"], abs=1e-6)

    # SR images: mod-cropped size; the gray source is saved gray.
    a_sr = Image.open(sr_dir / "Tiny" / "a.png")
    assert a_sr.size == (68, 64) and a_sr.mode == "RGB"
    assert Image.open(sr_dir / "Tiny" / "gray.png").mode == "L"
    assert not list(tmp_path.glob(".*.part"))


def test_protocol_by_hand(hr_folder: Path) -> None:
    # Recompute one colour and the gray image step by step with the public functions.
    source = protocol.folder_source(hr_folder)
    result = protocol.evaluate_source(_upscaler("bicubic"), source, progress=False)

    hr = np.asarray(Image.open(hr_folder / "a.png"))[:64, :68]
    sr = imresize(imresize(hr, 1 / 4), 4)
    assert result.per_image["a.png"]["psnr"] == pytest.approx(psnr(hr, sr, shave=4))
    assert result.per_image["a.png"]["ssim"] == pytest.approx(ssim(hr, sr, shave=4))
    assert result.per_image["a.png"]["vif"] == pytest.approx(vif(hr, sr, shave=4))

    gray = np.asarray(Image.open(hr_folder / "gray.png"))
    sr_gray = imresize(imresize(np.repeat(gray[..., None], 3, axis=2), 1 / 4), 4)
    np.testing.assert_array_equal(rgb_to_gray(sr_gray), imresize(imresize(gray, 1 / 4), 4))
    # Gray HR is its own Y: scored against the gray SR, not through rgb2ycbcr.
    expected = psnr(gray, imresize(imresize(gray, 1 / 4), 4), shave=4)
    assert result.per_image["gray.png"]["psnr"] == pytest.approx(expected)


def test_keras_generator_file(hr_folder: Path, tmp_path: Path) -> None:
    from keras_srfm.models.generator import build_generator

    model_path = tmp_path / "tiny.keras"
    build_generator(num_blocks=2, filters=8).save(model_path)
    out_json = tmp_path / "g.json"
    argv = ["evaluate", "--model", str(model_path), "--hr-dir", str(hr_folder)]
    assert cli.main([*argv, "--json", str(out_json), "--no-progress"]) == 0
    per_image = json.loads(out_json.read_text())["datasets"]["Tiny"]["per_image"]
    assert all(np.isfinite(v["psnr"]) for v in per_image.values())


def test_nearest_matches_pixel_replication(hr_folder: Path) -> None:
    hr = np.asarray(Image.open(hr_folder / "b.png"))
    scores, sr = protocol.evaluate_image(_upscaler("nearest"), protocol.EvalImage("b.png", hr))
    np.testing.assert_array_equal(sr, nearest(imresize(hr, 1 / 4), 4))
    assert scores["psnr"] == pytest.approx(psnr(hr, sr))


def test_tfds_dataset_matches_folder(shared_data: Path, tmp_path: Path) -> None:
    pytest.importorskip("tfds_builders")
    bench = shared_data / "benchmarks"
    via_tfds = protocol.tfds_source("Set5", str(tmp_path / "tfds"), str(bench / "Set5"))
    via_folder = protocol.folder_source(bench / "Set5" / "HR")
    assert (via_tfds.name, via_tfds.size) == ("Set5", 5)
    upscaler = _upscaler("bicubic")
    a = protocol.evaluate_source(upscaler, via_tfds, progress=False)
    b = protocol.evaluate_source(upscaler, via_folder, progress=False)
    assert a.per_image.keys() == b.per_image.keys()
    for name in a.per_image:
        assert a.per_image[name] == pytest.approx(b.per_image[name], abs=1e-12)


# === Helpers ===


def test_names_and_table() -> None:
    assert protocol.folder_display_name("/data/Set5/HR") == "Set5"
    assert protocol.folder_display_name("/data/my_images") == "my_images"
    assert protocol.unique_names(["Set5", "Set5", "B"]) == ["Set5", "Set5 (2)", "B"]
    assert protocol.tfds_name("Set14") == protocol.tfds_name("srfm_set14") == "srfm_set14"
    result = protocol.DatasetResult(
        "Set5", {"x": {"psnr": 28.4165, "ssim": 0.81008, "vif": 0.4085}}
    )
    assert (
        protocol.markdown_table("bicubic", [result]).splitlines()[-1]
        == "| Set5 | 28.42/0.810/0.408 |"
    )


# === Bad input: one line naming the path, exit 2 ===


@pytest.mark.parametrize("case", ["missing", "empty", "file"])
def test_bad_input_exits_2(tmp_path: Path, hr_folder: Path, case: str, capsys) -> None:
    if case == "missing":
        bad = tmp_path / "nope"
    elif case == "empty":
        bad = tmp_path / "empty"
        bad.mkdir()
    else:
        bad = hr_folder / "a.png"
    out_json = tmp_path / "out.json"
    argv = ["evaluate", "--model", "bicubic", "--hr-dir", str(bad), "--json", str(out_json)]
    assert cli.main([*argv, "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("srfm evaluate: error:")
    assert str(bad) in err[0]
    assert not out_json.exists()


def test_no_input_exits_2(capsys) -> None:
    assert cli.main(["evaluate", "--model", "bicubic"]) == 2
    assert "--hr-dir" in capsys.readouterr().err


def test_unknown_dataset_exits_2(capsys) -> None:
    assert cli.main(["evaluate", "--model", "bicubic", "--dataset", "Set6"]) == 2
    assert "Set6" in capsys.readouterr().err


# === Faults lose nothing: per-image failures, outputs checked first ===


def test_a_bad_image_is_named_and_the_others_are_kept(hr_folder: Path, tmp_path: Path, capsys):
    (hr_folder / "broken.png").write_bytes(b"not a png at all")
    _write_png(hr_folder / "small.png", _smooth_image(3, (24, 24, 3)))  # < VIF window after shave
    Image.fromarray(_smooth_image(4, (64, 60, 3))).save(hr_folder / "anim.gif")  # GIF is read too
    (hr_folder / "notes.txt").write_text("not an image")
    out_json, out_csv, sr_dir = tmp_path / "r.json", tmp_path / "r.csv", tmp_path / "sr"
    argv = ["evaluate", "--model", "nearest", "--hr-dir", str(hr_folder), "--no-progress"]
    argv += ["--json", str(out_json), "--csv", str(out_csv), "--save-sr", str(sr_dir)]
    assert cli.main(argv) == 1
    captured = capsys.readouterr()
    errors = [line for line in captured.err.splitlines() if ": error: " in line]
    assert len(errors) == 2
    assert errors[0].startswith("srfm evaluate: error: Tiny/broken.png: cannot read image")
    assert errors[1].startswith("srfm evaluate: error: Tiny/small.png: VIF needs at least")
    assert "skipped 1 file(s)" in captured.err and "notes.txt" in captured.err
    assert "| Tiny | " in captured.out and "(2 of 6 failed)" in captured.out

    good = ["a.png", "anim.gif", "b.png", "gray.png"]
    document = json.loads(out_json.read_text())["datasets"]["Tiny"]
    assert sorted(document["per_image"]) == good and document["num_images"] == 4
    assert sorted(document["failed"]) == ["broken.png", "small.png"]
    assert "VIF" in document["failed"]["small.png"]
    assert sorted(r["image"] for r in csv.DictReader(out_csv.open())) == good
    assert sorted(p.name for p in (sr_dir / "Tiny").iterdir()) == [
        Path(n).stem + ".png" for n in good
    ]
    # The kept results equal a run on the good images alone.
    clean = tmp_path / "clean" / "HR"
    for name in good:
        clean.mkdir(parents=True, exist_ok=True)
        (clean / name).write_bytes((hr_folder / name).read_bytes())
    alone = protocol.evaluate_source(
        _upscaler("nearest"), protocol.folder_source(clean), progress=False
    )
    assert alone.per_image == document["per_image"]  # JSON keeps floats exactly


@pytest.mark.parametrize("flag", ["--json", "--csv", "--save-sr"])
def test_unwritable_outputs_fail_before_the_evaluation(
    hr_folder: Path, tmp_path: Path, flag: str, capsys, monkeypatch
) -> None:
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    ran = []
    monkeypatch.setattr(protocol, "evaluate_image", lambda *a, **k: ran.append(a))
    argv = ["evaluate", "--model", "nearest", "--hr-dir", str(hr_folder), "--no-progress"]
    assert cli.main([*argv, flag, str(blocker / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        f"srfm evaluate: error: {flag} {blocker / 'out'} is not writable "
        f"({blocker} is a file, not a folder)"
    ]
    assert ran == []  # nothing was evaluated
    if flag != "--save-sr":  # an existing folder given as the report file
        assert cli.main([*argv, flag, str(tmp_path)]) == 2
        assert "is a folder" in capsys.readouterr().err
        assert ran == []


def test_library_evaluation_is_strict_by_default(hr_folder: Path) -> None:
    """Without `on_failure`, a bad image raises (naming it) instead of shrinking the mean."""
    _write_png(hr_folder / "small.png", _smooth_image(3, (24, 24, 3)))
    source = protocol.folder_source(hr_folder)
    with pytest.raises(ValueError, match=r"^Tiny/small\.png: VIF needs at least"):
        protocol.evaluate_source(_upscaler("nearest"), source, progress=False)
    seen = []
    result = protocol.evaluate_source(
        _upscaler("nearest"), source, progress=False, on_failure=lambda *a: seen.append(a)
    )
    assert [a[:2] for a in seen] == [("Tiny", "small.png")]
    assert sorted(result.per_image) == ["a.png", "b.png", "gray.png"]
