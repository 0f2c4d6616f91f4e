"""`srfm compare`: figure content, automatic zoom box, parsing and one-line errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from keras_srfm import cli
from keras_srfm.evaluation import compare, demo
from keras_srfm.evaluation.protocol import bicubic_pair
from keras_srfm.imaging.imresize import nearest


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from keras_srfm.models.generator import build_generator

    path = tmp_path_factory.mktemp("model") / "tiny.keras"
    build_generator(num_blocks=2, filters=8).save(path)
    return path


@pytest.fixture(scope="module")
def hr_image(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A synthetic HR image (the demo chart, 130 px: not a multiple of 4)."""
    path = tmp_path_factory.mktemp("images") / "chart.png"
    Image.fromarray(demo.render_chart(130)).save(path)
    return path


def find(figure: np.ndarray, image: np.ndarray) -> tuple[int, int] | None:
    """Top-left (y, x) where `image` appears exactly in `figure`, or None."""
    h, w = image.shape[:2]
    rows = np.lib.stride_tricks.sliding_window_view(figure, (w, 3), axis=(1, 2))[:, :, 0]
    ys, xs = np.nonzero(np.all(rows == image[0], axis=(-2, -1)))
    for y, x in zip(ys, xs, strict=True):
        if y + h <= figure.shape[0] and np.array_equal(figure[y : y + h, x : x + w], image):
            return int(y), int(x)
    return None


# === Box ===


@pytest.mark.parametrize("shape", [(128, 128), (40, 200), (300, 52), (24, 24)])
def test_auto_box_is_inside_the_image(shape: tuple[int, int]) -> None:
    image = np.random.default_rng(0).integers(0, 256, (*shape, 3), dtype=np.uint8)
    box = compare.auto_box(image)
    compare.check_box(box, image.shape)
    assert box.x >= 4 and box.y >= 4
    assert box.x + box.w <= shape[1] - 4 and box.y + box.h <= shape[0] - 4


def test_auto_box_finds_the_textured_region() -> None:
    image = np.full((160, 200, 3), 128, dtype=np.uint8)
    image[90:130, 120:160] = np.random.default_rng(1).integers(0, 256, (40, 40, 3))
    box = compare.auto_box(image, size=40)
    assert (box.x, box.y, box.w, box.h) == (120, 90, 40, 40)


def test_auto_box_rejects_tiny_images() -> None:
    with pytest.raises(ValueError, match="too small"):
        compare.auto_box(np.zeros((20, 20, 3), np.uint8))


def test_parse_box_and_models() -> None:
    assert compare.parse_box("1, 2,30,40") == compare.Box(1, 2, 30, 40)
    for bad in ("1,2,3", "a,b,c,d", "-1,0,20,20", ""):
        with pytest.raises(ValueError, match="x,y,w,h"):
            compare.parse_box(bad)
    with pytest.raises(ValueError, match="at least"):
        compare.check_box(compare.Box(0, 0, 8, 40), (100, 100, 3))
    assert compare.parse_model_specs(["M_p=run/p.keras", "nearest", "x/gen.tflite"]) == [
        ("M_p", "run/p.keras"),
        ("nearest", "nearest"),
        ("gen", "x/gen.tflite"),
    ]
    for bad in (["=a.keras"], ["a="], ["a=x", "a=y"], ["HR=x"]):
        with pytest.raises(ValueError):
            compare.parse_model_specs(bad)


def test_crop_metrics_differ_from_image_metrics() -> None:
    hr = demo.render_chart(128)
    box = compare.Box(40, 40, 32, 32)
    runs = [("near", lambda lr: nearest(lr, 4))]
    image = compare.compare_models(hr, runs, box, metrics="image")
    crop = compare.compare_models(hr, runs, box, metrics="crop")
    assert [p.name for p in image] == ["near", "HR"] and image[-1].scores is None
    assert image[0].scores != crop[0].scores
    np.testing.assert_array_equal(image[-1].crop, box.slice(hr))


# === CLI ===


def test_compare_writes_figure(
    tiny_model: Path, hr_image: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "fig.png"
    argv = ["compare", "--image", str(hr_image), "--models", f"tiny={tiny_model}", "NN=nearest"]
    code = cli.main([*argv, "--zoom", "64", "--output", str(out)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fig.png"]
    lines = captured.out.strip().splitlines()
    assert [line.split()[0] for line in lines] == ["bicubic", "tiny", "NN"]
    assert all("PSNR" in line and "SSIM" in line for line in lines)

    hr, lr = bicubic_pair(np.asarray(Image.open(hr_image).convert("RGB")))
    box = compare.auto_box(hr)
    assert f"box {box}" in captured.err
    figure = np.asarray(Image.open(out).convert("RGB"))
    factor = max(1, round(64 / box.w))
    for crop in (box.slice(hr), box.slice(nearest(lr, 4))):
        zoomed = np.repeat(np.repeat(crop, factor, axis=0), factor, axis=1)
        assert find(figure, zoomed) is not None


def test_compare_with_box_and_crop_metrics(hr_image: Path, tmp_path: Path) -> None:
    out = tmp_path / "fig.jpg"
    argv = ["compare", "--image", str(hr_image), "--models", "nearest", "--box", "8,8,32,24"]
    assert cli.main([*argv, "--metrics", "crop", "-o", str(out)]) == 0
    assert Image.open(out).format == "JPEG"


@pytest.mark.parametrize(
    "change, message",
    [
        ({"--image": "missing.png"}, "image not found"),
        ({"--image": "not_an_image.png"}, "cannot read image"),
        ({"--box": "1,2,3"}, "x,y,w,h"),
        ({"--box": "100,100,40,40"}, "inside"),
        ({"--box": "0,0,8,8"}, "at least"),
        ({"--models": "=nearest"}, "NAME=SPEC"),
        ({"--models": "bicubic=nearest"}, "used twice"),
        ({"--models": "m=missing.keras"}, "model not found"),
        ({"--models": "m=model.txt"}, "model must be"),
        ({"--output": "fig.txt"}, "output must end in"),
        ({"--output": "nowhere/fig.png"}, "output folder does not exist"),
        ({"--zoom": "4"}, "--zoom"),
    ],
)
def test_compare_errors_are_one_line(
    change: dict[str, str],
    message: str,
    hr_image: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture,
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "not_an_image.png").write_text("hello")
    (tmp_path / "model.txt").write_text("hello")
    before = sorted(tmp_path.iterdir())
    options = {"--image": str(hr_image), "--models": "nearest", "--output": "fig.png", **change}
    argv = ["compare"] + [part for item in options.items() for part in item]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("srfm compare: error:") and message in err[0], err
    assert sorted(tmp_path.iterdir()) == before  # nothing written


def test_compare_on_a_real_image(shared_data: Path, tmp_path: Path) -> None:
    image = shared_data / "benchmarks" / "Set14" / "HR" / "comic.png"
    if not image.is_file():
        pytest.skip(f"{image} not found")
    out = tmp_path / "comic.png"
    assert (
        cli.main(["compare", "--image", str(image), "--models", "NN=nearest", "-o", str(out)]) == 0
    )
    assert Image.open(out).width > 3 * 192
