"""The review app over HTTP: ``qa-scorer serve`` running on localhost over a real SQLite history.

One server for the module; each test uses its own calls or appeals so the order does not matter.
"""

from __future__ import annotations

import csv
import io
import re
import socket
import sqlite3
import threading
import time
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from conftest_reports import HOSTILE_CALL
from web_helpers import PASSWORDS, Server, build_history, csrf, form_token, login_token

pytestmark = pytest.mark.slow

GOOD, FATAL, PROMISE, CHAT = "C20240506-001", "C20240507-002", "C20240513-003", "C20240514-005"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("web")
    db, calls = build_history(folder)
    s = Server(db, folder / "serve.log")
    s.db, s.calls = db, calls
    yield s
    s.stop()


def score_on_page(html: str) -> str:
    m = re.search(r'id="score">([^<]*)<', html)
    assert m, "no score on the page"
    return m.group(1)


def test_everything_needs_a_login(server):
    c = server.client()
    for path in ("/", f"/calls/{GOOD}", f"/calls/{GOOD}/transcript", f"/calls/{PROMISE}/audio", "/appeals",
                 "/appeals/1", "/dashboard", "/export/calls.csv", "/users"):
        r = c.get(path)
        assert r.status_code == 303 and r.headers["location"] == "/login", path
    r = c.post(f"/calls/{GOOD}/appeals", data={"item": "greeting", "reason": "x", "csrf_token": "x"})
    assert r.status_code == 401
    r = c.get("/login")
    assert r.status_code == 200 and 'name="csrf_token"' in r.text
    assert "Content-Security-Policy" in r.headers and r.headers["X-Frame-Options"] == "DENY"


def test_login_needs_its_csrf_token_and_sets_safe_cookies(server):
    c = server.client()
    login_token(c)
    for token in (None, "wrong-token-wrong-token-wrong"):
        data = {"username": "li", "password": PASSWORDS["li"]}
        if token:
            data["csrf_token"] = token
        r = c.post("/login", data=data)
        assert r.status_code == 403 and "csrf_token" in r.text and "qa_session" not in r.headers.get("set-cookie", "")
    r = c.post("/login", data={"username": "li", "password": PASSWORDS["li"], "csrf_token": login_token(c)})
    assert r.status_code == 303
    cookie = [h for h in r.headers.get_list("set-cookie") if h.startswith("qa_session=")][0].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "max-age=28800" in cookie
    assert "secure" not in cookie  # plain HTTP on localhost; Secure is set under TLS
    assert c.get("/login").status_code == 303  # logged in: on to the home page
    fresh = server.client()
    r = fresh.post("/login", data={"username": "li", "password": "wrong", "csrf_token": login_token(fresh)})
    assert r.status_code == 401 and "wrong user name or password" in r.text


def test_cookies_are_secure_under_tls(server):
    # Behind a TLS proxy on this host (uvicorn trusts X-Forwarded-Proto from 127.0.0.1).
    c = server.client()
    c.headers["X-Forwarded-Proto"] = "https"
    r = c.get("/login")
    assert "; secure" in r.headers["set-cookie"].lower()
    token = form_token(r.text)
    # httpx keeps Secure cookies for https; the test talks plain HTTP to the server, so send it by hand.
    r = c.post("/login", data={"username": "li", "password": PASSWORDS["li"], "csrf_token": token},
               headers={"Cookie": f"qa_login_csrf={token}"})
    assert r.status_code == 303
    cookie = [h for h in r.headers.get_list("set-cookie") if h.startswith("qa_session=")][0].lower()
    assert "; secure" in cookie and "httponly" in cookie


def test_an_agent_sees_only_their_own_calls(server):
    li = server.login("li")
    home = li.get("/").text
    assert GOOD in home and FATAL in home
    for other in (PROMISE, CHAT, HOSTILE_CALL):
        assert other not in home
        href = "/calls/" + quote(other, safe="")
        for suffix in ("", "/transcript", "/audio"):
            r = li.get(href + suffix)
            assert r.status_code == 404, (other, suffix)
            assert other not in r.text
    assert li.get(f"/calls/{GOOD}/transcript").json()["call_id"] == GOOD
    assert li.get("/calls/no-such-call").status_code == 404
    for path in ("/dashboard", "/export/calls.csv", "/export/appeals.csv", "/users"):
        assert li.get(path).status_code == 404, path
    # Another agent's recording is served to that agent (and QA), never to this one.
    wang = server.login("wang")
    audio = wang.get(f"/calls/{PROMISE}/audio")
    assert audio.status_code == 200 and audio.content[:4] == b"RIFF"
    page = wang.get(f"/calls/{PROMISE}").text
    assert f'src="/calls/{PROMISE}/audio"' in page
    assert server.login("qa1").get(f"/calls/{PROMISE}/audio").status_code == 200


def test_an_agent_cannot_reach_another_agents_appeal_by_id(server):
    wang = server.login("wang")
    r = wang.post(f"/calls/{PROMISE}/appeals", data={"item": "false_promise", "reason": "我说的是预计到账",
                                                     "csrf_token": csrf(wang)})
    assert r.status_code == 303
    appeal_id = re.search(r'href="/appeals/(\d+)"', wang.get("/appeals").text).group(1)
    assert wang.get(f"/appeals/{appeal_id}").status_code == 200
    li = server.login("li")
    assert li.get(f"/appeals/{appeal_id}").status_code == 404
    assert "我说的是预计到账" not in li.get("/appeals").text
    assert "我说的是预计到账" not in li.get("/appeals?agent=A002&state=open").text
    # Nor file an appeal on another agent's call, nor rule.
    r = li.post(f"/calls/{PROMISE}/appeals", data={"item": "false_promise", "reason": "x", "csrf_token": csrf(li)})
    assert r.status_code == 404
    r = li.post(f"/appeals/{appeal_id}", data={"decision": "overturn", "note": "", "csrf_token": csrf(li)})
    assert r.status_code == 404
    r = li.post(f"/calls/{GOOD}/reviews", data={"item": "greeting", "status": "fail", "note": "x",
                                               "csrf_token": csrf(li)})
    assert r.status_code == 404


def test_posts_without_the_right_csrf_token_are_refused(server):
    li = server.login("li")
    for token in (None, "", "not-the-token"):
        data = {"item": "closing", "reason": "csrf probe"}
        if token is not None:
            data["csrf_token"] = token
        r = li.post(f"/calls/{FATAL}/appeals", data=data)
        assert r.status_code == 403 and "csrf_token" in r.text
    # Another user's token does not work either.
    r = li.post(f"/calls/{FATAL}/appeals", data={"item": "closing", "reason": "csrf probe",
                                                 "csrf_token": csrf(server.login("wang"))})
    assert r.status_code == 403
    assert "csrf probe" not in server.login("qa1").get("/appeals").text
    assert li.post("/logout", data={}).status_code == 403
    assert li.get("/").status_code == 200


def test_appeal_overturned_changes_scorecard_dashboard_and_csv(server):
    li, qa = server.login("li"), server.login("qa1")
    before_csv = _csv(qa, "calls")[FATAL]
    assert before_csv["score"] == "0.0" and before_csv["fatal"] == "1"
    assert score_on_page(li.get(f"/calls/{FATAL}").text) == "0"
    r = li.post(f"/calls/{FATAL}/appeals", data={"item": "complaint_soothing", "reason": "我在解释规定",
                                                 "csrf_token": csrf(li)})
    assert r.status_code == 303 and r.headers["location"].endswith("#appeals")
    queue = qa.get("/appeals?state=open").text
    appeal_id = re.search(rf'data-appeal="(\d+)" data-state="open">\s*<td><a href="/appeals/\d+">\d+</a></td>\s*'
                          rf'<td class="mono"><a href="/calls/{FATAL}">', queue).group(1)
    r = qa.post(f"/appeals/{appeal_id}", data={"decision": "overturn", "note": "录音确认", "csrf_token": csrf(qa)})
    assert r.status_code == 303
    page = qa.get(f"/calls/{FATAL}").text
    assert score_on_page(page) == "60" and 'id="fatal-banner"' not in page
    assert "machine: fail → 人工 human: pass (改判 overturned)" in page
    assert score_on_page(li.get(f"/calls/{FATAL}").text) == "60"  # the agent sees it too
    after_csv = _csv(qa, "calls")[FATAL]
    assert after_csv["score"] == "60.0" and after_csv["fatal"] == "0"
    dash = qa.get("/dashboard").text
    row = re.search(r'<tr data-key="complaint_soothing">(.*?)</tr>', dash, re.S).group(1)
    assert "100%" in row
    a001 = re.search(r'<tr data-agent="A001">(.*?)</tr>', dash, re.S).group(1)
    assert '<td class="num mean">82.5</td>' in a001 and '<td class="num fatal">0</td>' in a001
    rulings = (qa.get("/export/rulings.csv").content.decode("utf-8-sig"))
    assert "complaint_soothing,fail,pass,录音确认,qa1" in rulings
    trail = qa.get(f"/appeals/{appeal_id}").text
    assert "overturn" in trail and "li" in trail and "qa1" in trail
    # A second ruling on the same appeal is refused with a clear message.
    r = qa.post(f"/appeals/{appeal_id}", data={"decision": "uphold", "note": "", "csrf_token": csrf(qa)})
    assert r.status_code == 409 and "already overturned by qa1" in r.text


def _csv(client: httpx.Client, name: str) -> dict[str, dict]:
    r = client.get(f"/export/{name}.csv")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    return {row["call_id"]: row for row in csv.DictReader(io.StringIO(r.content.decode("utf-8-sig")))}


def test_hostile_text_in_an_appeal_is_inert(server):
    hostile = '<script>alert(1)</script><img src=x onerror=alert(2)> "quoted" & done'
    li = server.login("li")
    assert li.post(f"/calls/{FATAL}/appeals", data={"item": "greeting", "reason": hostile,
                                                    "csrf_token": csrf(li)}).status_code == 303
    for page in (server.login("qa1").get("/appeals").text, li.get(f"/calls/{FATAL}").text):
        assert "<script>alert(1)" not in page and "<img src=x" not in page
        assert "&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(2)&gt;" in page
    # The hostile call id and agent render escaped for QA too.
    qa_page = server.login("qa1").get("/calls/" + quote(HOSTILE_CALL, safe=""))
    assert qa_page.status_code == 200 and "<script>window.__pwned" not in qa_page.text


def test_concurrent_rulings_on_one_appeal(server):
    wang = server.login("wang")
    wang.post(f"/calls/{PROMISE}/appeals", data={"item": "customer_praise", "reason": "并发",
                                                 "csrf_token": csrf(wang)})
    appeal_id = re.search(r'<tr data-appeal="(\d+)" data-state="open">(?:(?!</tr>).)*?>customer_praise<',
                          wang.get("/appeals?state=open").text, re.S).group(1)
    clients = [server.login("qa1"), server.login("qa2")]
    tokens = [csrf(c) for c in clients]
    barrier = threading.Barrier(2)
    codes: list[int] = []

    def rule(i: int) -> None:
        barrier.wait()
        r = clients[i].post(f"/appeals/{appeal_id}", data={"decision": ("uphold", "overturn")[i], "note": f"qa{i}",
                                                            "csrf_token": tokens[i]})
        codes.append(r.status_code)

    threads = [threading.Thread(target=rule, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(codes) == [303, 409]
    rulings = server.login("boss").get("/export/rulings.csv").content.decode("utf-8-sig")
    assert sum(1 for row in csv.DictReader(io.StringIO(rulings)) if row["appeal_id"] == appeal_id) == 1


def test_roles(server):
    boss = server.login("boss")
    assert boss.get("/dashboard").status_code == 200
    assert boss.get("/users").status_code == 404
    assert boss.post(f"/calls/{GOOD}/reviews", data={"item": "greeting", "status": "fail", "note": "x",
                                                     "csrf_token": csrf(boss)}).status_code == 404
    qa = server.login("qa1")
    assert qa.get("/users").status_code == 404
    root = server.login("root")
    assert "zhang" in root.get("/users").text


def test_qa_reviews_an_item(server):
    qa = server.login("qa1")
    r = qa.post(f"/calls/{CHAT}/reviews", data={"item": "greeting", "status": "fail", "note": "未报工号",
                                                "csrf_token": csrf(qa)})
    assert r.status_code == 303
    page = qa.get(f"/calls/{CHAT}").text
    assert "machine: pass → 人工 human: fail" in page
    r = qa.post(f"/calls/{CHAT}/reviews", data={"item": "greeting", "status": "maybe", "note": "x",
                                                "csrf_token": csrf(qa)})
    assert r.status_code == 400 and "status must be" in r.text


def test_a_disabled_users_session_stops_working_and_logout_ends_one(server):
    zhang = server.login("zhang")
    assert zhang.get("/").status_code == 200
    root = server.login("root")
    assert root.post("/users/zhang/disable", data={"csrf_token": csrf(root)}).status_code == 303
    assert zhang.get("/").status_code == 303
    c = server.client()
    r = c.post("/login", data={"username": "zhang", "password": PASSWORDS["zhang"], "csrf_token": login_token(c)})
    assert r.status_code == 401
    boss = server.login("boss")
    token = boss.cookies["qa_session"]
    assert boss.post("/logout", data={"csrf_token": csrf(boss)}).status_code == 303
    again = server.client()
    again.cookies.set("qa_session", token)
    assert again.get("/").status_code == 303


def _refusal(r: httpx.Response) -> str:
    m = re.search(r'id="login-error"[^>]*>([^<]*)<', r.text)
    assert m, "no refusal on the login page"
    return m.group(1)


def test_repeated_failed_logins_lock_the_user(server):
    c = server.client()
    for _ in range(5):
        r = c.post("/login", data={"username": "qa2", "password": "guess", "csrf_token": login_token(c)})
        assert r.status_code == 401
    r = c.post("/login", data={"username": "qa2", "password": PASSWORDS["qa2"], "csrf_token": login_token(c)})
    assert r.status_code == 401
    # The lock is not told apart from a wrong password or a name that does not exist.
    ghost = c.post("/login", data={"username": "ghost-user", "password": "guess", "csrf_token": login_token(c)})
    assert ghost.status_code == 401 and "wrong user name or password" in r.text
    assert _refusal(r) == _refusal(ghost) and "locked" not in r.text
    log = Path(server.log).read_text(encoding="utf-8", errors="replace")
    assert re.search(r"WARNING qa_scorer.review: user qa2 locked until \S+ after 5 failed logins", log)


def _user(server, name: str, role: str = "qa", agent: str | None = None) -> str:
    from qa_scorer.review import Reviews
    from qa_scorer.store import History

    password = f"{name}-password-9"
    with History(server.db) as h:
        Reviews(h).add_user(name, role, password, agent)
    return password


def _burst(server, attempts: list[tuple[str, str, float]]) -> list[int]:
    """POST /login for each (name, password, delay) at once (each after its delay); the statuses."""
    clients = [server.client() for _ in attempts]
    tokens = [login_token(c) for c in clients]
    barrier = threading.Barrier(len(attempts))
    codes = [0] * len(attempts)

    def go(i: int) -> None:
        name, password, delay = attempts[i]
        barrier.wait()
        time.sleep(delay)
        codes[i] = clients[i].post("/login", data={"username": name, "password": password,
                                                   "csrf_token": tokens[i]}).status_code

    threads = [threading.Thread(target=go, args=(i,)) for i in range(len(attempts))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return codes


def test_parallel_logins_cannot_get_around_the_lock(server):
    password = _user(server, "burst")
    # Eleven wrong passwords at once, and the right one while they are still being checked.
    codes = _burst(server, [("burst", "guess-guess", 0.0)] * 11 + [("burst", password, 0.3)])
    assert codes == [401] * 12
    c = server.client()
    r = c.post("/login", data={"username": "burst", "password": password, "csrf_token": login_token(c)})
    assert r.status_code == 401  # still locked
    with sqlite3.connect(server.db) as db:
        checked = db.execute("SELECT COUNT(*) FROM audit WHERE actor = 'burst' AND action = 'login_failed'").fetchone()
    assert checked == (5,)  # of the burst, only the allowance reached the password check


def _peak_and_now(pid: int) -> tuple[int, int]:
    status = Path(f"/proc/{pid}/status").read_text()
    kib = {k: int(re.search(rf"{k}:\s+(\d+) kB", status).group(1)) for k in ("VmHWM", "VmRSS")}
    return kib["VmHWM"] * 1024, kib["VmRSS"] * 1024


def test_parallel_logins_do_not_run_many_password_checks_at_once(server):
    # Each argon2 check holds 64 MiB; the server checks at most two at a time, the rest wait.
    codes = _burst(server, [(f"ghost-{i}", "guess-guess", 0.0) for i in range(10)])
    assert codes == [401] * 10
    peak, now = _peak_and_now(server.proc.pid)
    assert peak - now < 4 * 64 * 2**20, (peak, now)


def _raw(server, head: bytes, body: bytes = b"", wait: float = 5) -> bytes:
    """Send a request by hand (headers, then part of a body) and read what comes back within ``wait``."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=wait) as s:
        s.sendall(head + body)
        data = b""
        try:
            while b"\r\n\r\n" not in data:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        except socket.timeout:
            pass
        return data


def test_large_bodies_are_refused_before_they_are_read(server):
    # A Content-Length over the limit is answered at once, without waiting for the body.
    head = (b"POST /login HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
            b"Content-Length: 1000000000\r\n\r\n")
    reply = _raw(server, head, b"username=")
    assert reply.startswith(b"HTTP/1.1 413"), reply[:200]
    assert b"content-security-policy" in reply.lower() and b"x-frame-options: deny" in reply.lower()
    # Without a session, a POST is refused before its (streamed) body is read.
    head = (b"POST /logout HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n")
    reply = _raw(server, head, b"400\r\n" + b"a" * 0x400 + b"\r\n")
    assert reply.startswith(b"HTTP/1.1 401"), reply[:200]
    # A streamed body over the limit is cut off with 413, logged in or not.
    li = server.login("li")
    token = csrf(li)

    def chunks():
        yield f"csrf_token={token}&item=closing&reason=big".encode()
        for i in range(10):  # each field under the form's own limits, the whole over the cap
            yield f"&f{i}=".encode() + b"a" * 10000

    for client in (li, server.client()):
        r = client.post("/login" if client is not li else f"/calls/{FATAL}/appeals", content=chunks(),
                        headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert r.status_code == 413 and "X-Frame-Options" in r.headers, r.status_code
    assert "aaaaaaaaaa" not in li.get(f"/calls/{FATAL}").text


def test_file_uploads_are_refused(server):
    li = server.login("li")
    r = li.post(f"/calls/{FATAL}/appeals", data={"item": "closing", "reason": "upload probe", "csrf_token": csrf(li)},
                files={"f": ("x.bin", b"\0" * 1000)})
    assert r.status_code == 400 and r.headers["X-Frame-Options"] == "DENY"
    assert "upload probe" not in server.login("qa1").get("/appeals").text


def test_appeal_ids_are_ascii_digits(server):
    li = server.login("li")
    assert li.post(f"/calls/{FATAL}/appeals", data={"item": "apology", "reason": "id probe",
                                                    "csrf_token": csrf(li)}).status_code == 303
    appeal_id = re.search(r'href="/appeals/(\d+)"', li.get(f"/calls/{FATAL}").text).group(1)
    assert li.get(f"/appeals/{appeal_id}").status_code == 200
    wide = "".join(chr(0xFF10 + int(d)) for d in appeal_id)  # full-width digits
    for path in (f"/appeals/{quote(wide)}", "/appeals/%C2%B9", "/appeals/%D9%A1", "/appeals/" + "9" * 13):
        r = li.get(path)
        assert r.status_code == 404, path
        assert r.headers["X-Frame-Options"] == "DENY" and "Content-Security-Policy" in r.headers
    qa = server.login("qa1")
    r = qa.post("/appeals/%C2%B9", data={"decision": "uphold", "note": "", "csrf_token": csrf(qa)})
    assert r.status_code == 404
    logged = r"127\.0\.0\.1 li GET /appeals/¹ 404 \d+ms"
    log = server.log_text(until=logged)
    assert re.search(logged, log)
    assert "Traceback" not in log


def test_an_unhandled_error_gets_the_app_page_headers_and_a_log_line(server, caplog):
    from starlette.routing import Route
    from starlette.testclient import TestClient

    from qa_scorer.web.app import create_app

    def boom(request):
        raise RuntimeError("boom")

    app = create_app(server.db)
    app.router.routes.append(Route("/boom", boom))
    with caplog.at_level("INFO", logger="qa_scorer.web"), TestClient(app, raise_server_exceptions=False) as c:
        r = c.get("/boom")
    assert r.status_code == 500 and r.headers["content-type"].startswith("text/html")
    assert r.headers["X-Frame-Options"] == "DENY" and r.headers["Cache-Control"] == "no-store"
    assert "Content-Security-Policy" in r.headers and "boom" not in r.text
    lines = [rec.getMessage() for rec in caplog.records]
    assert any(line.startswith("unhandled error in GET /boom") for line in lines)
    assert any(re.fullmatch(r"testclient - GET /boom 500 \d+ms", line) for line in lines), lines


def test_the_request_log_cannot_be_forged(server):
    fake = "2026-12-01 05:00:00,000 INFO qa_scorer.web: 127.0.0.1 root POST /users/qa1/disable 303"
    c = server.client()
    r = c.post("/login", data={"username": f"nobody 1ms\n{fake}", "password": "zzzzzzzzzz",
                               "csrf_token": login_token(c)})
    assert r.status_code == 401
    c.get("/calls/x%0a" + quote(fake) + "%00%e2%80%a8")
    logged = r"127\.0\.0\.1 - GET /calls/x\\x0a2026-12-01\\x2005:00:00\S*\\x00\\u2028 \d{3} \d+ms\n"
    server.log_text(until=logged)
    text = Path(server.log).read_bytes().decode("utf-8")  # strictly: the log must stay valid UTF-8
    assert "\0" not in text and "\u2028" not in text
    assert not any(line.startswith(fake) for line in text.splitlines())
    assert re.search(r"127\.0\.0\.1 - POST /login 401 \d+ms", text)  # no such user: its name is not logged
    assert re.search(logged, text)


def test_requests_are_logged(server):
    server.login("li").get(f"/calls/{GOOD}")
    logged = rf"127\.0\.0\.1 li GET /calls/{GOOD} 200 \d+ms"
    log = server.log_text(until=logged)
    assert re.search(logged, log)
    assert f"Uvicorn running on http://127.0.0.1:{server.port}" in log  # localhost unless --host says otherwise
