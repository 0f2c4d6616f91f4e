"""`srfm evaluate --metrics ...niqe`: NIQE of SR and HR in the table, JSON and CSV."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from keras_srfm import cli
from keras_srfm.evaluation import protocol
from keras_srfm.imaging.imresize import imresize
from keras_srfm.metrics import fidelity, niqe


def _texture(seed: int, shape: tuple[int, ...]) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = np.cumsum(np.cumsum(rng.normal(size=shape), axis=0), axis=1)
    base = (base - base.min()) / np.ptp(base) * 200 + 20 + rng.normal(scale=8, size=shape)
    return np.clip(np.round(base), 0, 255).astype(np.uint8)


@pytest.fixture()
def niqe_params(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> niqe.NiqeParams:
    """A synthetic pristine model in a file named by SRFM_NIQE_PARAMS (no shared data needed)."""
    rng = np.random.default_rng(0)
    a = rng.normal(size=(36, 36))
    x = np.arange(7) - 3.0
    g = np.exp(-(x * x) / (2 * (7 / 6) ** 2))
    path = tmp_path / "params.npz"
    np.savez(
        path,
        mu_pris_param=rng.normal(size=(1, 36)),
        cov_pris_param=a @ a.T / 36,
        gaussian_window=np.outer(g, g) / np.outer(g, g).sum(),
    )
    monkeypatch.setenv(niqe.NIQE_PARAMS_ENV, str(path))
    return niqe.NiqeParams.from_npz(path)


@pytest.fixture()
def hr_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "Tiny" / "HR"
    folder.mkdir(parents=True)
    # 2 x 1 NIQE blocks after the 4-pixel shave; one gray file.
    Image.fromarray(_texture(0, (208, 112, 3))).save(folder / "a.png")
    Image.fromarray(_texture(1, (112, 210))).save(folder / "gray.png")  # mode L, not mod 4
    return folder


def test_niqe_in_table_json_and_csv(
    hr_folder: Path, niqe_params: niqe.NiqeParams, tmp_path: Path, capsys
) -> None:
    out_json, out_csv = tmp_path / "r.json", tmp_path / "r.csv"
    argv = ["evaluate", "--model", "bicubic", "--hr-dir", str(hr_folder), "--no-progress"]
    argv += ["--metrics", "psnr,niqe", "--json", str(out_json), "--csv", str(out_csv)]
    assert cli.main(argv) == 0
    table = capsys.readouterr().out
    assert "| Dataset | bicubic (PSNR/NIQE) | HR NIQE |" in table
    assert "lower is better" in table

    document = json.loads(out_json.read_text())
    assert document["lower_is_better"] == ["niqe"] and "NIQE" in document["protocol"]
    tiny = document["datasets"]["Tiny"]
    # By hand: the SR's Y (the gray luma for the gray file), shave 4; HR mod-cropped.
    hr = np.asarray(Image.open(hr_folder / "a.png"))
    sr = imresize(imresize(hr, 1 / 4), 4)
    assert tiny["per_image"]["a.png"] == {
        "psnr": pytest.approx(fidelity.psnr(hr, sr)),
        "niqe": pytest.approx(niqe.niqe(sr, params=niqe_params)),
    }
    gray = np.asarray(Image.open(hr_folder / "gray.png"))[:, :208]
    sr_gray = fidelity.rgb_to_gray(imresize(imresize(np.dstack([gray] * 3), 1 / 4), 4))
    assert tiny["per_image"]["gray.png"]["niqe"] == pytest.approx(
        niqe.niqe(sr_gray, params=niqe_params)
    )
    assert tiny["hr"]["per_image"]["a.png"]["niqe"] == pytest.approx(
        niqe.niqe(hr, params=niqe_params)
    )
    assert tiny["hr"]["mean"]["niqe"] == pytest.approx(
        np.mean([v["niqe"] for v in tiny["hr"]["per_image"].values()])
    )
    assert f"| Tiny | {tiny['mean']['psnr']:.2f}/{tiny['mean']['niqe']:.3f} |" in table

    rows = list(csv.DictReader(out_csv.open()))
    assert list(rows[0]) == ["dataset", "image", "psnr", "niqe", "hr_niqe"]
    assert float(rows[0]["hr_niqe"]) == pytest.approx(tiny["hr"]["per_image"]["a.png"]["niqe"])


def test_default_metrics_unchanged(hr_folder: Path, tmp_path: Path) -> None:
    source = protocol.folder_source(hr_folder)
    from keras_srfm.inference.upscalers import load_upscaler

    result = protocol.evaluate_source(load_upscaler("bicubic"), source, progress=False)
    assert result.metrics == ("psnr", "ssim", "vif") and not result.hr
    assert "hr" not in result.to_dict() and "NIQE" not in protocol.markdown_table("m", [result])


def test_cli_default_is_the_library_default() -> None:
    from keras_srfm.commands import evaluate

    assert evaluate.DEFAULT_METRICS == protocol.DEFAULT_METRICS


def test_parse_metrics() -> None:
    assert protocol.parse_metrics("PSNR, niqe,psnr") == ("psnr", "niqe")
    with pytest.raises(ValueError, match="lpips"):
        protocol.parse_metrics("psnr,lpips")


@pytest.mark.parametrize("case", ["unknown", "no-params"])
def test_bad_niqe_runs_exit_2(
    case: str, hr_folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    out_json = tmp_path / "out.json"
    names = "psnr,nique" if case == "unknown" else "psnr,niqe"
    if case == "no-params":
        monkeypatch.setenv(niqe.NIQE_PARAMS_ENV, str(tmp_path / "absent.npz"))
    argv = ["evaluate", "--model", "bicubic", "--hr-dir", str(hr_folder), "--metrics", names]
    assert cli.main([*argv, "--json", str(out_json), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("srfm evaluate: error:")
    assert {"unknown": "nique", "no-params": "absent.npz"}[case] in err[0]
    assert not out_json.exists()


def test_too_small_for_niqe_is_a_per_image_failure(
    hr_folder: Path, niqe_params: niqe.NiqeParams, tmp_path: Path, capsys
) -> None:
    Image.fromarray(_texture(3, (64, 64, 3))).save(hr_folder / "small.png")
    out_json = tmp_path / "out.json"
    argv = ["evaluate", "--model", "bicubic", "--hr-dir", str(hr_folder), "--no-progress"]
    assert cli.main([*argv, "--metrics", "psnr,niqe", "--json", str(out_json)]) == 1
    captured = capsys.readouterr()
    assert "small.png" in captured.err and "two 96x96 blocks" in captured.err
    assert "(PSNR/NIQE)" in captured.out and "1 of 3 failed" in captured.out
    tiny = json.loads(out_json.read_text())["datasets"]["Tiny"]
    assert sorted(tiny["per_image"]) == sorted(tiny["hr"]["per_image"]) == ["a.png", "gray.png"]
    assert "two 96x96 blocks" in tiny["failed"]["small.png"]


def test_metric_names_kept_when_every_image_fails() -> None:
    result = protocol.DatasetResult("S", {}, failed={"x.png": "too small"}, requested=("niqe",))
    assert "(NIQE) | HR NIQE |" in protocol.markdown_table("m", [result])
