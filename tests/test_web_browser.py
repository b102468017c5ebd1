"""The review app in a real browser: headless Chromium (Playwright) against ``qa-scorer serve``.

One flow: an agent logs in, sees only their own calls, appeals an item through the form; QA logs
in, overturns it with the button, and the new score shows on the scorecard, the dashboard and in
the CSV export. Fails (never skips) when Chromium or Playwright is missing, like test_browser.py.
"""

from __future__ import annotations

import csv
import io
import os
import shutil
from pathlib import Path

import pytest

from web_helpers import PASSWORDS, Server, build_history

pytestmark = pytest.mark.slow

CHROMIUM = os.environ.get("QA_SCORER_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]
FATAL, PROMISE = "C20240507-002", "C20240513-003"


@pytest.fixture(scope="module")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("Playwright is not installed: pip install playwright (the `test` extra)")
    if not (Path(CHROMIUM).is_file() or shutil.which(CHROMIUM)):
        pytest.fail(f"Chromium not found at {CHROMIUM}: apt-get install chromium fonts-noto-cjk")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


def log_in(browser, server: Server, name: str):
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    page = ctx.new_page()
    errors: list[str] = []
    # Failed loads are checked by URL below (a 404 asked for on purpose is not an error).
    page.on("console", lambda m: m.type == "error" and not m.text.startswith("Failed to load resource")
            and errors.append(m.text))
    page.on("response", lambda r: r.status >= 400 and not r.url.endswith(("/favicon.ico", f"/calls/{PROMISE}"))
            and errors.append(f"{r.status} {r.url}"))
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("request", lambda r: r.url.startswith(server.url) or errors.append(f"outside request {r.url}"))
    page.goto(server.url + "/")
    assert page.url.endswith("/login")
    page.fill("input[name=username]", name)
    page.fill("input[name=password]", PASSWORDS[name])
    page.click("#login-form button[type=submit]")
    page.wait_for_url(server.url + "/")
    assert name in page.inner_text("#whoami")
    return ctx, page, errors


def test_agent_appeals_and_qa_overturns_in_the_browser(browser, tmp_path):
    db, _ = build_history(tmp_path)
    server = Server(db, tmp_path / "serve.log")
    try:
        ctx, page, errors = log_in(browser, server, "li")
        calls = page.locator("#calls tbody tr").evaluate_all("rows => rows.map(r => r.dataset.call)")
        assert sorted(calls) == ["C20240506-001", FATAL]
        page.goto(f"{server.url}/calls/{PROMISE}")
        assert "未找到 Not found" in page.inner_text("h1")
        page.goto(f"{server.url}/calls/{FATAL}")
        assert page.inner_text("#score").strip() == "0" and page.locator("#fatal-banner").is_visible()
        page.select_option("#appeal-form select[name=item]", "complaint_soothing")
        page.fill("#appeal-form textarea[name=reason]", "<b>我在解释规定</b>，没有推卸责任")
        page.click("#appeal-form button[type=submit]")
        page.wait_for_url(f"{server.url}/calls/{FATAL}#appeals")
        assert "<b>我在解释规定</b>" in page.inner_text("#appeals-table")  # shown as text, not markup
        page.screenshot(path=str(tmp_path / "agent.png"), full_page=True)
        assert not errors, errors
        ctx.close()

        ctx, page, errors = log_in(browser, server, "qa1")
        assert page.inner_text("#fig-open").strip() == "1"
        page.click(f"#appeals-table a[href='/calls/{FATAL}']")
        page.wait_for_url(f"{server.url}/calls/{FATAL}")
        page.fill("form.decide textarea[name=note]", "录音确认语气平和")
        page.click("form.decide button[value=overturn]")
        page.wait_for_url(f"{server.url}/calls/{FATAL}#appeals")
        assert page.inner_text("#score").strip() == "60"
        assert page.locator("#fatal-banner").count() == 0
        row = page.locator("tr[data-item=complaint_soothing]")
        assert "改判 overturned" in row.inner_text() and "machine: fail" in row.inner_text()
        assert page.locator("#appeals-table tr[data-state=overturned]").count() == 1
        page.goto(server.url + "/dashboard")
        assert page.inner_text("#dash-rate").strip() == "100%"
        assert page.inner_text("#agents tr[data-agent=A001] .mean").strip() == "82.5"
        exported = page.request.get(server.url + "/export/calls.csv")
        rows = {r["call_id"]: r for r in csv.DictReader(io.StringIO(exported.body().decode("utf-8-sig")))}
        assert rows[FATAL]["score"] == "60.0" and rows[FATAL]["fatal"] == "0"
        page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)
        page.click("#logout")
        page.wait_for_url(server.url + "/login")
        page.goto(server.url + "/dashboard")
        assert page.url.endswith("/login")
        assert not errors, errors
        ctx.close()
    finally:
        server.stop()
