"""Run every enabled rubric item over one call. Pure: (rubric, transcript) → item results."""

from __future__ import annotations

from functools import lru_cache
from typing import Iterable, Iterator, Optional

from qa_scorer.models import UNEARNED_PREFIX, ItemResult, Transcript, is_failure, is_reward, trusted
from qa_scorer.normalize import NormText, normalize_all
from qa_scorer.rubric.call import Call, prepare_models, search_together
from qa_scorer.rubric.registry import SEARCHES, Rubric, run_check
from qa_scorer.rubric.schema import Matcher, Scope
from qa_scorer.textmodel import ModelBank

# Calls read together by the models and searched together by the phrase matchers (see
# ``prepared``): enough to spread the fixed cost of the array operations and of each matcher's
# pass thin, few enough to keep their n-gram codes and joined texts small. 256 calls scored the
# real chats about 6% faster than 64 (generated calls 7%; 512 no faster), for about 20 MiB more
# at the peak over 3,000 generated calls (bench/RESULTS-score.md has the run's ratio).
CHUNK_CALLS = 256
CHUNK_SEGMENTS = 16000


def prepared(rubric: Rubric, transcripts: Iterable[Transcript]) -> Iterator[tuple[Transcript, Optional[Call]]]:
    """(transcript, call) pairs, in order, the calls made in chunks whose segments the rubric's
    models score together; ``evaluate(rubric, t, call)`` then finds every probability ready.

    Never raises for one bad transcript: a call that cannot be prepared comes back as None and
    ``evaluate`` meets its problem again, for that call alone."""
    bank = rubric.model_bank
    transcripts_of_chunk: list[Transcript] = []
    size = 0

    def flush():
        chunk = chunk_calls(transcripts_of_chunk, bank)
        ready = [c for _, c in chunk if c is not None]
        try:
            prepare_models(ready, bank)
        except Exception:  # noqa: BLE001 - the models then run call by call, where errors are per call
            for c in ready:
                c.forget_models()
        try:
            prepare_hits(rubric, ready)
        except Exception:  # noqa: BLE001 - the same: the checks then search call by call
            for c in ready:
                c.forget_hits()
        return chunk

    for transcript in transcripts:
        transcripts_of_chunk.append(transcript)
        size += len(transcript.segments)
        if len(transcripts_of_chunk) >= CHUNK_CALLS or size >= CHUNK_SEGMENTS:
            yield from flush()
            transcripts_of_chunk, size = [], 0
    if transcripts_of_chunk:
        yield from flush()


def chunk_calls(transcripts: list[Transcript], bank: ModelBank) -> list[tuple[Transcript, Optional[Call]]]:
    """(transcript, call) pairs of a chunk, every segment's text normalised in one
    ``normalize_all`` (its fixed costs paid once a chunk, not once a call: the same texts).
    A call that cannot be made comes back as None; when the chunk's texts cannot be normalised
    together, each call normalises its own (and only a bad one fails)."""
    try:
        norms: Optional[list[NormText]] = normalize_all([s.text for t in transcripts for s in t.segments])
    except Exception:  # noqa: BLE001 - see above
        norms = None
    out: list[tuple[Transcript, Optional[Call]]] = []
    at = 0
    for transcript in transcripts:
        n = len(transcript.segments)
        try:
            call: Optional[Call] = Call(transcript, bank, norms[at:at + n] if norms is not None else None)
        except Exception:  # noqa: BLE001 - see above
            call = None
        out.append((transcript, call))
        at += n
    return out


def prepare_hits(rubric: Rubric, calls: list[Call]) -> None:
    """Search the segments that the rubric's phrase matchers will search in each of several
    calls (what each item's ``searches`` names, for the calls of its channels), one pass per
    matcher for them all (``search_together``): the checks then find the hits ready and only
    look them up, instead of paying a regex search's fixed costs call by call and item by item.
    Only segment-local matchers take part (see ``Matcher.local``); the others search as before.
    Matchers that search the same selections (same speaker, scope, channels and ``within``)
    share one joined text. Searches narrowed by a ``within`` run last: what it reads (a
    trigger's hits, say) is then found already."""
    groups: dict[tuple, tuple[Optional[Scope], list[Matcher]]] = {}
    for item in rubric.items:
        searches = SEARCHES.get(type(item)) if item.enabled else None
        if searches is None:
            continue
        for matchers, speaker, scope, within in searches(item):
            compiled = [m.matcher for m in matchers]
            if not compiled or not all(m.local for m in compiled):
                continue  # phrase_hits searches these call by call
            key = (tuple(item.channels), speaker, scope.bounds if scope is not None else None, within)
            groups.setdefault(key, (scope, []))[1].extend(compiled)
    for (channels, speaker, _, within), (scope, matchers) in sorted(groups.items(), key=lambda g: g[0][3] is not None):
        search_together(matchers, [(call, chosen) for call in calls if call.channel in channels
                                   for chosen in [call.select(speaker, scope)] if chosen
                                   for chosen in [within(call, chosen) if within is not None else chosen]
                                   if chosen])


def evaluate(rubric: Rubric, transcript: Transcript, call: Optional[Call] = None) -> list[ItemResult]:
    """Item results of one call; ``call`` is the transcript's prepared view (see ``prepared``),
    used when it reads the same segments (a copy that changed only, say, the recording's path)."""
    return judged(rubric, transcript, call)[0]


def judged(rubric: Rubric, transcript: Transcript, call: Optional[Call] = None,
           points: bool = False) -> tuple[list[ItemResult], float, float, bool]:
    """``evaluate``'s item results, and with ``points`` each one's effect on the score as
    ``score.tally`` gives it (the same records tally would make), with tally's points
    deducted, bonus and fatal flag (0.0, 0.0 and False without ``points``): one pass over the
    items instead of a second that copies some of the records."""
    if call is None or call.segments is not transcript.segments or call.channel != transcript.channel:
        call = Call(transcript, rubric.model_bank)
    results = []
    deducted = bonus = 0.0
    fatal = False
    channel = transcript.channel
    for item in rubric.items:
        if not item.enabled:
            continue
        kind = item.kind
        if channel not in item.channels:
            status, reason, evidence = "na", _not_for(channel), []
        else:
            out = run_check(item, call)
            status, reason, evidence = out.status, out.text, list(out.evidence)
            if kind == "reward" and status == "fail":
                status, reason, evidence = "na", f"{UNEARNED_PREFIX}{reason}", []
        weight = item.points
        effect = 0.0
        if points:  # as score.tally
            if is_failure(kind, status):
                effect = -weight if weight else 0.0
                deducted += weight
                fatal = fatal or kind == "fatal"
            elif is_reward(kind, status):
                effect = weight
                bonus += weight
        # every field comes from the validated rubric and the checks' own records: no validation
        # (named in the record's field order, Judged's kind and status first: see ``trusted``)
        results.append(trusted(
            ItemResult, kind=kind, status=status, id=item.id, name=item.name, points=effect, weight=weight,
            evidence=evidence, reason=reason, doc=item.doc,
        ))
    return results, deducted, bonus, fatal


@lru_cache(maxsize=64)
def _not_for(channel: str) -> str:
    """The reason of an item that does not apply to a call's channel."""
    zh = {"phone": "电话", "chat": "在线"}.get(channel, channel)
    return f"不适用于{zh}渠道（does not apply to {channel}）"
