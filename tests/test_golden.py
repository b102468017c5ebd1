"""Golden tests: one fixture file per rule type; marked lines must (or must not) be findings,
and the full results must match the reviewed snapshot."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from golden import Case, read_cases
from qa_scorer.score import score_transcript

GOLDEN = Path(__file__).parent / "golden"
FILES = sorted(GOLDEN.glob("*.txt"))
CASES = [c for f in FILES for c in read_cases(f)]


def test_every_rule_type_has_a_fixture():
    from qa_scorer.rubric.registry import RULE_TYPES

    assert {f.stem for f in FILES} == set(RULE_TYPES)


@pytest.mark.parametrize("case", CASES, ids=[f"{c.file}:{c.line}" for c in CASES])
def test_case(case: Case, default_rubric):
    card = score_transcript(case.transcript, default_rubric)
    where = f"{case.file}:{case.line} ({case.name})"
    for item, status in case.expect.items():
        got = card.item(item)
        assert got.status == status, f"{where}: {item} is {got.status}, expected {status}: {got.reason}"
    for index, item in case.must:
        got = card.item(item)
        segs = {e.segment for e in got.evidence}
        assert index in segs, (
            f"{where}: line {index + 1} must be evidence of {item}; got {got.status} on {sorted(segs)}: {got.reason}")
    for index, item in case.must_not:
        got = card.item(item)
        segs = {e.segment for e in got.evidence} if got.flagged else set()
        assert index not in segs, f"{where}: line {index + 1} must not be a finding of {item}: {got.reason}"


def _snapshot(path: Path, rubric) -> str:
    lines = []
    for case in read_cases(path):
        card = score_transcript(case.transcript, rubric)
        lines.append(f"## {case.name}")
        for it in card.items:
            if it.id not in case.expect and not any(i == it.id for _, i in case.must + case.must_not):
                continue
            ev = "; ".join(f"#{e.segment}{'' if e.span is None else list(e.span)} {e.text}" for e in it.evidence)
            lines.append(f"{it.id}: {it.status} | {it.reason} | {ev}")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("path", FILES, ids=[f.name for f in FILES])
def test_snapshot(path: Path, default_rubric):
    snap = path.with_suffix(".snap")
    got = _snapshot(path, default_rubric)
    if os.environ.get("UPDATE_GOLDEN"):
        snap.write_text(got, encoding="utf-8")
    assert snap.exists(), f"{snap} missing: run UPDATE_GOLDEN=1 pytest tests/test_golden.py and review it"
    assert got == snap.read_text(encoding="utf-8"), f"{path.name}: results differ from {snap.name}"
