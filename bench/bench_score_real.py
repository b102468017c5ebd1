"""Scoring speed on real text: transcripts per second on one core, with and without models.

    .venv/bin/python bench/bench_score_real.py [--rounds 3]

Scores the 794 real JD chats of ../shared/realchats/ (every utterance different; the
normaliser's cache is cleared before every pass, so nothing is served from a previous pass)
with the default rubric, and with the same rubric with every model removed (phrases only), in
one process and one run, so the ratio is like for like. Writes bench/RESULTS-score-real.md.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import real_data as rd  # noqa: E402

from qa_scorer.models import Transcript  # noqa: E402
from qa_scorer.normalize import normalize  # noqa: E402
from qa_scorer.rubric.loader import load_rubric  # noqa: E402
from qa_scorer.score import score_transcript  # noqa: E402


def _without_models(rubric):
    stripped = load_rubric(None)
    for item in stripped.items:
        for side in (item, getattr(item, "trigger", None), getattr(item, "response", None)):
            if side is not None and hasattr(side, "_models"):
                side._models = []
    return stripped


def _rate(rubric, calls, rounds: int) -> float:
    best = 0.0
    for _ in range(rounds):
        normalize.cache_clear()
        t0 = time.perf_counter()
        for t in calls:
            score_transcript(t, rubric)
        best = max(best, len(calls) / (time.perf_counter() - t0))
    return best


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--out", type=Path, default=Path(__file__).with_name("RESULTS-score-real.md"))
    args = ap.parse_args()
    rd.require()
    calls = [Transcript.model_validate(s) for s in rd.sessions().values()]
    full = load_rubric(None)
    phrases_only = _without_models(full)
    with_models = _rate(full, calls, args.rounds)
    without = _rate(phrases_only, calls, args.rounds)
    segs = sum(len(c.segments) for c in calls)
    lines = [
        "# Scoring speed on real text", "",
        f"{len(calls)} real JD chats ({segs} utterances, {segs / len(calls):.1f} per call), one core, "
        f"best of {args.rounds} passes, normaliser cache cleared before each pass; "
        f"{platform.processor() or platform.machine()}, Python {platform.python_version()}.", "",
        "| rubric | transcripts / s / core |", "|---|---|",
        f"| default (models OR phrases) | {with_models:,.0f} |",
        f"| default with the models removed (phrases only) | {without:,.0f} |", "",
        f"Ratio with models / without, same run: **{with_models / without:.2f}**.",
    ]
    args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
