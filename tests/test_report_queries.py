"""The history's query layer for the reports: one Filter record, results from the columns."""

from __future__ import annotations

from datetime import date

import pytest

from conftest_reports import RUBRIC_V2, Call, calls, history  # noqa: F401 (fixtures)
from qa_scorer.report import data
from qa_scorer.store import Filter, History


def test_one_filter_selects_the_same_calls_everywhere(history: History) -> None:
    for f in (Filter(), Filter.of("2024-05-07", "2024-05-13"), Filter.of(agent="A001"),
              Filter(agents=frozenset({"A001", "A002"})), Filter(call_ids=frozenset({"C20240513-003", "nope"}))):
        whole = [c.call_id for c in history.select(f)]
        assert [c.call_id for c in history.call_summaries(f)] == whole
        assert [c.call_id for c in data.call_records(history, f)] == whole
        assert whole, f
    assert [c.call_id for c in history.select(Filter(call_ids=frozenset({"C20240513-003"})))] == ["C20240513-003"]
    f = Filter.of("2024-05-07", "2024-05-13")
    assert (f.since, f.until, f.narrowed) == (date(2024, 5, 7), date(2024, 5, 13), True)
    assert not Filter().narrowed
    with pytest.raises(ValueError):
        Filter.of("13/05/2024")


def test_versions_are_marked_latest_once_per_call(history: History, calls: dict[str, Call]) -> None:
    good = calls["good"]
    history.record(good.transcript, good.scorecard.model_copy(update={"rubric_version": RUBRIC_V2, "score": 95.0}))
    rows = history.versions_rows()
    assert len(rows) == len(calls) + 1
    latest = [r for r, is_latest in rows if is_latest]
    assert sorted(r.call_id for r in latest) == sorted(c.call_id for c in history.call_rows())
    assert next(r.score for r in latest if r.call_id == good.transcript.call_id) == 95.0
    counts = history.versions_item_counts()
    assert sum(c.count for c, is_latest in counts if is_latest) == sum(c.count for c in history.item_counts())
    assert sum(c.count for c, _ in counts) == sum(c.count for c in history.item_counts(latest_only=False))


def test_flagged_items_and_no_speech_come_from_the_columns(history: History) -> None:
    (pk,) = history._db.execute("SELECT pk FROM calls WHERE call_id = 'C20240506-001'").fetchone()
    before = next(c for c in data.call_records(history) if c.pk == pk)
    assert [it.id for it in before.rewards_earned] == ["customer_praise"] and not before.no_speech
    history._db.execute("UPDATE items SET status = 'fail', flagged = 0 WHERE call_pk = ? AND item_id = ?",
                        (pk, "customer_praise"))
    history._db.execute("UPDATE items SET status = 'fail', flagged = 1 WHERE call_pk = ? AND item_id = ?",
                        (pk, "closing"))
    after = next(c for c in data.call_records(history) if c.pk == pk)
    assert [it.id for it in after.rewards_earned] == [] and [it.id for it in after.failures] == ["closing"]
