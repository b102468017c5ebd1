"""``conditional``: when one speaker says X, the other must say Y within K turns.

Example: the customer reports a problem → the agent apologises within 4 of their turns.
``na`` when the trigger never occurs; ``pass`` when some trigger is answered in time.
"""

from __future__ import annotations

from typing import Literal, Optional, Union

from pydantic import Field

from qa_scorer.rubric.call import Call, Outcome, quote
from qa_scorer.rubric.schema import CompileContext, ItemBase, Match, Scope, Strict, find_any


class Side(Strict):
    speaker: Literal["agent", "customer"]
    # One matcher, or several (a hit from any of them counts), each with its own exclusions.
    match: Union[Match, list[Match]]
    scope: Optional[Scope] = None

    @property
    def matchers(self) -> list[Match]:
        return self.match if isinstance(self.match, list) else [self.match]


class Item(ItemBase):
    type: Literal["conditional"]
    trigger: Side
    response: Side
    # How many of the responder's turns after the trigger may carry the response.
    within_turns: int = Field(default=3, ge=1)
    # Responder turns just before the trigger that also count (already soothing, say).
    lookback_turns: int = Field(default=0, ge=0)

    def compile(self, ctx: CompileContext) -> None:
        for m in self.trigger.matchers + self.response.matchers:
            m.compile(ctx)

    def phrases(self, ctx: CompileContext) -> list[str]:
        return [p for m in self.response.matchers for p in m.expanded_phrases(ctx)]


def _window(item: Item, call: Call, trigger_index: int) -> list[int]:
    """Segments of the responder's turns that may answer the trigger at ``trigger_index``."""
    who = item.response.speaker
    after = call.turns_after(who, trigger_index, item.within_turns)
    before = call.turns_before(who, trigger_index, item.lookback_turns)
    return [i for t in before + after for i in t]


def run(item: Item, call: Call) -> Outcome:
    candidates = call.select(item.trigger.speaker, item.trigger.scope)
    if candidates is None:
        return Outcome("na", "needs timings for the trigger's scope; this transcript has none")
    triggers = []
    seen = set()
    for k, hit in find_any(item.trigger.matchers, call.joined(candidates), joined=True):
        if k not in seen:  # the first hit in each segment
            seen.add(k)
            triggers.append((candidates[k], hit))
    if not triggers:
        return Outcome("na", f"the {item.trigger.speaker} never said anything that calls for it")
    who = item.response.speaker
    searched: dict[tuple[int, ...], list] = {}  # triggers in one turn share their window
    for i, hit in triggers:
        window = _window(item, call, i)
        key = tuple(window)
        if key not in searched:
            searched[key] = find_any(item.response.matchers, call.joined(window), joined=True) if window else []
        answers = searched[key]
        if answers:
            k, answer = answers[0]
            j = window[k]
            ev = call.evidence(j, answer, note="response")
            return Outcome(
                "pass",
                f"{quote(ev.text)} answered {quote(hit.text)}",
                (call.evidence(i, hit, note="trigger"), ev),
            )
    i, hit = triggers[0]
    window = [j for j in _window(item, call, i) if j > i]
    ev = [call.evidence(i, hit, note="trigger")]
    if window:
        ev.append(call.evidence(window[0], note=f"no response in the {who}'s next {item.within_turns} turn(s)"))
    return Outcome(
        "fail",
        f"the {item.trigger.speaker} said {quote(hit.text)} and the {who} did not respond as required "
        f"within {item.within_turns} turn(s)",
        tuple(ev),
    )
