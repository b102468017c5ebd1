"""``phrase``: a phrase must (or must not) appear in what a speaker says, within a scope.

Required and reward items expect the phrase to be present; prohibited and fatal items expect it
to be absent (``expect`` overrides). A phrase that is due but never said is a finding pinned to
the window where it was due.
"""

from __future__ import annotations

from typing import Literal, Optional, Union

from qa_scorer.rubric.call import Call, Outcome
from qa_scorer.rubric.detect import Found, judge, phrase_hits
from qa_scorer.rubric.schema import CompileContext, Expectation, ItemBase, Match, Scope, SpeakerSel


class Item(ItemBase, Expectation):
    type: Literal["phrase"]
    speaker: SpeakerSel = "agent"
    scope: Optional[Scope] = None
    # One matcher, or several (a hit from any of them counts), each with its own exclusions.
    match: Union[Match, list[Match]]

    @property
    def matchers(self) -> list[Match]:
        return self.match if isinstance(self.match, list) else [self.match]

    def compile(self, ctx: CompileContext) -> None:
        for m in self.matchers:
            m.compile(ctx)

    def phrases(self, ctx: CompileContext) -> list[str]:
        return [p for m in self.matchers for p in m.expanded_phrases(ctx)]


def searches(item: Item) -> list[tuple[list[Match], str, Optional[Scope], None]]:
    return [(item.matchers, item.speaker, item.scope, None)]


def run(item: Item, call: Call) -> Outcome:
    return judge(item, call, lambda chosen, first_only: [
        Found(i, hit) for i, hit in phrase_hits(item.matchers, call, chosen)])
