"""The reports in a real browser: headless Chromium (Debian's) driven by Playwright over file://.

These tests fail, never skip, when Chromium or Playwright is missing: install them with
``apt-get install chromium fonts-noto-cjk`` and ``pip install playwright`` (no
``playwright install`` needed). Set ``QA_SCORER_CHROMIUM`` to use another Chromium binary.
Screenshots are written into each test's ``tmp_path``.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from conftest_reports import HOSTILE_CALL, HOSTILE_IMG, HOSTILE_SCRIPT, Report, calls, history, report  # noqa: F401
from qa_scorer.report import safe_name

CHROMIUM = os.environ.get("QA_SCORER_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("Playwright is not installed: pip install playwright (the `test` extra)")
    if not (Path(CHROMIUM).is_file() or shutil.which(CHROMIUM)):
        pytest.fail(f"Chromium not found at {CHROMIUM}: apt-get install chromium fonts-noto-cjk, "
                    "or set QA_SCORER_CHROMIUM to a Chromium binary")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


class Tab:
    """A page that records every request and every console error or uncaught exception."""

    def __init__(self, browser, tmp_path: Path):
        self.page = browser.new_page(viewport={"width": 1280, "height": 900})
        self.tmp_path = tmp_path
        self.requests: list[str] = []
        self.errors: list[str] = []
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))

    def open(self, path: Path):
        self.page.goto(path.resolve().as_uri())
        self.page.wait_for_load_state("load")
        return self.page

    def shot(self, name: str) -> Path:
        out = self.tmp_path / f"{name}.png"
        self.page.screenshot(path=str(out), full_page=True)
        assert out.stat().st_size > 10_000
        return out

    def assert_offline_and_clean(self) -> None:
        assert self.errors == []
        assert self.requests and all(u.startswith("file://") for u in self.requests), self.requests


@pytest.fixture
def tab(browser, tmp_path: Path):
    t = Tab(browser, tmp_path)
    yield t
    t.page.close()


def _visible(locator) -> None:
    assert locator.count() > 0
    box = locator.first.bounding_box()
    assert locator.first.is_visible() and box and box["width"] > 0 and box["height"] > 0


def test_fatal_scorecard(tab: Tab, report: Report) -> None:
    page = tab.open(report.out / "calls" / f"{safe_name('C20240507-002')}.html")
    banner = page.locator("#fatal-banner")
    _visible(banner)
    assert "红线" in banner.inner_text()
    bg = banner.evaluate("e => getComputedStyle(e).backgroundColor")
    r, g, b = (int(x) for x in bg[bg.index("(") + 1:bg.index(")")].split(",")[:3])
    assert r > 150 and g < 80 and b < 80, bg  # red
    marks = page.locator("mark.ev")
    assert marks.count() >= 5
    _visible(page.locator("mark.ev-fail"))
    assert page.locator("mark.ev-fail").first.evaluate("e => getComputedStyle(e).backgroundColor") != "rgba(0, 0, 0, 0)"
    # An item's evidence link lands on its highlight in the transcript.
    link = page.locator('#items a.evlink').nth(1)
    target = link.get_attribute("href")
    link.click()
    assert page.evaluate("location.hash") == target
    assert page.locator(f"{target}").evaluate("e => !!e.closest('mark')")
    # CJK text is laid out with a CJK font (glyphs wider than Latin ones).
    w = page.evaluate("""() => { const s = document.createElement('span'); s.textContent = '禁语禁语禁语禁语';
        document.body.appendChild(s); const w = s.getBoundingClientRect().width; s.remove(); return w; }""")
    assert w > 8 * 10
    # Only flagged items
    page.locator("#only-flagged").check()
    assert page.locator("#items tr.unflagged").first.is_hidden()
    tab.shot("scorecard-fatal")
    tab.assert_offline_and_clean()


def test_audio_seek_links(tab: Tab, report: Report) -> None:
    page = tab.open(report.out / "calls" / f"{safe_name('C20240513-003')}.html")
    audio = page.locator("audio#player")
    _visible(audio)
    page.wait_for_function("document.getElementById('player').readyState >= 1", timeout=10_000)
    assert page.evaluate("document.getElementById('player').duration") == pytest.approx(30, abs=0.5)
    seek = page.locator('#items a.seek[data-t="14.5"]')
    _visible(seek)
    assert page.evaluate("document.getElementById('player').currentTime") == 0
    seek.click()
    page.wait_for_function("Math.abs(document.getElementById('player').currentTime - 14.5) < 1.5")
    # The transcript's own timestamps seek too.
    page.evaluate("document.getElementById('player').pause()")
    page.locator('#seg-2 a.seek').click()
    page.wait_for_function("Math.abs(document.getElementById('player').currentTime - 8.3) < 1.5")
    _visible(page.locator("mark.ev-fail"))
    tab.shot("scorecard-audio")
    tab.assert_offline_and_clean()


def test_injected_markup_renders_as_text(tab: Tab, report: Report) -> None:
    page = tab.open(report.out / "calls" / f"{safe_name(HOSTILE_CALL)}.html")
    page.wait_for_timeout(300)
    assert page.evaluate("typeof window.__pwned") == "undefined"
    assert page.title() != "PWNED"
    assert page.locator("img").count() == 0
    body = page.locator("body").inner_text()
    assert HOSTILE_SCRIPT in body and HOSTILE_IMG in body and HOSTILE_CALL in body
    tab.shot("scorecard-hostile")
    tab.assert_offline_and_clean()
    page = tab.open(report.out / "index.html")
    assert page.evaluate("typeof window.__pwned") == "undefined" and page.locator("img").count() == 0


def test_agent_page(tab: Tab, report: Report) -> None:
    page = tab.open(report.out / "agents" / safe_name("A001") / "index.html")
    _visible(page.locator("#trend svg.chart-svg"))
    assert page.locator("#trend circle.pt").count() == 2
    assert "我理解您的着急" in page.locator("body").inner_text()
    # Its own calls only, and its scorecards open from the agent folder.
    assert page.locator("#calls tbody tr").count() == 2
    page.locator("#calls tbody a").first.click()
    page.wait_for_load_state("load")
    assert "/agents/" in page.url and page.locator(".scorebox").is_visible()
    tab.open(report.out / "agents" / safe_name("A001") / "index.html")
    tab.shot("agent")
    tab.assert_offline_and_clean()


def test_dashboard(tab: Tab, report: Report) -> None:
    page = tab.open(report.out / "dashboard.html")
    for chart in ("#chart-weekly", "#chart-mean", "#chart-failed", "#chart-dist"):
        _visible(page.locator(f"{chart} svg"))
    _visible(page.locator("#chart-weekly rect.bar"))
    _visible(page.locator("#chart-failed rect.bar"))
    assert page.locator("#fatal-table tbody tr").count() == 1
    assert page.locator("#versions-table tbody tr").count() == 2
    # Sort the agents by mean score, both ways.
    header = page.locator("#agents-table th", has_text="平均分")
    header.click()
    asc = page.locator("#agents-table tbody tr td:nth-child(3)").all_inner_texts()
    header.click()
    desc = page.locator("#agents-table tbody tr td:nth-child(3)").all_inner_texts()
    assert [float(x) for x in asc] == sorted(float(x) for x in asc) and desc == asc[::-1]
    tab.shot("dashboard")
    tab.assert_offline_and_clean()


def test_index_filters(tab: Tab, report: Report) -> None:
    page = tab.open(report.out / "index.html")
    rows = page.locator("#calls tbody tr")
    assert rows.count() == 5
    visible = lambda: sum(1 for i in range(rows.count()) if rows.nth(i).is_visible())  # noqa: E731
    assert visible() == 5
    page.locator("[data-f=fatal]").check()
    assert visible() == 1
    page.locator("[data-f=fatal]").uncheck()
    page.locator("[data-f=agent]").select_option("A001")
    assert visible() == 2
    page.locator("[data-f=agent]").select_option("")
    page.locator("[data-f=q]").fill("张伟")
    assert visible() == 1
    page.locator("[data-f=q]").fill("")
    page.locator("[data-f=from]").fill("2024-05-13")
    assert visible() == 3
    assert page.locator(".toolbar .count").inner_text() == "3 / 5"
    tab.shot("index")
    tab.assert_offline_and_clean()
