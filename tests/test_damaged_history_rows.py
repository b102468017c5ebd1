"""One row of the history with a date or number column that does not parse (a damaged file, or a
row another tool wrote): the call is named in a warning and left out; ``report``, ``export``,
``score``'s render and the review app show the rest of the history (README, Reliability)."""

from __future__ import annotations

import csv
import io
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from qa_scorer.cli import app
from qa_scorer.report.data import call_href
from qa_scorer.store import History
from web_helpers import Server, build_history

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = sorted((ROOT / "samples" / "transcripts").glob("*.json"))[0]
runner = CliRunner()

GOOD, FATAL, PROMISE, CHAT = "C20240506-001", "C20240507-002", "C20240513-003", "C20240514-005"
# column, value as a damaged row holds it, and what the warning shows of it
DAMAGE = {
    "date": ("call_date", "garbage", "call_date 'garbage'"),
    "day past the month's end": ("call_date", "2024-02-30", "call_date '2024-02-30'"),
    "score": ("score", "abc", "score 'abc'"),
    "infinite score": ("score", float("inf"), "score inf"),
}


def damage(db: Path, call_id: str, column: str, value) -> None:
    con = sqlite3.connect(db)
    con.execute(f"UPDATE calls SET {column} = ? WHERE call_id = ?", (value, call_id))
    con.commit()
    con.close()


@pytest.fixture(params=sorted(DAMAGE))
def damaged(request, tmp_path: Path) -> tuple[Path, str]:
    """A history of the fixture calls with GOOD's row damaged; what the warning must say of it."""
    db, _ = build_history(tmp_path)
    column, value, shown = DAMAGE[request.param]
    damage(db, GOOD, column, value)
    return db, shown


def assert_named(output: str, shown: str) -> None:
    warning = [line for line in output.splitlines() if GOOD in line]
    assert warning and "cannot be read back" in warning[0] and shown in warning[0], output


def test_the_history_names_the_damaged_call_and_reads_the_rest(damaged) -> None:
    db, shown = damaged
    with History(db) as h:
        assert {c.call_id for c in h.calls()} == {FATAL, PROMISE, CHAT, "../../etc/passwd<script>"}
        assert list(h.unreadable) == [GOOD] and shown in h.unreadable[GOOD]
        assert GOOD not in {r.call_id for r in h.call_rows()}


def _run_naming_the_damaged(command: str, damaged, out: Path) -> None:
    """``command`` over the damaged history into ``out``: exit 0, the damaged call named."""
    db, shown = damaged
    res = runner.invoke(app, [command, "--db", str(db), "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert_named(res.output, shown)


def test_report_names_the_damaged_call_and_renders_the_rest(damaged, tmp_path: Path) -> None:
    out = tmp_path / "out"
    _run_naming_the_damaged("report", damaged, out)
    index = (out / "index.html").read_text(encoding="utf-8")
    for call_id in (FATAL, PROMISE, CHAT):
        assert call_href(call_id) in index
        assert (out / call_href(call_id)).is_file()
    assert call_href(GOOD) not in index and not (out / call_href(GOOD)).exists()
    dashboard = (out / "dashboard.html").read_text(encoding="utf-8").lower()
    assert ">inf" not in dashboard and ">nan" not in dashboard


def test_export_names_the_damaged_call_and_exports_the_rest(damaged, tmp_path: Path) -> None:
    out = tmp_path / "csv"
    _run_naming_the_damaged("export", damaged, out)
    rows = list(csv.DictReader(io.StringIO((out / "calls.csv").read_text(encoding="utf-8-sig"))))
    assert {r["call_id"] for r in rows} == {FATAL, PROMISE, CHAT, "../../etc/passwd<script>"}
    agents = {r["agent"]: r for r in csv.DictReader(io.StringIO((out / "agents.csv").read_text(encoding="utf-8-sig")))}
    assert agents["A001"]["calls"] == "1"  # FATAL only: GOOD is left out of the tables too
    for name in ("agents", "weeks", "agent_weeks", "score_distribution", "rubric_versions"):
        text = (out / f"{name}.csv").read_text(encoding="utf-8-sig").lower()
        assert "inf" not in text and "nan" not in text, name


def test_score_renders_the_rest_and_names_the_damaged_call(damaged, tmp_path: Path) -> None:
    db, shown = damaged
    out = tmp_path / "out"
    res = runner.invoke(app, ["score", str(SAMPLE), "--db", str(db), "--out", str(out), "-q"])
    assert res.exit_code == 0, res.output
    assert_named(res.output, shown)
    index = (out / "index.html").read_text(encoding="utf-8")
    for call_id in (FATAL, PROMISE, CHAT, SAMPLE.stem):
        assert call_href(call_id) in index
    assert call_href(GOOD) not in index


# -- the review app --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """``qa-scorer serve`` over a history with two damaged rows: GOOD's date, PROMISE's score."""
    folder = tmp_path_factory.mktemp("web-damaged")
    db, _ = build_history(folder)
    damage(db, GOOD, "call_date", "garbage")
    damage(db, PROMISE, "score", "abc")
    s = Server(db, folder / "serve.log")
    yield s
    s.stop()


@pytest.mark.slow
def test_the_app_lists_the_rest_of_the_history(server) -> None:
    boss = server.login("boss")
    r = boss.get("/")
    assert r.status_code == 200, r.text[:500]
    for call_id in (FATAL, CHAT):
        assert f'data-call="{call_id}"' in r.text
    assert f'data-call="{GOOD}"' not in r.text and f'data-call="{PROMISE}"' not in r.text
    li = server.login("li")  # agent A001: GOOD and FATAL
    r = li.get("/")
    assert r.status_code == 200 and f'data-call="{FATAL}"' in r.text and f'data-call="{GOOD}"' not in r.text
    assert li.get(f"/calls/{GOOD}").status_code == 404
    assert li.get(f"/calls/{FATAL}").status_code == 200


@pytest.mark.slow
def test_the_apps_dashboard_leaves_the_damaged_calls_out(server) -> None:
    r = server.login("boss").get("/dashboard")
    assert r.status_code == 200, r.text[:500]
    assert '<tr data-agent="A001"><td>A001</td><td class="num">1</td>' in r.text
    assert 'data-agent="A002"' not in r.text  # its one call is damaged
    assert 'data-agent="张伟"' in r.text


@pytest.mark.slow
@pytest.mark.parametrize("name", ["calls", "agents", "agent_weeks", "weeks", "items", "score_distribution",
                                  "fatal_calls", "rubric_versions", "rubric_version_items"])
def test_the_apps_exports_leave_the_damaged_calls_out(server, name: str) -> None:
    r = server.login("boss").get(f"/export/{name}.csv")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv"), r.text[:500]
    text = r.content.decode("utf-8-sig")
    assert GOOD not in text and PROMISE not in text
    if name == "calls":
        assert {row["call_id"] for row in csv.DictReader(io.StringIO(text))} == {
            FATAL, CHAT, "../../etc/passwd<script>"}
