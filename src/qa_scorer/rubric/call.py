"""A transcript prepared for the checks: normalised segments, turns, timing facts."""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from typing import Optional

from qa_scorer.models import Evidence, Status, Transcript
from qa_scorer.normalize import NormText, normalize
from qa_scorer.rubric.schema import Hit, Joined, Scope
from qa_scorer.textmodel import TextModel, _sigmoid, context_grams, utterance_grams


@dataclass(frozen=True)
class Outcome:
    """What a check concluded; the engine turns it into an ItemResult."""

    status: Status
    reason: str
    evidence: tuple[Evidence, ...] = ()
    # The reason in Chinese, for the agents who read the scorecards (shown first).
    zh: str = ""

    @property
    def text(self) -> str:
        return f"{self.zh}（{self.reason}）" if self.zh else self.reason


class Call:
    """Read-only view of one transcript for the checks. Nothing here is mutated by a check."""

    def __init__(self, transcript: Transcript):
        self.transcript = transcript
        self.segments = transcript.segments
        self.norms: list[NormText] = [normalize(s.text) for s in self.segments]
        self.timed = transcript.timed
        self.channel = transcript.channel
        self._turns: dict[str, list[list[int]]] = {}
        self._bounds: dict[str, tuple[list[int], list[int]]] = {}
        self._joined: dict[tuple[int, ...], Joined] = {}
        self._indices: dict[str, list[int]] = {}
        self._grams: dict[tuple, set] = {}
        self._probs: dict[tuple, float] = {}

    def probability(self, model: TextModel, index: int) -> float:
        """A text model's probability for one segment (cached; n-grams shared between models
        with the same features)."""
        key = (model.path, index)
        p = self._probs.get(key)
        if p is None:
            spec = model.spec
            gkey = (spec.ngram_min, spec.ngram_max, index)
            grams = self._grams.get(gkey)
            if grams is None:
                grams = self._grams[gkey] = utterance_grams(self.segments[index].text, spec.ngram_min,
                                                            spec.ngram_max)
            if spec.context:
                previous = self.previous_other(index)
                if previous is not None and self.segments[previous].text:
                    ckey = ("<", spec.context_ngram_max, previous)
                    ctx = self._grams.get(ckey)
                    if ctx is None:
                        ctx = self._grams[ckey] = context_grams(self.segments[previous].text,
                                                                spec.context_ngram_max)
                    grams = grams | ctx
            p = self._probs[key] = _sigmoid(model.logit(grams))
        return p

    def previous_other(self, index: int) -> Optional[int]:
        """The last segment before ``index`` by the other speaker (None when there is none)."""
        who = self.segments[index].speaker
        for j in range(index - 1, -1, -1):
            if self.segments[j].speaker != who:
                return j
        return None

    def joined(self, indices: list[int]) -> Joined:
        """The normalised text of these segments joined for one regex pass (cached)."""
        key = tuple(indices)
        j = self._joined.get(key)
        if j is None:
            j = self._joined[key] = Joined([self.norms[i] for i in indices])
        return j

    def indices(self, speaker: str) -> list[int]:
        """Segment indices of one speaker ('any': all), in order (cached)."""
        got = self._indices.get(speaker)
        if got is None:
            got = self._indices[speaker] = [
                i for i, s in enumerate(self.segments) if speaker == "any" or s.speaker == speaker]
        return got

    def turns(self, speaker: str) -> list[list[int]]:
        """Runs of consecutive segments by one speaker (all speakers' runs for 'any'), cached."""
        got = self._turns.get(speaker)
        if got is None:
            runs = self._turns.get("any")
            if runs is None:
                runs, prev = [], None
                for i, s in enumerate(self.segments):
                    if s.speaker != prev:
                        runs.append([])
                        prev = s.speaker
                    runs[-1].append(i)
                self._turns["any"] = runs
            got = runs if speaker == "any" else [r for r in runs if self.segments[r[0]].speaker == speaker]
            self._turns[speaker] = got
        return got

    def turn_bounds(self, speaker: str) -> tuple[list[int], list[int]]:
        """First and last segment index of each of ``speaker``'s turns (both ascending), for
        finding the turns before or after a segment by binary search (cached)."""
        got = self._bounds.get(speaker)
        if got is None:
            turns = self.turns(speaker)
            got = self._bounds[speaker] = ([t[0] for t in turns], [t[-1] for t in turns])
        return got

    def turns_after(self, speaker: str, index: int, count: int) -> list[list[int]]:
        """Up to ``count`` of ``speaker``'s turns that start after segment ``index``."""
        i = bisect_right(self.turn_bounds(speaker)[0], index)
        return self.turns(speaker)[i:i + count]

    def turns_before(self, speaker: str, index: int, count: int) -> list[list[int]]:
        """Up to ``count`` of ``speaker``'s turns that end before segment ``index``."""
        j = bisect_left(self.turn_bounds(speaker)[1], index)
        return self.turns(speaker)[max(0, j - count):j] if count > 0 else []

    def turn_of(self, speaker: str, index: int) -> int:
        """Position of the turn containing segment ``index`` among ``speaker``'s turns (-1 if none)."""
        for n, run in enumerate(self.turns(speaker)):
            if index in run:
                return n
        return -1

    def select(self, speaker: str, scope: Optional[Scope]) -> Optional[list[int]]:
        """Segment indices a scoped rule looks at; None when the scope needs timings we lack."""
        if scope is None:
            return self.indices(speaker)
        if scope.needs_timing and not self.timed:
            return None
        chosen: set[int] = set()
        parts = 0
        turns = self.turns(speaker)
        if scope.first_turns:
            parts += 1
            chosen.update(i for run in turns[: scope.first_turns] for i in run)
        if scope.last_turns:
            parts += 1
            chosen.update(i for run in turns[-scope.last_turns:] for i in run)
        if scope.first_seconds:
            parts += 1
            chosen.update(i for i in self.indices(speaker) if self.segments[i].start < scope.first_seconds)
        if scope.last_seconds:
            parts += 1
            end = self.transcript.duration or 0
            chosen.update(i for i in self.indices(speaker) if self.segments[i].end > end - scope.last_seconds)
        if not parts:
            return self.indices(speaker)
        return sorted(chosen)

    def evidence(self, index: int, hit: Optional[Hit] = None, note: str = "") -> Evidence:
        seg = self.segments[index]
        if hit is not None:
            span = self.norms[index].source_span(hit.start, hit.end)
            text = seg.text[span[0]:span[1]]
        else:
            span, text = None, seg.text
        return Evidence(segment=index, speaker=seg.speaker, start=seg.start, end=seg.end,
                        text=text, span=span, note=note)


def quote(text: str, limit: int = 30) -> str:
    text = text.strip()
    return f"“{text if len(text) <= limit else text[:limit] + '…'}”"
