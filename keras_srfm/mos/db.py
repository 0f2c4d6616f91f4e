"""Ratings database: stdlib sqlite3, one transaction per rating.

Every rating is committed (WAL journal, `synchronous=FULL`) before the server answers, so a
killed server loses no rating it acknowledged. Each rater's item order is stored when they
register, so a rater who comes back resumes at the same place in the same order. Each item
image the server delivers to a rater is recorded (`shown`), and a score is stored only for an
item whose image reached that rater's browser.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import json
import sqlite3
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS raters (
    rater_id TEXT PRIMARY KEY,
    rater_index INTEGER NOT NULL UNIQUE,
    created_at TEXT NOT NULL,
    calibrated_at TEXT,
    item_order TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS ratings (
    id INTEGER PRIMARY KEY,
    rater_id TEXT NOT NULL REFERENCES raters(rater_id),
    token TEXT NOT NULL,
    image TEXT NOT NULL,
    method TEXT NOT NULL,
    score INTEGER NOT NULL CHECK (score BETWEEN 1 AND 5),
    position INTEGER NOT NULL,
    rated_at TEXT NOT NULL,
    UNIQUE (rater_id, token),
    UNIQUE (rater_id, position)
);
CREATE TABLE IF NOT EXISTS shown (
    rater_id TEXT NOT NULL REFERENCES raters(rater_id),
    token TEXT NOT NULL,
    shown_at TEXT NOT NULL,
    PRIMARY KEY (rater_id, token)
);
"""


class RatingError(Exception):
    """A rating that cannot be stored; `status` is the HTTP status to answer with."""

    status = 400


class UnknownItemError(RatingError):
    status = 400


class AlreadyRatedError(RatingError):
    status = 409


class OutOfOrderError(RatingError):
    status = 409


class NotShownError(RatingError):
    """The item's image never reached this rater (e.g. it failed to load): no score for it."""

    status = 409


@dataclasses.dataclass(frozen=True)
class Rater:
    """A registered rater.

    Args:
        rater_id: str. The id the rater typed.
        rater_index: int. Registration order (0, 1, ...); picks the rater's image window.
        calibrated: bool. Whether the rater has seen the calibration pages.
        order: list of str. Item tokens in this rater's presentation order.
        rated: int. How many of them are rated (the next position).
    """

    rater_id: str
    rater_index: int
    calibrated: bool
    order: list[str]
    rated: int

    @property
    def done(self) -> bool:
        return self.rated >= len(self.order)

    @property
    def current(self) -> str | None:
        """Token to show next, or None when every item is rated."""
        return None if self.done else self.order[self.rated]


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds")


class RatingStore:
    """The SQLite file of one study; thread-safe (one connection behind a lock).

    Args:
        path: str or Path. The database file; created with its schema if missing.
        manifest_sha256: str or None. Ties the database to one manifest: a database made for
            another manifest is refused. Defaults to None (no check).
        readonly: bool. Open read-only (for reports while a server runs). Defaults to False.
    """

    def __init__(
        self, path: str | Path, manifest_sha256: str | None = None, readonly: bool = False
    ) -> None:
        self.path = Path(path)
        self.readonly = readonly
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        if readonly:
            if not self.path.is_file():
                raise FileNotFoundError(
                    f"No ratings database at {self.path} (no rater has started)"
                )
            return
        with self._connect() as conn:
            conn.executescript(SCHEMA)
            if manifest_sha256 is not None:
                conn.execute("BEGIN IMMEDIATE")
                row = conn.execute(
                    "SELECT value FROM meta WHERE key = 'manifest_sha256'"
                ).fetchone()
                if row is None:
                    conn.execute(
                        "INSERT INTO meta VALUES ('manifest_sha256', ?)", (manifest_sha256,)
                    )
                conn.execute("COMMIT")
                if row is not None and row[0] != manifest_sha256:
                    raise ValueError(
                        f"{self.path} holds ratings for another study manifest; "
                        "move it away or use the study it came from"
                    )

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        """The store's one connection, used by one thread at a time.

        Reopening per request would make SQLite checkpoint the WAL on every close; a shared
        connection behind a lock is faster and SQLite serialises writers anyway.
        """
        with self._lock:
            if self._conn is None:
                if self.readonly:
                    uri = f"file:{self.path}?mode=ro"
                    self._conn = sqlite3.connect(uri, uri=True, timeout=30, check_same_thread=False)
                else:
                    self._conn = sqlite3.connect(
                        self.path, timeout=30, isolation_level=None, check_same_thread=False
                    )
                    self._conn.execute("PRAGMA journal_mode=WAL")
                    self._conn.execute("PRAGMA synchronous=FULL")  # fsync every commit
                    self._conn.execute("PRAGMA foreign_keys=ON")
            yield self._conn

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    @staticmethod
    def _rater(conn: sqlite3.Connection, rater_id: str) -> Rater | None:
        row = conn.execute(
            "SELECT rater_index, calibrated_at, item_order FROM raters WHERE rater_id = ?",
            (rater_id,),
        ).fetchone()
        if row is None:
            return None
        (rated,) = conn.execute(
            "SELECT COUNT(*) FROM ratings WHERE rater_id = ?", (rater_id,)
        ).fetchone()
        return Rater(rater_id, row[0], row[1] is not None, json.loads(row[2]), rated)

    def get_rater(self, rater_id: str) -> Rater | None:
        """The rater's state, or None if `rater_id` never registered."""
        with self._connect() as conn:
            return self._rater(conn, rater_id)

    def register(self, rater_id: str, make_order: Callable[[int], list[str]]) -> Rater:
        """Returns the rater, registering them first (next index, `make_order(index)`) if new."""
        with self._connect() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                rater = self._rater(conn, rater_id)
                if rater is None:
                    (index,) = conn.execute(
                        "SELECT COALESCE(MAX(rater_index) + 1, 0) FROM raters"
                    ).fetchone()
                    conn.execute(
                        "INSERT INTO raters VALUES (?, ?, ?, NULL, ?)",
                        (rater_id, index, _now(), json.dumps(make_order(index))),
                    )
                    rater = self._rater(conn, rater_id)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        assert rater is not None
        return rater

    def mark_calibrated(self, rater_id: str) -> None:
        with self._connect() as conn:
            conn.execute(
                "UPDATE raters SET calibrated_at = COALESCE(calibrated_at, ?) WHERE rater_id = ?",
                (_now(), rater_id),
            )

    def mark_shown(self, rater_id: str, token: str) -> None:
        """Records that `token`'s image was delivered to `rater_id` (committed, idempotent)."""
        with self._connect() as conn:
            conn.execute("INSERT OR IGNORE INTO shown VALUES (?, ?, ?)", (rater_id, token, _now()))

    def add_rating(self, rater_id: str, token: str, score: int, image: str, method: str) -> int:
        """Stores one rating in its own transaction; returns its presentation position.

        Only the rater's current item (the first unrated one in their order) can be rated,
        so positions are exactly the order in which items were shown.

        Raises:
            UnknownItemError: the rater is unknown or `token` is not one of their items.
            AlreadyRatedError: `token` already has this rater's score.
            OutOfOrderError: `token` is a later item, not the one on screen.
            NotShownError: `token`'s image was never delivered to this rater (`mark_shown`).
            ValueError: `score` is not an int in [1, 5].
        """
        if isinstance(score, bool) or not isinstance(score, int) or not 1 <= score <= 5:
            raise ValueError(f"score must be an integer from 1 to 5. Received: score={score!r}")
        with self._connect() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                rater = self._rater(conn, rater_id)
                if rater is None:
                    raise UnknownItemError(f"Unknown rater {rater_id!r}")
                if token not in rater.order:
                    raise UnknownItemError("This image is not in your study")
                done = conn.execute(
                    "SELECT 1 FROM ratings WHERE rater_id = ? AND token = ?", (rater_id, token)
                ).fetchone()
                if done:
                    raise AlreadyRatedError("You already rated this image; nothing was changed")
                if token != rater.current:
                    raise OutOfOrderError("This is not the image on screen; reload the page")
                shown = conn.execute(
                    "SELECT 1 FROM shown WHERE rater_id = ? AND token = ?", (rater_id, token)
                ).fetchone()
                if not shown:
                    raise NotShownError(
                        "This image never reached your browser, so no score was stored; "
                        "reload the page"
                    )
                conn.execute(
                    "INSERT INTO ratings (rater_id, token, image, method, score, position, rated_at)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (rater_id, token, image, method, score, rater.rated, _now()),
                )
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        return rater.rated

    def ratings(self) -> list[dict[str, object]]:
        """All ratings, with the rater's index, ordered by rater then position."""
        with self._connect() as conn:
            cursor = conn.cursor()
            cursor.row_factory = sqlite3.Row
            rows = cursor.execute(
                "SELECT r.rater_id, x.rater_index, r.image, r.method, r.score, r.position,"
                " r.rated_at, r.token FROM ratings r JOIN raters x USING (rater_id)"
                " ORDER BY x.rater_index, r.position"
            ).fetchall()
        return [dict(row) for row in rows]

    def raters(self) -> list[Rater]:
        with self._connect() as conn:
            ids = [r[0] for r in conn.execute("SELECT rater_id FROM raters ORDER BY rater_index")]
            return [r for r in (self._rater(conn, i) for i in ids) if r is not None]
