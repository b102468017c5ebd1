"""What an agent may appeal (申诉) in the review app: only a judgment that costs them.

An appeal contests a failed item (a required item missed, a prohibited or fatal item hit, a reward
not earned); overturning it passes the item, so it can only help the agent. A passed or n/a item
is not offered on the form and a POST for it is refused and stores nothing. An appeal stored
before this rule on a passed item stays readable and decidable, and overturning it never fails
the item. The app runs in-process (Starlette's TestClient) over a real SQLite history.
"""

from __future__ import annotations

import re
import sqlite3
from datetime import datetime, timedelta, timezone
from html import unescape
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from web_helpers import PASSWORDS, build_history, db_rows, form_token
from qa_scorer.store import History, evidence_key
from qa_scorer.web.app import create_app

GOOD, FATAL, PROMISE = "C20240506-001", "C20240507-002", "C20240513-003"
# The fixture calls' failed items (of li's FATAL call every kind fails: required, prohibited,
# reward, fatal); the rest of the rubric passed or was n/a.
FATAL_FAILED = ["greeting", "apology", "banned_phrases", "interruption", "closing", "customer_praise",
                "complaint_soothing"]


@pytest.fixture
def app(tmp_path: Path):
    db, _ = build_history(tmp_path)
    a = create_app(db, failed_login_delay=0)
    a.state.db_path = db
    return a


def login(app, name: str) -> TestClient:
    c = TestClient(app, follow_redirects=False)
    token = form_token(c.get("/login").text)
    r = c.post("/login", data={"username": name, "password": PASSWORDS[name], "csrf_token": token})
    assert r.status_code == 303 and r.headers["location"] == "/", (r.status_code, r.text[:300])
    return c


def csrf(c: TestClient) -> str:
    return form_token(c.get("/").text)


def appeal_form_items(html: str) -> list[str] | None:
    """The item ids the appeal form offers, or None when the page has no appeal form."""
    form = re.search(r'<form[^>]*id="appeal-form".*?</form>', html, re.S)
    if form is None:
        return None
    return re.findall(r'<option value="([^"]*)"', form.group(0))


def score(html: str) -> str:
    return re.search(r'id="score">([^<]*)<', html).group(1).strip()


rows = db_rows


def appeal_ids(c: TestClient, call_id: str, item_id: str) -> list[str]:
    html = c.get(f"/calls/{call_id}").text
    return re.findall(rf'<tr data-appeal="(\d+)" data-state="\w+">(?:(?!</tr>).)*?>{item_id}<', html, re.S)


def test_the_form_offers_only_failed_items(app):
    li = login(app, "li")
    html = li.get(f"/calls/{FATAL}").text
    assert appeal_form_items(html) == FATAL_FAILED
    assert "(pass)" not in re.search(r'id="appeal-form".*?</form>', html, re.S).group(0)
    # A call with nothing failed has no form to appeal with, and says why.
    good = li.get(f"/calls/{GOOD}").text
    assert appeal_form_items(good) is None and 'id="no-appeal"' in good
    # wang's call: the prohibited item hit and the reward not earned, nothing else.
    assert appeal_form_items(login(app, "wang").get(f"/calls/{PROMISE}").text) == ["false_promise", "customer_praise"]


def test_appealing_a_passed_or_na_item_is_refused_and_stores_nothing(app):
    db = app.state.db_path
    li = login(app, "li")
    token = csrf(li)
    for call_id, item_id, what in ((FATAL, "identity_check", "passed"), (GOOD, "greeting", "passed"),
                                   (GOOD, "apology", "was not judged (n/a)")):
        r = li.post(f"/calls/{call_id}/appeals", data={"item": item_id, "reason": "扣分不对", "csrf_token": token})
        assert r.status_code == 400, (call_id, item_id, r.status_code)
        text = unescape(r.text)
        assert f"item '{item_id}' {what}" in text and "only a failed item" in text and "can be appealed" in text
    assert rows(db, "SELECT COUNT(*) FROM appeals") == [(0,)]
    assert rows(db, "SELECT COUNT(*) FROM audit WHERE action = 'appeal'") == [(0,)]
    assert rows(db, "SELECT COUNT(*) FROM rulings") == [(0,)]
    assert "扣分不对" not in login(app, "qa1").get("/appeals").text


def effective(db: Path, call_id: str) -> tuple:
    """(score, bonus, fatal) of a call's latest result as the readers see it."""
    return rows(db, "SELECT score, bonus, fatal FROM calls WHERE call_id = ? ORDER BY pk DESC LIMIT 1", call_id)[0]


def test_a_failed_item_of_each_kind_is_appealed_and_overturning_it_helps_the_agent(app):
    db = app.state.db_path
    li, qa = login(app, "li"), login(app, "qa1")
    assert score(li.get(f"/calls/{FATAL}").text) == "0" and effective(db, FATAL) == (0.0, 0.0, 1)
    steps = [  # item (kind), then the call's (score, bonus, fatal) once it is overturned
        ("complaint_soothing", (60.0, 0.0, 0)),  # fatal: the call's zero is lifted
        ("greeting", (65.0, 0.0, 0)),  # required: its 5 points come back
        ("banned_phrases", (80.0, 0.0, 0)),  # prohibited: its 15 points come back
        ("customer_praise", (80.0, 5.0, 0)),  # reward: the bonus is earned
    ]
    for item_id, after in steps:
        assert item_id in appeal_form_items(li.get(f"/calls/{FATAL}").text)
        r = li.post(f"/calls/{FATAL}/appeals", data={"item": item_id, "reason": "请复核", "csrf_token": csrf(li)})
        assert r.status_code == 303, item_id
        (appeal_id,) = appeal_ids(li, FATAL, item_id)
        r = qa.post(f"/appeals/{appeal_id}", data={"decision": "overturn", "note": "改判", "csrf_token": csrf(qa)})
        assert r.status_code == 303, item_id
        assert effective(db, FATAL) == after, item_id
        assert rows(db, "SELECT machine_status, status FROM rulings WHERE appeal_id = ?",
                    int(appeal_id)) == [("fail", "pass")]
        page = li.get(f"/calls/{FATAL}").text
        assert score(page) == f"{after[0]:.0f}"
        # The item passes now: it is no longer offered, and appealing it again (to flip it back) is refused.
        assert item_id not in appeal_form_items(page)
        r = li.post(f"/calls/{FATAL}/appeals", data={"item": item_id, "reason": "again", "csrf_token": csrf(li)})
        assert r.status_code == 400 and "passed" in r.text, item_id
        assert rows(db, "SELECT COUNT(*) FROM appeals WHERE item_id = ?", item_id) == [(1,)]
        # The 409 on a second decision is unchanged.
        r = qa.post(f"/appeals/{appeal_id}", data={"decision": "uphold", "note": "", "csrf_token": csrf(qa)})
        assert r.status_code == 409 and "already overturned by qa1" in r.text
    assert effective(db, FATAL) == (80.0, 5.0, 0)


def legacy_appeal(db: Path, call_id: str, item_id: str, filed_by: str) -> int:
    """An appeal on a passed item as the app stored it before the rule (what the old
    ``file_appeal`` wrote): it must stay readable and decidable."""
    with History(db) as h:
        call = h.calls(call_id=call_id)[-1]
    item = call.scorecard.item(item_id)
    now = datetime.now(timezone.utc)
    con = sqlite3.connect(db)
    try:
        with con:
            cur = con.execute(
                "INSERT INTO appeals (call_id, rubric_version, item_id, agent_id, machine_status, reason, filed_by,"
                " filed_at, deadline, contested, evidence_key) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (call_id, call.scorecard.rubric_version, item_id, call.agent_id, item.status, "旧申诉", filed_by,
                 now.isoformat(timespec="seconds"), (now + timedelta(days=7)).isoformat(timespec="seconds"),
                 item.status, evidence_key(item)))
        return cur.lastrowid
    finally:
        con.close()


def test_a_stored_appeal_on_a_passed_item_stays_decidable_and_overturning_it_costs_nothing(app):
    db = app.state.db_path
    appeal_id = legacy_appeal(db, FATAL, "identity_check", "li")
    li, qa = login(app, "li"), login(app, "qa1")
    assert li.get(f"/appeals/{appeal_id}").status_code == 200
    assert login(app, "wang").get(f"/appeals/{appeal_id}").status_code == 404  # isolation as before
    page = qa.get(f"/calls/{FATAL}").text
    assert f'data-appeal="{appeal_id}"' in page and "旧申诉" in page
    r = qa.post(f"/appeals/{appeal_id}", data={"decision": "overturn", "note": "不扣分", "csrf_token": csrf(qa)})
    assert r.status_code == 303
    # identity_check stays passed (FATAL's score is 0 whatever: the fatal item) ...
    assert rows(db, "SELECT machine_status, status FROM rulings WHERE appeal_id = ?", appeal_id) == [("pass", "pass")]
    assert effective(db, FATAL) == (0.0, 0.0, 1)
    # ... and on a call with points to lose the overturn costs the agent nothing either.
    wang = login(app, "wang")
    other = legacy_appeal(db, PROMISE, "identity_check", "wang")
    assert wang.get(f"/appeals/{other}").status_code == 200
    assert score(wang.get(f"/calls/{PROMISE}").text) == "80"
    r = qa.post(f"/appeals/{other}", data={"decision": "overturn", "note": "", "csrf_token": csrf(qa)})
    assert r.status_code == 303
    assert score(wang.get(f"/calls/{PROMISE}").text) == "80" and effective(db, PROMISE) == (80.0, 0.0, 0)
    assert rows(db, "SELECT state FROM appeals WHERE id = ?", other) == [("overturned",)]
    # Upholding a stored one keeps the item as it was too.
    third = legacy_appeal(db, PROMISE, "closing", "wang")
    r = qa.post(f"/appeals/{third}", data={"decision": "uphold", "note": "", "csrf_token": csrf(qa)})
    assert r.status_code == 303 and effective(db, PROMISE) == (80.0, 0.0, 0)


def test_qa_reviews_are_not_limited_to_failed_items(app):
    # QA's own review (复核) still sets any status on any item, a passed one included; an item QA
    # failed that way is then one its agent may appeal, and the only one on a call with no other fail.
    qa = login(app, "qa1")
    r = qa.post(f"/calls/{GOOD}/reviews", data={"item": "identity_check", "status": "fail", "note": "未核实",
                                                "csrf_token": csrf(qa)})
    assert r.status_code == 303
    assert rows(app.state.db_path, "SELECT machine_status, status FROM rulings") == [("pass", "fail")]
    assert appeal_form_items(login(app, "li").get(f"/calls/{GOOD}").text) == ["identity_check"]


def test_an_item_under_appeal_is_not_offered_again(app):
    li = login(app, "li")
    r = li.post(f"/calls/{FATAL}/appeals", data={"item": "greeting", "reason": "请复核", "csrf_token": csrf(li)})
    assert r.status_code == 303
    offered = appeal_form_items(li.get(f"/calls/{FATAL}").text)
    assert "greeting" not in offered and offered == [i for i in FATAL_FAILED if i != "greeting"]


def test_appeal_times_are_shown_in_the_machines_local_time(app):
    """The review records keep UTC; a centre in Beijing reads its deadline and the appeal's dates
    at +08:00 (they were shown as UTC, the filing time without even saying so)."""
    import time as _time

    from qa_scorer.web.app import local_time

    import os

    before = os.environ.get("TZ")
    os.environ["TZ"] = "Asia/Shanghai"
    _time.tzset()
    try:
        assert local_time("2026-12-06T18:05:31+00:00") == "2026-12-07 02:05 +08:00"
        assert local_time("2026-12-06T18:05") == "2026-12-06 18:05"  # no offset: as written
        assert local_time(None) == "" and local_time("garbled") == "garbled"
        li = login(app, "li")
        html = li.get(f"/calls/{FATAL}").text
        deadline = re.search(r"截止 until ([^<]+)<", html).group(1)
        assert deadline.endswith("+08:00"), deadline
        r = li.post(f"/calls/{FATAL}/appeals", data={"item": FATAL_FAILED[0], "reason": "x", "csrf_token": csrf(li)})
        assert r.status_code == 303, r.text[:300]
        page = li.get("/appeals").text
        filed = re.search(r'<td class="small nowrap">li (\S+ \S+ \S+)</td>', page).group(1)
        assert filed.endswith("+08:00")
        stored = rows(app.state.db_path, "SELECT filed_at FROM appeals")[-1][0]
        assert local_time(stored) == filed
    finally:  # the process's zone as it was, for the tests after this one
        if before is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = before
        _time.tzset()


def test_an_appeal_as_long_as_the_form_allows_is_taken_in_chinese(app):
    """The form allows 2000 characters; URL-encoded, 2000 Chinese characters are 18 KB, and a
    16 KB limit on one field refused them from about 1,820 on."""
    li = login(app, "li")
    reason = "坐席当时已经解释清楚了" * 200
    assert len(reason) == 2200
    r = li.post(f"/calls/{FATAL}/appeals", data={"item": FATAL_FAILED[0], "reason": reason[:2000],
                                                "csrf_token": csrf(li)})
    assert r.status_code == 303, r.text[:300]
    stored = rows(app.state.db_path, "SELECT reason FROM appeals")[-1][0]
    assert stored == reason[:2000]


def test_an_agent_does_not_see_where_the_server_read_the_call_from(app):
    with sqlite3.connect(app.state.db_path) as db:
        db.execute("UPDATE calls SET source = '/srv/qa/in/x.json' WHERE call_id = ?", (FATAL,))
    li = login(app, "li")
    assert "来源 Source" not in li.get(f"/calls/{FATAL}").text
    assert "来源 Source" in login(app, "qa1").get(f"/calls/{FATAL}").text
