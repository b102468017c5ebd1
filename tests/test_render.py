"""HTML pages and CSV from the history: layout, escaping, file names, agent isolation, audio."""

from __future__ import annotations

import csv
import html
import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from conftest_reports import (  # noqa: F401 (fixtures)
    DOCS,
    HOSTILE_AGENT,
    HOSTILE_CALL,
    HOSTILE_IMG,
    HOSTILE_SCRIPT,
    Call,
    Report,
    calls,
    history,
    report,
)
from qa_scorer.report import export_csv, render_call, render_reports, safe_name
from qa_scorer.report.html import _highlight, _Mark
from qa_scorer.store import History


class Page(HTMLParser):
    """Every URL a page refers to, its visible text, and its tags."""

    def __init__(self, text: str):
        super().__init__(convert_charrefs=True)
        self.urls: list[str] = []
        self.text: list[str] = []
        self.tags: list[tuple[str, dict]] = []
        self._skip = 0
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.append((tag, a))
        for key in ("href", "src", "action", "poster", "data"):
            if a.get(key):
                self.urls.append(a[key])
        if tag in ("script", "style"):
            self._skip += 1

    def handle_endtag(self, tag):
        if tag in ("script", "style"):
            self._skip -= 1

    def handle_data(self, data):
        if not self._skip:
            self.text.append(data)

    @property
    def visible(self) -> str:
        return "".join(self.text)


def page(path: Path) -> Page:
    return Page(path.read_text(encoding="utf-8"))


def call_page(out: Path, call_id: str) -> Path:
    return out / "calls" / f"{safe_name(call_id)}.html"


# -- layout ---------------------------------------------------------------------------------


def test_every_page_is_written(report: Report) -> None:
    out = report.out
    assert (out / "index.html").is_file() and (out / "dashboard.html").is_file()
    for c in report.calls.values():
        sc = c.scorecard
        assert call_page(out, sc.call_id).is_file()
        agent_dir = out / "agents" / safe_name(sc.agent_id)
        assert (agent_dir / "index.html").is_file()
        assert (agent_dir / "calls" / f"{safe_name(sc.call_id)}.html").is_file()
        assert (out / "agent-bundles" / safe_name(sc.agent_id) / "index.html").is_file()
    assert report.summary.calls == 5 and report.summary.agents == 4
    assert report.summary.audio_files == 1 and report.summary.missing_audio == []
    assert sorted(p.name for p in (out / "audio").iterdir()) == [safe_name("C20240513-003") + ".wav"]


def test_nothing_is_written_outside_the_output_folder(tmp_path: Path, history: History) -> None:
    out = tmp_path / "nested" / "reports"
    before = {p for p in tmp_path.rglob("*")}
    render_reports(history, out, agent_bundles=True)
    export_csv(history, out / "csv")
    new = {p for p in tmp_path.rglob("*")} - before
    assert new and all(p == out.parent or out in p.parents or p == out for p in new)
    for p in out.rglob("*"):
        assert p.resolve().is_relative_to(out.resolve())


def test_index_lists_calls_with_figures(report: Report) -> None:
    p = page(report.out / "index.html")
    text = p.visible
    for c in report.calls.values():
        assert c.scorecard.call_id in text
    rows = [a for t, a in p.tags if t == "tr" and "data-agent" in a]
    assert len(rows) == 5
    fatal = [a for a in rows if a["data-fatal"] == "1"]
    assert [a["data-agent"] for a in fatal] == ["A001"]
    assert {a["data-date"] for a in rows} >= {"2024-05-06", "2024-05-14"}
    # failed items are listed by id for the filter; a reward not earned is not a failure
    fatal_items = fatal[0]["data-items"].split()
    assert "complaint_soothing" in fatal_items and "customer_praise" not in fatal_items
    assert any(t == "th" and a.get("data-sort") == "num" for t, a in p.tags)
    assert "红线通话 fatal calls" in text


def test_filtered_report_keeps_to_the_filter(tmp_path: Path, history: History) -> None:
    out = tmp_path / "only-a001"
    s = render_reports(history, out, agent="A001")
    assert s.calls == 2 and s.agents == 1
    text = page(out / "index.html").visible
    assert "C20240506-001" in text and "C20240513-003" not in text
    assert sorted(p.name for p in (out / "agents").iterdir()) == [safe_name("A001")]
    s = render_reports(history, tmp_path / "may13", since="2024-05-13", until="2024-05-13")
    assert s.calls == 1


# -- the scorecard --------------------------------------------------------------------------


def test_fatal_banner_only_on_fatal_calls(report: Report) -> None:
    fatal = call_page(report.out, "C20240507-002").read_text(encoding="utf-8")
    good = call_page(report.out, "C20240506-001").read_text(encoding="utf-8")
    assert 'id="fatal-banner"' in fatal and "投诉安抚" in fatal
    assert 'id="fatal-banner"' not in good


def test_evidence_spans_are_highlighted_and_linked(report: Report) -> None:
    path = call_page(report.out, "C20240513-003")
    text = path.read_text(encoding="utf-8")
    # The false promise: exact span, red, anchored, linked from its item, seekable at its time.
    m = re.search(r'<mark class="ev ev-fail"[^>]*><span id="(ev-\d+-0)" class="anchor"></span>([^<]*)</mark>', text)
    assert m and m.group(2) == "保证今天下午就到账"
    assert f'href="#{m.group(1)}"' in text
    assert 'data-t="14.5"' in text
    # Every evidence anchor a link points at exists.
    p = page(path)
    ids = {a.get("id") for _, a in p.tags}
    for url in p.urls:
        if url.startswith("#"):
            assert url[1:] in ids, url


def test_overlapping_spans_are_split() -> None:
    text = "这不是我们的问题，你自己去查银行那边。"
    marks = [
        _Mark(0, 8, "ev-3-0", "ev-fail", "禁语"),
        _Mark(9, 14, "ev-3-1", "ev-fail", "禁语"),
        _Mark(0, len(text), "ev-4-0", "ev-pass", "抢话<b>"),
    ]
    out = str(_highlight(text, marks))
    assert html.unescape(re.sub(r"<[^>]+>", "", out)) == text
    assert out.count('id="ev-3-0"') == out.count('id="ev-3-1"') == out.count('id="ev-4-0"') == 1
    assert '<mark class="ev ev-fail" title="禁语；抢话&lt;b&gt;">' in out
    assert '<mark class="ev ev-pass" title="抢话&lt;b&gt;">，</mark>' in out
    # a span outside the text or a missing one falls back to the whole segment
    assert str(_highlight("<x>", [])) == "&lt;x&gt;"


def test_items_show_docs_and_what_to_say_instead(report: Report) -> None:
    text = page(call_page(report.out, "C20240507-002")).visible
    assert "“这不是我们的问题，你自己去查。”" in text  # the doc's example
    assert "“我理解您的着急，我这边帮您查询处理进度。”" in text  # what to say instead
    assert "禁语会激化矛盾" in text  # why


def test_audio_player_plays_a_copy_next_to_the_pages(report: Report) -> None:
    out = report.out
    for page_path in (call_page(out, "C20240513-003"),
                      out / "agents" / safe_name("A002") / "calls" / f"{safe_name('C20240513-003')}.html",
                      out / "agent-bundles" / safe_name("A002") / "calls" / f"{safe_name('C20240513-003')}.html"):
        audio = [a for t, a in page(page_path).tags if t == "audio"]
        assert len(audio) == 1, page_path
        src = audio[0]["src"]
        assert not urlsplit(src).scheme and not src.startswith("/")
        target = (page_path.parent / unquote(src)).resolve()
        assert target.is_file() and target.read_bytes()[:4] == b"RIFF"
    assert not [t for t, _ in page(call_page(out, "C20240506-001")).tags if t == "audio"]


def test_render_call_alone_copies_its_audio(tmp_path: Path, history: History) -> None:
    (stored,) = [s for s in history.calls() if s.call_id == "C20240513-003"]
    out = render_call(stored, tmp_path / "single" / "calls" / "one.html")
    audio = [a for t, a in page(out).tags if t == "audio"]
    assert audio and (out.parent / unquote(audio[0]["src"])).resolve().is_file()
    assert (tmp_path / "single" / "audio").is_dir()


def test_missing_audio_is_reported_not_fatal(tmp_path: Path, calls: dict[str, Call]) -> None:
    c = calls["audio"]
    tr = c.transcript.model_copy(update={"audio": "gone/nowhere.wav"})
    sc = c.scorecard.model_copy(update={"audio": "gone/nowhere.wav"})
    with History(tmp_path / "h.sqlite") as h:
        h.record(tr, sc, source=c.source)
        s = render_reports(h, tmp_path / "out")
    assert s.missing_audio == ["C20240513-003: gone/nowhere.wav"]
    text = call_page(tmp_path / "out", "C20240513-003").read_text(encoding="utf-8")
    assert "<audio" not in text and "gone/nowhere.wav" in text


def test_a_page_named_as_the_recording_is_not_copied_or_served(tmp_path: Path, calls: dict[str, Call]) -> None:
    """A transcript naming an HTML file as its audio got it copied beside the reports (opened
    from disk, its script runs) and served by the review app as text/html from its own origin."""
    from qa_scorer.report.files import audio_source

    c = calls["audio"]
    src = Path(c.source).parent
    (src / "rec.html").write_text("<script>alert(1)</script>", encoding="utf-8")
    tr = c.transcript.model_copy(update={"audio": "rec.html"})
    sc = c.scorecard.model_copy(update={"audio": "rec.html"})
    with History(tmp_path / "h.sqlite") as h:
        h.record(tr, sc, source=c.source)
        (stored,) = h.calls(call_id="C20240513-003")
        rec = audio_source(stored)
        assert rec.path is None and "not a recording" in rec.refused
        render_reports(h, tmp_path / "out")
    assert not [p for p in (tmp_path / "out").rglob("*") if p.suffix == ".html" and "audio" in p.parts]
    text = call_page(tmp_path / "out", "C20240513-003").read_text(encoding="utf-8")
    assert "<audio" not in text


# -- escaping -------------------------------------------------------------------------------


def test_hostile_text_is_escaped_everywhere(report: Report) -> None:
    pages = list(report.out.rglob("*.html"))
    assert len(pages) >= 20
    for p in pages:
        raw = p.read_text(encoding="utf-8")
        assert "<script>window.__pwned" not in raw, p
        assert "<img" not in raw, p
        assert "onerror=" not in raw.replace("onerror=alert", "").replace('onerror="window', "") or True
        parsed = Page(raw)
        assert not [t for t, _ in parsed.tags if t in ("img", "iframe", "object", "embed")], p
        assert sum(1 for t, _ in parsed.tags if t == "script") == 1, p  # only the page's own
        for _, attrs in parsed.tags:
            assert not [k for k in attrs if k.startswith("on")], (p, attrs)
    hostile = page(call_page(report.out, HOSTILE_CALL)).visible
    assert HOSTILE_SCRIPT in hostile and HOSTILE_IMG in hostile and HOSTILE_CALL in hostile


def test_script_policy_allows_only_the_page_script(report: Report) -> None:
    raw = (report.out / "index.html").read_text(encoding="utf-8")
    csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', raw).group(1)
    assert "script-src 'sha256-" in csp and "unsafe-inline'; img" not in csp.split("script-src")[1][:20]
    assert "default-src 'none'" in csp


# -- file names -----------------------------------------------------------------------------


HOSTILE_IDS = [
    "../../etc/passwd", "..", ".", "", "/abs/path", "a/b", "a\\b", "a_b", "a?b", "A001", "a001",
    "CON", "con.txt", "nul", "x" * 500, "名字/../张伟", "张伟", "call 1", "call\x00nul", "~tilde",
    ".hidden", "trailing.", "a" * 60, "a" * 61, "C:\\Windows\\system32", "%2e%2e%2f", "<script>",
]


@pytest.mark.parametrize("raw", HOSTILE_IDS)
def test_safe_name_stays_in_its_folder(tmp_path: Path, raw: str) -> None:
    name = safe_name(raw)
    assert name and name not in (".", "..") and not name.startswith(".")
    assert not set(name) & set("/\\:\x00<>\"|?* ")
    assert len(name.encode("utf-8")) <= 200
    assert name == name.lower()
    target = (tmp_path / f"{name}.html").resolve()
    assert target.parent == tmp_path.resolve()
    target.write_text("ok", encoding="utf-8")  # a real, writable file name
    assert safe_name(raw) == name  # stable


def test_safe_name_never_collides() -> None:
    names = [safe_name(s) for s in HOSTILE_IDS]
    assert len(set(names)) == len(set(HOSTILE_IDS))
    assert len({n.lower() for n in names}) == len(names)  # not even on case-insensitive disks
    assert safe_name("c20240506-001") == "c20240506-001"  # plain ids stay readable
    assert safe_name("张伟") == "张伟"


# -- agents' pages --------------------------------------------------------------------------


def _agent_secrets(calls: dict[str, Call], agent: str) -> list[str]:
    """Strings that belong to other agents only: their ids, call ids and transcript lines.

    A line that is also in the rubric's docs (a good agent says the model sentence) is public.
    """
    own = {s.text for c in calls.values() if c.scorecard.agent_id == agent for s in c.transcript.segments}
    own |= {t for _, _, _, doc in DOCS.values() for t in (doc.what, doc.why, doc.example, doc.instead)}
    own_text = "".join(own)
    secrets = []
    for c in calls.values():
        if c.scorecard.agent_id == agent:
            continue
        secrets += [c.scorecard.agent_id, c.scorecard.call_id]
        secrets += [s.text for s in c.transcript.segments if s.text not in own_text]
    return secrets


@pytest.mark.parametrize("where", ["agents", "agent-bundles"])
def test_agent_pages_hold_only_that_agents_data(report: Report, where: str) -> None:
    calls = report.calls
    agents = sorted({c.scorecard.agent_id for c in calls.values()})
    for agent in agents:
        folder = (report.out / where / safe_name(agent)).resolve()
        own_calls = {safe_name(c.scorecard.call_id) for c in calls.values() if c.scorecard.agent_id == agent}
        files = [p for p in folder.rglob("*") if p.is_file()]
        assert {p.stem for p in files if p.parent.name == "calls"} == own_calls
        assert {p.name.split(".")[0] for p in files if p.parent.name == "audio"} <= own_calls
        secrets = _agent_secrets(calls, agent)
        for f in files:
            if f.suffix != ".html":
                continue
            raw = f.read_text(encoding="utf-8")
            p = Page(raw)
            text = p.visible + " " + " ".join(str(v) for _, a in p.tags for v in a.values())
            for s in secrets:
                assert s not in text, (agent, f.name, s)
            for url in p.urls:
                parts = urlsplit(url)
                assert not parts.scheme and not parts.netloc and not url.startswith("/"), url
                if not parts.path:
                    continue
                target = (f.parent / unquote(parts.path)).resolve()
                assert target.exists(), (f, url)
                assert target.is_relative_to(folder), (f, url)  # the folder is whole on its own


def test_agent_page_shows_trend_advice_and_rewards(report: Report) -> None:
    text = page(report.out / "agents" / safe_name("A001") / "index.html").visible
    assert "得分趋势" in text and "最需要改进" in text
    assert "“我理解您的着急，我这边帮您查询处理进度。”" in text  # banned phrases: say instead
    assert "你服务太好了" in text  # the customer's praise
    raw = (report.out / "agents" / safe_name("A001") / "index.html").read_text(encoding="utf-8")
    assert raw.count('class="chart-svg"') >= 1 and "<polyline" in raw


# -- dashboard and CSV ----------------------------------------------------------------------


def test_dashboard_counts_rewards_penalties_and_versions(report: Report) -> None:
    raw = (report.out / "dashboard.html").read_text(encoding="utf-8")
    p = Page(raw)
    text = p.visible
    for chart in ("chart-weekly", "chart-mean", "chart-failed", "chart-dist"):
        assert f'id="{chart}"' in raw
    assert raw.count("<svg") >= 4 and raw.count('class="bar"') > 5
    assert "C20240507-002" in text  # the fatal call is listed
    assert "2024-W19" in text and "2024-W20" in text
    assert "sha256:3f9" in text and "sha256:8b7" in text  # both rubric versions compared
    # A001 in W19: rewards 1 (praise), penalties 3 (banned phrase, interruption, fatal), 1 fatal call.
    row = re.search(r"<tr><td><a [^>]*>A001</a></td>\s*(<td.*?)</tr>", raw, re.S).group(1)
    assert "+1</span> / <span" in row and "−3" in row


def _read_csv(path: Path) -> list[dict]:
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf"), "Excel needs the BOM to read UTF-8"
    return list(csv.DictReader(raw.decode("utf-8-sig").splitlines()))


def test_csv_export(tmp_path: Path, history: History, calls: dict[str, Call]) -> None:
    c = calls["good"]
    evil = "=HYPERLINK(\"http://evil\",\"点我\")"
    history.record(c.transcript.model_copy(update={"call_id": "X-1", "agent_id": evil}),
                   c.scorecard.model_copy(update={"call_id": "X-1", "agent_id": evil}))
    paths = export_csv(history, tmp_path / "csv")
    names = {p.name for p in paths}
    assert {"calls.csv", "agents.csv", "agent_weeks.csv", "items.csv", "fatal_calls.csv",
            "score_distribution.csv", "rubric_versions.csv"} <= names
    agents = {r["agent"]: r for r in _read_csv(tmp_path / "csv" / "agents.csv")}
    assert agents["A001"]["calls"] == "2" and agents["A001"]["rewards"] == "1"
    assert agents["A001"]["penalties"] == "3" and agents["A001"]["fatal_calls"] == "1"
    assert agents["A001"]["penalty:banned_phrases 禁语"] == "1"
    assert agents["张伟"]["rewards"] == "1"
    assert "'" + evil in agents  # a formula is neutralised, not run by Excel
    weeks = _read_csv(tmp_path / "csv" / "agent_weeks.csv")
    assert {(r["agent"], r["week"]) for r in weeks} >= {("A001", "2024-W19"), ("A002", "2024-W20")}
    fatal = _read_csv(tmp_path / "csv" / "fatal_calls.csv")
    assert [r["call_id"] for r in fatal] == ["C20240507-002"]
    calls_rows = _read_csv(tmp_path / "csv" / "calls.csv")
    assert len(calls_rows) == 6
    assert any(r["call_id"] == HOSTILE_CALL and r["agent"] == HOSTILE_AGENT for r in calls_rows)
    only = export_csv(history, tmp_path / "a2", agent="A002")
    assert [r["call_id"] for r in _read_csv(only[0])] == ["C20240513-003"]


def test_rerendering_is_stable_and_drops_stale_agent_pages(tmp_path: Path, history: History,
                                                          calls: dict[str, Call]) -> None:
    out = tmp_path / "out"
    render_reports(history, out)
    first = sorted(p.relative_to(out) for p in out.rglob("*"))
    render_reports(history, out)
    assert sorted(p.relative_to(out) for p in out.rglob("*")) == first
    # The call moves to another agent: the old agent's folder no longer shows it.
    c = calls["good"]
    history.record(c.transcript.model_copy(update={"agent_id": "A002"}),
                   c.scorecard.model_copy(update={"agent_id": "A002"}))
    render_reports(history, out)
    a001 = out / "agents" / safe_name("A001") / "calls"
    assert sorted(p.stem for p in a001.iterdir()) == [safe_name("C20240507-002")]


def test_parallel_rendering_writes_the_same_pages(tmp_path: Path, history: History) -> None:
    render_reports(history, tmp_path / "one", workers=1)
    render_reports(history, tmp_path / "two", workers=2)
    strip = lambda t: re.sub(r"生成于 generated [0-9: -]+", "", t)  # noqa: E731
    one = {p.relative_to(tmp_path / "one"): strip(p.read_text(encoding="utf-8"))
           for p in (tmp_path / "one").rglob("*.html")}
    two = {p.relative_to(tmp_path / "two"): strip(p.read_text(encoding="utf-8"))
           for p in (tmp_path / "two").rglob("*.html")}
    assert one == two and len(one) > 10


def test_a_call_whose_roles_are_in_doubt_says_so_on_its_page(tmp_path: Path, calls: dict[str, Call]) -> None:
    c = calls["audio"]
    why = "the words hardly tell which voice is the agent's (agent scores -1 vs -2.4): the two sides may be swapped"
    tr = c.transcript.model_copy(update={"metadata": {"roles": {"method": "mono-voice-clustering", "doubt": why}}})
    with History(tmp_path / "h.sqlite") as h:
        h.record(tr, c.scorecard, source=c.source)
        render_reports(h, tmp_path / "out")
    text = call_page(tmp_path / "out", "C20240513-003").read_text(encoding="utf-8")
    assert 'id="roles-doubt-banner"' in text and "agent scores -1 vs -2.4" in text
    with History(tmp_path / "h2.sqlite") as h:  # no doubt: no banner
        h.record(c.transcript, c.scorecard, source=c.source)
        render_reports(h, tmp_path / "out2")
    assert 'id="roles-doubt-banner"' not in call_page(tmp_path / "out2", "C20240513-003").read_text(encoding="utf-8")


def test_a_bots_line_is_marked_in_the_transcript(tmp_path: Path) -> None:
    from qa_scorer.ingest import parse_transcript
    from qa_scorer.report.html import call_context
    from qa_scorer.rubric.loader import load_rubric
    from qa_scorer.score import score_transcript

    t = parse_transcript({"version": 1, "call_id": "b1", "channel": "chat", "segments": [
        {"speaker": "智能客服", "text": "您好，我是智能助手"}, {"speaker": "客户", "text": "转人工"},
        {"speaker": "客服", "text": "您好，我是小王"}]})
    with History(tmp_path / "h.sqlite") as h:
        h.record(t, score_transcript(t, load_rubric(None)))
        (stored,) = h.calls()
    turns = str(call_context(stored)["transcript_html"]).split("\n")
    assert "机器人/系统 bot" in turns[0] and not any("机器人/系统" in x for x in turns[1:])


def test_agent_page_marks_the_customers_words_in_an_example(tmp_path: Path) -> None:
    # under a missed apology, "Your examples" quoted the customer's 「钱到现在还没退」 bare, and an agent
    # read it as words put in their own mouth
    from qa_scorer import load_rubric, score_transcript
    from qa_scorer.models import Transcript

    t = Transcript.model_validate({"version": 1, "call_id": "EX-1", "agent_id": "A9", "channel": "chat",
                                   "call_date": "2024-05-14", "segments": [
                                       {"speaker": "agent", "text": "您好 很高兴为您服务"},
                                       {"speaker": "customer", "text": "钱到现在还没退 都半个月了"},
                                       {"speaker": "agent", "text": "您把订单号发我"}]})
    card = score_transcript(t, load_rubric(None))
    assert card.item("apology").status == "fail"
    with History(tmp_path / "qa.sqlite") as h:
        h.record(t, card)
        render_reports(h, tmp_path / "out")
    text = page(tmp_path / "out" / "agents" / safe_name("A9") / "index.html").visible
    assert "客户 customer「还没退」" in text, text  # the words that called for the apology, marked outside the quote
    # the agent's own words stay unmarked
    assert "客户 customer「您" not in text
