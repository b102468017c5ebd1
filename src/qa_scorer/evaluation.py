"""Compare scorecards with a human reviewer's labels: per-item precision, recall and F1.

Labels are CSV with the header ``call_id,item,expected`` and ``expected`` one of pass / fail /
na (one row per item), or one row per call: ``call_id`` then a column per item (pass / fail / na)
or per judgment of the labelling guide (true / false; see ``GUIDE_JUDGMENTS``), or the guide's
own output, one JSON object per line. A call is *flagged* for an item when the item failed, or,
for reward items, was earned; precision and recall are computed on flagged calls, exact-status
agreement is reported too.
"""

from __future__ import annotations

import csv
import difflib
import io
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator, Optional

from qa_scorer.models import Kind, Scorecard, is_flagged
from qa_scorer.normalize import regular_file_bytes, spreadsheet_text

STATUSES = ("pass", "fail", "na")

# The labelling guide's judgments of a conversation (true / false each), as a reviewer following
# it writes them, and the default rubric's items they decide (``guide_statuses``).
GUIDE_JUDGMENTS = ("greeting", "identity_check", "apology_needed", "apology", "banned_phrase",
                   "false_promise", "closing", "customer_praise", "complaint_intent", "soothing")
# Columns or keys of a per-call labels file that hold no judgment: the guide's evidence lists
# (``greeting_ev``…), its notes and row numbers, a reviewer's remarks.
_IGNORED = {"idx", "notes", "note", "remark", "remarks", "comment", "comments", "备注", "说明", "desk", "channel"}
_TRUE = {"true", "t", "yes", "y", "1", "是", "对"}
_FALSE = {"false", "f", "no", "n", "0", "否", "不是", "错"}


def guide_statuses(judged: dict[str, bool]) -> dict[str, str]:
    """The default rubric's item statuses that a reviewer's guide judgments decide: the apology
    is ``na`` where none was needed, praise is a reward (``pass`` when earned, else ``na``), a
    threat not soothed fails ``complaint_soothing``. Items whose judgments are not all given are
    left out."""
    out: dict[str, str] = {}

    def ok(flag: bool) -> str:
        return "pass" if flag else "fail"

    for item in ("greeting", "identity_check", "closing"):
        if item in judged:
            out[item] = ok(judged[item])
    if "banned_phrase" in judged:
        out["banned_phrases"] = ok(not judged["banned_phrase"])
    if "false_promise" in judged:
        out["false_promise"] = ok(not judged["false_promise"])
    if "customer_praise" in judged:
        out["customer_praise"] = "pass" if judged["customer_praise"] else "na"
    if "apology_needed" in judged and (not judged["apology_needed"] or "apology" in judged):
        out["apology"] = ok(judged["apology"]) if judged["apology_needed"] else "na"
    if "complaint_intent" in judged and (not judged["complaint_intent"] or "soothing" in judged):
        out["complaint_soothing"] = ok(judged["soothing"]) if judged["complaint_intent"] else "na"
    return out


def _missing_partner(judged: dict[str, bool]) -> Optional[str]:
    """Why a guide judgment that needs another beside it cannot decide its item, or None."""
    if "apology" in judged and "apology_needed" not in judged:
        return ("apology (true / false) is the guide's judgment whether the agent apologised: give apology_needed "
                "beside it, or label the item apology pass / fail / na")
    if judged.get("apology_needed") and "apology" not in judged:
        return "apology_needed is true: give apology (did the agent apologise) beside it"
    if "soothing" in judged and "complaint_intent" not in judged:
        return "soothing needs complaint_intent beside it (the item is complaint_soothing)"
    if judged.get("complaint_intent") and "soothing" not in judged:
        return "complaint_intent is true: give soothing (did the agent soothe) beside it"
    return None


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
    """``(call_id, item) → expected`` of a labels file: CSV one row per item
    (``call_id,item,expected``), CSV one row per call (``call_id`` and a column per item or guide
    judgment), or the guide's JSON lines. Every problem of the file is reported at once (one
    LabelError, a line each, naming the file and line, and a JSON line's key): a row that is not
    three columns, an ``expected`` that is not pass/fail/na, a judgment that is not true/false,
    one call's item labelled twice, and, given the rubric's ``items``, an item id the rubric does
    not have (a misspelt id would otherwise leave that item unmeasured without a word). A file
    that labels nothing is an error too."""
    p = Path(path)
    try:
        text = spreadsheet_text(regular_file_bytes(p))
    except OSError as exc:
        raise LabelError(f"{p}: cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise LabelError(f"{p}: not UTF-8 or GBK text (byte {exc.start}: {exc.reason})") from None
    known = set(items) if items is not None else None
    head = text.lstrip()
    if head.startswith("["):
        raise LabelError(f"{p}:1: a JSON array: write the labels as JSON lines, one object per call on a line of its own")
    try:
        if head.startswith("{"):
            labels = _json_lines(p, text, known)
        else:
            labels = _csv_labels(p, text, known)
    except csv.Error as exc:  # a field over the csv module's size limit, say
        raise LabelError(f"{p}: not readable as CSV: {exc}") from None
    if not labels:
        raise LabelError(f"{p}: no labels in it (an item's status or a guide judgment for some call)")
    return labels


def _csv_labels(p: Path, text: str, known: Optional[set[str]]) -> dict[tuple[str, str], str]:
    # newline="": a quoted cell's line breaks stay in the cell, and only \n and \r end a line
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None)
    names = [h.strip() for h in header] if header is not None else []
    if (names[:1] in (["call_id"], ["session"]) and len(names) > 1
            and not {"item", "expected"} & set(names[1:])):
        return _per_call_rows(p, names, reader, known)
    if names[:3] != ["call_id", "item", "expected"]:
        raise LabelError(f"{p}:1: header must be call_id,item,expected (a row per item), or call_id then item ids or "
                         "the labelling guide's judgments (a row per call)")
    labels: dict[tuple[str, str], str] = {}
    first: dict[tuple[str, str], int] = {}
    problems: list[str] = []
    for line, row in _rows(reader):
        if len(row) < 3:
            problems.append(f"{p}:{line}: expected 3 columns, got {len(row)}")
            continue
        call_id, item, expected = (c.strip() for c in row[:3])
        if expected not in STATUSES:
            problems.append(f"{p}:{line}: expected must be pass, fail or na, not {_short(expected)}")
            continue
        if known is not None and item not in known:
            problems.append(f"{p}:{line}: {_no_item(item, known)}")
            continue
        if (call_id, item) in first:
            problems.append(f"{p}:{line}: {call_id} {item} is already labelled on line {first[(call_id, item)]}")
            continue
        first[(call_id, item)] = line
        labels[(call_id, item)] = expected
    if problems:
        raise LabelError("\n".join(problems))
    return labels


def _rows(reader) -> Iterator[tuple[int, list[str]]]:
    """The CSV rows after the header that hold anything, each with the file line it starts on (a
    quoted cell may run over several lines)."""
    line = reader.line_num + 1
    for row in reader:
        if row and "".join(row).strip():
            yield line, row
        line = reader.line_num + 1


def _key_path(name: str) -> str:
    """A JSON line's key as a path: ``$.greeting``, or quoted where it is not a plain name."""
    return f"$.{name}" if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name) else f"$[{_short(name)}]"


def _short(value, limit: int = 60) -> str:
    """A value from a labels file as an error message quotes it: its repr, cut to a line."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "…"


def _no_item(name: str, known: set[str]) -> str:
    """The message for a name the rubric has no item of, with what it may have meant."""
    return f"the rubric has no item {_short(name)}{_hint(name, known)}"


def _holds_labels(name: str) -> bool:
    """Whether a per-call file's column or key may hold labels (not the guide's ``…_ev`` evidence,
    its notes and row numbers, a reviewer's remarks)."""
    return name not in _IGNORED and not name.endswith("_ev")


def _hint(name: str, known: set[str]) -> str:
    """What a name the rubric lacks may have meant: a guide judgment's place, or a close item id."""
    if name in GUIDE_JUDGMENTS:
        return (f" ({name} is a judgment of the labelling guide, true / false: give the guide's judgments as columns, "
                "a row per call, and eval turns them into the rubric's items)")
    close = difflib.get_close_matches(name, sorted(known), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _judgment(value) -> Optional[bool]:
    """A guide judgment written as true / false (or 1 / 0, yes / no, 是 / 否), else None."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        v = value.strip().lower()
        if v in _TRUE:
            return True
        if v in _FALSE:
            return False
    return None


class _Call:
    """One call's labels as a per-call row gives them: statuses named outright, guide judgments."""

    def __init__(self) -> None:
        self.statuses: dict[str, str] = {}
        self.judged: dict[str, bool] = {}

    def take(self, name: str, value, known: Optional[set[str]]) -> Optional[str]:
        """Record one cell; the problem with it, or None. A blank cell labels nothing."""
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        is_item = known is None or name in known
        if name not in GUIDE_JUDGMENTS and not is_item:
            return _no_item(name, known)
        status = value.strip().lower() if isinstance(value, str) else None
        if status in STATUSES and is_item:
            self.statuses[name] = status
            return None
        if name in GUIDE_JUDGMENTS:
            flag = _judgment(value)
            if flag is None:
                also = " or pass / fail / na" if is_item else ""
                return f"{name} must be true or false (a judgment of the labelling guide){also}, not {_short(value)}"
            self.judged[name] = flag
            return None
        return f"{name} must be pass, fail or na, not {_short(value)}"

    def labels(self, known: Optional[set[str]]) -> tuple[dict[str, str], Optional[str]]:
        """The call's item statuses, and what is wrong with them (None when nothing is)."""
        why = _missing_partner(self.judged)
        if why is not None:
            return {}, why
        out = dict(self.statuses)
        for item, status in guide_statuses(self.judged).items():
            if known is not None and item not in known:
                continue
            if item in out and out[item] != status:
                return {}, (f"{item} is labelled {out[item]} and the guide's judgments make it {status}: "
                            "give one or the other")
            out[item] = status
        return out, None


class _PerCall:
    """The labels of a file with one call per row or line, and its problems, gathered as read."""

    def __init__(self, p: Path, known: Optional[set[str]]):
        self.p, self.known = p, known
        self.labels: dict[tuple[str, str], str] = {}
        self.problems: list[str] = []
        self.first: dict[str, int] = {}

    def add(self, line: int, call_id: str, cells: Iterable[tuple[str, object, str]]) -> None:
        """One call's cells, each (name, value, where: '' or a JSON key path)."""
        if call_id in self.first:
            self.problems.append(f"{self.p}:{line}: {_short(call_id)} is already labelled on line {self.first[call_id]}")
            return
        self.first[call_id] = line
        call = _Call()
        bad = [f"{self.p}:{line}: {where}{why}" for name, value, where in cells
               if (why := call.take(name, value, self.known)) is not None]
        statuses, why = call.labels(self.known)
        self.problems += bad or ([f"{self.p}:{line}: {why}"] if why is not None else [])
        for item, status in statuses.items():
            self.labels[(call_id, item)] = status

    def result(self) -> dict[tuple[str, str], str]:
        if self.problems:
            raise LabelError("\n".join(self.problems))
        return self.labels


def _per_call_rows(p: Path, names: list[str], reader, known: Optional[set[str]]) -> dict[tuple[str, str], str]:
    """Labels of a CSV with a row per call: ``call_id``, then item ids (pass / fail / na) or the
    guide's judgments (true / false); the guide's evidence columns and notes are ignored."""
    problems: list[str] = []
    columns = [(k, n) for k, n in enumerate(names) if k > 0 and n and _holds_labels(n)]
    seen: set[str] = set()
    for k, name in columns:
        if name in seen:
            problems.append(f"{p}:1: column {_short(name)} is there twice")
        seen.add(name)
        if name not in GUIDE_JUDGMENTS and known is not None and name not in known:
            problems.append(f"{p}:1: column {_short(name)}: {_no_item(name, known)}")
    if not columns:
        problems.append(f"{p}:1: no column of an item or a guide judgment after {names[0]}")
    if problems:
        raise LabelError("\n".join(problems))
    calls = _PerCall(p, known)
    for line, row in _rows(reader):
        call_id = row[0].strip()
        if not call_id:
            calls.problems.append(f"{p}:{line}: no {names[0]}")
            continue
        calls.add(line, call_id, ((name, row[k] if k < len(row) else None, "") for k, name in columns))
    return calls.result()


def _json_lines(p: Path, text: str, known: Optional[set[str]]) -> dict[tuple[str, str], str]:
    """Labels of the labelling guide's own output: a JSON object per line, the call's id as
    ``session`` or ``call_id``, the guide's judgments true / false (item ids with pass / fail / na
    may stand beside them); ``…_ev`` evidence lists, ``idx`` and ``notes`` are ignored."""
    calls = _PerCall(p, known)
    # only \n ends a line: a JSON string may hold U+2028 or U+0085 unescaped, which splitlines() breaks at
    for line, raw in enumerate(text.split("\n"), 1):
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw)
        except ValueError as exc:
            calls.problems.append(f"{p}:{line}: not JSON ({exc}); labels are JSON lines, one object per call on a line")
            continue
        except RecursionError:  # arrays nested thousands deep
            calls.problems.append(f"{p}:{line}: not JSON (nested too deep)")
            continue
        if not isinstance(obj, dict):
            calls.problems.append(f"{p}:{line}: $: expected an object, one per call")
            continue
        key = "session" if "session" in obj else "call_id"
        call_id = obj.get(key)
        if not isinstance(call_id, str) or not call_id.strip():
            calls.problems.append(f"{p}:{line}: $.{key}: the call's id (a transcript's call_id) is missing or not text")
            continue
        calls.add(line, call_id.strip(), ((name, value, f"{_key_path(name)}: ")
                                          for name, value in obj.items()
                                          if name not in ("session", "call_id") and _holds_labels(name)))
    return calls.result()


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
