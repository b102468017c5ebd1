"""Scoring time of one very long segment with many matches (issue: clause lookup and
per-hit scans were quadratic in the segment's length).

    .venv/bin/python bench/bench_long_segment.py [--sizes 80000 350000] [--label after] [--unit TEXT]

Each call has a greeting, one customer segment of ``我的洗衣机坏了`` repeated to the given
number of characters (no punctuation: one clause), the same with a comma after every
repeat, and a closing; ``--unit`` repeats other words (你服务真好: praise phrases, each hit of
which a veto judged again). Every size is scored with the bundled rubric in a fresh child process
with a time limit, so a run that would hang is reported as a timeout. Results are appended
to bench/RESULTS-long-segment.md.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import platform
import time
from pathlib import Path

UNIT = "我的洗衣机坏了"


def _call(chars: int, punctuated: bool, unit: str = UNIT):
    from qa_scorer.models import Transcript

    reps = chars // len(unit)
    text = ("，".join([unit] * reps)) if punctuated else unit * reps
    return Transcript.model_validate({
        "version": 1, "call_id": f"long-{chars}", "agent_id": "a1",
        "segments": [
            {"speaker": "agent", "text": "您好，很高兴为您服务，请问有什么可以帮您？", "start": 0.0, "end": 3.0},
            {"speaker": "customer", "text": text, "start": 3.5, "end": 600.0},
            {"speaker": "agent", "text": "非常抱歉给您带来不便，请问还有其他问题吗？感谢来电，再见。", "start": 600.5, "end": 605.0},
        ],
    })


def _child(chars: int, punctuated: bool, q, unit: str = UNIT) -> None:
    from qa_scorer.rubric.loader import load_rubric
    from qa_scorer.score import score_transcript

    try:
        rubric = load_rubric(Path(__file__).resolve().parents[1] / "rubrics" / "default.yaml")
        t = _call(chars, punctuated, unit)
        t0 = time.perf_counter()
        card = score_transcript(t, rubric)
        q.put((time.perf_counter() - t0, card.score))
    except Exception as exc:  # reported, not hidden as a timeout
        q.put(("error", repr(exc)))


def run(chars: int, punctuated: bool, limit: float, unit: str = UNIT):
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=_child, args=(chars, punctuated, q, unit))
    p.start()
    p.join(limit)
    if p.is_alive():
        p.kill()
        p.join()
        return None
    return q.get() if not q.empty() else None


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[80_000, 350_000])
    ap.add_argument("--limit", type=float, default=300.0, help="seconds before a run counts as a hang")
    ap.add_argument("--label", default="")
    ap.add_argument("--unit", default=UNIT, help="the words repeated in the customer's segment")
    ap.add_argument("--out", default=str(Path(__file__).with_name("RESULTS-long-segment.md")))
    args = ap.parse_args()
    lines = [f"\n## {args.label or 'run'} — {time.strftime('%Y-%m-%d %H:%M')}, Python {platform.python_version()}, "
             f"{platform.machine()}, one process" + (f"; the segment repeats {args.unit}" if args.unit != UNIT else "")
             + "\n", "| characters | punctuation | seconds to score | score |",
             "|---|---|---|---|"]
    for chars in args.sizes:
        for punctuated in (False, True):
            got = run(chars, punctuated, args.limit, args.unit)
            kind = "comma after every repeat" if punctuated else "none (one clause)"
            if got is not None and got[0] == "error":
                lines.append(f"| {chars:,} | {kind} | error: {got[1]} | — |")
            elif got is None:
                lines.append(f"| {chars:,} | {kind} | > {args.limit:g} (stopped) | — |")
            else:
                lines.append(f"| {chars:,} | {kind} | {got[0]:.2f} | {got[1]:g} |")
            print(lines[-1], flush=True)
    with open(args.out, "a", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
