"""`srfm mos serve`: the rating web app (Flask) for a prepared study.

Flow, as in Sec. V-C: a rater enters an id, sees the calibration pairs (NN = score 1, HR =
score 5), then rates every item of their study once, one image per page, in their own random
order. Pages, URLs and image names carry only opaque tokens, never a method name. Scores are
typed (keys 1-5) or clicked; each is committed to SQLite before the next page is served.

Nothing is recorded for an image a rater could not see: every study file is read and checked
against its sha256 before the server listens, each item image is checked again when served,
and a score is stored only for an item whose image the server delivered to that rater
(`RatingStore.mark_shown`). Item images are sent with `Cache-Control: no-cache` and an ETag, so
every display asks the server (a cheap 304) and is recorded for the rater who sees it.

Trust model: a trusted local network. A rater is identified only by the id they type (no
password), and forms carry no CSRF token; the server binds 127.0.0.1 unless told otherwise.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import re
import secrets
import socket
import sqlite3
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from flask import Flask, abort, redirect, render_template, request, session, url_for
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

from keras_srfm.imaging import locks
from keras_srfm.imaging.locks import FolderLockedError
from keras_srfm.mos.db import Rater, RatingError, RatingStore
from keras_srfm.mos.study import MAX_SCORE, MIN_SCORE, TOKEN_RE, load_study

RATER_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}")
MAX_BODY_BYTES = 4096  # a rating form is ~100 bytes; anything larger is refused with 413
LOCK_NAME = ".server.lock"
SECRET_NAME = "secret.key"
_SCORE_RE = re.compile(rf"[{MIN_SCORE}-{MAX_SCORE}]")


StudyLockedError = FolderLockedError  # another `srfm mos serve` holds this study's lock


@contextlib.contextmanager
def study_lock(root: Path) -> Iterator[None]:
    """Holds the study's exclusive lock (`root/.server.lock`, `keras_srfm.imaging.locks`) for
    the server's life.

    The kernel drops the lock when the process dies (even by SIGKILL), so a crashed server
    never blocks the next one.

    Raises:
        StudyLockedError: if another process holds the lock.
    """
    busy = "Another server is already running on {folder} (pid {pid}); stop it first"
    with locks.hold(root, name=LOCK_NAME, create=False, busy=busy):
        yield


def _secret_key(root: Path) -> bytes:
    """A per-study random key for session cookies, made once (mode 0600)."""
    path = root / SECRET_NAME
    with contextlib.suppress(FileExistsError):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32))
    return path.read_text().strip().encode()


def create_app(study_dir: str | Path, verify: bool = True) -> Flask:
    """The rating app for one study.

    Args:
        study_dir: str or Path. A directory made by `srfm mos prepare`.
        verify: bool. Check every image against its manifest sha256 first. Defaults to True.

    Returns:
        flask.Flask. Ratings go to `study_dir/ratings.sqlite`.
    """
    study = load_study(study_dir, verify=verify)
    store = RatingStore(study.db_path, manifest_sha256=study.manifest_sha256())
    entries = {it.token: it for it in study.entries()}
    items = study.items_by_token()
    calibration = study.calibration

    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=_secret_key(study.root),
        MAX_CONTENT_LENGTH=MAX_BODY_BYTES,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_HTTPONLY=True,
        PERMANENT_SESSION_LIFETIME=60 * 60 * 24 * 30,  # survives a closed tab or browser
    )
    app.extensions["srfm_mos"] = {"study": study, "store": store}

    def current_rater() -> Rater | None:
        rater_id = session.get("rater")
        return store.get_rater(rater_id) if isinstance(rater_id, str) else None

    def require_rater() -> Rater:
        rater = current_rater()
        if rater is None:
            abort(
                403, "No rater id in this browser session; open the start page and enter your id."
            )
        return rater

    @app.errorhandler(HTTPException)
    def http_error(err: HTTPException) -> tuple[str, int]:
        message = err.description
        if err.code == 413:
            message = f"Request body too large (limit {MAX_BODY_BYTES} bytes); nothing was stored."
        return render_template(
            "error.html", code=err.code, name=err.name, message=message
        ), err.code or 500

    @app.errorhandler(sqlite3.OperationalError)
    def storage_error(err: sqlite3.OperationalError) -> tuple[str, int]:
        """The database cannot be written (a full disk, most often): nothing was stored, the
        rater may try again; one log line, not a traceback."""
        app.logger.error("cannot write the ratings database: %s", err)
        full = getattr(err, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL or "full" in str(err)
        reason = "the server's disk is full" if full else f"the ratings database cannot be written ({err})"
        return render_template(
            "error.html", code=503, name="Service Unavailable",
            message=f"Nothing was stored: {reason}. Please tell the study organiser, then try again.",
        ), 503

    @app.get("/")
    def index() -> Any:
        if current_rater() is not None:
            return redirect(url_for("rate"))
        return render_template(
            "start.html",
            total=study.images_per_rater * len(study.methods),
            calibration=len(calibration),
        )

    @app.post("/start")
    def start() -> Any:
        rater_id = request.form.get("rater_id", "").strip()
        if not RATER_ID_RE.fullmatch(rater_id):
            abort(
                400,
                "Rater id must be 1-64 characters: letters, digits, '_', '.', '@' or '-', "
                "starting with a letter or digit.",
            )
        store.register(rater_id, lambda index: study.rater_order(rater_id, index))
        session.clear()
        session.permanent = True
        session["rater"] = rater_id
        return redirect(url_for("rate"), code=303)

    @app.post("/switch")
    def switch() -> Any:
        session.clear()
        return redirect(url_for("index"), code=303)

    @app.get("/calibration/<int:number>")
    def calibrate(number: int) -> Any:
        require_rater()
        if not 1 <= number <= len(calibration):
            abort(404, f"There are {len(calibration)} calibration pages.")
        low, high = calibration[number - 1]
        return render_template(
            "calibration.html",
            number=number,
            count=len(calibration),
            low=low.token,
            high=high.token,
            min_score=MIN_SCORE,
            max_score=MAX_SCORE,
        )

    @app.post("/calibration/done")
    def calibration_done() -> Any:
        store.mark_calibrated(require_rater().rater_id)
        return redirect(url_for("rate"), code=303)

    @app.get("/rate")
    def rate() -> Any:
        rater = require_rater()
        if not rater.calibrated:
            if calibration:
                return redirect(url_for("calibrate", number=1))
            store.mark_calibrated(rater.rater_id)
        if rater.done:
            return render_template("done.html", total=len(rater.order), rater=rater.rater_id)
        upcoming = rater.order[rater.rated + 1] if rater.rated + 1 < len(rater.order) else None
        return render_template(
            "rate.html",
            token=rater.current,
            upcoming=upcoming,
            position=rater.rated + 1,
            rated=rater.rated,
            total=len(rater.order),
            rater=rater.rater_id,
            scores=range(MIN_SCORE, MAX_SCORE + 1),
        )

    @app.post("/rate")
    def submit() -> Any:
        rater = require_rater()
        if request.mimetype not in ("application/x-www-form-urlencoded", "multipart/form-data"):
            abort(400, "Expected a form submission with fields 'token' and 'score'.")
        token = request.form.get("token", "")
        score = request.form.get("score", "")
        if not _SCORE_RE.fullmatch(score):
            abort(
                400,
                f"Score must be an integer from {MIN_SCORE} to {MAX_SCORE}. Received: {score[:20]!r}",
            )
        if not TOKEN_RE.fullmatch(token) or token not in items:
            abort(400, "Unknown image; nothing was stored.")
        item = items[token]
        try:
            store.add_rating(rater.rater_id, token, int(score), item.image, item.method)
        except RatingError as err:
            abort(err.status, str(err))
        return redirect(url_for("rate"), code=303)

    @app.get("/img/<token>")
    def image(token: str) -> Response:
        # Only manifest tokens map to files; a request path never reaches the file system.
        if not TOKEN_RE.fullmatch(token) or token not in entries:
            abort(404, "No such image.")
        entry = entries[token]
        try:
            data = study.read_verified(entry)
        except ValueError as err:
            app.logger.error("cannot serve %s: %s", token, err)
            abort(
                500,
                "This image cannot be shown (its study file is missing or changed); "
                "nothing can be rated for it. Please tell the study organiser.",
            )
        response = Response(data, mimetype="image/png")
        response.set_etag(entry.sha256)
        if token in items:
            rater = current_rater()
            if rater is not None and token in rater.order:
                store.mark_shown(rater.rater_id, token)
            response.cache_control.no_cache = True  # each display reaches the server: recorded
        else:
            response.cache_control.max_age = 3600  # calibration images: never rated
        return response.make_conditional(request)

    @app.get("/healthz")
    def healthz() -> tuple[str, int]:
        return "ok", 200

    return app


def is_loopback(host: str) -> bool:
    """True for `localhost` and loopback addresses (127.0.0.0/8, ::1); False for the rest."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:  # a host name: it may resolve to any interface
        return False


def trust_warning(host: str) -> str:
    """The one-line warning printed when the app is reachable from other machines."""
    return (
        f"srfm mos serve: warning: listening on {host}, reachable from other machines: a rater "
        "is identified only by the id they type (no password, no CSRF token); use it only on "
        "a trusted local network (see docs/security.md)"
    )


def serve(study_dir: str | Path, host: str = "127.0.0.1", port: int = 8000) -> None:
    """Runs the rating app until interrupted, holding the study lock.

    Args:
        study_dir: str or Path. A prepared study.
        host: str. Interface to bind. Defaults to localhost only; any other (non-loopback)
            address prints `trust_warning` on stderr.
        port: int. TCP port; 0 picks a free one. Defaults to 8000.

    Raises:
        StudyLockedError: if a server already runs on this study.
        OSError: if the address cannot be bound (port in use, no such interface).
    """
    from werkzeug.serving import make_server

    # Resolved once, before anything listens; a missing study fails before a lock file is made.
    root = load_study(study_dir).root
    if not is_loopback(host):
        print(trust_warning(host), file=sys.stderr, flush=True)
    with study_lock(root):
        app = create_app(root)
        # Bind first ourselves: werkzeug's own bind prints and exits on a busy port.
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.create_server((host, port), family=family)
        server = make_server(host, port, app, threaded=True, fd=sock.fileno())
        sock.close()  # the server holds its own duplicate of the socket
        study = app.extensions["srfm_mos"]["study"]
        shown = f"[{host}]" if ":" in host else host
        print(
            f"Serving MOS study {root} ({len(study.items)} items, {len(study.methods)} methods) "
            f"at http://{shown}:{server.port}/  (Ctrl+C to stop)",
            flush=True,
        )
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.server_close()
