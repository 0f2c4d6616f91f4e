"""MOS study tool (Sec. V-C): prepare, the rating app's endpoints, the database and the report.

All images are synthetic (numpy), 64x64-ish, so nothing depends on the shared data. The real
server process (SIGKILL durability, lock) is in test_mos_server.py; the browser run in
test_mos_browser.py.
"""

from __future__ import annotations

import csv
import json
import math
import os
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from keras_srfm import cli
from keras_srfm.imaging.imresize import imresize, nearest
from keras_srfm.mos.db import (
    AlreadyRatedError,
    NotShownError,
    OutOfOrderError,
    RatingStore,
    UnknownItemError,
)
from keras_srfm.mos.prepare import prepare_study
from keras_srfm.mos.report import write_report
from keras_srfm.mos.server import MAX_BODY_BYTES, create_app
from keras_srfm.mos.study import load_study

METHODS = ["NN", "bicubic", "M_fake", "HR"]
TOKEN_IN_PAGE = re.compile(r'name="token" value="([0-9a-f]{24})"')


def _names_a_method(response, app) -> bool:
    """Whether a response's headers name a method. The session cookie is read as its payload:
    its signature is random base64, which holds "NN" or "HR" now and then (the test was flaky)."""
    headers = [f"{k}: {v}" for k, v in response.headers.items() if k != "Set-Cookie"]
    serializer = app.session_interface.get_signing_serializer(app)
    for cookie in response.headers.getlist("Set-Cookie"):
        name, _, rest = cookie.partition("=")
        value, _, attributes = rest.partition(";")
        payload = serializer.loads(value) if name == app.config["SESSION_COOKIE_NAME"] and value else value
        headers.append(f"{name}: {payload}; {attributes}")
    return any(m in line for m in METHODS for line in headers)


def fake_model(lr: np.ndarray) -> np.ndarray:
    """A stand-in 'model': NN upscale with the colour channels reversed (any uint8 x4 works)."""
    return np.ascontiguousarray(nearest(lr, 4)[..., ::-1])


def draw_images(folder: Path, count: int, height: int = 64, width: int = 66) -> Path:
    """Writes `count` synthetic RGB PNGs (gradients and stripes); width 66 tests the mod-4 crop."""
    folder.mkdir(parents=True, exist_ok=True)
    y, x = np.mgrid[0:height, 0:width]
    for i in range(count):
        rgb = np.stack(
            [(x * 4 + 30 * i) % 256, (y * 5) % 256, 128 + 120 * np.sin((x + y) / (2 + i))], -1
        )
        Image.fromarray(rgb.astype(np.uint8)).save(folder / f"img_{i:03d}.png")
    return folder


@pytest.fixture()
def study_dir(tmp_path: Path) -> Path:
    hr = draw_images(tmp_path / "hr", 5)
    prepare_study(
        hr,
        tmp_path / "study",
        models={"M_fake": fake_model},
        num_images=3,
        num_calibration=2,
        seed=1,
        progress=False,
    )
    return tmp_path / "study"


@pytest.fixture()
def client(study_dir: Path):
    app = create_app(study_dir)
    app.config["TESTING"] = True
    return app.test_client()


def start(client, rater: str = "r1", calibrate: bool = True) -> None:
    resp = client.post("/start", data={"rater_id": rater})
    assert resp.status_code == 303
    if calibrate:
        assert client.post("/calibration/done").status_code == 303


def current_token(client, show: bool = True) -> str | None:
    """The token of the page a browser shows now; with `show`, fetches its image as a browser does."""
    page = client.get("/rate").get_data(as_text=True)
    match = TOKEN_IN_PAGE.search(page)
    if match and show:
        assert client.get(f"/img/{match.group(1)}").status_code == 200
    return match.group(1) if match else None


# === prepare ===


def test_prepare_versions_match_the_protocol(study_dir: Path, tmp_path: Path) -> None:
    study = load_study(study_dir, verify=True)
    assert study.methods == METHODS
    assert len(study.items) == 3 * 4 and len(study.calibration) == 2
    calib_images = {low.image for low, _ in study.calibration}
    assert not calib_images & set(study.images)  # calibration images are not rated
    for item in study.items:
        hr = np.asarray(Image.open(tmp_path / "hr" / f"{item.image}.png").convert("RGB"))[:, :64]
        lr = imresize(hr, scale=0.25)
        expected = {
            "NN": nearest(lr, 4),
            "bicubic": imresize(lr, scale=4),
            "M_fake": fake_model(lr),
            "HR": hr,
        }
        got = np.asarray(Image.open(study_dir / item.file))
        np.testing.assert_array_equal(got, expected[item.method])
        assert item.file == f"items/{item.token}.png"  # the file name is only the opaque token
        assert item.method not in item.token


def test_prepare_is_deterministic_under_a_seed(tmp_path: Path) -> None:
    hr = draw_images(tmp_path / "hr", 6)

    def make(name: str, seed: int) -> tuple[str, dict[str, bytes]]:
        prepare_study(
            hr, tmp_path / name, num_images=3, num_calibration=1, seed=seed, progress=False
        )
        files = {
            str(p.relative_to(tmp_path / name)): p.read_bytes()
            for p in (tmp_path / name).rglob("*.png")
        }
        return (tmp_path / name / "study.json").read_text(), files

    first, second, other = make("a", 7), make("b", 7), make("c", 8)
    assert first == second
    assert first[0] != other[0]


def test_prepare_refuses_a_non_empty_directory(tmp_path: Path, capsys) -> None:
    hr = draw_images(tmp_path / "hr", 3)
    out = tmp_path / "study"
    out.mkdir()
    (out / "keep.txt").write_text("x")
    status = cli.main(
        [
            "mos",
            "prepare",
            "--hr-dir",
            str(hr),
            "--images",
            "2",
            "--calibration",
            "1",
            "--out",
            str(out),
        ]
    )
    err = capsys.readouterr().err.strip()
    assert status == 2 and "not empty" in err and len(err.splitlines()) == 1
    assert sorted(p.name for p in out.iterdir()) == ["keep.txt"]


def test_prepare_cli_empty_models_and_empty_dir(tmp_path: Path) -> None:
    hr = draw_images(tmp_path / "hr", 4)
    (tmp_path / "study").mkdir()  # an empty directory is fine
    status = cli.main(
        [
            "mos",
            "prepare",
            "--hr-dir",
            str(hr),
            "--images",
            "2",
            "--calibration",
            "2",
            "--seed",
            "3",
            "--out",
            str(tmp_path / "study"),
        ]
    )
    assert status == 0
    assert load_study(tmp_path / "study", verify=True).methods == ["NN", "bicubic", "HR"]


def test_prepare_bad_arguments_leave_nothing(tmp_path: Path) -> None:
    hr = draw_images(tmp_path / "hr", 3)
    with pytest.raises(ValueError, match="num_images=4"):
        prepare_study(hr, tmp_path / "s1", num_images=4, progress=False)
    with pytest.raises(ValueError, match="clashes"):
        prepare_study(
            hr,
            tmp_path / "s2",
            models={"HR": fake_model},
            num_images=2,
            num_calibration=1,
            progress=False,
        )
    with pytest.raises(ValueError, match="must map uint8"):
        prepare_study(
            hr,
            tmp_path / "s3",
            models={"bad": lambda lr: lr},
            num_images=2,
            num_calibration=1,
            progress=False,
        )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hr"]  # no temp dir, no half study


def test_calibration_falls_back_to_study_images(tmp_path: Path) -> None:
    hr = draw_images(tmp_path / "hr", 3)
    prepare_study(hr, tmp_path / "s", num_images=3, num_calibration=2, progress=False)
    study = load_study(tmp_path / "s")
    assert {low.image for low, _ in study.calibration} <= set(study.images)


def test_rater_windows_follow_the_paper_design(tmp_path: Path) -> None:
    """100 images, 20 per rater, 25 raters: every image is rated by exactly 5 raters."""
    hr = draw_images(tmp_path / "hr", 10, 8, 8)
    prepare_study(
        hr, tmp_path / "s", num_images=10, images_per_rater=2, num_calibration=0, progress=False
    )
    study = load_study(tmp_path / "s")
    counts: dict[str, int] = {}
    for index in range(25):
        for image in study.rater_images(index):
            counts[image] = counts.get(image, 0) + 1
    assert set(counts.values()) == {5} and len(counts) == 10
    order = study.rater_order("alice", 0)
    assert len(order) == 2 * 3 and order == study.rater_order("alice", 0)
    assert order != study.rater_order("bob", 0)  # per-rater random order


# === database ===


def test_store_rejects_bad_ratings_and_keeps_good_ones(study_dir: Path) -> None:
    study = load_study(study_dir)
    store = RatingStore(study.db_path, manifest_sha256=study.manifest_sha256())
    rater = store.register("r1", lambda i: study.rater_order("r1", i))
    assert store.register("r1", lambda i: []).order == rater.order  # registering twice is a no-op
    first, second = rater.order[0], rater.order[1]
    with pytest.raises(ValueError, match="1 to 5"):
        store.add_rating("r1", first, 6, "x", "NN")
    with pytest.raises(ValueError, match="1 to 5"):
        store.add_rating("r1", first, True, "x", "NN")
    with pytest.raises(OutOfOrderError):
        store.add_rating("r1", second, 3, "x", "NN")
    with pytest.raises(UnknownItemError):
        store.add_rating("r1", "0" * 24, 3, "x", "NN")
    with pytest.raises(UnknownItemError):
        store.add_rating("nobody", first, 3, "x", "NN")
    with pytest.raises(NotShownError):
        store.add_rating("r1", first, 4, "img", "NN")
    store.mark_shown("r1", first)
    store.mark_shown("r1", first)  # idempotent
    assert store.add_rating("r1", first, 4, "img", "NN") == 0
    with pytest.raises(AlreadyRatedError):
        store.add_rating("r1", first, 2, "img", "NN")
    rows = store.ratings()
    assert [(r["token"], r["score"], r["position"]) for r in rows] == [(first, 4, 0)]
    with pytest.raises(ValueError, match="another study"):
        RatingStore(study.db_path, manifest_sha256="f" * 64)


# === web app ===


def test_full_rating_flow_is_blind_and_resumable(client, study_dir: Path) -> None:
    study = load_study(study_dir)
    by_token = study.items_by_token()
    assert client.get("/").status_code == 200
    client.post("/start", data={"rater_id": "r1"})
    assert client.get("/rate").headers["Location"].endswith("/calibration/1")
    for number in (1, 2):
        page = client.get(f"/calibration/{number}").get_data(as_text=True)
        assert "Score 1" in page and "Score 5" in page
    assert client.get("/calibration/3").status_code == 404
    client.post("/calibration/done")
    seen = []
    for position in range(12):
        resp = client.get("/rate")
        page = resp.get_data(as_text=True)
        assert f"Image {position + 1} of 12" in page
        for method in METHODS:  # blind: no method name anywhere in the page
            assert not re.search(rf"\b{re.escape(method)}\b", page), method
        token = TOKEN_IN_PAGE.search(page).group(1)
        img = client.get(f"/img/{token}")
        assert img.status_code == 200 and img.mimetype == "image/png"
        assert not _names_a_method(img, client.application)
        seen.append(token)
        if position == 5:  # a new browser (no cookie) entering the same id resumes here
            other = client.application.test_client()
            other.post("/start", data={"rater_id": "r1"})
            assert current_token(other) == token
        score = 5 if by_token[token].method == "HR" else 1 + position % 4
        assert client.post("/rate", data={"token": token, "score": str(score)}).status_code == 303
    assert sorted(seen) == sorted(by_token)  # every item exactly once
    done = client.get("/rate").get_data(as_text=True)
    assert "You rated all 12 images" in done
    ratings = RatingStore(study.db_path).ratings()
    assert [r["position"] for r in ratings] == list(range(12))
    assert [r["token"] for r in ratings] == seen


@pytest.mark.parametrize(
    ("data", "status", "message"),
    [
        ({"score": "6"}, 400, "integer from 1 to 5"),
        ({"score": "0"}, 400, "integer from 1 to 5"),
        ({"score": "3.0"}, 400, "integer from 1 to 5"),
        ({"score": ""}, 400, "integer from 1 to 5"),
        ({"score": "abc"}, 400, "integer from 1 to 5"),
        ({"score": "3\n"}, 400, "integer from 1 to 5"),
        ({}, 400, "integer from 1 to 5"),
        ({"score": "3", "token": "0" * 24}, 400, "Unknown image"),
        ({"score": "3", "token": "../study.json"}, 400, "Unknown image"),
    ],
)
def test_bad_ratings_are_refused(client, study_dir: Path, data, status, message) -> None:
    start(client)
    token = current_token(client)
    resp = client.post("/rate", data={"token": token, **data})
    assert resp.status_code == status
    assert message in resp.get_data(as_text=True)
    assert RatingStore(load_study(study_dir).db_path).ratings() == []
    assert current_token(client) == token  # still running, same item


def test_a_database_that_cannot_be_written_stores_nothing_and_says_so(
    client, study_dir: Path, monkeypatch
) -> None:
    import sqlite3

    start(client)
    token = current_token(client)
    store = client.application.extensions["srfm_mos"]["store"]
    real = store.add_rating

    def full(*args, **kwargs):
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(store, "add_rating", full)
    resp = client.post("/rate", data={"token": token, "score": "3"})
    assert resp.status_code == 503
    assert "Nothing was stored: the server&#39;s disk is full" in resp.get_data(as_text=True)
    monkeypatch.setattr(store, "add_rating", real)  # space again: the same rating goes in
    assert client.post("/rate", data={"token": token, "score": "3"}).status_code == 303
    assert [r["token"] for r in RatingStore(load_study(study_dir).db_path).ratings()] == [token]


def test_already_rated_out_of_order_and_calibration_items(client, study_dir: Path) -> None:
    study = load_study(study_dir)
    start(client)
    order = RatingStore(study.db_path).get_rater("r1").order
    assert current_token(client) == order[0]
    assert client.post("/rate", data={"token": order[1], "score": "3"}).status_code == 409
    assert client.post("/rate", data={"token": order[0], "score": "3"}).status_code == 303
    resp = client.post("/rate", data={"token": order[0], "score": "4"})
    assert resp.status_code == 409 and "already rated" in resp.get_data(as_text=True)
    calib = study.calibration[0][0].token
    assert client.post("/rate", data={"token": calib, "score": "1"}).status_code == 400
    assert [r["score"] for r in RatingStore(study.db_path).ratings()] == [3]


def test_malformed_and_oversized_requests(client, study_dir: Path) -> None:
    # No rater yet.
    assert client.post("/rate", data={"token": "a", "score": "1"}).status_code == 403
    assert client.post("/start", data={"rater_id": "../etc"}).status_code == 400
    assert client.post("/start", data={"rater_id": "x" * 65}).status_code == 400
    start(client)
    token = current_token(client)
    resp = client.post("/rate", json={"token": token, "score": 3})
    assert resp.status_code == 400 and "form submission" in resp.get_data(as_text=True)
    resp = client.post(
        "/rate", data={"token": token, "score": "3", "pad": "x" * (2 * MAX_BODY_BYTES)}
    )
    assert resp.status_code == 413 and "too large" in resp.get_data(as_text=True)
    assert client.get("/rate").status_code == 200  # the app keeps going
    assert RatingStore(load_study(study_dir).db_path).ratings() == []


@pytest.mark.parametrize(
    "url",
    [
        "/img/../study.json",
        "/img/..%2Fstudy.json",
        "/img/%2e%2e%2fstudy.json",
        "/img/..%2f..%2fetc%2fpasswd",
        "/img/study.json",
        "/img/" + "0" * 24,
        "/static/../study.json",
        "/study.json",
        "/items/",
        "/ratings.sqlite",
    ],
)
def test_no_path_traversal(client, url: str) -> None:
    resp = client.get(url)
    assert 400 <= resp.status_code < 500
    assert b'"items"' not in resp.data and b"SQLite" not in resp.data


def test_switch_rater_clears_the_session(client) -> None:
    start(client)
    client.post("/switch")
    assert client.get("/rate").status_code == 403
    assert b"rater id" in client.get("/").data


# === report ===


def test_report_numbers_equal_the_given_scores(client, study_dir: Path, tmp_path: Path) -> None:
    from scipy import stats

    study = load_study(study_dir)
    by_token = study.items_by_token()
    given: dict[str, list[int]] = {m: [] for m in METHODS}
    rng = np.random.default_rng(0)
    for rater in ("a", "b", "c"):
        client.post("/switch")
        start(client, rater)
        while (token := current_token(client)) is not None:
            score = int(rng.integers(1, 6))
            given[by_token[token].method].append(score)
            client.post("/rate", data={"token": token, "score": str(score)})
    client.post("/switch")
    start(client, "partial")
    client.post("/rate", data={"token": current_token(client), "score": "2"})
    first = RatingStore(study.db_path).ratings()[-1]
    given[first["method"]].append(2)

    report = write_report(study_dir, tmp_path / "report")
    assert [s.method for s in report.scores] == METHODS
    for s in report.scores:
        values = np.array(given[s.method], dtype=float)
        half = stats.t.ppf(0.975, values.size - 1) * values.std(ddof=1) / math.sqrt(values.size)
        assert s.n == values.size and s.mos == pytest.approx(values.mean())
        assert (s.ci_low, s.ci_high) == pytest.approx((values.mean() - half, values.mean() + half))
        assert sum(s.counts) == s.n
    with open(report.files["ratings.csv"]) as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == sum(len(v) for v in given.values())
    assert {r["rater_id"] for r in rows} == {"a", "b", "c", "partial"}
    with open(report.files["mos.csv"]) as f:
        mos_rows = {r["method"]: r for r in csv.DictReader(f)}
    assert float(mos_rows["HR"]["mos"]) == pytest.approx(np.mean(given["HR"]), abs=1e-4)
    raters = {r.rater_id: r for r in report.raters}
    assert raters["partial"].ratings == 1 and raters["a"].ratings == raters["a"].assigned == 12
    a_rows = [r for r in rows if r["rater_id"] == "a"]
    nn = [int(r["score"]) == 1 for r in a_rows if r["method"] == "NN"]
    assert raters["a"].low_is_min == pytest.approx(np.mean(nn))
    assert Image.open(report.files["mos.png"]).format == "PNG"
    assert "raters: 4 (3 complete)" in report.summary()


def test_report_cli_without_ratings_is_one_line(study_dir: Path, capsys) -> None:
    assert cli.main(["mos", "report", str(study_dir)]) == 2
    assert "No ratings database" in capsys.readouterr().err


@pytest.mark.slow  # ~3 s: the docs' plot
def test_report_example_plot_for_the_docs(tmp_path: Path) -> None:
    """25 simulated raters (the paper: 20 of 100 images each; here 2 of 10, same 5 raters per image).

    With SRFM_MOS_DOCS_DIR set, the plot is copied there as mos_report.png (docs/images).
    """
    hr = draw_images(tmp_path / "hr", 11, 16, 16)
    prepare_study(
        hr,
        tmp_path / "s",
        models={"M_a": fake_model, "M_b": fake_model},
        num_images=10,
        images_per_rater=2,
        num_calibration=1,
        seed=0,
        progress=False,
    )
    study = load_study(tmp_path / "s")
    app = create_app(tmp_path / "s")
    by_token = study.items_by_token()
    means = {"NN": 1.2, "bicubic": 2.0, "M_a": 3.0, "M_b": 3.6, "HR": 4.7}
    rng = np.random.default_rng(0)
    for rater in range(25):
        c = app.test_client()
        start(c, f"rater{rater:02d}")
        while (token := current_token(c)) is not None:
            score = int(np.clip(np.rint(rng.normal(means[by_token[token].method], 0.7)), 1, 5))
            c.post("/rate", data={"token": token, "score": str(score)})
    report = write_report(tmp_path / "s")
    assert [s.n for s in report.scores] == [50] * 5  # every image rated by 5 raters per method
    assert report.scores[0].mos < report.scores[-1].mos
    target = os.environ.get("SRFM_MOS_DOCS_DIR")
    if target:
        Path(target, "mos_report.png").write_bytes(report.files["mos.png"].read_bytes())


def test_manifest_is_not_served_and_lists_hashes(study_dir: Path) -> None:
    manifest = json.loads((study_dir / "study.json").read_text())
    assert all(len(it["sha256"]) == 64 for it in manifest["items"])
    (study_dir / manifest["items"][0]["file"]).write_bytes(b"tampered")
    with pytest.raises(ValueError, match="altered"):
        create_app(study_dir)


def test_relative_study_path_serves_images(study_dir: Path, monkeypatch) -> None:
    """The README's form `srfm mos serve study`: a relative folder is resolved once, at start."""
    monkeypatch.chdir(study_dir.parent)
    app = create_app(Path(study_dir.name))
    monkeypatch.chdir("/")  # a later chdir does not move the study
    client = app.test_client()
    start(client)
    token = current_token(client, show=False)
    img = client.get(f"/img/{token}")
    assert (
        img.status_code == 200 and img.data == (study_dir / "items" / f"{token}.png").read_bytes()
    )
    assert client.post("/rate", data={"token": token, "score": "4"}).status_code == 303
    assert [r["score"] for r in RatingStore(load_study(study_dir).db_path).ratings()] == [4]


def test_no_score_for_an_image_that_was_not_shown(client, study_dir: Path) -> None:
    study = load_study(study_dir)
    start(client)
    token = current_token(client, show=False)
    # Scored without the image ever reaching the browser: refused, nothing stored.
    resp = client.post("/rate", data={"token": token, "score": "3"})
    assert resp.status_code == 409 and "never reached your browser" in resp.get_data(as_text=True)
    # The file breaks after start: the image request fails and the score is still refused.
    path = study_dir / study.items_by_token()[token].file
    good = path.read_bytes()
    path.write_bytes(good[:-10])
    assert client.get(f"/img/{token}").status_code == 500
    assert client.post("/rate", data={"token": token, "score": "3"}).status_code == 409
    assert RatingStore(study.db_path).ratings() == []
    # Restored: shown, then scored. A revalidation (304) counts as shown, e.g. for a new rater
    # in the same browser, whose cache already holds the image.
    path.write_bytes(good)
    first = client.get(f"/img/{token}")
    assert first.status_code == 200 and "no-cache" in first.headers["Cache-Control"]
    assert client.post("/rate", data={"token": token, "score": "3"}).status_code == 303
    client.post("/switch")
    start(client, "r2")
    order = RatingStore(study.db_path).get_rater("r2").order
    assert token in order
    while (current := current_token(client, show=False)) != token:
        client.get(f"/img/{current}")
        client.post("/rate", data={"token": current, "score": "2"})
    again = client.get(f"/img/{token}", headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304
    assert client.post("/rate", data={"token": token, "score": "5"}).status_code == 303
    scores = {(r["rater_id"], r["token"]): r["score"] for r in RatingStore(study.db_path).ratings()}
    assert scores[("r1", token)] == 3 and scores[("r2", token)] == 5


@pytest.mark.parametrize("damage", ["missing", "unreadable", "directory"])
def test_every_study_file_is_checked_before_serving(study_dir: Path, damage: str) -> None:
    item = load_study(study_dir).items[-1]
    path = study_dir / item.file
    if damage == "missing":
        path.unlink()
    elif damage == "unreadable":
        if os.geteuid() == 0:
            pytest.skip("root reads files whatever their mode")
        path.chmod(0)
    else:
        path.unlink()
        path.mkdir()
    with pytest.raises(ValueError, match=re.escape(str(path.resolve()))):
        create_app(study_dir)


# === models through load_upscaler, real images ===


def test_prepare_cli_with_a_keras_generator_file(tmp_path: Path) -> None:
    """`--models NAME=PATH` goes through keras_srfm.inference.upscalers.load_upscaler."""
    pytest.importorskip("keras_srfm.inference.upscalers")
    from keras_srfm.models.generator import build_generator

    model_path = tmp_path / "tiny.keras"
    build_generator(num_blocks=2, filters=8).save(model_path)
    hr = draw_images(tmp_path / "hr", 3)
    status = cli.main(
        [
            "mos",
            "prepare",
            "--hr-dir",
            str(hr),
            "--images",
            "2",
            "--calibration",
            "1",
            "--models",
            f"tiny={model_path}",
            "bic=bicubic",
            "--out",
            str(tmp_path / "s"),
        ]
    )
    assert status == 0
    study = load_study(tmp_path / "s", verify=True)
    assert study.methods == ["NN", "bicubic", "tiny", "bic", "HR"]
    sources = {m["name"]: m["source"] for m in study.manifest["methods"]}
    assert sources["tiny"] == str(model_path)
    files = {
        (it.image, it.method): np.asarray(Image.open(study.root / it.file)) for it in study.items
    }
    for image in study.images:  # load_upscaler("bicubic") is the same MATLAB bicubic
        np.testing.assert_array_equal(files[image, "bic"], files[image, "bicubic"])
        assert files[image, "tiny"].shape == files[image, "HR"].shape


def test_prepare_on_real_set5_matches_its_lr_files(shared_data: Path, tmp_path: Path) -> None:
    """Set5 LR files are bit-exact MATLAB bicubic: NN must be their pixel replication."""
    set5 = shared_data / "benchmarks" / "Set5"
    prepare_study(
        set5 / "HR", tmp_path / "s", num_images=2, num_calibration=1, seed=0, progress=False
    )
    study = load_study(tmp_path / "s", verify=True)
    for item in study.items:
        got = np.asarray(Image.open(study.root / item.file))
        if item.method == "NN":
            lr = np.asarray(
                Image.open(set5 / "LR_bicubic" / "X4" / f"{item.image}x4.png").convert("RGB")
            )
            np.testing.assert_array_equal(got, nearest(lr, 4))
        elif item.method == "HR":
            hr = np.asarray(Image.open(set5 / "HR" / f"{item.image}.png").convert("RGB"))
            np.testing.assert_array_equal(got, hr)
