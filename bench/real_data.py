"""The real development set: labels in this repository, conversations in ../shared/realchats/.

The conversations are research-use only and never enter the repository; the labels (session
id, item values, evidence turn indices) do, in ``bench/real/``. Everything here reads the text
from ``../shared/realchats/`` when it exists and says so when it does not.

Split: a session is in the held-out part when the SHA-1 of its id is 0 or 1 mod 5 (40 %); the
rest is the training part. Models that ship are trained on the training part only (and on the
separately labelled agent replies of another JD slice), so figures on the held-out part are
figures for what ships.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REAL = ROOT / "bench" / "real"
SHARED = ROOT.parent / "shared" / "realchats"

# Guide judgments (keys of labels.jsonl): qa_scorer.evaluation.GUIDE_JUDGMENTS, written out so that this
# module loads against an older source tree (bench_score.py --against-code times one).
JUDGMENTS = ["greeting", "identity_check", "apology_needed", "apology", "banned_phrase", "false_promise",
             "closing", "customer_praise", "complaint_intent", "soothing"]


def available() -> bool:
    return (SHARED / "jddc-dev.jsonl").exists()


def require() -> None:
    if not available():
        raise SystemExit(f"{SHARED} is not here: the real-data runs need ../shared/realchats/ (not part of a clone)")


def held_out(session: str) -> bool:
    return int(hashlib.sha1(session.encode()).hexdigest(), 16) % 5 in (0, 1)


def sessions() -> dict[str, dict]:
    """call_id → transcript v1 dict."""
    out = {}
    with open(SHARED / "jddc-dev.jsonl", encoding="utf-8") as f:
        for line in f:
            row = json.loads(line)
            out[row["call_id"]] = row
    return out


def labels(name: str = "labels.jsonl") -> dict[str, dict]:
    """session → {judgment: bool, judgment_ev: [turn, ...]}."""
    out = {}
    with open(REAL / name, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                row = json.loads(line)
                out[row["session"]] = row
    return out


def item_status(lab: dict) -> dict[str, str]:
    """A reviewer's judgments → the default rubric's item statuses (pass / fail / na), as
    ``qa-scorer eval`` reads a labels file in the guide's own form."""
    from qa_scorer.evaluation import GUIDE_JUDGMENTS, guide_statuses

    assert tuple(JUDGMENTS) == GUIDE_JUDGMENTS
    return guide_statuses({k: bool(lab[k]) for k in JUDGMENTS})


ITEMS = ["greeting", "identity_check", "apology", "banned_phrases", "false_promise", "closing",
         "customer_praise", "complaint_soothing"]
REWARDS = {"customer_praise"}


def flagged(item: str, status: str) -> bool:
    return status == "pass" if item in REWARDS else status == "fail"
