"""Compare scorecards with a human reviewer's labels: per-item precision, recall and F1.

Labels are CSV with the header ``call_id,item,expected`` and ``expected`` one of pass / fail /
na. A call is *flagged* for an item when the item failed, or, for reward items, was earned;
precision and recall are computed on flagged calls, exact-status agreement is reported too.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Optional

from qa_scorer.models import Kind, Scorecard, is_flagged
from qa_scorer.normalize import regular_file_bytes, spreadsheet_text

STATUSES = ("pass", "fail", "na")


class LabelError(Exception):
    pass


class Rates:
    """Precision, recall and F1 of flagged calls from the counts ``tp``, ``fp`` and ``fn`` of a
    dataclass that has them (1.0 where nothing was flagged, or nothing was due)."""

    tp: int
    fp: int
    fn: int

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    @property
    def positives(self) -> int:
        return self.tp + self.fn


@dataclass
class ItemStats(Rates):
    item: str
    kind: Kind
    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0
    agree: int = 0
    total: int = 0
    mismatches: list[tuple[str, str, str]] = field(default_factory=list)  # call, expected, got


def read_labels(path: str | Path, items: Optional[Iterable[str]] = None) -> dict[tuple[str, str], str]:
    """``(call_id, item) → expected`` of a labels CSV. Every problem of the file is reported at
    once (one LabelError, a line each, naming the file and line): a row that is not three
    columns, an ``expected`` that is not pass/fail/na, one call's item labelled twice, and, given
    the rubric's ``items``, an item id the rubric does not have (a misspelt id would otherwise
    leave that item unmeasured without a word)."""
    p = Path(path)
    try:
        text = spreadsheet_text(regular_file_bytes(p))
    except OSError as exc:
        raise LabelError(f"{p}: cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise LabelError(f"{p}: not UTF-8 or GBK text (byte {exc.start}: {exc.reason})") from None
    rows = csv.reader(text.splitlines())
    header = next(rows, None)
    if header is None or [h.strip() for h in header[:3]] != ["call_id", "item", "expected"]:
        raise LabelError(f"{p}:1: header must be call_id,item,expected")
    known = set(items) if items is not None else None
    labels: dict[tuple[str, str], str] = {}
    first: dict[tuple[str, str], int] = {}
    problems: list[str] = []
    for line, row in enumerate(rows, 2):
        if not row or not "".join(row).strip():
            continue
        if len(row) < 3:
            problems.append(f"{p}:{line}: expected 3 columns, got {len(row)}")
            continue
        call_id, item, expected = (c.strip() for c in row[:3])
        if expected not in STATUSES:
            problems.append(f"{p}:{line}: expected must be pass, fail or na, not {expected!r}")
            continue
        if known is not None and item not in known:
            problems.append(f"{p}:{line}: the rubric has no item {item!r}")
            continue
        if (call_id, item) in first:
            problems.append(f"{p}:{line}: {call_id} {item} is already labelled on line {first[(call_id, item)]}")
            continue
        first[(call_id, item)] = line
        labels[(call_id, item)] = expected
    if problems:
        raise LabelError("\n".join(problems))
    return labels


def compare(cards: list[Scorecard], labels: dict[tuple[str, str], str]) -> dict[str, ItemStats]:
    stats: dict[str, ItemStats] = {}
    for card in cards:
        for it in card.items:
            expected = labels.get((card.call_id, it.id))
            if expected is None:
                continue
            if it.kind == "reward" and expected == "fail":
                expected = "na"  # a reward not earned: the machine says na (未获得), a reviewer may say fail
            s = stats.setdefault(it.id, ItemStats(it.id, it.kind))
            s.total += 1
            if expected == it.status:
                s.agree += 1
            else:
                s.mismatches.append((card.call_id, expected, it.status))
            want, got = is_flagged(it.kind, expected), is_flagged(it.kind, it.status)
            if want and got:
                s.tp += 1
            elif got:
                s.fp += 1
            elif want:
                s.fn += 1
            else:
                s.tn += 1
    return stats


def unlabelled(cards: list[Scorecard], labels: dict[tuple[str, str], str]) -> list[str]:
    """Labelled call ids that no scorecard matched (a typo in the labels or a missing file)."""
    scored = {c.call_id for c in cards}
    return sorted({call for call, _ in labels if call not in scored})
