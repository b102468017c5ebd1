"""Appeals, rulings and effective statuses in the history (real SQLite, no server)."""

from __future__ import annotations

import csv
import io
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from argon2 import PasswordHasher

from conftest_reports import RUBRIC_V2, build_calls
from web_helpers import db_rows
from qa_scorer.models import Evidence
from qa_scorer.review import Conflict, NotFound, ReviewError, Reviews, User, allowed, export_reviews
from qa_scorer.store import History

FATAL = "C20240507-002"
# Cheap argon2id parameters for the fixtures' users (the real defaults are checked below).
FAST = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
PROMISE = "C20240513-003"


@pytest.fixture
def setup(tmp_path: Path):
    calls = build_calls(tmp_path / "data")
    h = History(tmp_path / "qa.sqlite")
    for c in calls.values():
        h.record(c.transcript, c.scorecard, source=c.source)
    r = Reviews(h, hasher=FAST)
    agent = r.add_user("li", "agent", "li-password", agent_id="A001")
    other = r.add_user("wang", "agent", "wang-password", agent_id="A002")
    qa = r.add_user("qa1", "qa", "qa1-password")
    yield h, r, agent, other, qa, calls
    h.close()


_rows = db_rows


def test_a_ruling_keeps_the_machine_result_and_changes_every_reader(setup):
    h, r, agent, _, qa, calls = setup
    before = h.calls(call_id=FATAL)[0]
    assert before.scorecard.fatal and before.scorecard.score == 0 and not before.reviews
    a = r.file_appeal(agent, FATAL, "complaint_soothing", "我是在解释规定，不是推卸责任")
    assert a.state == "open" and a.machine_status == "fail"
    r.decide(qa, a.id, "overturn", "录音确认坐席语气平和")

    after = h.calls(call_id=FATAL)[0]
    # Effective: the fatal item passes, so the call is no longer fatal; 100 - 40 deducted = 60.
    assert after.scorecard.item("complaint_soothing").status == "pass"
    assert not after.scorecard.fatal and after.scorecard.score == 60
    review = after.reviews["complaint_soothing"]
    assert review.machine_status == "fail" and review.status == "pass" and review.overturned
    # The machine's result is kept: the scorecard JSON, the machine_* columns, the ruling row.
    assert after.machine.fatal and after.machine.score == 0
    assert after.machine.item("complaint_soothing").status == "fail"
    assert _rows(h.path, "SELECT score, fatal, machine_score, machine_fatal FROM calls WHERE call_id = ?",
                 FATAL) == [(60.0, 0, 0.0, 1)]
    assert _rows(h.path, "SELECT i.status, i.machine_status, i.flagged FROM items i JOIN calls c ON c.pk = i.call_pk"
                 " WHERE c.call_id = ? AND i.item_id = 'complaint_soothing'", FATAL) == [("pass", "fail", 0)]
    assert _rows(h.path, "SELECT machine_status, status, by_user FROM rulings") == [("fail", "pass", "qa1")]
    # Readers that use the columns see the effective values with no change of their own.
    (row,) = [x for x in h.call_rows() if x.call_id == FATAL]
    assert row.score == 60 and not row.fatal
    counts = {(c.item_id, c.status): c.count for c in h.item_counts(agent="A001")}
    assert ("complaint_soothing", "fail") not in counts
    # The audit trail says who did what.
    trail = r.audit(qa, a.id)
    assert [(who, what) for _, who, what, _ in trail] == [("li", "appeal"), ("qa1", "overturn")]


def test_uphold_keeps_the_score_and_a_second_decision_is_a_conflict(setup):
    h, r, agent, _, qa, _ = setup
    a = r.file_appeal(agent, FATAL, "banned_phrases", "reason")
    r.decide(qa, a.id, "uphold", "禁语成立")
    assert h.calls(call_id=FATAL)[0].scorecard.score == 0
    assert r.appeal(qa, a.id).state == "upheld"
    with pytest.raises(Conflict, match="already upheld by qa1"):
        r.decide(qa, a.id, "overturn", "")
    assert len(r.rulings()) == 1


def test_an_overturn_flips_the_status_the_agent_contested_even_after_a_review(setup):
    h, r, agent, _, qa, _ = setup
    a = r.file_appeal(agent, FATAL, "complaint_soothing", "我安抚了客户")  # contests a fail
    # another QA reviewer passes the item before the appeal is decided
    r.review_item(qa, FATAL, "complaint_soothing", "pass", "听过录音，已安抚")
    r.decide(qa, a.id, "overturn", "申诉成立")
    # the overturn keeps the agent's pass; it does not flip the reviewer's pass back to fail
    assert h.calls(call_id=FATAL)[0].scorecard.item("complaint_soothing").status == "pass"
    b = r.file_appeal(agent, FATAL, "banned_phrases", "没有说禁语")  # contests a fail
    r.review_item(qa, FATAL, "banned_phrases", "pass", "先放过")
    r.decide(qa, b.id, "uphold", "禁语成立")
    # upholding keeps the contested fail
    assert h.calls(call_id=FATAL)[0].scorecard.item("banned_phrases").status == "fail"


def test_concurrent_rulings_one_wins(setup, tmp_path):
    h, r, agent, _, qa, _ = setup
    a = r.file_appeal(agent, FATAL, "greeting", "我说了您好")
    qa2 = r.add_user("qa2", "qa", "qa2-password")
    barrier = threading.Barrier(2)
    results: list[str] = []

    def rule(user: User, decision: str) -> None:
        with History(h.path) as own:
            mine = Reviews(own)
            barrier.wait()
            try:
                mine.decide(user, a.id, decision, f"by {user.name}")
                results.append("won")
            except Conflict as exc:
                results.append(f"conflict: {exc}")

    threads = [threading.Thread(target=rule, args=(qa, "overturn")), threading.Thread(target=rule, args=(qa2, "uphold"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results)[1] == "won" and results.count("won") == 1, results
    assert "already" in sorted(results)[0]
    assert len(_rows(h.path, "SELECT id FROM rulings WHERE appeal_id = ?", a.id)) == 1


def test_agents_reach_only_their_own_data(setup):
    h, r, agent, other, qa, _ = setup
    assert {c.agent_id for c in r.calls(agent)} == {"A001"}
    with pytest.raises(NotFound):
        r.call(agent, PROMISE)
    with pytest.raises(NotFound):
        r.file_appeal(agent, PROMISE, "false_promise", "not mine")
    theirs = r.file_appeal(other, PROMISE, "false_promise", "我说的是预计")
    with pytest.raises(NotFound):
        r.appeal(agent, theirs.id)
    assert r.appeals(agent) == []
    assert [s["key"] for s in r.overturn_stats(agent)["agent"]] == []
    with pytest.raises(NotFound):  # an agent cannot rule, even on their own appeal
        r.decide(other, theirs.id, "overturn", "")
    assert allowed(qa, "rule") and not allowed(agent, "rule") and not allowed(qa, "users")


def test_appeal_input_is_checked(setup, tmp_path):
    h, r, agent, _, qa, _ = setup
    with pytest.raises(ReviewError, match="must not be empty"):
        r.file_appeal(agent, FATAL, "greeting", "  \x00 ")
    with pytest.raises(ReviewError, match="no item"):
        r.file_appeal(agent, FATAL, "no_such_item", "x")
    with pytest.raises(ReviewError, match="n/a"):
        r.file_appeal(agent, "C20240506-001", "apology", "x")
    r.file_appeal(agent, FATAL, "greeting", "x")
    with pytest.raises(Conflict, match="already has an open appeal"):
        r.file_appeal(agent, FATAL, "greeting", "again")
    late = Reviews(h, appeal_days=0, hasher=FAST)
    with pytest.raises(ReviewError, match="deadline .* passed"):
        late.file_appeal(agent, FATAL, "closing", "too late")
    with pytest.raises(ReviewError, match="decision must be"):
        r.decide(qa, 1, "maybe", "")


def test_rescoring_keeps_rulings_whose_evidence_did_not_change(setup):
    h, r, agent, _, qa, calls = setup
    c = calls["fatal"]
    for item_id in ("complaint_soothing", "greeting"):
        a = r.file_appeal(agent, FATAL, item_id, "reason")
        r.decide(qa, a.id, "overturn", "note")
    open_appeal = r.file_appeal(agent, FATAL, "closing", "reason")
    # A new rubric version: same evidence for complaint_soothing and closing; greeting's changes.
    items = [it.model_copy(update={"evidence": [Evidence(segment=0, speaker="agent", text="喂")]})
             if it.id == "greeting" else it for it in c.scorecard.items]
    h.record(c.transcript, c.scorecard.model_copy(update={"rubric_version": RUBRIC_V2, "items": items}))
    new = h.calls(call_id=FATAL)[0]
    assert new.scorecard.rubric_version == RUBRIC_V2
    assert new.reviews["complaint_soothing"].ruled and new.scorecard.item("complaint_soothing").status == "pass"
    assert not new.scorecard.fatal
    greeting = new.reviews["greeting"]
    assert greeting.needs_review and not greeting.ruled and new.scorecard.item("greeting").status == "fail"
    # 100 - apology 10 - banned 15 - interruption 5 - closing 5 - greeting 5 (machine again) = 60
    assert new.scorecard.score == 60
    assert [x[2] for x in r.needs_review(qa)] == ["greeting"]
    assert r.appeal(qa, open_appeal.id).state == "open"  # closing's evidence did not change
    # The old version's result is still there, untouched by the ruling carried forward.
    old = h.calls(call_id=FATAL, rubric_version=c.scorecard.rubric_version)[0]
    assert old.scorecard.rubric_version != RUBRIC_V2
    # Re-scoring with the same version again keeps the effective values too.
    h.record(c.transcript, c.scorecard.model_copy(update={"rubric_version": RUBRIC_V2, "items": items}))
    assert h.calls(call_id=FATAL)[0].scorecard.score == 60
    # rulings.csv says which rulings the latest result still follows: not greeting's any more
    assert {(row[3], row[10]) for row in r.rulings()} == {("complaint_soothing", 1), ("greeting", 0)}
    # and the agent's appeals say so: greeting's overturn no longer decides the item
    kept = {a.item_id: a.ruling_in_force for a in r.appeals(agent)}
    assert kept == {"complaint_soothing": 1, "greeting": 0, "closing": None}
    from qa_scorer.web.app import env

    table = env().get_template("app_macros.html").module.appeals_table(r.appeals(agent), False)
    set_aside = [tr for tr in str(table).split("<tr ")[1:] if "裁定已失效" in tr]
    assert len(set_aside) == 1 and ">greeting<" in set_aside[0]


def test_an_open_appeal_expires_when_its_evidence_changes(setup):
    h, r, agent, _, qa, calls = setup
    c = calls["fatal"]
    a = r.file_appeal(agent, FATAL, "greeting", "reason")
    items = [it.model_copy(update={"evidence": []}) if it.id == "greeting" else it for it in c.scorecard.items]
    h.record(c.transcript, c.scorecard.model_copy(update={"rubric_version": RUBRIC_V2, "items": items}))
    assert r.appeal(qa, a.id).state == "expired"
    assert h.calls(call_id=FATAL)[0].reviews["greeting"].needs_review
    with pytest.raises(Conflict, match="already expired"):
        r.decide(qa, a.id, "overturn", "")


def test_an_open_appeal_expires_when_a_same_version_rescore_changes_its_evidence(setup):
    h, r, agent, _, qa, calls = setup
    c = calls["fatal"]
    kept = r.file_appeal(agent, FATAL, "closing", "reason")
    a = r.file_appeal(agent, FATAL, "greeting", "reason")
    # the same rubric version again (say, after transcribing the call again): new greeting evidence
    items = [it.model_copy(update={"evidence": []}) if it.id == "greeting" else it for it in c.scorecard.items]
    h.record(c.transcript, c.scorecard.model_copy(update={"items": items}))
    assert r.appeal(qa, a.id).state == "expired"
    assert r.appeal(qa, kept.id).state == "open"
    assert h.calls(call_id=FATAL)[0].reviews["greeting"].needs_review


def test_qa_review_without_appeal(setup):
    h, r, agent, _, qa, _ = setup
    with pytest.raises(ReviewError, match="needs a note"):
        r.review_item(qa, PROMISE, "false_promise", "pass", " ")
    with pytest.raises(NotFound):
        r.review_item(agent, FATAL, "greeting", "pass", "mine")
    r.review_item(qa, PROMISE, "false_promise", "pass", "客户同意的到账时间")
    card = h.calls(call_id=PROMISE)[0].scorecard
    assert card.item("false_promise").status == "pass" and card.score == 100


def test_passwords_are_argon2_and_failed_logins_lock(setup):
    h, r, agent, _, qa, _ = setup
    (digest,) = _rows(h.path, "SELECT password_hash FROM users WHERE name = 'li'")[0]
    assert digest.startswith("$argon2id$") and "li-password" not in digest
    Reviews(h).add_user("lu", "qa", "lu-password")  # the production parameters
    (digest,) = _rows(h.path, "SELECT password_hash FROM users WHERE name = 'lu'")[0]
    assert digest.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    s = r.login("li", "li-password")
    assert r.session(s.token).user.name == "li"
    assert _rows(h.path, "SELECT COUNT(*) FROM sessions WHERE token_hash = ?", s.token) == [(0,)]
    for _ in range(5):
        with pytest.raises(ReviewError, match="^wrong user name or password$"):
            r.login("li", "guess")
    # Locked: the right password is refused with the same words as a wrong one (nothing tells
    # an outsider that the name exists); the lock is in the audit table.
    with pytest.raises(ReviewError, match="^wrong user name or password$"):
        r.login("li", "li-password")
    (locked,) = _rows(h.path, "SELECT locked_until FROM users WHERE name = 'li'")[0]
    assert locked is not None
    assert _rows(h.path, "SELECT COUNT(*) FROM audit WHERE actor = 'li' AND action = 'login_locked'") == [(1,)]
    r.set_password("li", "new-li-password")  # an admin lifts the lock; old sessions end
    assert r.session(s.token) is None
    assert r.login("li", "new-li-password").user.agent_id == "A001"
    with pytest.raises(ReviewError, match="wrong user name or password"):
        r.login("nobody", "whatever-password")


def test_parallel_failed_logins_lock_the_user(setup):
    # Each thread its own connection, as each request of the app has: the failure count must not
    # lose updates, and a right password arriving after the limit in the same burst is refused.
    h, r, *_ = setup
    n = 12
    barrier = threading.Barrier(n)
    results: list[str] = []

    def attempt(i: int) -> None:
        with History(h.path) as own:
            barrier.wait()
            try:
                Reviews(own, hasher=FAST).login("wang", "guess")
                results.append("in")
            except ReviewError as exc:
                results.append(str(exc))

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # Of the burst only the allowance was checked against the password, and the lock holds.
    assert _rows(h.path, "SELECT COUNT(*) FROM audit WHERE actor = 'wang' AND action = 'login_failed'") == [(5,)]
    (locked,) = _rows(h.path, "SELECT locked_until FROM users WHERE name = 'wang'")[0]
    assert locked is not None
    assert results == ["wrong user name or password"] * n
    with pytest.raises(ReviewError, match="^wrong user name or password$"):
        r.login("wang", "wang-password")


def test_an_appeal_follows_its_call_to_its_current_agent(setup):
    # A manifest correction re-scores a call under another agent: the appeal filed by the first
    # agent is then shown to the call's agent now, and no longer to the one who filed it.
    h, r, agent, other, qa, calls = setup
    a = r.file_appeal(agent, FATAL, "greeting", "not me")
    assert [x.id for x in r.appeals(agent)] == [a.id] and r.appeals(other) == []
    c = calls["fatal"]
    h.record(c.transcript.model_copy(update={"agent_id": "A002"}), c.scorecard.model_copy(update={"agent_id": "A002"}))
    assert h.calls(call_id=FATAL)[-1].agent_id == "A002"
    with pytest.raises(NotFound):
        r.appeal(agent, a.id)
    with pytest.raises(NotFound):
        r.audit(agent, a.id)
    assert r.appeals(agent) == [] and r.overturn_stats(agent)["item"] == []
    assert r.appeal(other, a.id).filed_by == "li"  # the record of who filed it stays
    assert [x.id for x in r.appeals(other, call_id=FATAL)] == [a.id]
    assert r.appeal(qa, a.id).agent_id == "A001"


def test_disabling_a_user_ends_their_sessions(setup):
    h, r, *_ = setup
    s = r.login("wang", "wang-password")
    r.disable("wang")
    assert r.session(s.token) is None
    with pytest.raises(ReviewError):
        r.login("wang", "wang-password")


def test_user_input_is_checked(setup):
    h, r, *_ = setup
    with pytest.raises(ReviewError, match="needs --agent-id"):
        r.add_user("x", "agent", "long-enough")
    with pytest.raises(ReviewError, match="only for agent"):
        r.add_user("x", "qa", "long-enough", agent_id="A1")
    with pytest.raises(ReviewError, match="role must be"):
        r.add_user("x", "boss", "long-enough")
    with pytest.raises(ReviewError, match="too short"):
        r.add_user("x", "qa", "short")
    with pytest.raises(ReviewError, match="already exists"):
        r.add_user("li", "qa", "long-enough")
    with pytest.raises(ReviewError, match="user name"):
        r.add_user("<b>", "qa", "long-enough")


def test_migration_upgrades_an_old_history(tmp_path):
    from qa_scorer.store import MIGRATIONS

    calls = build_calls(tmp_path / "data")
    db = tmp_path / "old.sqlite"
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
    for name, sql in MIGRATIONS[:2]:
        con.executescript(sql)
        con.execute("INSERT INTO migrations VALUES (?, 'then')", (name,))
    con.execute("INSERT INTO calls (call_id, rubric_id, rubric_version, agent_id, channel, call_date, iso_week, base,"
                " score, bonus, fatal, recorded_at, transcript, scorecard) VALUES ('X', 'r', 'v', 'A', 'phone',"
                " '2024-01-01', '2024-W01', 100, 70, 0, 0, '2024-01-01', ?, ?)",
                (calls["fatal"].transcript.model_copy(update={"call_id": "X"}).model_dump_json(),
                 calls["fatal"].scorecard.model_copy(update={"call_id": "X"}).model_dump_json()))
    con.execute("INSERT INTO items VALUES (1, 0, 'greeting', 'g', 'required', 'fail', 1, -5, 5, '')")
    con.commit()
    con.close()
    with History(db) as h:
        assert h.migrations()[-4:] == ["0003_users_sessions_appeals", "0004_appeal_contested_status",
                                       "0005_first_scored", "0006_recording_index"]
    assert _rows(db, "SELECT machine_score, machine_fatal FROM calls") == [(70.0, 0)]
    assert _rows(db, "SELECT machine_status, machine_points FROM items") == [("fail", -5.0)]


@pytest.mark.slow
def test_export_and_eval_from_reviews(setup, tmp_path):
    h, r, agent, _, qa, _ = setup
    a = r.file_appeal(agent, FATAL, "complaint_soothing", "=HYPERLINK(\"x\")")
    r.decide(qa, a.id, "overturn", "ok")
    b = r.file_appeal(agent, FATAL, "banned_phrases", "reason")
    r.decide(qa, b.id, "uphold", "ok")
    out = tmp_path / "csv"
    names = [p.name for p in export_reviews(r, out)]
    assert names == ["appeals.csv", "rulings.csv", "review_labels.csv"]
    appeals = (out / "appeals.csv").read_text(encoding="utf-8-sig")
    assert "'=HYPERLINK" in appeals and "overturned" in appeals and "upheld" in appeals
    rows = list(csv.DictReader(io.StringIO(appeals)))
    assert [row["ruling_in_force"] for row in rows] == ["1", "1"]
    assert (out / "review_labels.csv").read_text(encoding="utf-8-sig").splitlines() == [
        "call_id,item,expected", f"{FATAL},banned_phrases,fail", f"{FATAL},complaint_soothing,pass"]
    h.close()
    exe = Path(sys.executable).with_name("qa-scorer")
    run = subprocess.run([str(exe), "eval", "--from-reviews", "--db", str(tmp_path / "qa.sqlite"), "--mismatches"],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    # The machine said fail on both; humans agreed on one: precision 0.5 over the two rulings' items.
    assert "2 human ruling(s)" in run.stdout
    assert f"complaint_soothing: {FATAL} expected pass, got fail" in run.stdout
    lines = {ln.split()[0]: ln for ln in run.stdout.splitlines() if ln.split() and "_" in ln.split()[0]
             and ln.split()[0] in ("banned_phrases", "complaint_soothing")}
    assert "1.00" in lines["banned_phrases"] and "0.00" in lines["complaint_soothing"]
    # The labels file works with --labels too.
    run2 = subprocess.run([str(exe), "eval", "--labels", str(out / "review_labels.csv")], capture_output=True,
                          text=True, timeout=60)
    assert run2.returncode == 2 and "labelled transcripts" in run2.stderr


@pytest.mark.slow
def test_users_command_group(tmp_path):
    exe = str(Path(sys.executable).with_name("qa-scorer"))
    db = str(tmp_path / "qa.sqlite")

    def cli(*args, stdin=""):
        return subprocess.run([exe, "users", *args, "--db", db], input=stdin, capture_output=True, text=True,
                              timeout=60)

    assert cli("add", "li", "--role", "agent", "--agent-id", "A001", "--password-stdin",
               stdin="li-password\n").returncode == 0
    assert cli("add", "boss", "--role", "manager", "--password-stdin", stdin="boss-password\n").returncode == 0
    no_stdin = cli("add", "x", "--role", "qa")
    assert no_stdin.returncode == 2 and "--password-stdin" in no_stdin.stderr
    bad = cli("add", "y", "--role", "agent", "--password-stdin", stdin="long-enough\n")
    assert bad.returncode == 2 and "--agent-id" in bad.stderr
    listed = cli("list").stdout
    assert "li" in listed and "A001" in listed and "manager" in listed
    assert cli("disable", "boss").returncode == 0 and "disabled" in cli("list").stdout
    assert cli("passwd", "li", "--password-stdin", stdin="another-password\n").returncode == 0
    assert cli("disable", "nobody").returncode == 2
    with History(db) as h:
        r = Reviews(h)
        assert r.login("li", "another-password").user.agent_id == "A001"
        with pytest.raises(ReviewError):
            r.login("boss", "boss-password")


def test_static_reports_show_rulings(setup, tmp_path):
    from qa_scorer.report import render_call

    h, r, agent, _, qa, _ = setup
    a = r.file_appeal(agent, FATAL, "complaint_soothing", "reason")
    r.decide(qa, a.id, "overturn", "ok")
    page = render_call(h.calls(call_id=FATAL)[0], tmp_path / "out" / "calls" / "x.html").read_text(encoding="utf-8")
    assert "机器 machine: fail → 人工 human: pass (改判 overturned)" in page
    assert 'id="score">60<' in page and 'id="fatal-banner"' not in page


def test_sessions_expire(setup):
    h, r, *_ = setup
    s = r.login("li", "li-password")
    assert r.session(s.token) is not None
    with h.transaction() as db:
        db.execute("UPDATE sessions SET expires_at = '2000-01-01T00:00:00+00:00'")
    assert r.session(s.token) is None
    r.logout(s.token)
    assert _rows(h.path, "SELECT COUNT(*) FROM sessions WHERE expires_at > '2001'") == [(0,)]


@pytest.mark.slow
def test_export_command_writes_rulings_and_effective_scores(setup, tmp_path):
    import csv

    h, r, agent, _, qa, _ = setup
    a = r.file_appeal(agent, FATAL, "complaint_soothing", "reason")
    r.decide(qa, a.id, "overturn", "ok")
    exe = Path(sys.executable).with_name("qa-scorer")
    out = tmp_path / "csv"
    run = subprocess.run([str(exe), "export", "--db", str(h.path), "--out", str(out)], capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    for name in ("calls", "agents", "appeals", "rulings", "review_labels"):
        assert (out / f"{name}.csv").is_file(), name
    rows = {row["call_id"]: row for row in csv.DictReader(
        (out / "calls.csv").read_text(encoding="utf-8-sig").splitlines())}
    assert rows[FATAL]["score"] == "60.0" and rows[FATAL]["fatal"] == "0"
    assert "overturned" in (out / "appeals.csv").read_text(encoding="utf-8-sig")
    # An export made for another agent holds none of this agent's appeals, rulings or labels.
    owner = h.calls(call_id=FATAL)[0].agent_id
    other = next(c.agent_id for c in h.calls() if c.agent_id != owner)
    mine = tmp_path / "other"
    run = subprocess.run([str(exe), "export", "--db", str(h.path), "--out", str(mine), "--agent", other],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    for name in ("appeals", "rulings", "review_labels"):
        text = (mine / f"{name}.csv").read_text(encoding="utf-8-sig")
        assert FATAL not in text and len(text.splitlines()) == 1, (name, text)
    run = subprocess.run([str(exe), "export", "--db", str(h.path), "--out", str(tmp_path / "own"), "--agent", owner],
                         capture_output=True, text=True, timeout=120)
    assert FATAL in (tmp_path / "own" / "appeals.csv").read_text(encoding="utf-8-sig")


def test_the_appeal_deadline_runs_from_the_first_scoring_not_a_re_score(setup, tmp_path):
    """A re-score replaces a call's row; the appeal window still runs from when the call was first
    scored, so a nightly re-run cannot reopen appeals that had expired."""
    h, r, agent, _, _, calls = setup
    first = r.deadline(FATAL)
    with h.transaction() as db:  # the call was first scored ten days ago
        db.execute("UPDATE first_scored SET at = '2000-01-01T00:00:00+00:00' WHERE call_id = ?", (FATAL,))
        db.execute("UPDATE calls SET recorded_at = '2000-01-01T00:00:00+00:00' WHERE call_id = ?", (FATAL,))
    before = r.deadline(FATAL)
    assert before < first
    c = calls["fatal"]
    h.record(c.transcript, c.scorecard, source=c.source)  # re-scored now: a new row
    assert r.deadline(FATAL) == before
    with pytest.raises(ReviewError, match="deadline .* passed"):
        r.file_appeal(agent, FATAL, "greeting", "still too late")


def test_a_history_written_before_keeps_its_calls_first_scoring(tmp_path):
    """Opening an older history fills in when each call was first scored from its rows."""
    import sqlite3

    calls = build_calls(tmp_path / "data")
    db = tmp_path / "qa.sqlite"
    with History(db) as h:
        for c in calls.values():
            h.record(c.transcript, c.scorecard, source=c.source)
    con = sqlite3.connect(db)
    con.execute("UPDATE calls SET recorded_at = '2001-02-03T04:05:06+00:00' WHERE call_id = ?", (FATAL,))
    con.execute("DROP TABLE first_scored")
    con.execute("DELETE FROM migrations WHERE name = '0005_first_scored'")
    con.commit()
    con.close()
    with History(db) as h:
        assert Reviews(h, appeal_days=7, hasher=FAST).deadline(FATAL).isoformat().startswith("2001-02-10T04:05:06")
        c = calls["fatal"]
        h.record(c.transcript, c.scorecard, source=c.source)
        assert Reviews(h, appeal_days=7, hasher=FAST).deadline(FATAL).isoformat().startswith("2001-02-10T04:05:06")


def test_a_call_the_user_may_not_see_is_never_read(setup, monkeypatch):
    """Reading another agent's call (a transcript may be megabytes) before refusing it took time
    that told the agent it exists, and memory the agent's requests could pile up."""
    h, r, agent, other, qa, _ = setup
    assert r.call(agent, FATAL).call_id == FATAL  # li's own call
    read = []
    real = h.calls
    monkeypatch.setattr(h, "calls", lambda *a, **k: read.append(k) or real(*a, **k))
    for call_id in (FATAL, "no-such-call"):
        with pytest.raises(NotFound):
            r.call(other, call_id)
    assert read == []
    assert r.call(qa, FATAL).call_id == FATAL and read


def test_an_upheld_appeal_is_not_filed_again_on_the_same_evidence(setup):
    h, r, agent, _, qa, calls = setup
    a = r.file_appeal(agent, FATAL, "greeting", "我说了您好")
    r.decide(qa, a.id, "uphold", "录音里没有问候")
    with pytest.raises(Conflict, match="appeal upheld"):
        r.file_appeal(agent, FATAL, "greeting", "我真的说了")
    # a re-score that changes the item's evidence opens it to an appeal again
    c = calls["fatal"]
    items = [it.model_copy(update={"evidence": [Evidence(segment=0, speaker="agent", text="喂")]})
             if it.id == "greeting" else it for it in c.scorecard.items]
    h.record(c.transcript, c.scorecard.model_copy(update={"rubric_version": RUBRIC_V2, "items": items}))
    assert r.file_appeal(agent, FATAL, "greeting", "新的证据").state == "open"
