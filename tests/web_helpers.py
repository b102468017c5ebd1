"""A real review app for the tests: the fixture history, users, and ``qa-scorer serve`` running
on a free localhost port in its own process."""

from __future__ import annotations

import os
import re
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx

from conftest_reports import build_calls
from qa_scorer.review import Reviews
from qa_scorer.store import History

PASSWORDS = {"li": "li-password-1", "wang": "wang-password-2", "qa1": "qa1-password-3",
             "qa2": "qa2-password-4", "boss": "boss-password-5", "root": "root-password-6",
             "zhang": "zhang-password-7"}
ROLES = {"li": ("agent", "A001"), "wang": ("agent", "A002"), "qa1": ("qa", None), "qa2": ("qa", None),
         "boss": ("manager", None), "root": ("admin", None), "zhang": ("agent", "张伟")}


def build_history(folder: Path) -> tuple[Path, dict]:
    calls = build_calls(folder / "data")
    db = folder / "qa.sqlite"
    with History(db) as h:
        for c in calls.values():
            h.record(c.transcript, c.scorecard, source=c.source,
                     recording=str(Path(c.source).parent / c.transcript.audio) if c.transcript.audio and c.source else None)
        r = Reviews(h)
        for name, (role, agent) in ROLES.items():
            r.add_user(name, role, PASSWORDS[name], agent)
    return db, calls


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, db: Path, log: Path, *extra: str):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        self._out = open(log, "wb")
        exe = Path(sys.executable).with_name("qa-scorer")
        self.proc = subprocess.Popen([str(exe), "serve", "--db", str(db), "--port", str(self.port), *extra],
                                     stdout=self._out, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"qa-scorer serve exited: {log.read_text(errors='replace')}")
            try:
                httpx.get(self.url + "/login", timeout=1)
                return
            except httpx.TransportError:
                time.sleep(0.1)
        raise RuntimeError("qa-scorer serve did not answer within 30 s")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self._out.close()

    def log_text(self, until: str, timeout: float = 10.0) -> str:
        """The server's log once a line matching ``until`` (a regex) is in it: the server writes
        a request's line after sending the response, so a busy machine may write it late."""
        deadline = time.monotonic() + timeout
        while True:
            text = Path(self.log).read_bytes().decode("utf-8", errors="replace")
            if re.search(until, text) or time.monotonic() > deadline:
                return text
            time.sleep(0.05)

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, follow_redirects=False, timeout=20)

    def login(self, name: str, password: str | None = None) -> httpx.Client:
        c = self.client()
        r = c.post("/login", data={"username": name, "password": password or PASSWORDS[name],
                                   "csrf_token": login_token(c)})
        assert r.status_code == 303 and r.headers["location"] == "/", (r.status_code, r.text[:500])
        return c


def login_token(c: httpx.Client) -> str:
    return form_token(c.get("/login").text)


def form_token(html: str) -> str:
    m = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert m, "no csrf_token in the page"
    return m.group(1)


def csrf(c: httpx.Client) -> str:
    r = c.get("/")
    assert r.status_code == 200, r.status_code
    return form_token(r.text)


def db_rows(db: Path, sql: str, *args) -> list[tuple]:
    """The rows of one query on a history database, read with a connection of its own."""
    con = sqlite3.connect(db)
    try:
        return con.execute(sql, args).fetchall()
    finally:
        con.close()
