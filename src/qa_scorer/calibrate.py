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
    calls = [(t, c) for t, c in prepared(rubric, transcripts) if c is not None]
    out = []
    for knob in knobs(rubric):
        if only is not None and knob.name not in only and knob.item not in only:
            continue
        item = rubric.items[knob.index]
        labelled = [(call, labels[(t.call_id, item.id)]) for t, call in calls
                    if (t.call_id, item.id) in labels and call.channel in item.channels]
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
                call.memo.clear()
        out.append((knob, rows))
    return out


def in_use(knob: Knob) -> Optional[float]:
    """The cut-off that judges now: the rubric's, or the one model's own (None: several models,
    each with its own)."""
    if knob.current is not None:
        return knob.current
    models = knob.detect.text_models
    return models[0].threshold if len(models) == 1 else None


def best(knob: Knob, rows: list[Row]) -> Optional[Row]:
    """The tried cut-off with the highest F1; among equals, the fewest false flags, then the one
    nearest the cut-off in use. None when no labelled call has the item flagged or none was tried."""
    tried = [r for r in rows if not r.skipped and r.calls]
    if not tried or not any(r.positives for r in tried):
        return None
    now = in_use(knob)
    if now is None:
        now = min(m.threshold for m in knob.detect.text_models)
    return max(tried, key=lambda r: (round(r.f1, 9), -r.fp, -abs(r.cutoff - now)))


def calibrated_text(source: str, chosen: dict[tuple[int, str], float]) -> str:
    """The rubric text ``source`` with each chosen cut-off set, everything else as it was written:
    ``chosen`` maps (item index, side) to the new cut-off. A ``threshold`` the rubric writes has
    its number replaced; one it leaves to the model is written in beside the ``model`` key (in a
    flow mapping, ``{threshold: 0.8, model: …}``; in a block, a line of its own)."""
    import re

    from ruamel.yaml import YAML

    data = YAML(typ="rt").load(source)
    lines = source.splitlines(keepends=True)
    edits: list[tuple[int, int, int, str]] = []  # (line, column, characters replaced, new text)
    for (index, side), value in chosen.items():
        node = data["items"][index]
        if side:
            node = node[side]
        number = f"{value:g}"
        if "threshold" in node:
            line, col = node.lc.value("threshold")
            old = re.match(r"[-+0-9.eE]+", lines[line][col:])
            edits.append((line, col, len(old.group()) if old else 0, number))
        elif node.fa.flow_style():
            line, col = node.lc.key("model")
            edits.append((line, col, 0, f"threshold: {number}, "))
        else:
            keys = list(node)
            line, col = node.lc.key("model")
            after = keys[keys.index("model") + 1:]
            if after:  # a line of its own before the next key, at the keys' column
                line = node.lc.key(after[0])[0]
            else:
                line += 1
            edits.append((line, 0, 0, " " * col + f"threshold: {number}\n"))
    for line, col, size, text in sorted(edits, reverse=True):
        if line >= len(lines):
            lines.append("")
        lines[line] = lines[line][:col] + text + lines[line][col + size:]
    return "".join(lines)


def write_calibrated(source: str, chosen: dict[tuple[int, str], float], path: Path) -> None:
    """``calibrated_text`` written to ``path``, after checking that it loads with exactly the
    chosen cut-offs (ValueError otherwise, and nothing written)."""
    from qa_scorer.rubric.loader import parse_rubric

    text = calibrated_text(source, chosen)
    rubric = parse_rubric(text, str(path))
    for (index, side), value in chosen.items():
        detect = getattr(rubric.items[index], side) if side else rubric.items[index]
        if detect.threshold != value:
            raise ValueError(f"{path}: the calibrated rubric does not read {value:g} as item {index}'s cut-off")
    path.write_text(text, encoding="utf-8")
