"""SQLite history of scored calls: every scorecard, its items and their evidence.

One row per (call, rubric version): re-scoring a call with the same rubric version
replaces its rows in one transaction; scoring it with a new version keeps the old
result beside the new one, so managers can compare rubric versions. The schema
changes only through the named migrations in ``MIGRATIONS``, each recorded in the
``migrations`` table when applied.

The database runs in WAL mode and commits once per call, so killing the process
mid-batch loses no call whose ``record`` returned.
"""

from __future__ import annotations

import json
import math
import sqlite3
import time
from contextlib import contextmanager
import dataclasses
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Iterator, Optional, Sequence

from qa_scorer.models import NO_SPEECH_REASON, STORED, UNEARNED_PREFIX, ItemResult, Judged, Scorecard, Transcript

__all__ = [
    "CallRow",
    "CallSummary",
    "Filter",
    "ItemRow",
    "History",
    "ItemCount",
    "ItemReview",
    "MIGRATIONS",
    "RubricVersion",
    "StoreError",
    "StoredCall",
    "call_date",
    "evidence_key",
    "iso_week",
]


class StoreError(Exception):
    """The history database cannot be opened, read or written (corrupt, locked, not SQLite)."""


# Named, ordered schema migrations. Append new ones; never edit or reorder applied ones.
MIGRATIONS: list[tuple[str, str]] = [
    (
        "0001_calls_items_evidence",
        """
        CREATE TABLE calls (
            pk             INTEGER PRIMARY KEY,
            call_id        TEXT NOT NULL,
            rubric_id      TEXT NOT NULL,
            rubric_version TEXT NOT NULL,
            agent_id       TEXT NOT NULL,
            channel        TEXT NOT NULL,
            started_at     TEXT,
            call_date      TEXT NOT NULL,  -- YYYY-MM-DD: started_at's date, else the recorded date
            iso_week       TEXT NOT NULL,  -- YYYY-Www of call_date
            audio          TEXT,
            source         TEXT,
            duration       REAL,
            base           REAL NOT NULL,
            score          REAL NOT NULL,
            bonus          REAL NOT NULL,
            fatal          INTEGER NOT NULL,
            recorded_at    TEXT NOT NULL,
            transcript     TEXT NOT NULL,  -- Transcript as JSON
            scorecard      TEXT NOT NULL,  -- Scorecard as JSON
            UNIQUE (call_id, rubric_version)
        );
        CREATE INDEX calls_agent_date ON calls (agent_id, call_date);
        CREATE INDEX calls_date ON calls (call_date);
        CREATE TABLE items (
            call_pk  INTEGER NOT NULL REFERENCES calls (pk) ON DELETE CASCADE,
            position INTEGER NOT NULL,
            item_id  TEXT NOT NULL,
            name     TEXT NOT NULL,
            kind     TEXT NOT NULL,
            status   TEXT NOT NULL,
            flagged  INTEGER NOT NULL,
            points   REAL NOT NULL,
            weight   REAL NOT NULL,
            reason   TEXT NOT NULL,
            PRIMARY KEY (call_pk, position)
        );
        CREATE INDEX items_item ON items (item_id, status);
        CREATE TABLE evidence (
            call_pk    INTEGER NOT NULL,
            position   INTEGER NOT NULL,
            n          INTEGER NOT NULL,
            segment    INTEGER,
            speaker    TEXT,
            start      REAL,
            "end"      REAL,
            text       TEXT NOT NULL,
            span_start INTEGER,
            span_end   INTEGER,
            note       TEXT NOT NULL,
            PRIMARY KEY (call_pk, position, n),
            FOREIGN KEY (call_pk, position) REFERENCES items (call_pk, position) ON DELETE CASCADE
        );
        """,
    ),
    (
        # The recording as checked when the call was scored (its real path, inside the input
        # folders or a media root); reports copy recordings from here without looking again at
        # what the transcript names. NULL: not checked (rows recorded before, or without one).
        "0002_checked_recording",
        """
        ALTER TABLE calls ADD COLUMN recording TEXT;
        """,
    ),
    (
        # The review app: users, sessions, appeals (申诉) and human rulings (复核).
        # The machine result stays in the scorecard JSON and the machine_* columns; the columns
        # readers already use (items.status/flagged/points, calls.score/bonus/fatal) hold the
        # effective values: the human ruling where there is one. ``ruling`` names the ruling an
        # item's effective status comes from; ``needs_review`` marks an item whose earlier ruling
        # no longer applies because a re-score changed its evidence.
        "0003_users_sessions_appeals",
        """
        ALTER TABLE calls ADD COLUMN machine_score REAL;
        ALTER TABLE calls ADD COLUMN machine_bonus REAL;
        ALTER TABLE calls ADD COLUMN machine_fatal INTEGER;
        UPDATE calls SET machine_score = score, machine_bonus = bonus, machine_fatal = fatal;
        ALTER TABLE items ADD COLUMN machine_status TEXT;
        ALTER TABLE items ADD COLUMN machine_points REAL;
        ALTER TABLE items ADD COLUMN ruling INTEGER;
        ALTER TABLE items ADD COLUMN needs_review INTEGER NOT NULL DEFAULT 0;
        UPDATE items SET machine_status = status, machine_points = points;
        CREATE INDEX items_reviewed ON items (call_pk) WHERE ruling IS NOT NULL OR needs_review = 1;
        CREATE TABLE users (
            id            INTEGER PRIMARY KEY,
            name          TEXT NOT NULL UNIQUE,
            role          TEXT NOT NULL CHECK (role IN ('agent', 'qa', 'manager', 'admin')),
            agent_id      TEXT,
            password_hash TEXT NOT NULL,
            disabled      INTEGER NOT NULL DEFAULT 0,
            failed_logins INTEGER NOT NULL DEFAULT 0,
            locked_until  TEXT,
            created_at    TEXT NOT NULL,
            CHECK ((role = 'agent') = (agent_id IS NOT NULL))
        );
        CREATE TABLE sessions (
            token_hash TEXT PRIMARY KEY,  -- sha256 of the cookie value (the value itself is never stored)
            user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
            csrf       TEXT NOT NULL,
            created_at TEXT NOT NULL,
            expires_at TEXT NOT NULL
        );
        CREATE INDEX sessions_user ON sessions (user_id);
        CREATE TABLE appeals (
            id             INTEGER PRIMARY KEY,
            call_id        TEXT NOT NULL,
            rubric_version TEXT NOT NULL,
            item_id        TEXT NOT NULL,
            agent_id       TEXT NOT NULL,
            machine_status TEXT NOT NULL,
            reason         TEXT NOT NULL,
            state          TEXT NOT NULL DEFAULT 'open'
                           CHECK (state IN ('open', 'upheld', 'overturned', 'expired')),
            filed_by       TEXT NOT NULL,
            filed_at       TEXT NOT NULL,
            deadline       TEXT NOT NULL,
            decided_by     TEXT,
            decided_at     TEXT,
            note           TEXT
        );
        CREATE INDEX appeals_call ON appeals (call_id, item_id);
        CREATE INDEX appeals_state ON appeals (state, agent_id);
        CREATE TABLE rulings (
            id             INTEGER PRIMARY KEY,
            call_id        TEXT NOT NULL,
            rubric_version TEXT NOT NULL,
            item_id        TEXT NOT NULL,
            machine_status TEXT NOT NULL,
            status         TEXT NOT NULL CHECK (status IN ('pass', 'fail', 'na')),
            evidence_key   TEXT NOT NULL,  -- what the machine's evidence was when ruled
            note           TEXT NOT NULL,
            by_user        TEXT NOT NULL,
            at             TEXT NOT NULL,
            appeal_id      INTEGER REFERENCES appeals (id)
        );
        CREATE INDEX rulings_call ON rulings (call_id, item_id);
        CREATE TABLE audit (
            id        INTEGER PRIMARY KEY,
            at        TEXT NOT NULL,
            actor     TEXT NOT NULL,
            action    TEXT NOT NULL,
            call_id   TEXT,
            item_id   TEXT,
            appeal_id INTEGER,
            detail    TEXT NOT NULL DEFAULT ''
        );
        CREATE INDEX audit_appeal ON audit (appeal_id);
        """,
    ),
    (
        # The status the agent contested (the one in force when the appeal was filed): overturning
        # flips that one, not whatever a later review left; and the machine's evidence key then,
        # so a re-score of the same rubric version that changes the evidence expires the appeal.
        # NULL for appeals filed before.
        "0004_appeal_contested_status",
        """
        ALTER TABLE appeals ADD COLUMN contested TEXT;
        ALTER TABLE appeals ADD COLUMN evidence_key TEXT;
        """,
    ),
    (
        # When each call was first scored: a re-score replaces the call's row (and its
        # recorded_at), and the appeal deadline runs from the first scoring, not the latest.
        # Calls recorded before: their earliest row's time.
        "0005_first_scored",
        """
        CREATE TABLE first_scored (call_id TEXT PRIMARY KEY, at TEXT NOT NULL);
        INSERT INTO first_scored (call_id, at) SELECT call_id, MIN(recorded_at) FROM calls GROUP BY call_id;
        """,
    ),
    (
        # Which calls a recording was scored with, asked whenever one is played or copied (one
        # recording is one call): without it each ask read every row.
        "0006_recording_index",
        """
        CREATE INDEX calls_recording ON calls(recording);
        """,
    ),
]


@dataclass(frozen=True)
class ItemReview:
    """A human's say on one item of a stored call: the ruling in force, or a ruling that no
    longer applies because a re-score changed the item's evidence (``needs_review``)."""

    item_id: str
    machine_status: str
    status: str  # the effective status (the human one when ruled)
    ruling: Optional[int] = None  # id in the rulings table
    needs_review: bool = False

    @property
    def ruled(self) -> bool:
        return self.ruling is not None

    @property
    def overturned(self) -> bool:
        return self.ruled and self.status != self.machine_status


@dataclass(frozen=True)
class StoredCall:
    """One recorded call: what was scored, its scorecard, and when it was recorded."""

    transcript: Transcript
    scorecard: Scorecard
    recorded_at: str  # ISO 8601, UTC
    call_date: date
    week: str  # ISO week of call_date, e.g. "2024-W19"
    source: Optional[str] = None  # the input file the call was scored from, when known
    recording: Optional[str] = None  # the recording checked when the call was scored, if any
    # Items a human ruled on, or that wait for review, by item id. The scorecard already shows
    # the effective statuses, points, score, bonus and fatal flag; these say what the machine said.
    reviews: dict[str, ItemReview] = field(default_factory=dict)
    machine: Optional[Scorecard] = None  # the machine's scorecard, when a ruling changed it

    @property
    def call_id(self) -> str:
        return self.scorecard.call_id

    @property
    def agent_id(self) -> str:
        return self.scorecard.agent_id


# An SQL test (one parameter: ``models.NO_SPEECH_REASON``) for a row of ``calls AS c``: the call
# had no speech to judge (``Scorecard.no_speech``), which its items' reason says.
_NO_SPEECH = "EXISTS (SELECT 1 FROM items n WHERE n.call_pk = c.pk AND n.reason = ?)"


@dataclass(frozen=True)
class CallRow:
    """The scalar facts of one recorded call, without transcript or items (cheap to load)."""

    call_id: str
    agent_id: str
    channel: str
    call_date: date
    week: str
    rubric_id: str
    rubric_version: str
    score: float
    bonus: float
    fatal: bool
    duration: Optional[float]
    recorded_at: str
    no_speech: bool = False  # nothing to judge: the reports leave it out of every mean and count


@dataclass(frozen=True)
class RubricVersion:
    rubric_id: str
    version: str
    first_recorded: str
    last_recorded: str
    calls: int


@dataclass(frozen=True)
class ItemCount(Judged):
    """How many calls had one item in one status, for one agent, week and rubric version."""

    agent_id: str
    week: str
    rubric_version: str
    item_id: str
    name: str
    kind: str
    status: str
    count: int
    # The item was judged in these calls: any status but na, and a reward not earned (stored as
    # na with the reason models.UNEARNED_PREFIX…: it was tried, it is no failure); what a rate is taken over.
    judged: bool = True


# The SQL reading of ``ItemCount.judged`` for a row of ``items AS i``.
_JUDGED = f"(i.status != 'na' OR (i.kind = 'reward' AND i.reason LIKE '{UNEARNED_PREFIX}%'))"


@dataclass(frozen=True)
class CallSummary:
    """One recorded call as the reports list it: its columns only, never its stored JSON
    (the columns hold the effective values)."""

    pk: int
    call_id: str
    agent_id: str
    call_date: date
    week: str
    score: float
    bonus: float
    fatal: bool
    no_speech: bool
    channel: str = "phone"
    rubric_id: str = ""
    rubric_version: str = ""
    duration: Optional[float] = None
    source: Optional[str] = None


@dataclass(frozen=True)
class ItemRow:
    """One item of one recorded call, from the ``items`` columns."""

    call_pk: int
    position: int
    item_id: str
    name: str
    kind: str
    status: str
    flagged: bool
    reason: str


@dataclass(frozen=True)
class Filter:
    """Which recorded results a query reads: the one filter record of the history and the
    reports. Dates are inclusive; ``call_ids`` keeps only those calls; ``latest_only`` keeps the
    most recently recorded result of each call (of ``rubric_version`` when given)."""

    since: Optional[date] = None
    until: Optional[date] = None
    agent: Optional[str] = None
    agents: Optional[frozenset[str]] = None  # only these agents' calls
    call_ids: Optional[frozenset[str]] = None
    rubric_version: Optional[str] = None
    latest_only: bool = True

    @classmethod
    def of(cls, since: Optional[date | str] = None, until: Optional[date | str] = None,
           agent: Optional[str] = None, **more) -> "Filter":
        """A filter from the command line's values (dates as ``YYYY-MM-DD`` text or dates)."""
        return cls(since=_as_date(since), until=_as_date(until), agent=agent, **more)

    @property
    def narrowed(self) -> bool:
        """True when dates or an agent leave part of the history out."""
        return self.since is not None or self.until is not None or self.agent is not None

    def but(self, **changes) -> "Filter":
        """This filter with some fields changed."""
        return dataclasses.replace(self, **changes)

    def latest(self, alias: str = "c") -> tuple[str, list]:
        """An SQL test (and its parameters): the row is the most recently recorded result of
        its call (among ``rubric_version`` when given)."""
        inner, params = "SELECT MAX(pk) FROM calls", []
        if self.rubric_version is not None:
            inner += " WHERE rubric_version = ?"
            params.append(self.rubric_version)
        return f"{alias}.pk IN ({inner} GROUP BY call_id)", params

    def where(self, alias: str = "c", *, sound: bool = True) -> tuple[str, list]:
        """`` WHERE ...`` (or ``""``) and its parameters for a query over ``calls AS alias``.
        Rows whose columns cannot be read back (``_sound``) are left out, unless ``sound`` is False."""
        clauses: list[str] = [_sound(alias)] if sound else []
        params: list = []
        if self.rubric_version is not None:
            clauses.append(f"{alias}.rubric_version = ?")
            params.append(self.rubric_version)
        if self.latest_only:
            latest, more = self.latest(alias)
            clauses.append(latest)
            params += more
        if self.since is not None:
            clauses.append(f"{alias}.call_date >= ?")
            params.append(self.since.isoformat())
        if self.until is not None:
            clauses.append(f"{alias}.call_date <= ?")
            params.append(self.until.isoformat())
        if self.agent is not None:
            clauses.append(f"{alias}.agent_id = ?")
            params.append(self.agent)
        if self.agents is not None:
            clauses.append(f"{alias}.agent_id IN (SELECT value FROM json_each(?))")
            params.append(json.dumps(sorted(self.agents), ensure_ascii=False))
        if self.call_ids is not None:
            # One parameter whatever the number of calls (a JSON array).
            clauses.append(f"{alias}.call_id IN (SELECT value FROM json_each(?))")
            params.append(json.dumps(sorted(self.call_ids), ensure_ascii=False))
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", params


def _finite(column: str) -> str:
    return f"(typeof({column}) IN ('integer', 'real') AND abs({column}) <= 1.7976931348623157e308)"


# What ``record`` writes in each column of ``calls`` that the readers parse.
_COLUMN_HOLDS = {"call_date": "a YYYY-MM-DD date", "score": "a finite number", "bonus": "a finite number",
                 "fatal": "0 or 1", "duration": "a finite number or nothing"}


def _column_tests(alias: str) -> dict[str, str]:
    """Per column of ``_COLUMN_HOLDS``, an SQL test (never NULL) over ``calls AS alias``: the
    row's value is what ``record`` writes there."""
    a = alias
    return {
        # a modifier makes date() carry over a day past the month's end (2024-02-30 is no date)
        "call_date": f"(typeof({a}.call_date) = 'text' AND date({a}.call_date, '+0 days') IS {a}.call_date"
                     f" AND {a}.call_date >= '0001-01-01')",
        "score": _finite(f"{a}.score"),
        "bonus": _finite(f"{a}.bonus"),
        "fatal": f"(typeof({a}.fatal) = 'integer' AND {a}.fatal IN (0, 1))",
        "duration": f"({a}.duration IS NULL OR {_finite(f'{a}.duration')})",
    }


def _sound(alias: str) -> str:
    """An SQL test: the row of ``calls AS alias`` can be read back. A row damaged, or written by
    something else, with a date or number that does not parse fails it; it is left out of every
    query and named in ``History.unreadable``, so one bad row never hides the rest."""
    return "(" + " AND ".join(_column_tests(alias).values()) + ")"


def _as_date(d: Optional[date | str]) -> Optional[date]:
    if d is None or isinstance(d, date):
        return d
    return date.fromisoformat(d)


def call_date(started_at: Optional[str], recorded_at: str) -> date:
    """The date a call belongs to: its start date when known, else the day it was recorded."""
    for value in (started_at, recorded_at):
        if value:
            try:
                return date.fromisoformat(value.strip()[:10])
            except ValueError:
                continue
    return datetime.now(timezone.utc).date()


def iso_week(d: date) -> str:
    year, week, _ = d.isocalendar()
    return f"{year}-W{week:02d}"


class History:
    """The SQLite history of scored calls. Use as a context manager, or call ``close()``.

    A stored call that can no longer be read back (a row damaged or written by something else)
    is left out of what ``calls`` returns and listed in ``unreadable`` (call id → why), so one
    bad row never hides the rest of the history.
    """

    def __init__(self, path: str | Path, *, timeout: float = 5.0):
        self.path = Path(path)
        self.unreadable: dict[str, str] = {}
        if self.path.exists() and self.path.is_dir():
            raise StoreError(f"{self.path}: is a directory, not a history database")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"{self.path}: cannot create its folder: {exc}") from exc
        try:
            self._db = sqlite3.connect(str(self.path), timeout=timeout, isolation_level=None)
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path}: cannot open history database: {exc}") from exc
        try:
            with self._errors("open"):
                self._db.execute("PRAGMA foreign_keys = ON")
                mode = self._switch_to_wal(timeout)
                if str(mode).lower() != "wal":
                    raise StoreError(f"{self.path}: cannot switch the database to WAL mode ({mode})")
                # WAL + NORMAL: a committed transaction survives a killed process.
                self._db.execute("PRAGMA synchronous = NORMAL")
                self._migrate()
        except BaseException:
            self._db.close()
            raise

    def _switch_to_wal(self, timeout: float) -> str:
        """Switch the database to WAL and return the mode it is in. SQLite answers the switch
        with "database is locked" at once, without waiting as ``timeout`` asks, while another
        connection is switching the same new file (two batches opening one fresh ``--out`` at
        the same moment), so it is retried here until ``timeout`` has passed."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                return self._db.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() >= deadline:
                    raise
                time.sleep(0.02)

    # -- lifecycle -------------------------------------------------------------------------

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> "History":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _errors(self, doing: str) -> Iterator[None]:
        try:
            yield
        except StoreError:
            raise
        except sqlite3.OperationalError as exc:
            msg = str(exc)
            if "locked" in msg or "busy" in msg:
                raise StoreError(
                    f"{self.path}: the history database is locked by another process ({doing}); "
                    "wait for it to finish or use another --db file"
                ) from exc
            raise StoreError(f"{self.path}: cannot {doing} the history database: {msg}") from exc
        except sqlite3.DatabaseError as exc:
            raise StoreError(
                f"{self.path}: not a usable SQLite history database ({exc}); "
                "it may be corrupt or another kind of file"
            ) from exc

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # -- schema ----------------------------------------------------------------------------

    def _migrate(self) -> None:
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)"
        )
        applied = {r[0] for r in self._db.execute("SELECT name FROM migrations")}
        known = {name for name, _ in MIGRATIONS}
        unknown = sorted(applied - known)
        if unknown:
            raise StoreError(
                f"{self.path}: written by a newer qa-scorer (unknown migrations: {', '.join(unknown)})"
            )
        for name, sql in MIGRATIONS:
            if name in applied:
                continue
            with self._transaction() as db:
                # Re-check inside the write lock: another process may have just applied it.
                if db.execute("SELECT 1 FROM migrations WHERE name = ?", (name,)).fetchone():
                    continue
                for statement in _statements(sql):
                    db.execute(statement)
                db.execute(
                    "INSERT INTO migrations (name, applied_at) VALUES (?, ?)",
                    (name, _now()),
                )

    def migrations(self) -> list[str]:
        """Names of the applied migrations, in order of application."""
        with self._errors("read"):
            return [r[0] for r in self._db.execute("SELECT name FROM migrations ORDER BY rowid")]

    # -- writing ---------------------------------------------------------------------------

    def record(self, transcript: Transcript, scorecard: Scorecard, *, source: Optional[str] = None,
               recording: Optional[str] = None) -> None:
        """Record one scored call in one transaction, replacing a result of the same rubric version.

        ``recording`` is the recording's real path as checked by the caller (see
        ``ingest.locate_recording``). Raises ValueError, naming the call, for a number that is not
        finite (the history never holds NaN or Infinity).
        """
        if transcript.call_id != scorecard.call_id:
            raise ValueError(
                f"transcript {transcript.call_id!r} and scorecard {scorecard.call_id!r} are different calls"
            )
        bad = _non_finite(transcript, scorecard)
        if bad is not None:
            raise ValueError(f"call {scorecard.call_id!r}: {bad} is not a finite number; not recorded")
        recorded = _now()
        day = call_date(scorecard.started_at or transcript.started_at, recorded)
        with self._errors("write to"), self._transaction() as db:
            db.execute("INSERT OR IGNORE INTO first_scored (call_id, at) VALUES (?, ?)", (scorecard.call_id, recorded))
            db.execute(
                "DELETE FROM calls WHERE call_id = ? AND rubric_version = ?",
                (scorecard.call_id, scorecard.rubric_version),
            )
            cur = db.execute(
                """INSERT INTO calls (call_id, rubric_id, rubric_version, agent_id, channel, started_at,
                       call_date, iso_week, audio, source, duration, base, score, bonus, fatal,
                       recorded_at, transcript, scorecard, recording, machine_score, machine_bonus,
                       machine_fatal)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                (
                    scorecard.call_id, scorecard.rubric_id, scorecard.rubric_version,
                    scorecard.agent_id, scorecard.channel, scorecard.started_at,
                    day.isoformat(), iso_week(day), scorecard.audio or transcript.audio,
                    source if source is not None else scorecard.source, scorecard.duration,
                    scorecard.base, scorecard.score, scorecard.bonus, int(scorecard.fatal),
                    recorded, transcript.model_dump_json(), scorecard.model_dump_json(), recording,
                    scorecard.score, scorecard.bonus, int(scorecard.fatal),
                ),
            )
            pk = cur.lastrowid
            db.executemany(
                """INSERT INTO items (call_pk, position, item_id, name, kind, status, flagged,
                       points, weight, reason, machine_status, machine_points)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                [
                    (pk, i, it.id, it.name, it.kind, it.status, int(it.flagged), it.points,
                     it.weight, it.reason, it.status, it.points)
                    for i, it in enumerate(scorecard.items)
                ],
            )
            db.executemany(
                """INSERT INTO evidence (call_pk, position, n, segment, speaker, start, "end", text,
                       span_start, span_end, note) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                [
                    (pk, i, n, ev.segment, ev.speaker, ev.start, ev.end, ev.text,
                     ev.span[0] if ev.span else None, ev.span[1] if ev.span else None, ev.note)
                    for i, it in enumerate(scorecard.items)
                    for n, ev in enumerate(it.evidence)
                ],
            )
            self._carry_rulings(db, pk, scorecard)

    # -- human rulings (effective statuses) ------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (BEGIN IMMEDIATE) on the history, errors as StoreError."""
        with self._errors("write to"), self._transaction() as db:
            yield db

    def _carry_rulings(self, db: sqlite3.Connection, pk: int, scorecard: Scorecard) -> None:
        """Bring the latest human ruling on each item of a call to a newly recorded result.

        A ruling still applies when the item's evidence is what it was when ruled; otherwise the
        item keeps the machine's status and is marked for review. Open appeals on an item whose
        evidence changed expire (the result they contest no longer stands)."""
        latest = {
            item_id: (rid, status, key)
            for item_id, rid, status, key in db.execute(
                "SELECT item_id, id, status, evidence_key FROM rulings WHERE id IN"
                " (SELECT MAX(id) FROM rulings WHERE call_id = ? GROUP BY item_id)",
                (scorecard.call_id,),
            )
        }
        # open appeals whose evidence can be compared: those that kept its key, and (from before
        # the key was kept) those on another rubric version, whose result is still stored
        open_appeals = {
            item_id for (item_id,) in db.execute(
                "SELECT DISTINCT item_id FROM appeals WHERE call_id = ? AND state = 'open'"
                " AND (evidence_key IS NOT NULL OR rubric_version != ?)",
                (scorecard.call_id, scorecard.rubric_version))
        }
        if not latest and not open_appeals:
            return
        changed = False
        for i, it in enumerate(scorecard.items):
            key = evidence_key(it)
            if it.id in latest:
                rid, status, ruled_key = latest[it.id]
                if ruled_key == key:
                    db.execute("UPDATE items SET status = ?, ruling = ? WHERE call_pk = ? AND position = ?",
                               (status, rid, pk, i))
                    changed = True
                else:
                    db.execute("UPDATE items SET needs_review = 1 WHERE call_pk = ? AND position = ?", (pk, i))
            if it.id in open_appeals:
                stale = db.execute(
                    "SELECT id, rubric_version, evidence_key FROM appeals"
                    " WHERE call_id = ? AND item_id = ? AND state = 'open'",
                    (scorecard.call_id, it.id)).fetchall()
                for appeal_id, version, old_key in stale:
                    if old_key is None:
                        if version == scorecard.rubric_version:
                            continue  # filed before keys were kept, and its result was just replaced
                        old = db.execute(
                            "SELECT c.scorecard FROM calls c WHERE c.call_id = ? AND c.rubric_version = ?",
                            (scorecard.call_id, version)).fetchone()
                        old_key = _item_key(old[0], it.id) if old else None
                    if old_key != key:
                        db.execute("UPDATE appeals SET state = 'expired' WHERE id = ? AND state = 'open'",
                                   (appeal_id,))
                        db.execute(
                            "INSERT INTO audit (at, actor, action, call_id, item_id, appeal_id, detail)"
                            " VALUES (?, 'qa-scorer', 'expire', ?, ?, ?, ?)",
                            (_now(), scorecard.call_id, it.id, appeal_id,
                             f"re-scored with rubric {scorecard.rubric_version}: the item's evidence changed"))
                        db.execute("UPDATE items SET needs_review = 1 WHERE call_pk = ? AND position = ?", (pk, i))
        if changed:
            self._write_effective(db, pk)

    def latest_pk(self, call_id: str, db: Optional[sqlite3.Connection] = None) -> Optional[int]:
        """The row of a call's most recently recorded result, or None."""
        row = (db or self._db).execute("SELECT MAX(pk) FROM calls WHERE call_id = ?", (call_id,)).fetchone()
        return row[0] if row else None

    def rule(self, db: sqlite3.Connection, call_id: str, item_id: str, status: str, *, note: str, by: str,
             appeal_id: Optional[int] = None) -> int:
        """Record a human ruling on one item of a call's latest result, inside the caller's
        transaction ``db``: the ruling (with the machine status and evidence it was made on) is
        kept, the item's effective status becomes ``status`` and the call's points, score, bonus
        and fatal flag are recomputed with ``score.tally``. Returns the ruling's id.
        Raises KeyError when the call or the item is not in the history."""
        if status not in ("pass", "fail", "na"):
            raise ValueError(f"status must be pass, fail or na, not {status!r}")
        pk = self.latest_pk(call_id, db)
        if pk is None:
            raise KeyError(call_id)
        version, card = db.execute("SELECT rubric_version, scorecard FROM calls WHERE pk = ?", (pk,)).fetchone()
        sc = Scorecard.model_validate_json(card, context=STORED)
        position = next((i for i, it in enumerate(sc.items) if it.id == item_id), None)
        if position is None:
            raise KeyError(item_id)
        machine = sc.items[position]
        cur = db.execute(
            "INSERT INTO rulings (call_id, rubric_version, item_id, machine_status, status, evidence_key, note,"
            " by_user, at, appeal_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (call_id, version, item_id, machine.status, status, evidence_key(machine), note, by, _now(), appeal_id),
        )
        rid = cur.lastrowid
        db.execute("UPDATE items SET status = ?, ruling = ?, needs_review = 0 WHERE call_pk = ? AND position = ?",
                   (status, rid, pk, position))
        self._write_effective(db, pk)
        return rid

    def _write_effective(self, db: sqlite3.Connection, pk: int) -> None:
        """Recompute one result's points, score, bonus and fatal flag from its effective statuses."""
        from qa_scorer.score import tally

        card, = db.execute("SELECT scorecard FROM calls WHERE pk = ?", (pk,)).fetchone()
        sc = Scorecard.model_validate_json(card, context=STORED)
        statuses = dict(db.execute("SELECT position, status FROM items WHERE call_pk = ?", (pk,)).fetchall())
        results = [it.model_copy(update={"status": statuses.get(i, it.status)}) for i, it in enumerate(sc.items)]
        results, score, bonus, fatal = tally(results, sc.base)
        db.executemany("UPDATE items SET flagged = ?, points = ? WHERE call_pk = ? AND position = ?",
                       [(int(r.flagged), r.points, pk, i) for i, r in enumerate(results)])
        db.execute("UPDATE calls SET score = ?, bonus = ?, fatal = ? WHERE pk = ?", (score, bonus, int(fatal), pk))

    # -- reading ---------------------------------------------------------------------------

    def calls(
        self,
        since: Optional[date | str] = None,
        until: Optional[date | str] = None,
        agent: Optional[str] = None,
        rubric_version: Optional[str] = None,
        latest_only: bool = True,
        *,
        call_id: Optional[str] = None,
    ) -> list[StoredCall]:
        """Recorded calls matching the filters (dates inclusive), ordered by date then call id.

        ``latest_only`` keeps one result per call: the most recently recorded one (of
        ``rubric_version`` when given). Without it, every rubric version's result is returned.
        ``call_id`` selects one call. Scorecards carry the effective statuses (human rulings
        over the machine's), listed in ``StoredCall.reviews``.
        """
        return self.select(Filter.of(since, until, agent, rubric_version=rubric_version, latest_only=latest_only,
                                     call_ids=None if call_id is None else frozenset({call_id})))

    def select(self, f: Filter) -> list[StoredCall]:
        """The calls ``f`` selects, read back whole (transcript and scorecard, with the effective
        statuses), ordered by date then call id. Rows that cannot be read back are listed in
        ``unreadable``."""
        where, params = f.where()
        with self._errors("read"):
            self._note_damaged(f)
            rows = self._db.execute(
                "SELECT call_id, transcript, scorecard, recorded_at, call_date, iso_week, source, recording,"
                f" pk, score, bonus, fatal FROM calls c{where} ORDER BY c.call_date, c.call_id, c.pk",
                params,
            ).fetchall()
            reviewed = self._reviewed(where, params)
        out = []
        for call_id, t, s, rec, d, w, src, recording, pk, score, bonus, fatal in rows:
            try:
                card = Scorecard.model_validate_json(s, context=STORED)
                reviews, machine = {}, None
                if pk in reviewed:
                    card, machine, reviews = _overlay(card, reviewed[pk], score, bonus, bool(fatal))
                out.append(StoredCall(
                    transcript=Transcript.model_validate_json(t, context=STORED),
                    scorecard=card,
                    recorded_at=rec,
                    call_date=date.fromisoformat(d),
                    week=w,
                    source=src,
                    recording=recording,
                    reviews=reviews,
                    machine=machine,
                ))
            except (ValueError, TypeError) as exc:
                first = str(exc).strip().splitlines()
                self.unreadable[str(call_id)] = (
                    f"a stored call cannot be read back ({' '.join(first[:3])[:300]}); left out")
        return out

    def _note_damaged(self, f: Filter) -> None:
        """List in ``unreadable`` the rows ``f`` selects that the other queries leave out: a date
        or number column that does not parse (``_sound``)."""
        tests = _column_tests("c")
        where, params = f.where(sound=False)
        rows = self._db.execute(
            f"SELECT call_id, {', '.join(tests)}, {', '.join(tests.values())} FROM calls c"
            f"{where}{' AND ' if where else ' WHERE '}NOT {_sound('c')} ORDER BY c.call_id, c.pk",
            params,
        ).fetchall()
        for call_id, *values in rows:
            bad = [f"{name} {repr(value)[:40]} is not {_COLUMN_HOLDS[name]}"
                   for name, value, ok in zip(tests, values, values[len(tests):]) if not ok]
            self.unreadable[str(call_id)] = f"a stored call cannot be read back ({'; '.join(bad)}); left out"

    def _reviewed(self, where: str, params: list) -> dict[int, list[tuple]]:
        """Per selected result (pk): its items with a ruling or waiting for review."""
        cond = " AND " if where else " WHERE "
        rows = self._db.execute(
            "SELECT i.call_pk, i.position, i.item_id, i.machine_status, i.status, i.points, i.flagged,"
            f" i.ruling, i.needs_review FROM items i JOIN calls c ON c.pk = i.call_pk{where}{cond}"
            "(i.ruling IS NOT NULL OR i.needs_review = 1)",
            params,
        ).fetchall()
        out: dict[int, list[tuple]] = {}
        for r in rows:
            out.setdefault(r[0], []).append(r[1:])
        return out

    def call_rows(
        self,
        since: Optional[date | str] = None,
        until: Optional[date | str] = None,
        agent: Optional[str] = None,
        rubric_version: Optional[str] = None,
        latest_only: bool = True,
    ) -> list[CallRow]:
        """Like ``calls`` but only the scalar facts of each call: fast for aggregates."""
        f = Filter.of(since, until, agent, rubric_version=rubric_version, latest_only=latest_only)
        where, params = f.where()
        with self._errors("read"):
            self._note_damaged(f)
            rows = self._db.execute(
                "SELECT call_id, agent_id, channel, call_date, iso_week, rubric_id, rubric_version,"
                f" score, bonus, fatal, duration, recorded_at, {_NO_SPEECH} FROM calls c"
                f"{where} ORDER BY c.call_date, c.call_id, c.pk",
                [NO_SPEECH_REASON] + params,
            ).fetchall()
        return [
            CallRow(r[0], r[1], r[2], date.fromisoformat(r[3]), r[4], r[5], r[6], r[7], r[8],
                    bool(r[9]), r[10], r[11], bool(r[12]))
            for r in rows
        ]

    def item_counts(
        self,
        since: Optional[date | str] = None,
        until: Optional[date | str] = None,
        agent: Optional[str] = None,
        rubric_version: Optional[str] = None,
        latest_only: bool = True,
        *,
        f: Optional[Filter] = None,
    ) -> list[ItemCount]:
        """Calls per (agent, ISO week, rubric version, item, status): the dashboard's raw counts.
        ``f``, when given, selects the calls instead of the other arguments."""
        if f is None:
            f = Filter.of(since, until, agent, rubric_version=rubric_version, latest_only=latest_only)
        where, params = f.where()
        with self._errors("read"):
            rows = self._db.execute(
                "SELECT c.agent_id, c.iso_week, c.rubric_version, i.item_id, MAX(i.name), MAX(i.kind),"
                f" i.status, COUNT(*), {_JUDGED} AS judged FROM items i JOIN calls c ON c.pk = i.call_pk"
                f"{where} GROUP BY c.agent_id, c.iso_week, c.rubric_version, i.item_id, i.status, judged"
                " ORDER BY c.agent_id, c.iso_week, c.rubric_version, MIN(i.position), i.status",
                params,
            ).fetchall()
        return [ItemCount(*r[:8], judged=bool(r[8])) for r in rows]

    def call_summaries(self, f: Filter = Filter()) -> list[CallSummary]:
        """The calls ``f`` selects, ordered by date then call id, from their columns only (a
        call without speech is one whose items carry ``models.NO_SPEECH_REASON``)."""
        where, params = f.where()
        with self._errors("read"):
            self._note_damaged(f)
            rows = self._db.execute(
                f"SELECT pk, call_id, agent_id, call_date, iso_week, score, bonus, fatal, {_NO_SPEECH},"
                " channel, rubric_id, rubric_version, duration, source"
                f" FROM calls c{where} ORDER BY c.call_date, c.call_id, c.pk",
                [NO_SPEECH_REASON] + params,
            ).fetchall()
        return [CallSummary(r[0], r[1], r[2], date.fromisoformat(r[3]), r[4], r[5], r[6], bool(r[7]), bool(r[8]),
                            *r[9:]) for r in rows]

    def item_rows(self, f: Filter = Filter(), *, flagged: Optional[bool] = None,
                  kind: Optional[str] = None, status: Optional[str] = None) -> list[ItemRow]:
        """Items of the calls ``f`` selects (only flagged ones, one kind or one status when
        asked), ordered by call then position."""
        where, params = f.where()
        more = []
        if flagged is not None:
            more.append("i.flagged = ?")
            params.append(int(flagged))
        if kind is not None:
            more.append("i.kind = ?")
            params.append(kind)
        if status is not None:
            more.append("i.status = ?")
            params.append(status)
        if more:
            where = (where + " AND " if where else " WHERE ") + " AND ".join(more)
        with self._errors("read"):
            rows = self._db.execute(
                "SELECT i.call_pk, i.position, i.item_id, i.name, i.kind, i.status, i.flagged, i.reason"
                f" FROM items i JOIN calls c ON c.pk = i.call_pk{where} ORDER BY i.call_pk, i.position",
                params,
            ).fetchall()
        return [ItemRow(r[0], r[1], r[2], r[3], r[4], r[5], bool(r[6]), r[7]) for r in rows]

    def first_evidence_text(self, items: Sequence[tuple[int, int]]) -> dict[tuple[int, int], tuple[str, Optional[str]]]:
        """The first non-empty evidence text of each (call pk, item position) that has one, and
        who said it (``agent`` / ``customer``, or None)."""
        if not items:
            return {}
        with self._errors("read"):
            rows = self._db.execute(
                "SELECT e.call_pk, e.position, e.text, e.speaker FROM evidence e"
                " JOIN json_each(?) j ON e.call_pk = json_extract(j.value, '$[0]')"
                " AND e.position = json_extract(j.value, '$[1]')"
                " WHERE e.text != '' ORDER BY e.call_pk, e.position, e.n",
                (json.dumps([list(k) for k in items]),),
            ).fetchall()
        out: dict[tuple[int, int], tuple[str, Optional[str]]] = {}
        for pk, pos, text, speaker in rows:
            out.setdefault((pk, pos), (text, speaker))
        return out

    def latest_items(self, f: Filter = Filter()) -> dict[tuple[str, str], str]:
        """(agent id, item id) → that item as stored (JSON) in the agent's newest call that
        has it, among the calls ``f`` selects: the item's name and doc for the agent's page."""
        where, params = f.where()
        with self._errors("read"):
            rows = self._db.execute(
                "WITH ranked AS (SELECT c.pk AS pk, c.agent_id AS agent_id, i.item_id AS item_id,"
                " i.position AS position, ROW_NUMBER() OVER (PARTITION BY c.agent_id, i.item_id"
                " ORDER BY c.call_date DESC, c.call_id DESC, c.pk DESC) AS rn"
                f" FROM items i JOIN calls c ON c.pk = i.call_pk{where})"
                " SELECT r.agent_id, r.item_id, json_extract(c.scorecard, '$.items[' || r.position || ']')"
                " FROM ranked r JOIN calls c ON c.pk = r.pk WHERE r.rn = 1",
                params,
            ).fetchall()
        return {(a, i): j for a, i, j in rows if j is not None}

    def versions_rows(self, f: Filter = Filter()) -> list[tuple[CallRow, bool]]:
        """Every rubric version's result of the calls ``f`` selects (whatever its
        ``latest_only``), each with whether it is its call's latest: one read for the dashboard's
        figures and its rubric version comparison."""
        latest, lparams = f.latest()
        where, params = f.but(latest_only=False).where()
        with self._errors("read"):
            rows = self._db.execute(
                "SELECT call_id, agent_id, channel, call_date, iso_week, rubric_id, rubric_version,"
                f" score, bonus, fatal, duration, recorded_at, {latest}, {_NO_SPEECH} FROM calls c"
                f"{where} ORDER BY c.call_date, c.call_id, c.pk",
                lparams + [NO_SPEECH_REASON] + params,
            ).fetchall()
        return [
            (CallRow(r[0], r[1], r[2], date.fromisoformat(r[3]), r[4], r[5], r[6], r[7], r[8],
                     bool(r[9]), r[10], r[11], bool(r[13])), bool(r[12]))
            for r in rows
        ]

    def versions_item_counts(self, f: Filter = Filter()) -> list[tuple[ItemCount, bool]]:
        """``item_counts`` over every rubric version's result of the calls ``f`` selects, each
        count with whether it counts the calls' latest results."""
        latest, lparams = f.latest()
        where, params = f.but(latest_only=False).where()
        with self._errors("read"):
            rows = self._db.execute(
                f"SELECT c.agent_id, c.iso_week, c.rubric_version, i.item_id, MAX(i.name), MAX(i.kind),"
                f" i.status, COUNT(*), {latest} AS latest, {_JUDGED} AS judged FROM items i"
                f" JOIN calls c ON c.pk = i.call_pk"
                f"{where} GROUP BY c.agent_id, c.iso_week, c.rubric_version, i.item_id, i.status, latest, judged"
                " ORDER BY c.agent_id, c.iso_week, c.rubric_version, MIN(i.position), i.status",
                lparams + params,
            ).fetchall()
        return [(ItemCount(*r[:8], judged=bool(r[9])), bool(r[8])) for r in rows]

    def versions_item_statuses(self, f: Filter = Filter()) -> list[tuple[str, str, str, str, str, bool]]:
        """(call id, rubric version, item id, kind, status, judged) of every item of every rubric
        version's result of the calls ``f`` selects: the version comparison's rates taken on the
        same calls."""
        where, params = f.but(latest_only=False).where()
        with self._errors("read"):
            rows = self._db.execute(
                f"SELECT c.call_id, c.rubric_version, i.item_id, i.kind, i.status, {_JUDGED}"
                f" FROM items i JOIN calls c ON c.pk = i.call_pk{where}", params).fetchall()
        return [(r[0], r[1], r[2], r[3], r[4], bool(r[5])) for r in rows]

    def ruled_since(self, at: Optional[str] = None) -> set[str]:
        """Ids of the calls with a human ruling made after ``at`` (ISO 8601 UTC, as recorded;
        None: ever): their scorecards show it, so their pages are due again."""
        with self._errors("read"):
            rows = self._db.execute("SELECT DISTINCT call_id FROM rulings" + (" WHERE at > ?" if at else ""),
                                    (at,) if at else ()).fetchall()
        return {r[0] for r in rows}

    def now(self) -> str:
        """The time as the history records it (ISO 8601 UTC), to compare with its timestamps."""
        return _now()

    def agents(self) -> list[str]:
        """Every agent id in the history, sorted."""
        with self._errors("read"):
            return [r[0] for r in self._db.execute("SELECT DISTINCT agent_id FROM calls ORDER BY 1")]

    def rubric_versions(self) -> list[RubricVersion]:
        """Every rubric version in the history, oldest first."""
        with self._errors("read"):
            return [
                RubricVersion(*r)
                for r in self._db.execute(
                    "SELECT rubric_id, rubric_version, MIN(recorded_at), MAX(recorded_at), COUNT(*)"
                    " FROM calls GROUP BY rubric_id, rubric_version ORDER BY 3, 2"
                )
            ]

    def effective(self, call_id: str, rubric_version: str) -> Optional[tuple[float, float, bool]]:
        """(score, bonus, fatal) of a call's result under a rubric version as the readers show it:
        after the human rulings in force (the machine's own where there is none); None if absent."""
        with self._errors("read"):
            row = self._db.execute(
                "SELECT score, bonus, fatal FROM calls WHERE call_id = ? AND rubric_version = ?"
                " ORDER BY pk DESC LIMIT 1", (call_id, rubric_version)).fetchone()
        return (row[0], row[1], bool(row[2])) if row else None

    def recording(self, call_id: str) -> Optional[str]:
        """The checked recording of the call's latest result, if it has one."""
        with self._errors("read"):
            row = self._db.execute(
                "SELECT recording FROM calls WHERE call_id = ? ORDER BY pk DESC LIMIT 1", (call_id,)
            ).fetchone()
        return row[0] if row else None

    def recording_agents(self, recording: Optional[str] = None) -> dict[str, set[str]]:
        """Per checked recording (a real path), the agents whose calls were scored with it, in any
        result the history keeps; only ``recording``'s when given. One recording is one call: one
        claimed by calls of two agents is played for neither (see ``report.files.audio_source``)."""
        query = "SELECT DISTINCT recording, agent_id FROM calls WHERE recording IS NOT NULL"
        params: tuple = ()
        if recording is not None:
            query += " AND recording = ?"
            params = (recording,)
        out: dict[str, set[str]] = {}
        with self._errors("read"):
            for rec, agent in self._db.execute(query, params):
                out.setdefault(str(rec), set()).add(str(agent))
        return out

    def count(self) -> int:
        """Number of stored results (every rubric version counted)."""
        with self._errors("read"):
            return self._db.execute("SELECT COUNT(*) FROM calls").fetchone()[0]


def evidence_key(item: ItemResult) -> str:
    """What a human ruled on: the machine's status of the item and the evidence it gave (which
    turns, which text). A re-score that changes this needs a new look from a reviewer."""
    import hashlib
    import json

    facts = [item.status] + [[ev.segment, ev.speaker, ev.text, list(ev.span) if ev.span else None]
                             for ev in item.evidence]
    return hashlib.sha256(json.dumps(facts, ensure_ascii=False).encode("utf-8")).hexdigest()[:32]


def _item_key(card_json: str, item_id: str) -> Optional[str]:
    try:
        return evidence_key(Scorecard.model_validate_json(card_json, context=STORED).item(item_id))
    except (KeyError, ValueError):
        return None


def _overlay(card: Scorecard, items: list[tuple], score: float, bonus: float,
             fatal: bool) -> tuple[Scorecard, Scorecard, dict[str, ItemReview]]:
    """The scorecard with the effective statuses of reviewed items, the machine's scorecard, and
    the reviews by item id."""
    results = list(card.items)
    reviews: dict[str, ItemReview] = {}
    for position, item_id, machine_status, status, points, _flagged, ruling, needs_review in items:
        if 0 <= position < len(results) and results[position].id == item_id:
            results[position] = results[position].model_copy(update={"status": status, "points": points})
            reviews[item_id] = ItemReview(item_id, machine_status or card.items[position].status, status,
                                          ruling, bool(needs_review))
    effective = card.model_copy(update={"items": results, "score": score, "bonus": bonus, "fatal": fatal})
    return effective, card, reviews


def _non_finite(transcript: Transcript, scorecard: Scorecard) -> Optional[str]:
    """Where a number that is not finite sits in a call about to be recorded, or None.

    The models refuse NaN and Infinity when they are built; this also catches values set
    afterwards (an assignment or a ``model_copy`` is not validated)."""
    def bad(x: Optional[float]) -> bool:
        return x is not None and not math.isfinite(x)

    for name in ("base", "score", "bonus", "duration"):
        if bad(getattr(scorecard, name)):
            return f"scorecard.{name}"
    for i, it in enumerate(scorecard.items):
        if bad(it.points) or bad(it.weight):
            return f"scorecard.items[{i}] ({it.id}) points"
        for n, ev in enumerate(it.evidence):
            if bad(ev.start) or bad(ev.end):
                return f"scorecard.items[{i}].evidence[{n}] time"
    for k, seg in enumerate(transcript.segments):
        if bad(seg.start) or bad(seg.end) or bad(seg.speaker_confidence):
            return f"$.segments[{k}]"
        for j, w in enumerate(seg.words or ()):
            if bad(w.start) or bad(w.end) or bad(w.probability):
                return f"$.segments[{k}].words[{j}]"
    return None


def _statements(sql: str) -> Sequence[str]:
    return [s.strip() for s in sql.split(";") if s.strip()]


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")
