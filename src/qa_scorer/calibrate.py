"""The cut-offs of a rubric's learned checks, swept against a reviewer's labels.

A QA team that has labelled some of its own calls (``call_id,item,expected``, as ``eval`` reads
them) sees, for every check a model judges (a classifier item, a conditional rule's trigger or
response), how precision, recall and false flags move as the model's cut-off moves, with the
rest of the rubric as written; ``qa-scorer eval --sweep`` prints it, and ``--calibrated FILE``
writes a copy of the rubric with each cut-off at its best F1 (the file's comments and layout
kept). A cut-off the rubric's own bars rule out (a question's bar must stay above it, readings
that add up below it) is skipped and says why.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Optional

from qa_scorer.evaluation import Rates
from qa_scorer.models import Transcript, is_flagged
from qa_scorer.rubric.detect import Detect
from qa_scorer.rubric.engine import prepared
from qa_scorer.rubric.registry import Rubric, run_check

# The cut-offs tried: 0.50 to 0.95 by 0.05, and the one in use.
GRID = tuple(round(0.5 + 0.05 * k, 2) for k in range(10))


@dataclass
class Knob:
    """One model cut-off of a rubric: an item's own, or a conditional rule's trigger's or response's."""

    item: str
    side: str  # "" (the item itself), "trigger" or "response"
    index: int  # the item's position among the rubric's items
    detect: Detect
    current: Optional[float]  # the rubric's cut-off; None: each model's own default

    @property
    def name(self) -> str:
        return f"{self.item}.{self.side}" if self.side else self.item

    def own_cutoffs(self) -> str:
        return ", ".join(f"{m.name} {m.threshold:.2f}" for m in self.detect.text_models)


@dataclass
class Row(Rates):
    """The labelled calls' agreement at one cut-off (``positives``: the calls the labels flag)."""

    cutoff: float
    calls: int = 0
    tp: int = 0
    fp: int = 0
    fn: int = 0
    skipped: str = ""  # why this cut-off was not tried (a bar of the rubric rules it out)

    @property
    def false_flags_per_100(self) -> float:
        return 100 * self.fp / self.calls if self.calls else 0.0


def knobs(rubric: Rubric) -> list[Knob]:
    """Every enabled check of ``rubric`` that a model judges, in the rubric's order."""
    out = []
    for index, item in enumerate(rubric.items):
        if not item.enabled:
            continue
        for side in ("", "trigger", "response"):
            detect = getattr(item, side, None) if side else item
            if isinstance(detect, Detect) and detect.text_models:
                out.append(Knob(item.id, side, index, detect, detect.threshold))
    return out


def _ruled_out(detect: Detect, cutoff: float) -> str:
    """Why the rubric's other bars rule ``cutoff`` out ("" when they do not)."""
    if detect.question_threshold is not None and detect.question_threshold <= cutoff:
        return f"question_threshold {detect.question_threshold:g} must be above"
    if detect.accumulate is not None and detect.accumulate.threshold >= cutoff:
        return f"accumulate {detect.accumulate.threshold:g} must be below"
    return ""


def sweep(rubric: Rubric, transcripts: Iterable[Transcript], labels: dict[tuple[str, str], str],
          grid: Iterable[float] = GRID, only: Optional[set[str]] = None) -> list[tuple[Knob, list[Row]]]:
    """For each knob (those named in ``only``, by ``Knob.name`` or item id, when given), the
    labelled calls' agreement at each cut-off of ``grid`` and the one in use, the rest of the
    rubric unchanged. Only calls labelled for the knob's item, on the item's channels, count.
    The rubric is left as it was."""
    from qa_scorer.score import has_speech

    calls = [(t, c) for t, c in prepared(rubric, transcripts) if c is not None]
    out = []
    for knob in knobs(rubric):
        if only is not None and knob.name not in only and knob.item not in only:
            continue
        item = rubric.items[knob.index]
        # a call on a channel the item is not for, or without speech, is na whatever the cut-off
        # (as its scorecard says); the others are judged again at each cut-off
        labelled = [(call if call.channel in item.channels and has_speech(t) else None, labels[(t.call_id, item.id)])
                    for t, call in calls if (t.call_id, item.id) in labels]
        now = in_use(knob)
        values = sorted(set(grid) | ({now} if now is not None else set()))
        rows = []
        try:
            for value in values:
                row = Row(value, calls=len(labelled))
                row.skipped = _ruled_out(knob.detect, value)
                if not row.skipped:
                    object.__setattr__(knob.detect, "threshold", value)  # read at judging time
                    for call, expected in labelled:
                        if call is None:
                            status = "na"
                        else:
                            call.memo.clear()  # what adds up depends on the cut-off
                            status = run_check(item, call).status
                            if item.kind == "reward" and status == "fail":
                                status = "na"  # as a scorecard shows an unearned reward
                        want, got = is_flagged(item.kind, expected), is_flagged(item.kind, status)
                        row.tp += want and got
                        row.fp += got and not want
                        row.fn += want and not got
                rows.append(row)
        finally:
            object.__setattr__(knob.detect, "threshold", knob.current)
            for call, _ in labelled:
                if call is not None:
                    call.memo.clear()
        out.append((knob, rows))
    return out


def in_use(knob: Knob) -> Optional[float]:
    """The cut-off that judges now: the rubric's, or the one model's own (None: several models,
    each with its own)."""
    if knob.current is not None:
        return knob.current
    own = {m.threshold for m in knob.detect.text_models}
    return own.pop() if len(own) == 1 else None


def within(row: Row, max_false_flags: Optional[float]) -> bool:
    """Whether ``row`` keeps to a bar of false flags per 100 labelled calls (any row without one)."""
    return max_false_flags is None or row.false_flags_per_100 <= max_false_flags + 1e-9


def best(knob: Knob, rows: list[Row], max_false_flags: Optional[float] = None) -> Optional[Row]:
    """The tried cut-off with the highest F1; among equals, the fewest false flags, then the one
    nearest the cut-off in use. With ``max_false_flags`` (per 100 labelled calls: a QA standard's
    bar for a rare item) only cut-offs within it compete; when none is, the one with the fewest
    false flags. None when no labelled call has the item flagged or none was tried."""
    tried = [r for r in rows if not r.skipped and r.calls]
    if not tried or not any(r.positives for r in tried):
        return None
    now = in_use(knob)
    if now is None:
        now = min(m.threshold for m in knob.detect.text_models)
    if max_false_flags is not None:
        kept = [r for r in tried if within(r, max_false_flags)]
        if not kept:
            return min(tried, key=lambda r: (r.fp, -r.f1, abs(r.cutoff - now)))
        tried = kept
    return max(tried, key=lambda r: (round(r.f1, 9), -r.fp, -abs(r.cutoff - now)))


class CalibrationError(ValueError):
    """A cut-off that cannot be written into the rubric's text safely; set it by hand."""


# a plain number as YAML writes a cut-off, up to what ends the value
_NUMBER = re.compile(r"[-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?(?=\s|,|}|#|$)")


def calibrated_text(source: str, chosen: dict[tuple[int, str], float]) -> str:
    """The rubric text ``source`` with each chosen cut-off set, everything else as it was written
    (line endings and a byte-order mark too): ``chosen`` maps (item index, side) to the new
    cut-off. A ``threshold`` the rubric writes as a plain number has the number replaced; one it
    leaves to the model is written in beside the check's keys (in a flow mapping,
    ``{…, threshold: 0.8, model: …}``; in a block, a line of its own before one of its keys).
    A layout this cannot edit safely (a threshold quoted, tagged or empty, a check written
    through a YAML anchor, alias or merge, a block whose keys all share its first line) raises
    CalibrationError naming the check."""
    from ruamel.yaml import YAML

    bom = "\ufeff" if source.startswith("\ufeff") else ""
    text = source[len(bom):]
    newline = "\r\n" if "\r\n" in text else "\r" if "\r" in text and "\n" not in text else "\n"
    data = YAML(typ="rt").load(text)
    # lines as YAML counts them: broken at \r\n, \r and \n only (not at U+2028 and the like)
    lines = re.findall(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+$", text)
    edits: list[tuple[int, int, int, str]] = []  # (line, column, characters replaced, new text)
    items = data["items"] if isinstance(data, dict) and "items" in data else []

    def written_through_yaml_sharing(node, item) -> bool:
        for n in (item, node):
            if getattr(n, "anchor", None) is not None and n.anchor.value is not None:
                return True
            if getattr(n, "merge", None):
                return True
        # the same mapping reached from another item (an alias, or a merge of a parent)
        return any(other is not item and isinstance(other, dict)
                   and any(other.get(s) is node for s in ("trigger", "response")) for other in items)

    for (index, side), value in chosen.items():
        where = f"item {index + 1}" + (f"'s {side}" if side else "")
        try:
            item = node = items[index]
            if side:
                node = node[side]
            if written_through_yaml_sharing(node, item):
                raise CalibrationError(f"{where} is written through a YAML anchor, alias or merge")
            number = f"{value:g}"
            if "threshold" in node:
                line, col = node.lc.value("threshold")
                old = _NUMBER.match(lines[line], col) if line < len(lines) else None
                if old is None or not isinstance(node["threshold"], (int, float)):
                    raise CalibrationError(f"{where}: its threshold is not written as a plain number")
                edits.append((line, col, old.end() - col, number))
            elif node.fa.flow_style():
                line, col = node.lc.key("model")
                edits.append((line, col, 0, f"threshold: {number}, "))
            else:
                # before a key that begins its own line (not one after "- " on the block's first line)
                for key in node:
                    line, col = node.lc.key(key)
                    if not lines[line][:col].strip():
                        edits.append((line, 0, 0, " " * col + f"threshold: {number}" + newline))
                        break
                else:
                    raise CalibrationError(f"{where}: no key of it begins a line of its own")
        except CalibrationError:
            raise
        except (KeyError, IndexError, TypeError, AttributeError) as exc:
            raise CalibrationError(f"{where}: cannot find where its cut-off is written ({exc!r})") from None
    for line, col, size, new in sorted(edits, reverse=True):
        lines[line] = lines[line][:col] + new + lines[line][col + size:]
    return bom + "".join(lines)


def write_calibrated(source_path: Path, chosen: dict[tuple[int, str], float], path: Path,
                     loaded: Optional[Rubric] = None) -> None:
    """``calibrated_text`` of the rubric at ``source_path``, written to ``path`` after checking
    that it loads with the chosen cut-offs and every other cut-off as it was (CalibrationError
    otherwise, and nothing written). Model files the rubric names beside it are found beside
    ``source_path`` for the check. ``loaded``: that rubric as already loaded from
    ``source_path``, its cut-offs as written (it is not parsed again)."""
    from qa_scorer.rubric.loader import parse_rubric

    raw = Path(source_path).read_bytes().decode("utf-8")
    text = calibrated_text(raw, chosen)
    before = {(k.index, k.side): k.current for k in knobs(loaded or parse_rubric(raw, str(source_path)))}
    after = {(k.index, k.side): k.current for k in knobs(parse_rubric(text, str(source_path)))}
    for key, value in before.items():
        want = chosen.get(key, value)
        if after.get(key) != want:
            index, side = key
            raise CalibrationError(f"item {index + 1}{f'.{side}' if side else ''}: the calibrated text reads cut-off "
                                   f"{after.get(key)} where {want} was meant (a YAML anchor or alias shared with "
                                   "another check?); nothing written")
    with open(path, "w", encoding="utf-8", newline="") as fh:  # the text's own line endings
        fh.write(text)
