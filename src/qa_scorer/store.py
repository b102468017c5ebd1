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
from contextlib import contextmanager
import dataclasses
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Iterator, Optional, Sequence

from qa_scorer.models import NO_SPEECH_REASON, STORED, Scorecard, Transcript, is_flagged

__all__ = [
    "CallRow",
    "CallSummary",
    "Filter",
    "ItemRow",
    "History",
    "ItemCount",
    "MIGRATIONS",
    "RubricVersion",
    "StoreError",
    "StoredCall",
    "call_date",
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
]


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

    @property
    def call_id(self) -> str:
        return self.scorecard.call_id

    @property
    def agent_id(self) -> str:
        return self.scorecard.agent_id


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


@dataclass(frozen=True)
class RubricVersion:
    rubric_id: str
    version: str
    first_recorded: str
    last_recorded: str
    calls: int


@dataclass(frozen=True)
class ItemCount:
    """How many calls had one item in one status, for one agent, week and rubric version."""

    agent_id: str
    week: str
    rubric_version: str
    item_id: str
    name: str
    kind: str
    status: str
    count: int

    @property
    def flagged(self) -> bool:
        return is_flagged(self.kind, self.status)


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

    def where(self, alias: str = "c") -> tuple[str, list]:
        """`` WHERE ...`` (or ``""``) and its parameters for a query over ``calls AS alias``."""
        clauses: list[str] = []
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
                mode = self._db.execute("PRAGMA journal_mode = WAL").fetchone()[0]
                if str(mode).lower() != "wal":
                    raise StoreError(f"{self.path}: cannot switch the database to WAL mode ({mode})")
                # WAL + NORMAL: a committed transaction survives a killed process.
                self._db.execute("PRAGMA synchronous = NORMAL")
                self._migrate()
        except BaseException:
            self._db.close()
            raise

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
            db.execute(
                "DELETE FROM calls WHERE call_id = ? AND rubric_version = ?",
                (scorecard.call_id, scorecard.rubric_version),
            )
            cur = db.execute(
                """INSERT INTO calls (call_id, rubric_id, rubric_version, agent_id, channel, started_at,
                       call_date, iso_week, audio, source, duration, base, score, bonus, fatal,
                       recorded_at, transcript, scorecard, recording)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                (
                    scorecard.call_id, scorecard.rubric_id, scorecard.rubric_version,
                    scorecard.agent_id, scorecard.channel, scorecard.started_at,
                    day.isoformat(), iso_week(day), scorecard.audio or transcript.audio,
                    source if source is not None else scorecard.source, scorecard.duration,
                    scorecard.base, scorecard.score, scorecard.bonus, int(scorecard.fatal),
                    recorded, transcript.model_dump_json(), scorecard.model_dump_json(), recording,
                ),
            )
            pk = cur.lastrowid
            db.executemany(
                """INSERT INTO items (call_pk, position, item_id, name, kind, status, flagged,
                       points, weight, reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                [
                    (pk, i, it.id, it.name, it.kind, it.status, int(it.flagged), it.points,
                     it.weight, it.reason)
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

    # -- reading ---------------------------------------------------------------------------

    def _where(
        self,
        since: Optional[date | str],
        until: Optional[date | str],
        agent: Optional[str],
        rubric_version: Optional[str],
        latest_only: bool,
        alias: str = "c",
    ) -> tuple[str, list]:
        return Filter.of(since, until, agent, rubric_version=rubric_version,
                         latest_only=latest_only).where(alias)

    def calls(
        self,
        since: Optional[date | str] = None,
        until: Optional[date | str] = None,
        agent: Optional[str] = None,
        rubric_version: Optional[str] = None,
        latest_only: bool = True,
    ) -> list[StoredCall]:
        """Recorded calls matching the filters (dates inclusive), ordered by date then call id.

        ``latest_only`` keeps one result per call: the most recently recorded one (of
        ``rubric_version`` when given). Without it, every rubric version's result is returned.
        """
        return self.select(Filter.of(since, until, agent, rubric_version=rubric_version, latest_only=latest_only))

    def select(self, f: Filter) -> list[StoredCall]:
        """The calls ``f`` selects, read back whole (transcript and scorecard), ordered by date
        then call id. Rows that cannot be read back are listed in ``unreadable``."""
        where, params = f.where()
        with self._errors("read"):
            rows = self._db.execute(
                "SELECT call_id, transcript, scorecard, recorded_at, call_date, iso_week, source, recording"
                f" FROM calls c{where} ORDER BY c.call_date, c.call_id, c.pk",
                params,
            ).fetchall()
        out = []
        for call_id, t, s, rec, d, w, src, recording in rows:
            try:
                out.append(StoredCall(
                    transcript=Transcript.model_validate_json(t, context=STORED),
                    scorecard=Scorecard.model_validate_json(s, context=STORED),
                    recorded_at=rec,
                    call_date=date.fromisoformat(d),
                    week=w,
                    source=src,
                    recording=recording,
                ))
            except (ValueError, TypeError) as exc:
                first = str(exc).strip().splitlines()
                self.unreadable[str(call_id)] = (
                    f"a stored call cannot be read back ({' '.join(first[:3])[:300]}); left out")
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
        where, params = self._where(since, until, agent, rubric_version, latest_only)
        with self._errors("read"):
            rows = self._db.execute(
                "SELECT call_id, agent_id, channel, call_date, iso_week, rubric_id, rubric_version,"
                " score, bonus, fatal, duration, recorded_at FROM calls c"
                f"{where} ORDER BY c.call_date, c.call_id, c.pk",
                params,
            ).fetchall()
        return [
            CallRow(r[0], r[1], r[2], date.fromisoformat(r[3]), r[4], r[5], r[6], r[7], r[8],
                    bool(r[9]), r[10], r[11])
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
                " i.status, COUNT(*) FROM items i JOIN calls c ON c.pk = i.call_pk"
                f"{where} GROUP BY c.agent_id, c.iso_week, c.rubric_version, i.item_id, i.status"
                " ORDER BY c.agent_id, c.iso_week, c.rubric_version, MIN(i.position), i.status",
                params,
            ).fetchall()
        return [ItemCount(*r) for r in rows]

    def call_summaries(self, f: Filter = Filter()) -> list[CallSummary]:
        """The calls ``f`` selects, ordered by date then call id, from their columns only (a
        call without speech is one whose items carry ``models.NO_SPEECH_REASON``)."""
        where, params = f.where()
        with self._errors("read"):
            rows = self._db.execute(
                "SELECT pk, call_id, agent_id, call_date, iso_week, score, bonus, fatal,"
                " EXISTS (SELECT 1 FROM items n WHERE n.call_pk = c.pk AND n.reason = ?),"
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

    def first_evidence_text(self, items: Sequence[tuple[int, int]]) -> dict[tuple[int, int], str]:
        """The first non-empty evidence text of each (call pk, item position) that has one."""
        if not items:
            return {}
        with self._errors("read"):
            rows = self._db.execute(
                "SELECT e.call_pk, e.position, e.text FROM evidence e"
                " JOIN json_each(?) j ON e.call_pk = json_extract(j.value, '$[0]')"
                " AND e.position = json_extract(j.value, '$[1]')"
                " WHERE e.text != '' ORDER BY e.call_pk, e.position, e.n",
                (json.dumps([list(k) for k in items]),),
            ).fetchall()
        out: dict[tuple[int, int], str] = {}
        for pk, pos, text in rows:
            out.setdefault((pk, pos), text)
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
                f" score, bonus, fatal, duration, recorded_at, {latest} FROM calls c"
                f"{where} ORDER BY c.call_date, c.call_id, c.pk",
                lparams + params,
            ).fetchall()
        return [
            (CallRow(r[0], r[1], r[2], date.fromisoformat(r[3]), r[4], r[5], r[6], r[7], r[8],
                     bool(r[9]), r[10], r[11]), bool(r[12]))
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
                f" i.status, COUNT(*), {latest} AS latest FROM items i JOIN calls c ON c.pk = i.call_pk"
                f"{where} GROUP BY c.agent_id, c.iso_week, c.rubric_version, i.item_id, i.status, latest"
                " ORDER BY c.agent_id, c.iso_week, c.rubric_version, MIN(i.position), i.status",
                lparams + params,
            ).fetchall()
        return [(ItemCount(*r[:8]), bool(r[8])) for r in rows]

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

    def recording(self, call_id: str) -> Optional[str]:
        """The checked recording of the call's latest result, if it has one."""
        with self._errors("read"):
            row = self._db.execute(
                "SELECT recording FROM calls WHERE call_id = ? ORDER BY pk DESC LIMIT 1", (call_id,)
            ).fetchone()
        return row[0] if row else None

    def count(self) -> int:
        """Number of stored results (every rubric version counted)."""
        with self._errors("read"):
            return self._db.execute("SELECT COUNT(*) FROM calls").fetchone()[0]


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
