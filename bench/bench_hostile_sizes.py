"""Costs that grew with a hostile input's size, each measured against its former form in the same
run (ratios on one machine, one load).

    .venv/bin/python bench/bench_hostile_sizes.py [--words 20000 40000] [--history 26000] [--batch 200]

1. Compiling a long phrase list (``rubric.schema._alternation_pattern``): the numbers were told
   from the other words by asking ``w not in plain``, a scan of the list per word. The former
   line is run here beside the current function on the same list.
2. Checking a batch's recordings against the history (one recording is one call): the first form
   asked the history for each call's recording by scanning every call's latest result (a GROUP BY
   per call); now one query of all claims per batch. Both queries run here on the same history of
   ``--history`` calls, ``--batch`` times for the former, once for the current.

Results are appended to bench/RESULTS-hostile-sizes.md.
"""

from __future__ import annotations

import argparse
import platform
import sqlite3
import tempfile
import time
from pathlib import Path

OUT = Path(__file__).resolve().parent / "RESULTS-hostile-sizes.md"


def _words(n: int) -> list[str]:
    # two-character words of CJK characters, a tenth of them ending in a digit
    base = 0x4E00
    return [chr(base + i // 200) + chr(base + 300 + i % 200) + ("7" if i % 10 == 0 else "") for i in range(n)]


def _former_split(words: list[str]) -> tuple[list[str], list[str]]:
    words = sorted({w for w in words if w})
    plain = [w for w in words if not (w[0].isdigit() or w[-1].isdigit())]
    numbers = sorted((w for w in words if w not in plain), key=len, reverse=True)
    return plain, numbers


def phrase_lists(sizes: list[int]) -> list[str]:
    from qa_scorer.rubric.schema import _alternation_pattern

    lines = ["| words | former split (s) | current whole pattern (s) | ratio |", "|---|---|---|---|"]
    for n in sizes:
        words = _words(n)
        t0 = time.perf_counter()
        _former_split(words)
        former = time.perf_counter() - t0
        t0 = time.perf_counter()
        _alternation_pattern(words)
        current = time.perf_counter() - t0
        lines.append(f"| {n:,} | {former:.2f} | {current:.2f} | {former / current:.0f}x |")
    lines.append("\nThe former column times only the line that was replaced (the split), the current one the "
                 "whole compile of the list (split and trie): the ratio understates the gain.")
    return lines


def claims(history_calls: int, batch: int) -> list[str]:
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "h.sqlite"
        con = sqlite3.connect(db)
        con.execute("CREATE TABLE calls (pk INTEGER PRIMARY KEY, call_id TEXT, agent_id TEXT, recording TEXT,"
                    " transcript TEXT)")
        blob = "x" * 4000  # a stored transcript's size, for the pages a scan reads
        con.executemany("INSERT INTO calls (call_id, agent_id, recording, transcript) VALUES (?, ?, ?, ?)",
                        ((f"c{i}", f"a{i % 40}", f"/rec/r{i}.wav", blob) for i in range(history_calls)))
        con.commit()
        former_q = ("SELECT recording, agent_id FROM calls WHERE pk IN (SELECT MAX(pk) FROM calls GROUP BY call_id)"
                    " AND recording IS NOT NULL")
        t0 = time.perf_counter()
        for _ in range(batch):
            con.execute(former_q).fetchall()
        former = time.perf_counter() - t0
        t0 = time.perf_counter()
        con.execute("SELECT DISTINCT recording, agent_id FROM calls WHERE recording IS NOT NULL").fetchall()
        current = time.perf_counter() - t0
        con.close()
    return ["| history calls | batch | former: a query per call (s) | current: one per batch (s) | ratio |",
            "|---|---|---|---|---|",
            f"| {history_calls:,} | {batch} | {former:.2f} | {current:.3f} | {former / current:.0f}x |"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--words", type=int, nargs="+", default=[20000, 40000])
    ap.add_argument("--history", type=int, default=26000)
    ap.add_argument("--batch", type=int, default=200)
    args = ap.parse_args()
    lines = [f"\n## {time.strftime('%Y-%m-%d %H:%M')} ({platform.processor() or platform.machine()}, "
             f"Python {platform.python_version()})", "", "### Compiling a long phrase list", ""]
    lines += phrase_lists(args.words)
    lines += ["", "### A batch's recordings checked against the history", ""]
    lines += claims(args.history, args.batch)
    text = "\n".join(lines) + "\n"
    if not OUT.exists():
        OUT.write_text("# Costs that grew with a hostile input's size\n\nWritten by `bench/bench_hostile_sizes.py`; "
                       "each ratio is measured against the former form in the same run.\n", encoding="utf-8")
    with OUT.open("a", encoding="utf-8") as fh:
        fh.write(text)
    print(text)


if __name__ == "__main__":
    main()
