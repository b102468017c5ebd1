"""The SQLite history: recording, idempotent re-scoring, rubric versions, migrations, errors."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from datetime import date
from pathlib import Path

import pytest

import qa_scorer
from conftest_reports import RUBRIC_V1, RUBRIC_V2, Call, calls, history  # noqa: F401 (fixtures)
from qa_scorer.store import MIGRATIONS, History, StoreError, call_date, iso_week


def _rows(path: Path, sql: str) -> list[tuple]:
    db = sqlite3.connect(str(path))
    try:
        return db.execute(sql).fetchall()
    finally:
        db.close()


def test_record_and_read_back(history: History, calls: dict[str, Call]) -> None:
    stored = {s.call_id: s for s in history.calls()}
    assert set(stored) == {c.scorecard.call_id for c in calls.values()}
    for c in calls.values():
        s = stored[c.scorecard.call_id]
        assert s.scorecard == c.scorecard
        assert s.transcript == c.transcript
        assert s.recorded_at
    assert stored["C20240513-003"].source == calls["audio"].source
    assert stored["C20240507-002"].week == "2024-W19"
    assert history.agents() == sorted({c.scorecard.agent_id for c in calls.values()})
    assert history.count() == 5


def test_items_and_evidence_are_rows(history: History) -> None:
    path = history.path
    items = _rows(path, "SELECT COUNT(*) FROM items")[0][0]
    assert items == 5 * 11
    spans = _rows(path, "SELECT text, span_start, span_end FROM evidence WHERE text = '保证今天下午就到账'")
    assert spans == [("保证今天下午就到账", 4, 13)]


def test_migrations_are_named_and_recorded(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite"
    with History(path) as h:
        assert h.migrations() == [name for name, _ in MIGRATIONS]
    first = _rows(path, "SELECT name, applied_at FROM migrations")
    with History(path):  # reopening applies nothing again
        pass
    assert _rows(path, "SELECT name, applied_at FROM migrations") == first
    assert _rows(path, "PRAGMA journal_mode") == [("wal",)]


def test_rescoring_same_version_replaces_rows(history: History, calls: dict[str, Call]) -> None:
    c = calls["good"]
    changed = c.scorecard.model_copy(update={"score": 61.0})
    history.record(c.transcript, changed)
    history.record(c.transcript, changed)
    assert history.count() == 5
    (s,) = history.calls(agent="A001", until="2024-05-06")
    assert s.scorecard.score == 61.0
    n_items = _rows(history.path, "SELECT COUNT(*) FROM items")[0][0]
    n_evidence = _rows(history.path, "SELECT COUNT(*) FROM evidence")[0][0]
    history.record(c.transcript, changed)
    assert _rows(history.path, "SELECT COUNT(*) FROM items")[0][0] == n_items == 5 * 11
    assert _rows(history.path, "SELECT COUNT(*) FROM evidence")[0][0] == n_evidence


def test_new_rubric_version_is_kept_beside_the_old(history: History, calls: dict[str, Call]) -> None:
    c = calls["good"]
    history.record(c.transcript, c.scorecard.model_copy(update={"rubric_version": RUBRIC_V2, "score": 90.0}))
    assert history.count() == 6
    assert [v.version for v in history.rubric_versions()] == [RUBRIC_V1, RUBRIC_V2]
    latest = [s for s in history.calls() if s.call_id == c.scorecard.call_id]
    assert [s.scorecard.rubric_version for s in latest] == [RUBRIC_V2]
    both = [s for s in history.calls(latest_only=False) if s.call_id == c.scorecard.call_id]
    assert sorted(s.scorecard.rubric_version for s in both) == [RUBRIC_V1, RUBRIC_V2]
    old = history.calls(rubric_version=RUBRIC_V1)
    assert len(old) == 5 and all(s.scorecard.rubric_version == RUBRIC_V1 for s in old)
    assert [s.scorecard.score for s in history.calls(rubric_version=RUBRIC_V2)] == [90.0]
    # Re-scoring with the old version again makes it the latest again, still two rows.
    history.record(c.transcript, c.scorecard)
    assert history.count() == 6
    latest = [s for s in history.calls() if s.call_id == c.scorecard.call_id]
    assert [s.scorecard.rubric_version for s in latest] == [RUBRIC_V1]


def test_filters_by_date_and_agent(history: History) -> None:
    ids = lambda calls: [s.call_id for s in calls]  # noqa: E731
    assert ids(history.calls(since=date(2024, 5, 13))) == [
        "C20240513-003", "../../etc/passwd<script>", "C20240514-005"]
    assert ids(history.calls(until="2024-05-07")) == ["C20240506-001", "C20240507-002"]
    assert ids(history.calls(since="2024-05-07", until="2024-05-13")) == ["C20240507-002", "C20240513-003"]
    assert ids(history.calls(agent="张伟")) == ["C20240514-005"]
    assert history.calls(agent="nobody") == []
    rows = history.call_rows(agent="A001")
    assert [(r.call_id, r.fatal, r.week) for r in rows] == [
        ("C20240506-001", False, "2024-W19"), ("C20240507-002", True, "2024-W19")]


def test_date_falls_back_to_recorded_date(history: History, calls: dict[str, Call]) -> None:
    c = calls["chat"]
    tr = c.transcript.model_copy(update={"call_id": "NO-DATE", "started_at": None})
    sc = c.scorecard.model_copy(update={"call_id": "NO-DATE", "started_at": None})
    history.record(tr, sc)
    (s,) = [s for s in history.calls() if s.call_id == "NO-DATE"]
    assert s.call_date == date.fromisoformat(s.recorded_at[:10])
    assert s.week == iso_week(s.call_date)
    assert call_date("2024-05-06T09:00:00+08:00", "2025-01-01") == date(2024, 5, 6)
    assert call_date("not a date", "2025-01-01T00:00:00") == date(2025, 1, 1)
    assert iso_week(date(2024, 12, 30)) == "2025-W01"


def test_item_counts_per_agent_and_week(history: History) -> None:
    counts = {(c.agent_id, c.item_id, c.status): c.count for c in history.item_counts()}
    assert counts[("A001", "banned_phrases", "fail")] == 1
    assert counts[("A001", "customer_praise", "pass")] == 1
    assert counts[("A001", "complaint_soothing", "fail")] == 1
    assert counts[("A002", "false_promise", "fail")] == 1
    assert ("A002", "customer_praise", "pass") not in counts


def test_mismatched_transcript_and_scorecard(history: History, calls: dict[str, Call]) -> None:
    with pytest.raises(ValueError, match="different calls"):
        history.record(calls["good"].transcript, calls["fatal"].scorecard)


def test_corrupt_file_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "qa.sqlite"
    bad.write_bytes(b"this is a CSV file, not a database\n" * 100)
    with pytest.raises(StoreError, match="not a usable SQLite history database") as err:
        History(bad)
    assert str(bad) in str(err.value)
    (tmp_path / "dir.sqlite").mkdir()
    with pytest.raises(StoreError, match="is a directory"):
        History(tmp_path / "dir.sqlite")


def test_damaged_sqlite_file_is_a_clear_error(tmp_path: Path, calls: dict[str, Call]) -> None:
    path = tmp_path / "qa.sqlite"
    with History(path) as h:
        for c in calls.values():
            h.record(c.transcript, c.scorecard)
    for extra in ("-wal", "-shm"):
        Path(str(path) + extra).unlink(missing_ok=True)
    data = bytearray(path.read_bytes())
    data[100:len(data)] = b"\xff" * (len(data) - 100)  # keep the header, wreck every page
    path.write_bytes(bytes(data))
    with pytest.raises(StoreError, match=str(path).replace("\\", "\\\\")):
        with History(path) as h:
            h.calls()


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "qa.sqlite"
    History(path).close()
    db = sqlite3.connect(str(path))
    db.execute("INSERT INTO migrations VALUES ('9999_from_the_future', '2030-01-01')")
    db.commit()
    db.close()
    with pytest.raises(StoreError, match="newer qa-scorer.*9999_from_the_future"):
        History(path)


def test_locked_database_is_a_clear_error(tmp_path: Path, calls: dict[str, Call]) -> None:
    path = tmp_path / "qa.sqlite"
    History(path).close()
    other = sqlite3.connect(str(path), isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process is writing
    try:
        with History(path, timeout=0.2) as h:
            with pytest.raises(StoreError, match="locked by another process"):
                h.record(calls["good"].transcript, calls["good"].scorecard)
            assert h.count() == 0  # readers still work in WAL mode
    finally:
        other.execute("ROLLBACK")
        other.close()


_WRITER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from conftest_reports import build_calls
    from qa_scorer.store import History

    calls = build_calls(Path(sys.argv[2]))
    good = calls["good"]
    with History(sys.argv[1]) as h:
        for i in range(100000):
            cid = f"K{i:06d}"
            h.record(good.transcript.model_copy(update={"call_id": cid}),
                     good.scorecard.model_copy(update={"call_id": cid}))
            print(cid, flush=True)
    """
)


def test_killed_mid_batch_keeps_every_committed_call(tmp_path: Path) -> None:
    path = tmp_path / "qa.sqlite"
    src = Path(qa_scorer.__file__).resolve().parent.parent
    tests = Path(__file__).resolve().parent
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(src), str(tests)]))
    proc = subprocess.Popen([sys.executable, "-c", _WRITER, str(path), str(tmp_path / "data")],
                            stdout=subprocess.PIPE, text=True, env=env)
    done = []
    assert proc.stdout is not None
    for line in proc.stdout:
        done.append(line.strip())
        if len(done) == 200:
            proc.send_signal(signal.SIGKILL)
            break
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    with History(path) as h:
        stored = {s.call_id for s in h.calls()}
        assert set(done) <= stored
        assert _rows(path, "PRAGMA integrity_check") == [("ok",)]
        # Every stored call is whole: eleven items each.
        per_call = _rows(path, "SELECT COUNT(*) FROM items GROUP BY call_pk")
        assert {n for (n,) in per_call} == {11}


_OPENER = textwrap.dedent(
    """
    import sys, time
    from qa_scorer.store import History, StoreError

    start = float(sys.argv[2])
    while time.time() < start:
        pass
    try:
        History(sys.argv[1]).close()
        print("ok")
    except StoreError as exc:
        print(exc)
    """
)


@pytest.mark.slow
def test_processes_opening_one_new_database_at_once_all_open_it(tmp_path: Path) -> None:
    # Two batches sharing a fresh --out open its history at the same moment: SQLite refuses the
    # switch to WAL at once ("database is locked") while another connection makes it, which
    # failed about one such round in six before the switch was retried within the timeout.
    src = Path(qa_scorer.__file__).resolve().parent.parent
    env = dict(os.environ, PYTHONPATH=str(src))
    for round_ in range(25):
        path = tmp_path / f"qa{round_}.sqlite"
        start = f"{time.time() + 0.4:.3f}"
        procs = [subprocess.Popen([sys.executable, "-c", _OPENER, str(path), start],
                                  stdout=subprocess.PIPE, text=True, env=env) for _ in range(3)]
        said = [p.communicate(timeout=60)[0].strip() for p in procs]
        assert said == ["ok"] * 3, (round_, said)
        assert _rows(path, "PRAGMA journal_mode") == [("wal",)]
