"""A call without speech (``"segments": []``) is listed but says nothing about the agent: its
base score of 100 is in no mean, in the HTML reports or in the CSV export ("never a quiet 100").

Real SQLite history, the real ``score`` and ``export`` commands."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

from typer.testing import CliRunner

from qa_scorer.cli import app
from qa_scorer.report.charts import num

runner = CliRunner()

# A chat the default rubric marks down (no greeting, a banned phrase, no closing).
NORMAL = {
    "version": 1, "call_id": "w103-chat-1", "agent_id": "w103", "channel": "chat",
    "started_at": "2026-11-02T10:15:00+08:00",
    "segments": [
        {"speaker": "customer", "text": "在吗？我的快递三天没动了。"},
        {"speaker": "agent", "text": "说。"},
        {"speaker": "customer", "text": "快递三天没动了，怎么回事？"},
        {"speaker": "agent", "text": "这个不归我管，你自己去查。"},
        {"speaker": "customer", "text": "好吧。"},
    ],
}
EMPTY = {"version": 1, "call_id": "w103-empty-2", "agent_id": "w103", "channel": "chat",
         "started_at": "2026-11-02T11:15:00+08:00", "segments": []}
ONLY_EMPTY = {"version": 1, "call_id": "z999-empty-1", "agent_id": "z999", "channel": "phone",
              "started_at": "2026-11-03T09:00:00+08:00", "segments": []}


def _score(tmp_path: Path, *docs: dict) -> tuple[Path, dict[str, dict]]:
    inputs = tmp_path / "in"
    inputs.mkdir()
    for d in docs:
        (inputs / f"{d['call_id']}.json").write_text(json.dumps(d, ensure_ascii=False), encoding="utf-8")
    out = tmp_path / "out"
    res = runner.invoke(app, ["score", str(inputs), "--out", str(out), "--json", str(tmp_path / "all.json")])
    assert res.exit_code == 0, res.output
    cards = {c["call_id"]: c for c in json.loads((tmp_path / "all.json").read_text(encoding="utf-8"))}
    return out, cards


def _export(out: Path) -> None:
    res = runner.invoke(app, ["export", "--out", str(out)])
    assert res.exit_code == 0, res.output


def _figure(page: Path, key: str) -> str:
    """The value shown above a figure's caption (``平均分 mean score`` ...) on a report page."""
    m = re.search(r'<div class="v">([^<]*)</div><div class="k">' + re.escape(key), page.read_text(encoding="utf-8"))
    assert m, f"{page}: no figure {key!r}"
    return m.group(1)


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh))


def _setup(tmp_path: Path) -> tuple[Path, float]:
    out, cards = _score(tmp_path, NORMAL, EMPTY)
    assert cards["w103-empty-2"]["no_speech"] is True and cards["w103-empty-2"]["score"] == 100.0
    assert cards["w103-chat-1"]["no_speech"] is False
    normal = cards["w103-chat-1"]["score"]
    assert normal < 100  # else leaving the empty call out would change nothing
    return out, normal


def test_the_pages_mean_leaves_the_call_without_speech_out_and_still_list_it(tmp_path: Path) -> None:
    out, normal = _setup(tmp_path)
    index, agent, dash = out / "index.html", out / "agents" / "w103" / "index.html", out / "dashboard.html"
    # The mean is the one call with speech, not (normal + 100) / 2.
    assert _figure(index, "平均分 mean score") == num(normal)
    assert _figure(index, "中位数 median") == num(normal)
    assert _figure(agent, "平均分 mean score") == num(normal)
    assert _figure(dash, "平均分 mean score") == num(normal)
    # Both calls are still listed and counted, the empty one with its note.
    assert _figure(index, "通话 calls") == "2" and _figure(index, "无有效语音 calls without speech") == "1"
    for page in (index, agent):
        html = page.read_text(encoding="utf-8")
        assert "w103-empty-2" in html and "w103-chat-1" in html
        assert html.count("无有效语音 no speech</span>") == 1
    assert "calls without speech left out" in dash.read_text(encoding="utf-8")


def test_the_export_leaves_the_call_without_speech_out_of_the_means_and_lists_it(tmp_path: Path) -> None:
    out, normal = _setup(tmp_path)
    _export(out)
    (agent,) = _rows(out / "agents.csv")
    assert agent["agent"] == "w103" and float(agent["mean_score"]) == round(normal, 1)
    assert agent["calls"] == "2" and agent["no_speech_calls (not scored)"] == "1"
    (week,) = _rows(out / "weeks.csv")
    assert float(week["mean_score"]) == round(normal, 1) and week["no_speech_calls (not scored)"] == "1"
    (aw,) = _rows(out / "agent_weeks.csv")
    assert float(aw["mean_score"]) == round(normal, 1)
    (version,) = _rows(out / "rubric_versions.csv")
    assert float(version["mean_score"]) == round(normal, 1)
    dist = {r["score_range"]: int(r["calls"]) for r in _rows(out / "score_distribution.csv")}
    assert dist["100+"] == 0 and sum(dist.values()) == 2 and dist["no_speech_calls (not scored)"] == 1
    # The empty call is still listed in calls.csv, marked as without speech.
    calls = {r["call_id"]: r for r in _rows(out / "calls.csv")}
    assert set(calls) == {"w103-chat-1", "w103-empty-2"}
    assert calls["w103-empty-2"]["no_speech"] == "1" and calls["w103-chat-1"]["no_speech"] == "0"


def test_an_agent_with_only_calls_without_speech_has_no_mean(tmp_path: Path) -> None:
    out, cards = _score(tmp_path, NORMAL, ONLY_EMPTY)
    assert _figure(out / "agents" / "z999" / "index.html", "平均分 mean score") == "–"
    assert _figure(out / "index.html", "平均分 mean score") == num(cards["w103-chat-1"]["score"])
    _export(out)
    z = next(r for r in _rows(out / "agents.csv") if r["agent"] == "z999")
    assert z["mean_score"] == "" and z["calls"] == "1" and z["no_speech_calls (not scored)"] == "1"
    assert "z999-empty-1" in {r["call_id"] for r in _rows(out / "calls.csv")}


def test_review_app_means_leave_out_calls_without_speech(tmp_path):
    """The review app's home page (an agent's own mean) and the manager's dashboard likewise."""
    import html as html_lib

    from starlette.testclient import TestClient

    from qa_scorer.review import Reviews
    from qa_scorer.store import History
    from qa_scorer.web.app import create_app
    from web_helpers import form_token

    out, cards = _score(tmp_path, NORMAL, EMPTY, ONLY_EMPTY)
    normal = cards["w103-chat-1"]["score"]
    with History(out / "qa.sqlite") as h:
        r = Reviews(h)
        r.add_user("w", "agent", "w103-password-1", "w103")
        r.add_user("z", "agent", "z999-password-1", "z999")
        r.add_user("boss", "manager", "boss-password-1", None)
    app = create_app(out / "qa.sqlite", failed_login_delay=0)

    def page(name: str, password: str, path: str) -> str:
        c = TestClient(app, follow_redirects=False)
        token = form_token(c.get("/login").text)
        assert c.post("/login", data={"username": name, "password": password, "csrf_token": token}).status_code == 303
        return c.get(path).text

    def fig(text: str, el: str) -> str:
        m = re.search(rf'id="{el}">([^<]*)<', text)
        assert m, el
        return html_lib.unescape(m.group(1)).strip()

    assert fig(page("w", "w103-password-1", "/"), "fig-mean") == num(normal)
    assert fig(page("z", "z999-password-1", "/"), "fig-mean") == num(None)
    dash = page("boss", "boss-password-1", "/dashboard")
    assert fig(dash, "dash-mean") == num(normal)
    row = re.search(r'<tr data-agent="w103">.*?</tr>', dash, re.S).group(0)
    assert re.search(r'class="num mean">([^<]*)<', row).group(1) == num(normal)
    assert re.search(r"<td class=\"num\">(\d+)</td>", row).group(1) == "2"  # both calls listed


def test_agent_page_and_dashboard_count_the_calls_without_speech_apart(tmp_path):
    out, _ = _score(tmp_path, NORMAL, EMPTY, ONLY_EMPTY)
    agent_page = next((out / "agents").glob("w103*/index.html"))
    assert _figure(agent_page, "无有效语音 calls without speech") == "1"
    assert _figure(out / "dashboard.html", "无有效语音 calls without speech") == "2"
