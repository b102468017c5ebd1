"""``phrase``: a phrase must (or must not) appear in what a speaker says, within a scope.

Required and reward items expect the phrase to be present; prohibited and fatal items expect it
to be absent (``expect`` overrides). A phrase that is due but never said is a finding pinned to
the window where it was due.
"""

from __future__ import annotations

from typing import Literal, Optional, Union


from qa_scorer.rubric.call import Call, Outcome, quote
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


def run(item: Item, call: Call) -> Outcome:
    where = item.scope.describe(item.speaker) if item.scope else f"what the {item.speaker} said"
    if item.speaker == "any":
        where = item.scope.describe("any") if item.scope else "the call"
    zh = _where_zh(item)
    chosen = call.select(item.speaker, item.scope)
    if chosen is None:
        return Outcome("na", f"needs timings to find {where}; this transcript has none", zh=f"没有时间信息，无法判断{zh}")
    if not chosen:
        return Outcome("na", f"nothing in {where}", zh=f"{zh}没有内容")
    found = []
    joined = call.joined(chosen)
    for m in item.matchers:
        for k, hit in m.matcher.find_in(joined):
            found.append((chosen[k], hit))
    found.sort(key=lambda f: (f[0], f[1].start, -f[1].end))
    # several matchers may find overlapping words in one segment: keep the first, longest one
    kept: list = []
    for i, hit in found:
        if kept and kept[-1][0] == i and hit.start < kept[-1][1].end:
            continue
        kept.append((i, hit))
    found = kept
    if item.expects_present:
        if len({i for i, _ in found}) >= item.min_count:
            shown = tuple(call.evidence(i, hit) for i, hit in found[:3])
            return Outcome("pass", f"found {quote(shown[0].text)} in {where}", shown,
                           zh=f"在{zh}中找到{quote(shown[0].text)}")
        window = (call.evidence(chosen[0], note=f"due in {where}"),)
        if len(chosen) > 1:
            window += (call.evidence(chosen[-1], note=f"end of {where}"),)
        return Outcome("fail", f"not found in {where}", window, zh=f"{zh}中没有找到")
    if found:
        evidence = tuple(call.evidence(i, hit) for i, hit in found)
        said = "、".join(dict.fromkeys(quote(e.text) for e in evidence))
        return Outcome("fail", f"said {said} in {where}", evidence, zh=f"{zh}中说了{said}")
    return Outcome("pass", f"nothing of the kind in {where}", zh=f"{zh}中没有此类内容")


def _where_zh(item) -> str:
    if item.scope:
        return item.scope.describe_zh(item.speaker)
    return "整通对话" if item.speaker == "any" else {"agent": "坐席的话", "customer": "客户的话"}[item.speaker]
