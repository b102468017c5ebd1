"""Agreement with the reviewers when the same conversations come in another export's format.

    .venv/bin/python bench/bench_formats.py [--out bench/RESULTS-formats.md]

Every labelled written set (``tests/data/heldout*`` and ``bench/untuned/heldout*``) is scored as
written and again after one change of form that other tools and corpora make to the same
words; the labels stay the same, so every judgment lost is one the format cost:

- ``segmented``: every segment word-segmented by jieba, words joined by spaces (as research
  corpora of customer-service chats are often released);
- ``no punctuation``: all punctuation and spaces dropped (a recogniser that writes none);
- ``spaces for punctuation``: every run of punctuation written as one space;
- ``digits masked``: every run of digits replaced by ``[数字x]`` (an anonymised export);
- ``chat messages merged``: a chat's consecutive messages of one speaker joined into one segment;
- ``chat messages split``: a chat message cut after each sentence end into several segments.

Nothing here is tuned on: the transformed copies live in a temporary folder and are deleted.
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parent.parent


def _jieba_words(text: str) -> str:
    from qa_scorer.normalize import _jieba

    return " ".join(w for w in _jieba().cut(text) if w.strip())


def _per_segment(f: Callable[[str], str]) -> Callable[[dict], dict]:
    def apply(t: dict) -> dict:
        for s in t.get("segments", []):
            s["text"] = f(s["text"]) or s["text"]
        return t
    return apply


def _chat_only(rebuild: Callable[[list[dict]], list[dict]]) -> Callable[[dict], dict]:
    """A change to a chat's list of messages; calls keep theirs."""
    def apply(t: dict) -> dict:
        if t.get("channel") == "chat":
            t["segments"] = rebuild(t["segments"])
        return t
    return apply


def _merged(segments: list[dict]) -> list[dict]:
    segs: list[dict] = []
    for s in segments:
        if segs and segs[-1]["speaker"] == s["speaker"]:
            segs[-1]["text"] += " " + s["text"]
        else:
            segs.append(dict(s))
    return segs


def _split(segments: list[dict]) -> list[dict]:
    segs: list[dict] = []
    for s in segments:
        parts = [p for p in re.split(r"(?<=[。！？!?~～])", s["text"]) if p.strip()] or [s["text"]]
        segs += [dict(s, text=p) for p in parts]
    return segs


FORMS: dict[str, Callable[[dict], dict]] = {
    "segmented": _per_segment(_jieba_words),
    "no punctuation": _per_segment(lambda x: re.sub(r"[\W_]+", "", x)),
    "spaces for punctuation": _per_segment(lambda x: re.sub(r"[\W_]+", " ", x).strip()),
    "digits masked": _per_segment(lambda x: re.sub(r"\d+", "[数字x]", x)),
    "chat messages merged": _chat_only(_merged),
    "chat messages split": _chat_only(_split),
}


def _agreement(folder: Path, labels_path: Path, rubric) -> dict[str, int]:
    from qa_scorer.evaluation import compare, read_labels
    from qa_scorer.pipeline import score_transcript_files

    stats = compare(score_transcript_files([folder], rubric).scorecards, read_labels(labels_path))
    return {item: s.agree for item, s in stats.items()}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "RESULTS-formats.md")
    args = ap.parse_args()

    from qa_scorer.rubric.loader import load_rubric

    rubric = load_rubric(ROOT / "rubrics" / "default.yaml")
    sets = sorted((ROOT / "tests" / "data").glob("heldout*")) + sorted((ROOT / "bench" / "untuned").glob("heldout*"))
    sets = [s for s in sets if (s / "labels.csv").exists()]
    started = time.time()
    base: dict[str, int] = {}
    for s in sets:
        for item, n in _agreement(s, s / "labels.csv", rubric).items():
            base[item] = base.get(item, 0) + n
    total = sum(base.values())
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for form, change in FORMS.items():
            got: dict[str, int] = {}
            for s in sets:
                d = Path(tmp) / s.name
                shutil.rmtree(d, ignore_errors=True)
                d.mkdir()
                for j in s.glob("*.json"):
                    t = change(json.loads(j.read_text(encoding="utf-8")))
                    (d / j.name).write_text(json.dumps(t, ensure_ascii=False), encoding="utf-8")
                for item, n in _agreement(d, s / "labels.csv", rubric).items():
                    got[item] = got.get(item, 0) + n
            lost = {item: got[item] - base[item] for item in base if got[item] != base[item]}
            rows.append((form, sum(got.values()), lost))

    try:
        commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                                capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = "unknown"
    n_judgments = sum(1 for s in sets for _ in open(s / "labels.csv", encoding="utf-8")) - len(sets)
    lines = [
        "# The same conversations in other exports' formats",
        "",
        "Generated by `bench/bench_formats.py`: every labelled written set "
        f"({len(sets)} sets, {n_judgments:,} judgments) scored with the bundled rubric as written and "
        "after one change of form (the script's docstring says what each does); the labels stay "
        "the same. Judgments that agree with the reviewers, and per item the difference from the "
        f"sets as written. Commit {commit}, {time.strftime('%Y-%m-%d %H:%M')}, Python "
        f"{platform.python_version()}, {time.time() - started:.0f} s.",
        "",
        "| form | judgments agreeing | change | by item |",
        "|---|---|---|---|",
        f"| as written | {total:,} | — | — |",
    ]
    for form, n, lost in rows:
        by = ", ".join(f"{k} {v:+d}" for k, v in sorted(lost.items(), key=lambda kv: kv[1])) or "—"
        lines.append(f"| {form} | {n:,} | {n - total:+d} | {by} |")
    args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
