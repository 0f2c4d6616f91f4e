"""`srfm plot-pd`: the perception-distortion plane from small synthetic result files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from keras_srfm import cli
from keras_srfm.evaluation import pd_plane, protocol
from keras_srfm.imaging import atomic
from keras_srfm.inference import blend


def _evaluation_file(
    folder: Path, model: str, psnr: float, niqe: float, hr: float = 3.1, name: str = "BSD100"
) -> Path:
    result = protocol.DatasetResult(
        name,
        {
            "a.png": {"psnr": psnr - 1, "niqe": niqe + 0.5},
            "b.png": {"psnr": psnr + 1, "niqe": niqe - 0.5},
        },
        {"a.png": {"niqe": hr}, "b.png": {"niqe": hr}},
    )
    path = folder / f"{model}.json"
    atomic.write_json(path, protocol.results_json(model, [result]))
    return path


def _sweep_file(folder: Path) -> Path:
    path = folder / "sweep.json"
    document = {
        "kind": blend.SWEEP_KIND,
        "models": ["exported/srfm_mp.keras", "srfm_pcsa"],
        "metrics": ["psnr", "niqe"],
        "datasets": {
            "BSD100": {
                "points": [
                    {"alpha": 1.0, "mean": {"psnr": 25.0, "niqe": 4.0}},
                    {"alpha": 0.0, "mean": {"psnr": 26.5, "niqe": 6.0}},
                    {"alpha": 0.5, "mean": {"psnr": 26.0, "niqe": 5.0}},
                ],
                "hr": {"mean": {"niqe": 3.1}},
            }
        },
    }
    path.write_text(json.dumps(document))
    return path


@pytest.fixture()
def files(tmp_path: Path) -> list[Path]:
    return [
        _evaluation_file(tmp_path, "bicubic", 25.96, 7.2),
        _evaluation_file(tmp_path, "srfm_mp", 26.7, 6.1),
        _sweep_file(tmp_path),
    ]


def test_collect_reads_points_curves_and_hr(files: list[Path]) -> None:
    plane = pd_plane.collect(files, "bsd100")  # case-insensitive; TFDS names work too
    assert plane.dataset == "bsd100" and plane.hr_niqe == pytest.approx(3.1)
    assert [(p.label, p.psnr, p.niqe) for p in plane.points] == [
        ("bicubic", pytest.approx(25.96), pytest.approx(7.2)),
        ("srfm_mp", pytest.approx(26.7), pytest.approx(6.1)),
    ]
    (curve,) = plane.curves
    assert curve.label == "blend srfm_mp -> srfm_pcsa"
    assert curve.alphas == (0.0, 0.5, 1.0) and curve.psnr == (26.5, 26.0, 25.0)
    assert pd_plane.collect(files[:1], "srfm_bsd100").points[0].label == "bicubic"


def test_figure_shows_the_data(files: list[Path]) -> None:
    fig = pd_plane.draw(pd_plane.collect(files))
    (ax,) = fig.axes
    assert "lower is better" in ax.get_ylabel() and "PSNR" in ax.get_xlabel()
    lines = {line.get_label(): line for line in ax.get_lines()}
    assert list(lines["srfm_mp"].get_xdata()) == [pytest.approx(26.7)]
    assert list(lines["blend srfm_mp -> srfm_pcsa"].get_ydata()) == [6.0, 5.0, 4.0]
    hr = lines["HR (ground truth, PSNR = ∞)"]
    assert list(hr.get_ydata()) == [pytest.approx(3.1)] * 2  # axhline
    # The HR marker sits on the right edge: PSNR = inf.
    edge = [line for line in ax.get_lines() if list(line.get_xdata()) == [ax.get_xlim()[1]]]
    assert len(edge) == 1 and list(edge[0].get_ydata()) == [pytest.approx(3.1)]
    texts = [t.get_text() for t in ax.texts]
    assert "α=0.5" in texts and "srfm_mp" in texts


def test_cli_writes_png(files: list[Path], tmp_path: Path, capsys) -> None:
    out = tmp_path / "figs" / "pd.png"
    assert cli.main(["plot-pd", *map(str, files), "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "lower is better" in printed and "HR" in printed and "alpha=0.5" in printed
    with Image.open(out) as image:
        assert image.format == "PNG" and image.size == (900, 660)


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("dataset", "no dataset 'Set5'"),
        ("no-niqe", "no NIQE"),
        ("hr", "HR NIQE differs"),
        ("suffix", ".png"),
        ("missing", "not found"),
        ("not-json", "not JSON"),
    ],
)
def test_cli_errors_are_one_line(
    case: str, expected: str, files: list[Path], tmp_path: Path, capsys
) -> None:
    argv = ["plot-pd", *map(str, files), "-o", str(tmp_path / "pd.png")]
    if case == "dataset":
        argv += ["--dataset", "Set5"]
    elif case == "no-niqe":
        result = protocol.DatasetResult("BSD100", {"a.png": {"psnr": 25.0, "ssim": 0.7}})
        old = tmp_path / "old.json"
        atomic.write_json(old, protocol.results_json("old", [result]))
        argv.insert(1, str(old))
    elif case == "hr":
        argv.insert(1, str(_evaluation_file(tmp_path, "other", 26.0, 6.0, hr=3.5)))
    elif case == "suffix":
        argv[-1] = str(tmp_path / "pd.pdf")
    elif case == "missing":
        argv.insert(1, str(tmp_path / "absent.json"))
    else:
        bad = tmp_path / "bad.json"
        bad.write_text("{not json")
        argv.insert(1, str(bad))
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("srfm plot-pd: error:") and expected in err[0]
    assert not (tmp_path / "pd.png").exists() and not (tmp_path / "pd.pdf").exists()
