"""``classifier``: a learned text model judges each of a speaker's utterances.

The model (a shipped one by name, or a ``.json`` file beside the rubric, made with
``qa-scorer train``) gives every utterance in scope a probability; an utterance counts when it
reaches ``threshold`` (the model's own default when omitted) or when one of the optional phrase
matchers in ``match`` finds it (model OR phrase). ``veto``, ``unless_hedged`` and
``unless_question`` drop model judgments the way phrase rules drop hits. Required and reward
items expect such an utterance; prohibited and fatal items expect none (``expect`` overrides).
Evidence is the utterance and its probability.
"""

from __future__ import annotations

from typing import Literal, Optional


from qa_scorer.rubric.call import Call, Outcome
from qa_scorer.rubric.detect import Detect, judge
from qa_scorer.rubric.schema import CompileContext, Expectation, ItemBase, Match, Scope, SpeakerSel


class Item(ItemBase, Detect, Expectation):
    type: Literal["classifier"]
    speaker: SpeakerSel = "agent"
    scope: Optional[Scope] = None

    def compile(self, ctx: CompileContext) -> None:
        self.compile_detect(ctx)

    def phrases(self, ctx: CompileContext) -> list[str]:
        return self.detect_phrases(ctx)


def searches(item: Item) -> list[tuple[list[Match], str, Optional[Scope], None]]:
    return [(item.matchers, item.speaker, item.scope, None)]


def run(item: Item, call: Call) -> Outcome:
    return judge(item, call, lambda chosen, first_only: item.find(call, chosen, first_only=first_only))
