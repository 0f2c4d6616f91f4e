"""The `srfm_*` TFDS builders: offline from the real images and from dummy data, online mocked.

Every build goes to a tmp `data_dir`. The real-image tests read SRFM_DATA_DIR (see
tests/conftest.py) and skip when it is absent.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import tensorflow_datasets as tfds
from PIL import Image

import tfds_builders
from tfds_builders import sr_builder

BUILDERS_DIR = Path(tfds_builders.__file__).parent

# Examples per split in each builder's dummy_data/.
DUMMY_SPLITS = {
    "srfm_div2k": {"train": 2, "validation": 1},
    "srfm_flickr2k": {"train": 2},
    "srfm_set5": {"test": 2},
    "srfm_set14": {"test": 2},
    "srfm_bsd100": {"test": 2},
    "srfm_urban100": {"test": 2},
}


def _prepare(name: str, data_dir: Path, manual_dir: Path | None = None) -> tfds.core.DatasetBuilder:
    builder = tfds.builder(name, data_dir=str(data_dir))
    config = tfds.download.DownloadConfig(manual_dir=str(manual_dir) if manual_dir else None)
    builder.download_and_prepare(download_config=config)
    return builder


def _examples(builder: tfds.core.DatasetBuilder, split: str) -> dict[str, dict]:
    return {ex["filename"].decode(): ex for ex in tfds.as_numpy(builder.as_dataset(split=split))}


def _read_rgb(path: Path) -> np.ndarray:
    with Image.open(path) as img:
        return np.asarray(img.convert("RGB"))


def _check_pairs(examples: dict[str, dict], scale: int = 4) -> None:
    for name, ex in examples.items():
        hr, lr = ex["hr"], ex["lr"]
        assert hr.dtype == np.uint8 and lr.dtype == np.uint8, name
        assert hr.shape[2] == 3 and lr.shape[2] == 3, name
        assert hr.shape[0] % scale == 0 and hr.shape[1] % scale == 0, name
        assert (lr.shape[0] * scale, lr.shape[1] * scale) == hr.shape[:2], name
        height, width = ex["original_size"]
        assert 0 <= height - hr.shape[0] < scale and 0 <= width - hr.shape[1] < scale, name
        assert ex["lr_source"].decode() in (sr_builder.LR_PROVIDED, sr_builder.LR_GENERATED)


# === Registration and dummy data ===


def test_registered_names_do_not_clash_with_tfds_div2k():
    assert "div2k" not in tfds_builders.NAMES
    assert tfds.builder_cls("div2k").__module__.startswith("tensorflow_datasets.")
    for name in tfds_builders.NAMES:
        builder_cls = tfds.builder_cls(name)
        assert builder_cls is tfds_builders.BUILDERS[name]
        assert [c.name for c in builder_cls.BUILDER_CONFIGS] == [
            "bicubic_x2",
            "bicubic_x3",
            "bicubic_x4",
        ]
        assert builder_cls.DEFAULT_BUILDER_CONFIG_NAME == "bicubic_x4"


@pytest.mark.parametrize("name", sorted(DUMMY_SPLITS))
def test_tfds_load_from_dummy_data(name, tmp_path):
    manual = BUILDERS_DIR / name / "dummy_data"
    for split, count in DUMMY_SPLITS[name].items():
        ds = tfds.load(
            name,
            split=split,
            data_dir=str(tmp_path),
            download_and_prepare_kwargs={
                "download_config": tfds.download.DownloadConfig(manual_dir=str(manual))
            },
        )
        examples = {ex["filename"].decode(): ex for ex in tfds.as_numpy(ds)}
        assert len(examples) == count
        _check_pairs(examples)


def test_dummy_data_layout_rules(tmp_path):
    """Provided vs generated LR, ignored distractors, grayscale and mod-crop."""
    div2k = _examples(
        _prepare("srfm_div2k", tmp_path, BUILDERS_DIR / "srfm_div2k/dummy_data"), "train"
    )
    assert div2k["0001.png"]["lr_source"] == b"provided"  # not the LR_unknown file
    dummy = BUILDERS_DIR / "srfm_div2k/dummy_data"
    np.testing.assert_array_equal(
        div2k["0001.png"]["lr"], _read_rgb(dummy / "DIV2K_train_LR_bicubic/X4/0001x4.png")
    )
    assert div2k["0002.png"]["lr_source"] == b"generated"
    assert tuple(div2k["0002.png"]["original_size"]) == (44, 37)
    assert div2k["0002.png"]["hr"].shape == (44, 36, 3)

    set14 = _examples(
        _prepare("srfm_set14", tmp_path, BUILDERS_DIR / "srfm_set14/dummy_data"), "test"
    )
    bridge = set14["bridge.png"]
    assert bridge["original_channels"] == 1
    assert (bridge["hr"][..., 0] == bridge["hr"][..., 2]).all()

    bsd = _examples(
        _prepare("srfm_bsd100", tmp_path, BUILDERS_DIR / "srfm_bsd100/dummy_data"), "test"
    )
    assert sorted(bsd) == ["img_001.png", "img_002.png"]  # `_SRF_4_bicubic` is not an HR
    assert bsd["img_001.png"]["lr_source"] == b"provided"
    assert bsd["img_002.png"]["lr_source"] == b"generated"


def test_find_pairs_picks_the_dataset_folder_and_scale():
    set5_dummy = sr_builder.epath.Path(BUILDERS_DIR / "srfm_set5/dummy_data")
    pairs = sr_builder.find_pairs([set5_dummy], 4, ("set5",))
    assert [p.key for p in pairs] == ["baby", "bird"]  # Set14/comic left out
    assert all(p.lr is not None for p in pairs)
    assert all(p.lr is None for p in sr_builder.find_pairs([set5_dummy], 2, ("set5",)))


# === Errors name the file ===


def _urban100_hr(folder: Path, count: int = 2) -> None:
    (folder / "HR").mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(1, count + 1):
        image = rng.integers(0, 256, (20 + i, 24, 3), dtype=np.uint8)
        Image.fromarray(image).save(folder / "HR" / f"img_{i:03d}.png")


def test_corrupt_image_error_names_the_file(tmp_path):
    manual = tmp_path / "manual"
    _urban100_hr(manual)
    bad = manual / "HR" / "img_002.png"
    bad.write_bytes(bad.read_bytes()[:60])  # truncated PNG
    with pytest.raises(Exception, match="img_002.png"):
        _prepare("srfm_urban100", tmp_path / "tfds", manual)


def test_lr_of_wrong_size_error_names_the_file(tmp_path):
    manual = tmp_path / "manual"
    _urban100_hr(manual, count=1)
    (manual / "LR_bicubic" / "X4").mkdir(parents=True)
    Image.fromarray(np.zeros((3, 3, 3), np.uint8)).save(manual / "LR_bicubic/X4/img_001x4.png")
    with pytest.raises(Exception, match="img_001x4.png"):
        _prepare("srfm_urban100", tmp_path / "tfds", manual)


def test_missing_manual_dir_is_an_error_not_a_download(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(FileNotFoundError, match="nowhere"):
        _prepare("srfm_set5", tmp_path / "tfds", missing)


def test_manual_dir_without_images_names_the_folder(tmp_path):
    manual = tmp_path / "manual"
    manual.mkdir()
    (manual / "notes.txt").write_text("no images here")
    with pytest.raises(FileNotFoundError, match="manual"):
        _prepare("srfm_set5", tmp_path / "tfds", manual)


# === Online way in (downloads mocked: no network here) ===


def _fake_download(mapping: dict[str, Path], seen: list[str]):
    def download_and_extract(self, urls):
        seen.extend(urls.values())
        return {key: mapping[key] for key in urls}

    return download_and_extract


def test_div2k_downloads_registered_urls(tmp_path, monkeypatch):
    dummy = BUILDERS_DIR / "srfm_div2k/dummy_data"
    mapping = {}
    for key, folder in {
        "train_hr": "DIV2K_train_HR",
        "valid_hr": "DIV2K_valid_HR",
        "train_lr": "DIV2K_train_LR_bicubic",
        "valid_lr": "DIV2K_valid_LR_bicubic",
    }.items():
        shutil.copytree(dummy / folder, tmp_path / "dl" / key / folder)
        mapping[key] = tmp_path / "dl" / key
    seen: list[str] = []
    monkeypatch.setattr(
        tfds.download.DownloadManager, "download_and_extract", _fake_download(mapping, seen)
    )
    builder = _prepare("srfm_div2k", tmp_path / "tfds")
    assert builder.info.splits["train"].num_examples == 2
    assert builder.info.splits["validation"].num_examples == 1
    registered = tfds.core.download.checksums.load_url_infos(
        BUILDERS_DIR / "srfm_div2k/checksums.tsv"
    )
    assert set(seen) <= set(registered)
    assert len(seen) == 4


def test_benchmark_downloads_edsr_pack(tmp_path, monkeypatch):
    extracted = tmp_path / "dl" / "benchmark"
    shutil.copytree(BUILDERS_DIR / "srfm_set5/dummy_data", extracted / "benchmark")
    seen: list[str] = []
    monkeypatch.setattr(
        tfds.download.DownloadManager,
        "download_and_extract",
        _fake_download({"benchmark": extracted}, seen),
    )
    builder = _prepare("srfm_set5", tmp_path / "tfds")
    assert seen == [sr_builder.EDSR_BENCHMARK_URL]
    assert builder.info.splits["test"].num_examples == 2


# === Real images (SRFM_DATA_DIR) ===


@pytest.mark.parametrize(
    ("name", "folder", "count"),
    [
        ("srfm_set5", "Set5", 5),
        ("srfm_set14", "Set14", 14),
        pytest.param("srfm_bsd100", "BSD100", 100, marks=pytest.mark.slow),
    ],
)
def test_benchmarks_from_shared_data(name, folder, count, shared_data, tmp_path):
    # The whole benchmarks folder as manual_dir: each builder must pick its own set.
    builder = _prepare(name, tmp_path, shared_data / "benchmarks")
    examples = _examples(builder, "test")
    assert len(examples) == count
    _check_pairs(examples)
    for filename, ex in examples.items():
        stem = Path(filename).stem
        assert ex["lr_source"] == b"provided"
        lr_file = shared_data / "benchmarks" / folder / "LR_bicubic" / "X4" / f"{stem}x4.png"
        np.testing.assert_array_equal(ex["lr"], _read_rgb(lr_file))
        np.testing.assert_array_equal(
            ex["hr"], _read_rgb(shared_data / "benchmarks" / folder / "HR" / filename)
        )
    if name == "srfm_set14":
        assert examples["bridge.png"]["original_channels"] == 1


def test_generated_lr_matches_matlab_files(shared_data, tmp_path):
    """Set5 from HR only: LR made by keras_srfm.imaging.imresize equals the MATLAB LR_bicubic files."""
    manual = tmp_path / "manual" / "HR"
    manual.mkdir(parents=True)
    for path in (shared_data / "benchmarks/Set5/HR").glob("*.png"):
        (manual / path.name).symlink_to(path)
    examples = _examples(_prepare("srfm_set5", tmp_path / "tfds", manual.parent), "test")
    assert len(examples) == 5
    for filename, ex in examples.items():
        assert ex["lr_source"] == b"generated"
        lr_file = shared_data / f"benchmarks/Set5/LR_bicubic/X4/{Path(filename).stem}x4.png"
        np.testing.assert_array_equal(ex["lr"], _read_rgb(lr_file))


@pytest.mark.slow
@pytest.mark.parametrize(("name", "count"), [("srfm_div2k", 2), ("srfm_flickr2k", 4)])
def test_training_sets_from_shared_samples(name, count, shared_data, tmp_path):
    # samples/ holds both DIV2K and Flickr2K: each builder takes its own folder.
    builder = _prepare(name, tmp_path, shared_data / "samples")
    assert builder.info.splits["train"].num_examples == count
    assert "validation" not in builder.info.splits  # no DIV2K validation images on disk
    examples = _examples(builder, "train")
    _check_pairs(examples)
    assert all(ex["lr_source"] == b"provided" for ex in examples.values())
    if name == "srfm_div2k":
        assert examples["0004.png"]["hr"].shape == (1344, 2040, 3)
