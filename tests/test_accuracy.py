"""Agreement with a human reviewer on labelled calls: the bundled samples and evaluation sets
written separately from the rubric (tests/data/heldout*). Guards against regressions when the
rubric changes; `qa-scorer eval` prints the same figures."""

from pathlib import Path

import pytest

from qa_scorer.evaluation import compare, read_labels
from qa_scorer.pipeline import score_transcript_files

ROOT = Path(__file__).resolve().parents[1]
SETS = {
    "samples": (ROOT / "samples" / "transcripts", ROOT / "samples" / "labels.csv"),
    "sample-calls": (ROOT / "samples" / "calls" / "src", ROOT / "samples" / "calls" / "labels.csv"),
}
for folder in sorted((ROOT / "tests" / "data").glob("heldout*")):
    SETS[folder.name] = (folder, folder / "labels.csv")


@pytest.mark.parametrize("name", sorted(SETS))
def test_item_level_agreement(name, default_rubric):
    folder, labels_path = SETS[name]
    labels = read_labels(labels_path)
    result = score_transcript_files([folder], default_rubric)
    assert not result.errors, result.errors
    assert {c.scorecard.call_id for c in result.calls} >= {call for call, _ in labels}
    stats = compare(result.scorecards, labels)
    problems = []
    for s in stats.values():
        if s.positives >= 3 and s.f1 < 0.85:
            problems.append(f"{s.item}: F1 {s.f1:.2f} (P {s.precision:.2f}, R {s.recall:.2f}) {s.mismatches}")
        if s.item in ("banned_phrases", "false_promise", "customer_praise", "complaint_soothing") and s.fp > 1:
            problems.append(f"{s.item}: {s.fp} false flags {s.mismatches}")
    assert not problems, "\n".join(problems)
