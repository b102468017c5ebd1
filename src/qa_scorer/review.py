"""Users, sessions, appeals (申诉) and QA reviews (复核) over the SQLite history.

Who may see and do what is decided in one place, ``allowed``; every query an agent makes is
limited to that agent's calls here, not in the pages. A ruling never overwrites the machine's
result: ``History.rule`` keeps both and writes the effective values the readers use.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import logging
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from pathlib import Path
from typing import Optional

from qa_scorer.outputs import csv_cell
from qa_scorer.store import History, StoredCall, evidence_key

_log = logging.getLogger("qa_scorer.review")

__all__ = [
    "APPEAL_STATES",
    "Appeal",
    "Conflict",
    "NotFound",
    "ROLES",
    "ReviewError",
    "Reviews",
    "Session",
    "User",
    "allowed",
    "appealable",
    "export_reviews",
]

ROLES = ("agent", "qa", "manager", "admin")
APPEAL_STATES = ("open", "upheld", "overturned", "expired")
MAX_REASON = 2000
MAX_FAILED_LOGINS = 5  # consecutive failures before a user is locked
LOCK_MINUTES = 15
MIN_PASSWORD = 8
_NAME = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f]")


class ReviewError(ValueError):
    """A request that cannot be done as asked (bad input, deadline passed): the message says why."""


class NotFound(ReviewError):
    """No such thing, or not one this user may see (the two are never told apart)."""


class Conflict(ReviewError):
    """Someone else changed it first (an appeal already decided)."""


@dataclass(frozen=True)
class User:
    id: int
    name: str
    role: str
    agent_id: Optional[str]
    disabled: bool = False


@dataclass(frozen=True)
class Session:
    token: str  # the cookie value (only its hash is stored)
    user: User
    csrf: str
    expires_at: str


@dataclass(frozen=True)
class Appeal:
    id: int
    call_id: str
    rubric_version: str
    item_id: str
    agent_id: str
    machine_status: str
    reason: str
    state: str
    filed_by: str
    filed_at: str
    deadline: str
    decided_by: Optional[str]
    decided_at: Optional[str]
    note: Optional[str]
    # A decided appeal: whether its ruling still gives the item its status on the call's latest
    # result (0 once a later review replaced it, or a re-score changed the item's evidence and set
    # it aside); None while open or expired.
    ruling_in_force: Optional[int] = None


_APPEAL_COLS = ("id, call_id, rubric_version, item_id, agent_id, machine_status, reason, state, filed_by,"
                " filed_at, deadline, decided_by, decided_at, note,"
                " CASE WHEN state IN ('upheld', 'overturned') THEN EXISTS (SELECT 1 FROM rulings r"
                " JOIN items i ON i.ruling = r.id WHERE r.appeal_id = appeals.id AND i.call_pk ="
                " (SELECT MAX(c.pk) FROM calls c WHERE c.call_id = appeals.call_id)) END")
# The agent a call belongs to now (its latest result): an appeal is shown to that agent, not to
# the one it was filed under when a re-score moved the call to another agent.
_CALL_AGENT = "(SELECT c.agent_id FROM calls c WHERE c.call_id = appeals.call_id ORDER BY c.pk DESC LIMIT 1)"


def allowed(user: User, action: str, agent_id: Optional[str] = None) -> bool:
    """The one authorisation rule. ``agent_id`` is the agent whose data is asked for.

    view (a call, transcript, recording, appeal, aggregate): an agent only their own, every
    other role everything; appeal: an agent on their own calls; rule (decide appeals, review
    items): QA; dashboard, queue: QA, managers, admins; users: admins."""
    if user.disabled:
        return False
    if action == "view":
        return user.role != "agent" or (agent_id is not None and agent_id == user.agent_id)
    if action == "appeal":
        return user.role == "agent" and agent_id is not None and agent_id == user.agent_id
    if action == "rule":
        return user.role == "qa"
    if action in ("dashboard", "queue"):
        return user.role in ("qa", "manager", "admin")
    if action == "users":
        return user.role == "admin"
    return False


def appealable(status: str) -> bool:
    """Whether an agent may appeal an item whose status in force is ``status``: only a judgment
    that costs them, a failed item of any kind (a required item missed, a prohibited or fatal item
    hit: points or a fatal flag; a reward not earned: its bonus). An appeal asks for the item to
    pass, so overturning one can only help the agent; a passed or n/a item has nothing to appeal."""
    return status == "fail"


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _iso(t: datetime) -> str:
    return t.isoformat(timespec="seconds")


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def local_time(value: Optional[str]) -> str:
    """A time the review records keep (ISO, UTC), as this machine's local time to the minute with
    its offset ("2026-12-06 18:05 +08:00"): what staff and agents read deadlines and dates in. A
    value without an offset is shown as written."""
    if not value:
        return ""
    try:
        t = datetime.fromisoformat(str(value))
    except ValueError:
        return str(value)[:16]
    if t.tzinfo is None:
        return t.strftime("%Y-%m-%d %H:%M")
    t = t.astimezone()
    off = t.strftime("%z")
    return f"{t:%Y-%m-%d %H:%M} {off[:3]}:{off[3:]}"


def clean_text(text: str, limit: int) -> str:
    """User-supplied text as stored: control characters other than tab and newline removed,
    surrounding space stripped, at most ``limit`` characters."""
    text = _CONTROL.sub("", text.replace("\r\n", "\n")).strip()
    return text[:limit]


class Reviews:
    """Users, sessions, appeals and rulings in one history database."""

    def __init__(self, history: History, *, appeal_days: float = 7, session_hours: float = 8, hasher=None):
        from argon2 import PasswordHasher

        self.history = history
        self.appeal_days = appeal_days
        self.session_hours = session_hours
        # argon2id with the library's (RFC 9106 low-memory) defaults; a hash made with other
        # parameters is upgraded at the next login.
        self._hasher = hasher if hasher is not None else PasswordHasher()

    @property
    def _db(self):
        return self.history._db

    # -- users -----------------------------------------------------------------------------

    def add_user(self, name: str, role: str, password: str, agent_id: Optional[str] = None) -> User:
        if not _NAME.match(name):
            raise ReviewError(f"user name {name!r}: use 1–64 letters, digits, '_', '.', '@' or '-'")
        if role not in ROLES:
            raise ReviewError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
        if role == "agent" and not agent_id:
            raise ReviewError("an agent user needs --agent-id (the agent id their calls carry)")
        if role != "agent" and agent_id:
            raise ReviewError(f"--agent-id is only for agent users, not {role}")
        if agent_id is not None and (not agent_id.strip() or _CONTROL.search(agent_id)):
            raise ReviewError("--agent-id must be visible text without control characters")
        self._check_password(password)
        with self.history.transaction() as db:
            if db.execute("SELECT 1 FROM users WHERE name = ?", (name,)).fetchone():
                raise ReviewError(f"user {name!r} already exists")
            cur = db.execute(
                "INSERT INTO users (name, role, agent_id, password_hash, created_at) VALUES (?, ?, ?, ?, ?)",
                (name, role, agent_id, self._hasher.hash(password), _iso(_now())))
            self._audit(db, "admin", "user_add", detail=f"{name} ({role}{', agent ' + agent_id if agent_id else ''})")
        return User(cur.lastrowid, name, role, agent_id)

    def _check_password(self, password: str) -> None:
        if len(password) < MIN_PASSWORD:
            raise ReviewError(f"password too short: at least {MIN_PASSWORD} characters")
        if len(password) > 1024:
            raise ReviewError("password too long: at most 1024 characters")

    def users(self) -> list[User]:
        return [User(r[0], r[1], r[2], r[3], bool(r[4])) for r in self._db.execute(
            "SELECT id, name, role, agent_id, disabled FROM users ORDER BY name")]

    def user(self, name: str) -> User:
        r = self._db.execute("SELECT id, name, role, agent_id, disabled FROM users WHERE name = ?", (name,)).fetchone()
        if r is None:
            raise NotFound(f"no user {name!r}")
        return User(r[0], r[1], r[2], r[3], bool(r[4]))

    def disable(self, name: str, *, by: str = "admin") -> None:
        """Disable a user and end every session they have."""
        with self.history.transaction() as db:
            cur = db.execute("UPDATE users SET disabled = 1 WHERE name = ?", (name,))
            if cur.rowcount == 0:
                raise NotFound(f"no user {name!r}")
            db.execute("DELETE FROM sessions WHERE user_id = (SELECT id FROM users WHERE name = ?)", (name,))
            self._audit(db, by, "user_disable", detail=name)

    def set_password(self, name: str, password: str, *, by: str = "admin") -> None:
        """A new password; the user's sessions end and a lock from failed logins is lifted."""
        self._check_password(password)
        digest = self._hasher.hash(password)
        with self.history.transaction() as db:
            cur = db.execute("UPDATE users SET password_hash = ?, failed_logins = 0, locked_until = NULL"
                             " WHERE name = ?", (digest, name))
            if cur.rowcount == 0:
                raise NotFound(f"no user {name!r}")
            db.execute("DELETE FROM sessions WHERE user_id = (SELECT id FROM users WHERE name = ?)", (name,))
            self._audit(db, by, "user_passwd", detail=name)

    # -- sessions --------------------------------------------------------------------------

    def login(self, name: str, password: str) -> Session:
        """A new session for the user, or ReviewError. After ``MAX_FAILED_LOGINS`` failures in a
        row the user is locked for ``LOCK_MINUTES`` (the right password does not open it).

        Every refusal (no such user, wrong password, locked, disabled) says the same thing and
        costs one password check, so neither the answer nor its timing tells them apart; a lock is
        recorded in the audit table (``login_locked``) and the server log. Each attempt takes
        its place in the failure count in one transaction *before* the password is checked, so
        parallel attempts cannot overwrite each other's count: of a burst of guesses only the
        first ``MAX_FAILED_LOGINS`` are checked at all."""
        from argon2.exceptions import InvalidHashError, VerificationError

        refused = ReviewError("wrong user name or password")

        def check(digest: str) -> bool:
            try:
                return self._hasher.verify(digest, password)
            except (VerificationError, InvalidHashError):
                return False

        row = self._db.execute(
            "SELECT id, name, role, agent_id, disabled, password_hash FROM users WHERE name = ?", (name,)).fetchone()
        if row is None:
            check(_dummy_hash())  # the same time as a real check, so a name's existence does not show
            raise refused
        uid, uname, role, agent_id, disabled, digest = row
        now = _now()
        with self.history.transaction() as db:
            locked_until, = db.execute("SELECT locked_until FROM users WHERE id = ?", (uid,)).fetchone()
            locked = bool(locked_until) and datetime.fromisoformat(locked_until) > now
            attempt = 0
            if not locked:
                db.execute("UPDATE users SET failed_logins = failed_logins + 1 WHERE id = ?", (uid,))
                attempt, = db.execute("SELECT failed_logins FROM users WHERE id = ?", (uid,)).fetchone()
                if attempt > MAX_FAILED_LOGINS:  # earlier attempts of a burst used up the allowance
                    locked = True
                    self._lock(db, uid, uname, now, attempt - 1)
        if locked:
            check(_dummy_hash())
            raise refused
        if not check(digest):
            with self.history.transaction() as db:
                self._audit(db, uname, "login_failed")
                if attempt >= MAX_FAILED_LOGINS:
                    self._lock(db, uid, uname, now, attempt)
            raise refused
        if disabled:
            raise refused
        token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        expires = _iso(now + timedelta(hours=self.session_hours))
        with self.history.transaction() as db:
            if self._hasher.check_needs_rehash(digest):
                db.execute("UPDATE users SET password_hash = ? WHERE id = ?", (self._hasher.hash(password), uid))
            db.execute("UPDATE users SET failed_logins = 0, locked_until = NULL WHERE id = ?", (uid,))
            db.execute("DELETE FROM sessions WHERE expires_at < ?", (_iso(now),))
            db.execute("INSERT INTO sessions (token_hash, user_id, csrf, created_at, expires_at) VALUES (?, ?, ?, ?, ?)",
                       (_hash_token(token), uid, csrf, _iso(now), expires))
            self._audit(db, uname, "login")
        return Session(token, User(uid, uname, role, agent_id), csrf, expires)

    def _lock(self, db, uid: int, uname: str, now: datetime, failures: int) -> None:
        """Lock a user for ``LOCK_MINUTES`` (never shortening a lock already set) and restart the count."""
        until = _iso(now + timedelta(minutes=LOCK_MINUTES))
        cur = db.execute("UPDATE users SET failed_logins = 0, locked_until = ? WHERE id = ?"
                         " AND (locked_until IS NULL OR locked_until < ?)", (until, uid, until))
        if cur.rowcount:
            self._audit(db, uname, "login_locked", detail=f"{failures} failed logins: locked until {until}")
            _log.warning("user %s locked until %s after %d failed logins", uname, until, failures)

    def session(self, token: Optional[str]) -> Optional[Session]:
        """The live session of a cookie value: not expired, its user not disabled. Else None."""
        if not token or len(token) > 200:
            return None
        row = self._db.execute(
            "SELECT u.id, u.name, u.role, u.agent_id, s.csrf, s.expires_at FROM sessions s"
            " JOIN users u ON u.id = s.user_id WHERE s.token_hash = ? AND u.disabled = 0 AND s.expires_at > ?",
            (_hash_token(token), _iso(_now()))).fetchone()
        if row is None:
            return None
        return Session(token, User(row[0], row[1], row[2], row[3]), row[4], row[5])

    def logout(self, token: str) -> None:
        with self.history.transaction() as db:
            db.execute("DELETE FROM sessions WHERE token_hash = ?", (_hash_token(token),))

    # -- calls as a user sees them ---------------------------------------------------------

    def calls(self, user: User, **filters) -> list[StoredCall]:
        """The calls a user may see (an agent: only their own)."""
        if user.role == "agent":
            filters["agent"] = user.agent_id
        return self.history.calls(**filters)

    def call_rows(self, user: User) -> list:
        """The scalar facts (effective score, bonus, fatal) of the calls a user may see: cheap."""
        return self.history.call_rows(agent=user.agent_id if user.role == "agent" else None)

    def ruled_items(self, user: User) -> dict[str, list[tuple[str, str, str]]]:
        """call_id → [(item_id, machine_status, status)] of human rulings in force on the latest
        results the user may see."""
        scope, params = ("AND c.agent_id = ?", [user.agent_id]) if user.role == "agent" else ("", [])
        out: dict[str, list[tuple[str, str, str]]] = {}
        for call_id, item_id, machine, status in self._db.execute(
                "SELECT c.call_id, i.item_id, i.machine_status, i.status FROM items i JOIN calls c ON c.pk = i.call_pk"
                f" WHERE i.ruling IS NOT NULL {scope} AND c.pk IN (SELECT MAX(pk) FROM calls GROUP BY call_id)"
                " ORDER BY c.call_id, i.position", params):
            out.setdefault(call_id, []).append((item_id, machine, status))
        return out

    def call(self, user: User, call_id: str) -> StoredCall:
        # Whose the call is, first, from one row: a call the user may not see is never read (its
        # transcript may be megabytes: reading it took time that told an agent it exists, and
        # memory an agent's requests could pile up).
        owner = self._db.execute("SELECT agent_id FROM calls WHERE call_id = ? ORDER BY pk DESC LIMIT 1",
                                 (call_id,)).fetchone()
        if owner is None or not allowed(user, "view", owner[0]):
            raise NotFound(f"no call {call_id!r}")
        found = self.history.calls(call_id=call_id)
        if not found or not allowed(user, "view", found[-1].agent_id):
            raise NotFound(f"no call {call_id!r}")
        return found[-1]

    # -- appeals ---------------------------------------------------------------------------

    def deadline(self, call_id: str) -> datetime:
        """Appeals on a call may be filed until ``appeal_days`` after it was first scored (a
        re-score replaces the call's row but not when it was first scored: ``first_scored``)."""
        first, = self._db.execute(
            "SELECT MIN(t) FROM (SELECT at AS t FROM first_scored WHERE call_id = ?"
            " UNION ALL SELECT recorded_at FROM calls WHERE call_id = ?)", (call_id, call_id)).fetchone()
        if first is None or not self._db.execute("SELECT 1 FROM calls WHERE call_id = ?", (call_id,)).fetchone():
            raise NotFound(f"no call {call_id!r}")
        return datetime.fromisoformat(first) + timedelta(days=self.appeal_days)

    def file_appeal(self, user: User, call_id: str, item_id: str, reason: str) -> Appeal:
        call = self.call(user, call_id)
        if not allowed(user, "appeal", call.agent_id):
            raise ReviewError("only the agent of a call can appeal its items")
        reason = clean_text(reason, MAX_REASON)
        if not reason:
            raise ReviewError("say why: the reason must not be empty")
        try:
            item = call.scorecard.item(item_id)
        except KeyError:
            raise ReviewError(f"the scorecard has no item {item_id!r}") from None
        if not appealable(item.status):
            what = "was not judged (n/a)" if item.status == "na" else "passed"
            raise ReviewError(f"item {item_id!r} {what}: nothing to appeal; only a failed item (one that cost"
                              " points, a fatal flag or a bonus) can be appealed")
        review = call.reviews.get(item_id)
        machine_status = review.machine_status if review is not None else item.status
        deadline = self.deadline(call_id)
        now = _now()
        if now > deadline:
            raise ReviewError(f"the appeal deadline for this call passed on {local_time(_iso(deadline))}")
        key = evidence_key((call.machine or call.scorecard).item(item_id))
        with self.history.transaction() as db:
            if db.execute("SELECT 1 FROM appeals WHERE call_id = ? AND item_id = ? AND state = 'open'",
                          (call_id, item_id)).fetchone():
                raise Conflict(f"item {item_id!r} already has an open appeal")
            # an upheld appeal is the answer on this judgment: another needs new evidence (a
            # re-score that changed it), or QA's queue fills with the same appeal again and again
            done = db.execute("SELECT id, decided_by, decided_at FROM appeals WHERE call_id = ? AND item_id = ?"
                              " AND state = 'upheld' AND evidence_key = ? ORDER BY id DESC LIMIT 1",
                              (call_id, item_id, key)).fetchone()
            if done:
                raise Conflict(f"item {item_id!r} was appealed and the appeal upheld (#{done[0]}, by {done[1]} at "
                               f"{local_time(done[2])}); it can be appealed again only if a re-score changes its evidence")
            cur = db.execute(
                "INSERT INTO appeals (call_id, rubric_version, item_id, agent_id, machine_status, reason, filed_by,"
                " filed_at, deadline, contested, evidence_key) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (call_id, call.scorecard.rubric_version, item_id, call.agent_id, machine_status, reason, user.name,
                 _iso(now), _iso(deadline), item.status, key))
            appeal_id = cur.lastrowid
            self._audit(db, user.name, "appeal", call_id, item_id, appeal_id, reason)
        return self.appeal(user, appeal_id)

    def appeal(self, user: User, appeal_id: int) -> Appeal:
        row = self._db.execute(f"SELECT {_APPEAL_COLS}, {_CALL_AGENT} FROM appeals WHERE id = ?",
                               (appeal_id,)).fetchone()
        if row is None or not allowed(user, "view", row[-1]):
            raise NotFound(f"no appeal {appeal_id}")
        return Appeal(*row[:-1])

    def appeals(self, user: User, *, state: Optional[str] = None, agent: Optional[str] = None,
                item: Optional[str] = None, call_id: Optional[str] = None) -> list[Appeal]:
        """Appeals a user may see, newest first, filtered."""
        clauses, params = [], []
        if user.role == "agent":
            clauses.append(f"{_CALL_AGENT} = ?")
            params.append(user.agent_id)
        for col, value in (("state", state), ("agent_id", agent), ("item_id", item), ("call_id", call_id)):
            if value:
                clauses.append(f"{col} = ?")
                params.append(value)
        where = (" WHERE " + " AND ".join(clauses)) if clauses else ""
        return [Appeal(*r) for r in self._db.execute(
            f"SELECT {_APPEAL_COLS} FROM appeals{where} ORDER BY id DESC", params)]

    def decide(self, user: User, appeal_id: int, decision: str, note: str) -> Appeal:
        """Uphold (the status the agent contested stands) or overturn (the item passes: the
        agent's favour for every kind) an open appeal. The contested status is the one in force
        when the appeal was filed, so a review made in between does not turn an overturn against
        the agent. Only failed items can be appealed (``appealable``), so an overturn flips fail →
        pass; an appeal stored before that rule on a passed item is still decided, but its
        overturn leaves the item passed instead of failing it.

        One transaction: the appeal changes state only if it is still open (a conditional
        UPDATE), so of two QA staff deciding at once one wins and the other gets Conflict."""
        if not allowed(user, "rule"):
            raise NotFound(f"no appeal {appeal_id}")
        if decision not in ("uphold", "overturn"):
            raise ReviewError("decision must be uphold or overturn")
        note = clean_text(note, MAX_REASON)
        state = "upheld" if decision == "uphold" else "overturned"
        with self.history.transaction() as db:
            row = db.execute("SELECT call_id, item_id, contested FROM appeals WHERE id = ?", (appeal_id,)).fetchone()
            if row is None:
                raise NotFound(f"no appeal {appeal_id}")
            call_id, item_id, contested = row
            cur = db.execute("UPDATE appeals SET state = ?, decided_by = ?, decided_at = ?, note = ?"
                             " WHERE id = ? AND state = 'open'", (state, user.name, _iso(_now()), note, appeal_id))
            if cur.rowcount != 1:
                done = db.execute("SELECT state, decided_by, decided_at FROM appeals WHERE id = ?",
                                  (appeal_id,)).fetchone()
                who = f" by {done[1]} at {done[2]}" if done[1] else ""
                raise Conflict(f"appeal {appeal_id} is already {done[0]}{who}; nothing changed")
            contested = contested or self._effective_status(db, call_id, item_id)
            # Overturning never costs the agent: the item passes (an n/a one stays n/a).
            status = contested if decision == "uphold" or contested == "na" else "pass"
            self.history.rule(db, call_id, item_id, status, note=note, by=user.name, appeal_id=appeal_id)
            self._audit(db, user.name, decision, call_id, item_id, appeal_id, note)
        return self.appeal(user, appeal_id)

    def review_item(self, user: User, call_id: str, item_id: str, status: str, note: str) -> int:
        """QA sets one item's status with a note (a review without an appeal). Returns the ruling id."""
        if not allowed(user, "rule"):
            raise NotFound(f"no call {call_id!r}")
        self.call(user, call_id)
        if status not in ("pass", "fail", "na"):
            raise ReviewError("status must be pass, fail or na")
        note = clean_text(note, MAX_REASON)
        if not note:
            raise ReviewError("a review needs a note saying why")
        with self.history.transaction() as db:
            try:
                rid = self.history.rule(db, call_id, item_id, status, note=note, by=user.name)
            except KeyError:
                raise ReviewError(f"the scorecard has no item {item_id!r}") from None
            self._audit(db, user.name, "review", call_id, item_id, None, f"{status}: {note}")
        return rid

    def _effective_status(self, db, call_id: str, item_id: str) -> str:
        row = db.execute("SELECT i.status FROM items i WHERE i.item_id = ? AND i.call_pk ="
                         " (SELECT MAX(pk) FROM calls WHERE call_id = ?)", (item_id, call_id)).fetchone()
        if row is None:
            raise ReviewError(f"the scorecard of {call_id!r} has no item {item_id!r} any more")
        return row[0]

    def needs_review(self, user: User) -> list[tuple[str, str, str]]:
        """(call_id, agent_id, item_id) of latest results whose earlier ruling no longer applies."""
        if not allowed(user, "queue"):
            return []
        return list(self._db.execute(
            "SELECT c.call_id, c.agent_id, i.item_id FROM items i JOIN calls c ON c.pk = i.call_pk"
            " WHERE i.needs_review = 1 AND c.pk IN (SELECT MAX(pk) FROM calls GROUP BY call_id)"
            " ORDER BY c.call_date, c.call_id, i.position"))

    def audit(self, user: User, appeal_id: int) -> list[tuple[str, str, str, str]]:
        """(when, who, what, detail) of one appeal, oldest first."""
        self.appeal(user, appeal_id)
        return list(self._db.execute("SELECT at, actor, action, detail FROM audit WHERE appeal_id = ? ORDER BY id",
                                     (appeal_id,)))

    def _audit(self, db, actor: str, action: str, call_id: Optional[str] = None, item_id: Optional[str] = None,
               appeal_id: Optional[int] = None, detail: str = "") -> None:
        db.execute("INSERT INTO audit (at, actor, action, call_id, item_id, appeal_id, detail)"
                   " VALUES (?, ?, ?, ?, ?, ?, ?)", (_iso(_now()), actor, action, call_id, item_id, appeal_id, detail))

    # -- closing the loop ------------------------------------------------------------------

    def overturn_stats(self, user: User) -> dict[str, list[dict]]:
        """Appeals and overturn rate per item, per agent and per rubric version (what the user may
        see). The rate is overturned / decided (upheld + overturned)."""
        scope, params = (f"WHERE {_CALL_AGENT} = ?", [user.agent_id]) if user.role == "agent" else ("", [])
        out = {}
        for key, col in (("item", "item_id"), ("agent", "agent_id"), ("rubric_version", "rubric_version")):
            rows = self._db.execute(
                f"SELECT {col}, COUNT(*), SUM(state = 'open'), SUM(state = 'upheld'), SUM(state = 'overturned'),"
                f" SUM(state = 'expired') FROM appeals {scope} GROUP BY {col} ORDER BY {col}", params).fetchall()
            out[key] = [{"key": r[0], "appeals": r[1], "open": r[2], "upheld": r[3], "overturned": r[4],
                         "expired": r[5], "rate": (r[4] / (r[3] + r[4])) if (r[3] + r[4]) else None} for r in rows]
        return out

    def rulings(self) -> list[tuple]:
        """Every ruling, oldest first: (id, call_id, rubric_version, item_id, machine_status, status, note,
        by_user, at, appeal_id, in_force). ``in_force`` is 1 where the call's latest result takes the
        item's status from the ruling, 0 where it does not any more (a later ruling replaced it, or
        a re-score changed the item's evidence and the item waits for review)."""
        return list(self._db.execute(
            "SELECT r.id, r.call_id, r.rubric_version, r.item_id, r.machine_status, r.status, r.note, r.by_user,"
            " r.at, r.appeal_id, EXISTS (SELECT 1 FROM items i WHERE i.ruling = r.id AND i.call_pk ="
            " (SELECT MAX(c.pk) FROM calls c WHERE c.call_id = r.call_id))"
            " FROM rulings r ORDER BY r.id"))

    def labels(self) -> dict[tuple[str, str], str]:
        """The latest human ruling per (call, item) as ``eval`` labels: {(call_id, item): status}."""
        return {(c, i): s for c, i, s in self._db.execute(
            "SELECT call_id, item_id, status FROM rulings WHERE id IN"
            " (SELECT MAX(id) FROM rulings GROUP BY call_id, item_id) ORDER BY call_id, item_id")}


def export_reviews(reviews: "Reviews", out_dir: Path, *, since=None, until=None,
                   agent: Optional[str] = None) -> list[Path]:
    """Write ``appeals.csv``, ``rulings.csv`` (every ruling: machine and human status, who, when,
    why) and ``review_labels.csv`` (the latest ruling per call and item in the ``eval --labels``
    format) into ``out_dir``. UTF-8 with BOM, for Excel. With ``since`` / ``until`` / ``agent``
    only the calls those filters keep (as the dashboard's tables beside them: an export made for
    one agent holds nobody else's appeals or QA notes)."""
    from qa_scorer.outputs import atomic_open

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    everyone = User(0, "export", "manager", None)
    kept = None
    if since is not None or until is not None or agent is not None:
        kept = {r.call_id for r in reviews.history.call_rows(since=since, until=until, agent=agent)}

    def ours(call_id: str) -> bool:
        return kept is None or call_id in kept

    tables = {
        "appeals": (["appeal_id", "call_id", "rubric_version", "item_id", "agent", "machine_status", "reason", "state",
                     "filed_by", "filed_at", "deadline", "decided_by", "decided_at", "note", "ruling_in_force"],
                    [[a.id, a.call_id, a.rubric_version, a.item_id, a.agent_id, a.machine_status, a.reason, a.state,
                      a.filed_by, a.filed_at, a.deadline, a.decided_by, a.decided_at, a.note,
                      "" if a.ruling_in_force is None else a.ruling_in_force]
                     for a in reversed(reviews.appeals(everyone)) if ours(a.call_id)]),
        "rulings": (["ruling_id", "call_id", "rubric_version", "item_id", "machine_status", "human_status", "note",
                     "by", "at", "appeal_id", "in_force"], [list(r) for r in reviews.rulings() if ours(r[1])]),
        "review_labels": (["call_id", "item", "expected"],
                          [[c, i, s] for (c, i), s in reviews.labels().items() if ours(c)]),
    }
    written = []
    for name, (header, rows) in tables.items():
        path = out_dir / f"{name}.csv"
        with atomic_open(path, "w", encoding="utf-8-sig", newline="") as f:
            w = csv.writer(f)
            w.writerow(header)
            for row in rows:
                # Labels stay exact (eval reads them back); everything else is formula-safe.
                w.writerow(row if name == "review_labels" else [csv_cell(v) for v in row])
        written.append(path)
    return written


def same_token(a: Optional[str], b: Optional[str]) -> bool:
    """Constant-time comparison of two tokens; False when either is missing."""
    if not a or not b:
        return False
    return hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    from argon2 import PasswordHasher

    return PasswordHasher().hash(secrets.token_hex(16))
