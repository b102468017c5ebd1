"""``conditional``: when one speaker says X, the other must say Y within K turns.

Example: the customer reports a problem → the agent apologises within 4 of their turns. K may be
``all``: the rest of the conversation (and, as ``lookback_turns``, all of it before).
``na`` when the trigger never occurs; ``pass`` when some trigger is answered in time.
"""

from __future__ import annotations

import math
import re
from bisect import bisect_left
from typing import Literal, Optional, Union

from pydantic import Field, PrivateAttr, field_validator

from qa_scorer.rubric.call import Call, Outcome, quote
from qa_scorer.rubric.detect import Detect, evidence
from qa_scorer.normalize import normalize_phrase
from qa_scorer.rubric.schema import CompileContext, ItemBase, Match, NonEmpty, Scope, _alternation_pattern


class Side(Detect):
    """One side of the rule: a speaker, and a model and/or phrases (see ``detect.Detect``)."""

    speaker: Literal["agent", "customer"]
    scope: Optional[Scope] = None


class Item(ItemBase):
    type: Literal["conditional"]
    trigger: Side
    response: Side
    # How many of the responder's turns after the trigger may carry the response ("all": any).
    within_turns: Union[int, Literal["all"]] = 3
    # Responder turns just before the trigger that also count (already soothing, say); "all": any.
    lookback_turns: Union[int, Literal["all"]] = 0
    # …unless the responder's first turn after the trigger says this: an agent who answers a
    # threat with 您有权利投诉 takes it up, whatever they said before it.
    lookback_unless: Optional[Match] = None
    # …or only when the responder says nothing after the trigger (a threat as the customer's
    # last words is answered by the apology just before it; one followed by the agent's
    # 好的，感谢您的反馈 is not): any words in the first turn after it void the turns before.
    lookback_if_silent: bool = False
    # A responder's turn made only of these words (嗯 / 对 / 是, said while the other side goes
    # on) is listening, not answering: the first such turn after a trigger does not count
    # towards ``within_turns`` (a second does: 嗯 … 嗯 to 说话啊 is no answer).
    listening: Optional[list[NonEmpty]] = None
    # ``na`` where the trigger's speaker opens with this in their first ``opening_turns`` turns: a
    # customer who calls to praise (我不是投诉啊 我是想表扬一个司机) tells of the trouble the praised
    # person got them out of, and nothing in that story calls for an apology.
    unless_opening: Optional[Match] = None
    opening_turns: int = Field(default=2, ge=1, le=10)
    # …until the trigger's speaker turns to something else (不过 / 但是 / 另外 / 还有个事): from the
    # segment that says this on, triggers count again (我想表扬一下上次那个师傅 … 不过这次来的师傅把我家
    # 地板划坏了).
    opening_ends: Optional[Match] = None

    _listening = PrivateAttr(default=None)

    @field_validator("within_turns", "lookback_turns", mode="before")
    @classmethod
    def _turns(cls, v: object, info) -> Union[int, str]:
        """A whole number of turns (at least 1 after, 0 before), or "all"; one plain message."""
        least = 1 if info.field_name == "within_turns" else 0
        if v == "all":
            return "all"
        if isinstance(v, float) and math.isfinite(v) and v.is_integer():
            v = int(v)
        if isinstance(v, bool) or not isinstance(v, int) or v < least:
            raise ValueError(f"should be a whole number of turns, at least {least}, or 'all'")
        return v

    def compile(self, ctx: CompileContext) -> None:
        self.trigger.compile_detect(ctx)
        self.response.compile_detect(ctx)
        if self.lookback_unless is not None:
            self.lookback_unless.compile(ctx)
        for m in (self.unless_opening, self.opening_ends):
            if m is not None:
                m.compile(ctx)
        if self.listening:
            words = _alternation_pattern([normalize_phrase(w) for w in self.listening])
            self._listening = re.compile(f"(?:{words})+") if words else None

    def only_listening(self, call: Call, turn: list[int]) -> bool:
        """Whether every segment of a turn is nothing but the listening words."""
        pattern = self._listening
        return pattern is not None and all(pattern.fullmatch(call.norms[i].text) for i in turn)

    def phrases(self, ctx: CompileContext) -> list[str]:
        return self.response.detect_phrases(ctx)


def _turns_after(item: Item, call: Call, trigger_index: int, count: int) -> tuple[list[list[int]], list[int]]:
    """Up to ``count`` of the responder's turns after the trigger, and the turn passed over: at
    most one listening turn is (an agent who only says 嗯 while the customer asks again, 说话啊 /
    你听见没有, has not answered)."""
    who = item.response.speaker
    if item._listening is None:
        return call.turns_after(who, trigger_index, count), []
    after, skipped = [], []
    for t in call.turns_after(who, trigger_index, count + 1):
        if not skipped and item.only_listening(call, t):
            skipped = t
            continue
        after.append(t)
    return after[:count], skipped


def _lookback(item: Item, call: Call, trigger_index: int, first_after: Optional[list[int]]) -> list[list[int]]:
    """The responder's turns just before the trigger that also count, unless their first turn
    after it takes the trigger up (``lookback_unless``), or says anything at all
    (``lookback_if_silent``)."""
    before = call.turns_before(item.response.speaker, trigger_index, _count(call, item.lookback_turns))
    if not before or not first_after:
        return before
    if item.lookback_if_silent and any(call.norms[i].text for i in first_after):
        return []
    unless = item.lookback_unless
    if unless is not None and any(unless.matcher.find(call.norms[i]) for i in first_after):
        return []
    return before


def _window(item: Item, call: Call, trigger_index: int) -> list[int]:
    """Segments of the responder's turns that may answer the trigger at ``trigger_index``."""
    after, _ = _turns_after(item, call, trigger_index, _count(call, item.within_turns))
    before = _lookback(item, call, trigger_index, after[0] if after else None)
    return [i for t in before + after for i in t]


class _AllAfter:
    """Answers for ``within_turns: all``, found once per call: every responder segment is searched
    once, and each trigger's window (the lookback turns, then every responder turn after it) is
    read off by binary search, so a call of many triggers is not searched once per trigger.
    Gives what ``find(call, window, first_only=True, per_segment=True)[:1]`` gives: phrase hits
    first, and the models asked only where no phrase hit is in the window (as ``find`` does)."""

    def __init__(self, item: Item, call: Call):
        self.item, self.call = item, call
        self.indices = call.indices(item.response.speaker)
        # with first_only, find returns every phrase hit when there is one, and asks no model
        found = item.response.find(call, self.indices, first_only=True, per_segment=True)
        self.phrase = _table(f for f in found if f.hit is not None)
        self._model: Optional[tuple[dict, list[int]]] = None

    def _models(self) -> tuple[dict, list[int]]:
        if self._model is None:
            found = self.item.response.find(self.call, self.indices, per_segment=True)
            self._model = _table(f for f in found if f.hit is None)
        return self._model

    def first(self, before: list[int], after_from: int, skip: list[int]) -> list:
        """The first answer among ``before`` (in order), then the responder's segments from
        index ``after_from`` on (but ``skip``): phrase hits before the models' judgments."""
        return _first_in(*self.phrase, before, after_from, skip) or _first_in(*self._models(), before, after_from, skip)


def _table(found) -> tuple[dict, list[int]]:
    """Answers by segment index, and the indices sorted for binary search."""
    table = {f.index: f for f in found}
    return table, sorted(table)


def _first_in(table: dict, at: list[int], before: list[int], after_from: int, skip: list[int]) -> list:
    """The answer of ``table`` first among ``before``, else at the lowest index (of ``at``, the
    table's indices sorted) from ``after_from`` on that is not in ``skip``."""
    for i in before:
        if i in table:
            return [table[i]]
    k = bisect_left(at, after_from)
    while k < len(at) and at[k] in skip:
        k += 1
    return [table[at[k]]] if k < len(at) else []


def _answers_all(item: Item, call: Call, trigger_index: int, all_after: _AllAfter) -> list:
    """``_window`` and the search of it, for ``within_turns: all``, without listing the window:
    only the first turn after the trigger (and a listening turn passed over) is looked at."""
    after, skipped = _turns_after(item, call, trigger_index, 1)
    before = _lookback(item, call, trigger_index, after[0] if after else None)
    return all_after.first([i for t in before for i in t], trigger_index + 1, skipped)


def _count(call: Call, turns: Union[int, str]) -> int:
    return len(call.segments) if turns == "all" else turns


_WHO = {"agent": "坐席", "customer": "客户"}


def _said(call: Call, found) -> str:
    """The trigger's words as the speaker wrote them (the evidence's text: 等了一, not the matched
    normalised 等了1), or the whole utterance the model judged."""
    return call.evidence(found.index, found.hit).text if found.hit is not None else call.segments[found.index].text


def searches(item: Item) -> list[tuple]:
    # The trigger's candidates; and the response, which is looked up in windows around the
    # triggers, in every segment of the responder (the windows are the responder's turns) of
    # the calls where the trigger may fire: one search of those for a chunk of calls costs
    # less than a search of each window, call by call.
    return [(item.trigger.matchers, item.trigger.speaker, item.trigger.scope, None),
            (item.response.matchers, item.response.speaker, None, lambda call, chosen: _may_answer(item, call, chosen))]


def _may_answer(item: Item, call: Call, responder: list[int]) -> list[int]:
    """``responder`` (the responder's segments) when the trigger may fire in ``call`` (a
    phrase hit, or a model's probability at its cutoff, vetoes aside), else none."""
    candidates = call.select(item.trigger.speaker, item.trigger.scope)
    if not candidates:
        return []
    trigger = item.trigger
    if trigger._phrase_hits(call, candidates, True):
        return responder
    for model in trigger.text_models:
        cutoff = trigger.threshold if trigger.threshold is not None else model.threshold
        probs = call.probabilities(model)
        if any([probs[i] >= cutoff for i in candidates]):
            return responder
    return responder if trigger.added(call, candidates) else []


def _opening(item: Item, call: Call) -> Optional[int]:
    """The segment among the trigger speaker's first turns that says ``unless_opening``, if any."""
    if item.unless_opening is None:
        return None
    for turn in call.turns(item.trigger.speaker)[:item.opening_turns]:
        for i in turn:
            if item.unless_opening.find(call.norms[i]):
                return i
    return None


def _opening_ends(item: Item, call: Call, opened: int) -> Optional[int]:
    """The first of the trigger speaker's segments from ``opened`` on that says ``opening_ends``."""
    if item.opening_ends is None:
        return None
    for i in call.indices(item.trigger.speaker):
        if i >= opened and item.opening_ends.find(call.norms[i]):
            return i
    return None


def run(item: Item, call: Call) -> Outcome:
    candidates = call.select(item.trigger.speaker, item.trigger.scope)
    if candidates is None:
        return Outcome("na", "needs timings for the trigger's scope; this transcript has none",
                       zh="没有时间信息，无法确定触发范围")
    opened = _opening(item, call)
    if opened is not None:
        resume = _opening_ends(item, call, opened)
        candidates = [] if resume is None else [i for i in candidates if i >= resume]
        if not candidates:
            said = quote(call.segments[opened].text)
            return Outcome("na", f"the {item.trigger.speaker} opened with {said}: nothing they told calls for it",
                           (call.evidence(opened, note="opening"),),
                           zh=f"{_WHO[item.trigger.speaker]}开头就说{said}，所说的内容不需要回应")
    who = item.response.speaker
    searched: dict[tuple[int, ...], list] = {}  # triggers in one turn share their window
    all_after = None
    first = None
    together = []  # the other lines that add up with the first (accumulate), shown with it
    for trig in item.trigger.each(call, candidates):  # lazily: stop at the first one answered
        first = first or trig
        if trig.together and trig is not first and len(together) < 2:
            together.append(trig)
        if item.within_turns == "all":
            all_after = all_after or _AllAfter(item, call)
            answers = _answers_all(item, call, trig.index, all_after)
        else:
            window = _window(item, call, trig.index)
            key = tuple(window)
            if key not in searched:
                searched[key] = (item.response.find(call, window, first_only=True, per_segment=True)
                                 if window else [])
            answers = searched[key]
        if answers:
            ev = evidence(call, answers[0], note="response")
            tev = evidence(call, trig, note="trigger")
            return Outcome("pass", f"{quote(ev.text)} answered {quote(_said(call, trig))}", (tev, ev),
                           zh=f"{quote(ev.text)}回应了{quote(_said(call, trig))}")
    if first is None:
        return Outcome("na", f"the {item.trigger.speaker} never said anything that calls for it",
                       zh=f"{_WHO[item.trigger.speaker]}没有说需要回应的内容")
    trig = first
    tev = evidence(call, trig, note="trigger")
    window = [j for j in _window(item, call, trig.index) if j > trig.index]
    ev = [tev]
    if item.within_turns == "all":
        when, when_zh, note = "afterwards", "之后一直", f"no response in the {who}'s turns after it"
    else:
        when, when_zh = f"within {item.within_turns} turn(s)", f"在随后 {item.within_turns} 轮内"
        note = f"no response in the {who}'s next {item.within_turns} turn(s)"
    if window:
        ev.append(call.evidence(window[0], note=note))
    ev += [evidence(call, t, note="trigger") for t in together]
    return Outcome(
        "fail",
        f"the {item.trigger.speaker} said {quote(_said(call, trig))} and the {who} did not respond as required "
        f"{when}",
        tuple(ev),
        zh=f"{_WHO[item.trigger.speaker]}说了{quote(_said(call, trig))}，{_WHO[who]}{when_zh}没有按要求回应",
    )
