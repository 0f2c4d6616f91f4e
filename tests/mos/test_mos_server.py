"""`srfm mos serve` as a real process: ratings survive SIGKILL, one server per study."""

from __future__ import annotations

import http.cookiejar
import os
import re
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from keras_srfm.mos.db import RatingStore
from keras_srfm.mos.prepare import prepare_study
from keras_srfm.mos.report import write_report
from keras_srfm.mos.study import load_study

pytestmark = pytest.mark.slow  # each test starts `srfm mos serve` as a process

URL_RE = re.compile(r"at (http://\S+/)")
TOKEN_IN_PAGE = re.compile(r'name="token" value="([0-9a-f]{24})"')
# The `srfm` entry point, run by this interpreter (`-m keras_srfm.cli` would load cli twice).
SRFM = [sys.executable, "-c", "import sys; from keras_srfm.cli import main; sys.exit(main())"]


def draw_images(folder: Path, count: int, size: int = 32) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    y, x = np.mgrid[0:size, 0:size]
    for i in range(count):
        rgb = np.stack([(x * 7 + 40 * i) % 256, (y * 7) % 256, (x * y + i) % 256], -1)
        Image.fromarray(rgb.astype(np.uint8)).save(folder / f"img_{i}.png")
    return folder


def start_server(
    study: Path, *extra: str, cwd: Path | None = None, arg: str | None = None
) -> tuple[subprocess.Popen, str]:
    """Starts `srfm mos serve STUDY --port 0`; returns the process and its base URL.

    `arg` replaces the study argument (e.g. a relative path, with `cwd`).
    """
    with open(study.parent / "server.log", "a") as log:  # the request log; a pipe could fill up
        proc = subprocess.Popen(
            [*SRFM, "mos", "serve", arg or str(study), "--port", "0", *extra],
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
            cwd=cwd,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    line = proc.stdout.readline()  # the server prints its URL once it listens
    match = URL_RE.search(line)
    if not match:
        proc.kill()
        pytest.fail(f"server did not start: {line!r} {(study.parent / 'server.log').read_text()}")
    return proc, match.group(1)


class Rater:
    """A scripted rater over plain HTTP, with a cookie jar for the session."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
        )

    def get(self, path: str) -> str:
        with self.opener.open(self.base + path.lstrip("/"), timeout=30) as resp:
            return resp.read().decode()

    def post(self, path: str, **fields: str) -> str:
        data = urllib.parse.urlencode(fields).encode()
        with self.opener.open(self.base + path.lstrip("/"), data=data, timeout=30) as resp:
            return resp.read().decode()

    def current(self) -> str:
        """The token on the rating page; its image is fetched, as a browser does."""
        token = TOKEN_IN_PAGE.search(self.get("/rate")).group(1)
        with self.opener.open(f"{self.base}img/{token}", timeout=30) as resp:
            assert resp.status == 200 and resp.read().startswith(b"\x89PNG")
        return token


def test_sigkill_loses_no_rating_and_one_server_per_study(tmp_path: Path) -> None:
    hr = draw_images(tmp_path / "hr", 4)
    prepare_study(hr, tmp_path / "study", num_images=3, num_calibration=1, seed=0, progress=False)
    study_dir = tmp_path / "study"
    proc, base = start_server(study_dir)
    try:
        # A second server on the same study is refused with one line, exit status 2.
        second = subprocess.run(
            [*SRFM, "mos", "serve", str(study_dir), "--port", "0"],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert second.returncode == 2
        assert "already running" in second.stderr and len(second.stderr.strip().splitlines()) == 1

        rater = Rater(base)
        rater.post("/start", rater_id="kill-test")
        rater.post("/calibration/done")
        given = []
        for score in (1, 5, 3, 2, 4):
            token = rater.current()
            rater.post("/rate", token=token, score=str(score))
            given.append((token, score))
        # Bad input over real HTTP: refused, the server keeps running.
        with pytest.raises(urllib.error.HTTPError) as err:
            rater.post("/rate", token=rater.current(), score="9")
        assert err.value.code == 400
        with pytest.raises(urllib.error.HTTPError) as err:
            rater.get("/img/..%2Fstudy.json")
        assert err.value.code == 404
        # A report can be made while the server runs (read-only).
        assert len(write_report(study_dir, tmp_path / "live").ratings) == 5
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL

    rows = RatingStore(load_study(study_dir).db_path).ratings()
    assert [(r["token"], r["score"], r["position"]) for r in rows] == [
        (t, s, i) for i, (t, s) in enumerate(given)
    ]

    # The kernel dropped the lock with the process: a new server starts and the rater resumes.
    proc, base = start_server(study_dir)
    try:
        rater = Rater(base)
        rater.post("/start", rater_id="kill-test")
        assert "Image 6 of 9" in rater.get("/rate")
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
        proc.stdout.close()
    assert proc.returncode == 0


def test_busy_port_and_missing_study_are_one_line_errors(tmp_path: Path) -> None:
    hr = draw_images(tmp_path / "hr", 2)
    prepare_study(hr, tmp_path / "study", num_images=1, num_calibration=1, progress=False)
    with socket.create_server(("127.0.0.1", 0)) as busy:
        port = busy.getsockname()[1]
        result = subprocess.run(
            [*SRFM, "mos", "serve", str(tmp_path / "study"), "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert result.returncode == 2 and "Address already in use" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    result = subprocess.run(
        [*SRFM, "mos", "serve", str(tmp_path / "nothing")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2 and "No study manifest" in result.stderr
    assert not (tmp_path / "nothing").exists()


def stop(proc: subprocess.Popen, base: str) -> None:
    """Ctrl+C once the server answers (a SIGINT before its loop runs exits 130, not 0)."""
    with urllib.request.urlopen(f"{base}healthz", timeout=30) as resp:
        assert resp.read() == b"ok"
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=30)
    proc.stdout.close()
    assert proc.returncode == 0


def test_relative_study_folder_serves_images_and_records_only_shown_items(tmp_path: Path) -> None:
    """The README's form, `srfm mos serve study` run from the study's parent folder."""
    hr = draw_images(tmp_path / "hr", 3)
    prepare_study(hr, tmp_path / "study", num_images=2, num_calibration=1, progress=False)
    study = load_study(tmp_path / "study")
    proc, base = start_server(tmp_path / "study", cwd=tmp_path, arg="study")
    try:
        rater = Rater(base)
        rater.post("/start", rater_id="alice")
        rater.post("/calibration/done")
        for low, high in study.calibration:  # calibration images are served too
            for token in (low.token, high.token):
                with rater.opener.open(f"{base}img/{token}", timeout=30) as resp:
                    assert resp.status == 200
        token = TOKEN_IN_PAGE.search(rater.get("/rate")).group(1)
        # A score posted before the image was delivered (a broken page) is refused.
        with pytest.raises(urllib.error.HTTPError) as err:
            rater.post("/rate", token=token, score="2")
        assert err.value.code == 409
        given = []
        for score in (4, 1, 5):
            token = rater.current()
            rater.post("/rate", token=token, score=str(score))
            given.append((token, score))
    finally:
        stop(proc, base)
    rows = RatingStore(study.db_path).ratings()
    assert [(r["token"], r["score"]) for r in rows] == given


def test_a_broken_study_file_is_refused_before_listening(tmp_path: Path) -> None:
    hr = draw_images(tmp_path / "hr", 3)
    prepare_study(hr, tmp_path / "study", num_images=2, num_calibration=1, progress=False)
    study = load_study(tmp_path / "study")
    (tmp_path / "study" / study.calibration[0][1].file).write_bytes(b"")  # truncated to 0 bytes
    result = subprocess.run(
        [*SRFM, "mos", "serve", "study", "--port", "0"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2 and result.stdout == ""  # never printed its URL
    assert result.stderr.count("\n") == 1 and "Study file altered" in result.stderr
    assert study.calibration[0][1].file in result.stderr
    assert not study.db_path.exists()  # nothing could have been recorded


def test_non_loopback_host_warns_that_ids_are_typed(tmp_path: Path) -> None:
    hr = draw_images(tmp_path / "hr", 2)
    prepare_study(hr, tmp_path / "study", num_images=1, num_calibration=1, progress=False)
    proc, base = start_server(tmp_path / "study", "--host", "0.0.0.0")
    stop(proc, base)
    log = (tmp_path / "server.log").read_text()
    assert "warning: listening on 0.0.0.0" in log and "only by the id they type" in log
    (tmp_path / "server.log").unlink()
    proc, base = start_server(tmp_path / "study", "--host", "127.0.0.1")
    stop(proc, base)
    assert "only by the id they type" not in (tmp_path / "server.log").read_text()
