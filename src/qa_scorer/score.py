"""Item results → scorecard: base score, deductions, the reward ledger and fatal items."""

from __future__ import annotations

import re
from typing import Iterable, Iterator, Optional

from qa_scorer.models import NO_SPEECH_REASON, ItemResult, Scorecard, Transcript, is_failure, is_reward, updated
from qa_scorer.rubric.call import Call
from qa_scorer.rubric.engine import evaluate, judged, prepared
from qa_scorer.rubric.registry import Rubric


def tally(results: list[ItemResult], base: float) -> tuple[list[ItemResult], float, float, bool]:
    """Points per item, the score (floored at 0, 0 when a fatal item failed), bonus and fatal flag.

    Returns new results carrying their ``points``; the given ones are left as they are."""
    deducted = bonus = 0.0
    fatal = False
    out: list[ItemResult] = []
    for r in results:
        points = 0.0
        if is_failure(r.kind, r.status):  # r.failed, without a property call per item
            points = -r.weight if r.weight else 0.0
            deducted += r.weight
            fatal = fatal or r.kind == "fatal"
        elif is_reward(r.kind, r.status):
            points = r.weight
            bonus += r.weight
        out.append(r if r.points == points else updated(r, points=points))
    score = 0.0 if fatal else max(0.0, base - deducted)
    return out, score, bonus, fatal


_WORD = re.compile(r"\w")


def has_speech(transcript: Transcript) -> bool:
    """True when some segment holds at least one letter, digit or ideograph."""
    return any(_WORD.search(s.text) for s in transcript.segments)


def score_transcript(transcript: Transcript, rubric: Rubric, source: Optional[str] = None,
                     call: Optional[Call] = None) -> Scorecard:
    """Judge every rubric item on one transcript and total the scorecard.

    A call without speech (no segments, or only empty ones: a silent or tone-only recording)
    cannot be judged: every item is ``na`` and the scorecard says ``no_speech``, so its base
    score is never mistaken for a perfect call. ``call``: the transcript as
    :func:`score_transcripts` prepares it (models already run over a chunk of calls).
    """
    no_speech = not has_speech(transcript)
    if no_speech:
        results = [r.model_copy(update={"status": "na", "reason": NO_SPEECH_REASON, "evidence": []})
                   for r in evaluate(rubric, transcript, call)]
        items, score, bonus, fatal = tally(results, rubric.base_score)
    else:  # the records tally would make, made at once
        items, deducted, bonus, fatal = judged(rubric, transcript, call, points=True)
        score = 0.0 if fatal else max(0.0, rubric.base_score - deducted)
    return Scorecard(
        call_id=transcript.call_id, agent_id=transcript.agent_id, channel=transcript.channel,
        started_at=transcript.started_at, audio=transcript.audio, source=source,
        duration=transcript.duration, rubric_id=rubric.id, rubric_version=rubric.version,
        base=rubric.base_score, score=score, bonus=bonus, fatal=fatal, no_speech=no_speech, items=items,
    )


def score_transcripts(transcripts: Iterable[Transcript], rubric: Rubric) -> Iterator[tuple[Transcript, Scorecard]]:
    """Score many transcripts, in order: the rubric's models read them a chunk at a time (the
    same scorecards as :func:`score_transcript` on each, made faster)."""
    for transcript, call in prepared(rubric, transcripts):
        yield transcript, score_transcript(transcript, rubric, call=call)
