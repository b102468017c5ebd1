"""A score run renders only what it changed: its scorecards, their agents' pages, the index and
the dashboard, read from the history's columns; `report` still renders everything."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

from conftest_reports import (  # noqa: F401 (fixtures)
    Call,
    Transcript,
    all_pass,
    calls,
    ev,
    history,
    item,
    scorecard,
    segs,
)
from qa_scorer.report import export_csv, render_reports, render_update, safe_name
from qa_scorer.store import History

_STAMP = re.compile(r"生成于 generated [0-9: -]+")


def _pages(out: Path) -> dict[str, str]:
    return {str(p.relative_to(out)): _STAMP.sub("", p.read_text(encoding="utf-8"))
            for p in sorted(out.rglob("*.html"))}


def _new_call(call_id: str, agent: str, day: str) -> Call:
    t = Transcript(call_id=call_id, agent_id=agent, started_at=f"{day}T10:00:00+08:00", segments=segs(
        ("agent", "喂，你说。", 0.0, 1.1),
        ("customer", "我想改一下收货地址。", 1.5, 3.0),
        ("agent", "行，改好了，还有别的吗？再见。", 3.2, 6.0),
    ))
    items = all_pass(greeting=item("greeting", "fail", [ev(t, 0, "喂，你说。")], "未使用标准问候语"))
    return Call(t, scorecard(t, items, source=f"batch9/{call_id}.json"), f"batch9/{call_id}.json")


def _owned(out: Path) -> set[str]:
    return set(json.loads((out / ".qa-scorer-outputs.json").read_text(encoding="utf-8"))["files"])


def test_an_update_renders_only_its_calls_and_matches_a_full_render(tmp_path: Path, history: History) -> None:
    out = tmp_path / "out"
    render_reports(history, out)
    untouched = out / "calls" / (safe_name("C20240507-002") + ".html")
    before = untouched.stat().st_mtime_ns
    new = _new_call("C20240520-009", "A001", "2024-05-20")
    history.record(new.transcript, new.scorecard, source=new.source)

    s = render_update(history, out, ["C20240520-009"])
    assert s.calls == 1 and s.agents == 1
    assert untouched.stat().st_mtime_ns == before  # another call's page is not written again
    page = out / "calls" / (safe_name("C20240520-009") + ".html")
    assert page.is_file() and (out / "agents" / safe_name("A001") / "calls" / page.name).is_file()

    # Index, dashboard and every agent page are what a full render of the same history writes.
    full = tmp_path / "full"
    render_reports(history, full)
    assert _pages(out) == _pages(full)
    agent_page = (out / "agents" / safe_name("A001") / "index.html").read_text(encoding="utf-8")
    for cid in ("C20240506-001", "C20240507-002", "C20240520-009"):
        assert cid in agent_page
    # The outputs list still owns every file written, by this run and the ones before.
    written = {str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()} - {".qa-scorer-outputs.json"}
    assert {w for w in written if not w.startswith((".", "qa.sqlite"))} <= _owned(out)
    assert _owned(out) == _owned(full)


def test_a_call_moved_to_another_agent_leaves_the_old_agents_folder(tmp_path: Path, history: History,
                                                                    calls: dict[str, Call]) -> None:
    out = tmp_path / "out"
    render_reports(history, out)
    c = calls["good"]
    history.record(c.transcript.model_copy(update={"agent_id": "A002"}),
                   c.scorecard.model_copy(update={"agent_id": "A002"}))
    render_update(history, out, [c.transcript.call_id])
    a001 = out / "agents" / safe_name("A001")
    assert sorted(p.stem for p in (a001 / "calls").iterdir()) == [safe_name("C20240507-002")]
    assert "C20240506-001" not in (a001 / "index.html").read_text(encoding="utf-8")
    assert "C20240506-001" in (out / "agents" / safe_name("A002") / "index.html").read_text(encoding="utf-8")
    full = tmp_path / "full"
    render_reports(history, full)
    assert _pages(out) == _pages(full)


def test_an_update_after_a_filtered_report_fills_in_what_is_missing(tmp_path: Path, history: History) -> None:
    out = tmp_path / "out"
    render_reports(history, out, agent="A002")
    new = _new_call("C20240520-009", "A001", "2024-05-20")
    history.record(new.transcript, new.scorecard, source=new.source)
    render_update(history, out, ["C20240520-009"])
    full = tmp_path / "full"
    render_reports(history, full)
    assert _pages(out) == _pages(full)  # every call the index links has its page, every agent too


def test_aggregates_read_the_columns_not_the_stored_json(tmp_path: Path, history: History) -> None:
    """A ruling written into the columns (score, fatal, an item's status) is what the pages show."""
    out = tmp_path / "out"
    render_reports(history, out)
    db = history._db
    (pk,) = db.execute("SELECT pk FROM calls WHERE call_id = 'C20240507-002'").fetchone()
    db.execute("UPDATE calls SET score = 77.5, fatal = 0 WHERE pk = ?", (pk,))
    db.execute("UPDATE items SET status = 'pass', flagged = 0 WHERE call_pk = ? AND kind = 'fatal'", (pk,))
    new = _new_call("C20240520-009", "A002", "2024-05-20")
    history.record(new.transcript, new.scorecard, source=new.source)
    render_update(history, out, ["C20240520-009"])
    index = (out / "index.html").read_text(encoding="utf-8")
    assert 'data-v="77.5"' in index
    dashboard = (out / "dashboard.html").read_text(encoding="utf-8")
    assert "C20240507-002" not in dashboard.split("红线通话 Fatal calls", 2)[-1].split("</table>")[0]
    export_csv(history, tmp_path / "csv")
    with open(tmp_path / "csv" / "calls.csv", encoding="utf-8-sig", newline="") as fh:
        row = next(r for r in csv.DictReader(fh) if r["call_id"] == "C20240507-002")
    assert (row["score"], row["fatal"]) == ("77.5", "0")
    assert "complaint_soothing" not in row["failed_items"]


def test_a_second_score_run_renders_only_its_batch(tmp_path: Path) -> None:
    from qa_scorer.pipeline import score_batch
    from qa_scorer.rubric.loader import load_rubric

    root = Path(__file__).resolve().parents[1]
    rubric = load_rubric(root / "rubrics" / "default.yaml")
    samples = sorted((root / "samples" / "transcripts").glob("*.json"))
    assert len(samples) >= 3
    out = tmp_path / "out"
    first = score_batch(samples[:-1], rubric, out_dir=out, progress=False)
    assert first.rendered.calls == len(samples) - 1
    second = score_batch(samples[-1:], rubric, out_dir=out, progress=False)
    assert second.rendered.calls == 1
    full = tmp_path / "full"
    render_reports(History(out / "qa.sqlite"), full)
    assert _pages(out) == _pages(full)


def test_a_call_ruled_on_since_the_last_render_is_written_again(tmp_path: Path, history: History) -> None:
    out = tmp_path / "out"
    render_reports(history, out)
    page = out / "calls" / (safe_name("C20240507-002") + ".html")
    assert 'data-review="overturned"' not in page.read_text(encoding="utf-8")
    with history.transaction() as db:
        history.rule(db, "C20240507-002", "greeting", "pass", note="问候语听得清", by="qa1")
    new = _new_call("C20240520-009", "A002", "2024-05-20")
    history.record(new.transcript, new.scorecard, source=new.source)
    s = render_update(history, out, ["C20240520-009"])
    assert s.calls == 2
    assert 'data-review="overturned"' in page.read_text(encoding="utf-8")
    full = tmp_path / "full"
    render_reports(history, full)
    assert _pages(out) == _pages(full)
    # Once written, a ruling already shown does not make its page due again.
    assert render_update(history, out, ["C20240520-009"]).calls == 1
