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


from qa_scorer.rubric.call import Call, Outcome, quote
from qa_scorer.rubric.detect import Detect, evidence
from qa_scorer.rubric.schema import CompileContext, Expectation, ItemBase, Scope, SpeakerSel


class Item(ItemBase, Detect, Expectation):
    type: Literal["classifier"]
    speaker: SpeakerSel = "agent"
    scope: Optional[Scope] = None

    def compile(self, ctx: CompileContext) -> None:
        self.compile_detect(ctx)

    def phrases(self, ctx: CompileContext) -> list[str]:
        return self.detect_phrases(ctx)


def run(item: Item, call: Call) -> Outcome:
    if item.scope:
        where = item.scope.describe(item.speaker)
    else:
        where = "the call" if item.speaker == "any" else f"what the {item.speaker} said"
    zh = _where_zh(item)
    chosen = call.select(item.speaker, item.scope)
    if chosen is None:
        return Outcome("na", f"needs timings to find {where}; this transcript has none", zh=f"没有时间信息，无法判断{zh}")
    if not chosen:
        return Outcome("na", f"nothing in {where}", zh=f"{zh}没有内容")
    if item.expects_present:
        found = item.find(call, chosen, first_only=item.min_count == 1)
        if len({f.index for f in found}) >= item.min_count:
            shown = tuple(evidence(call, f) for f in found[:3])
            return Outcome("pass", f"found {quote(shown[0].text)} in {where}", shown,
                           zh=f"在{zh}中找到{quote(shown[0].text)}")
        window = (call.evidence(chosen[0], note=f"due in {where}"),)
        if len(chosen) > 1:
            window += (call.evidence(chosen[-1], note=f"end of {where}"),)
        return Outcome("fail", f"not found in {where}", window, zh=f"{zh}中没有找到")
    found = item.find(call, chosen)
    if found:
        shown = tuple(evidence(call, f) for f in found)
        said = "、".join(dict.fromkeys(quote(e.text) for e in shown))
        return Outcome("fail", f"said {said} in {where}", shown, zh=f"{zh}中说了{said}")
    return Outcome("pass", f"nothing of the kind in {where}", zh=f"{zh}中没有此类内容")


def _where_zh(item) -> str:
    if item.scope:
        return item.scope.describe_zh(item.speaker)
    return "整通对话" if item.speaker == "any" else {"agent": "坐席的话", "customer": "客户的话"}[item.speaker]
