"""``interruption`` (抢话): the agent starts talking while the customer is still talking.

A finding needs real overlap (``min_overlap`` seconds of the customer's segment still to run),
a real utterance (not a backchannel such as 嗯 / 对 / 好的, nor shorter than ``min_utterance``
seconds) and no polite interruption phrasing
(不好意思打断一下) at the start of what the agent said. ``na`` without timings. A recording of
one track (voices told apart afterwards) cannot show an overlap: its pass says it is an estimate.
"""

from __future__ import annotations

import heapq
import re
from typing import Literal, Optional

from pydantic import Field, PrivateAttr

from qa_scorer.normalize import normalize_phrase
from qa_scorer.rubric.call import TIME_EPS, Call, Outcome, quote
from qa_scorer.rubric.schema import CompileContext, ItemBase, Match, NonEmpty

DEFAULT_BACKCHANNELS = [
    "嗯", "嗯嗯", "对", "对对", "是", "是的", "好", "好的", "行", "哦", "噢", "喔", "啊", "呃",
    "明白", "了解", "没错", "对的", "可以", "ok", "唉", "哎",
    # understanding nodded along while an upset customer goes on (理解理解, set 124; not 不理解)
    "理解理解", "我理解", "可以理解", "理解的", "嗯理解", "嗯嗯理解",
]
# Words that nod along only next to other backchannel words or themselves (嗯嗯 知道知道, 明白明白
# 理解, 收到收到): they count in a run made wholly of backchannel words, never as words removed to
# leave a one-character rest (不理解, 不知道, 没收到 are not backchannels).
DEFAULT_BACKCHANNEL_PARTS = ["知道", "理解", "收到", "清楚", "懂", "明白了", "知道了", "收到了", "懂了", "清楚了", "理解了", "晓得", "晓得了", "知道的", "明白的", "我知道", "我明白", "我懂"]


class Item(ItemBase):
    type: Literal["interruption"]
    interrupter: Literal["agent", "customer"] = "agent"
    min_overlap: float = Field(default=1.0, gt=0)
    backchannels: list[NonEmpty] = Field(default_factory=lambda: list(DEFAULT_BACKCHANNELS))
    # At most this many characters may remain once backchannel words are removed.
    backchannel_rest: int = Field(default=1, ge=0)
    backchannel_parts: list[NonEmpty] = Field(default_factory=lambda: list(DEFAULT_BACKCHANNEL_PARTS))
    # Shorter utterances do not take the floor: a backchannel (or a sound ASR misheard as words).
    min_utterance: float = Field(default=0.5, ge=0)
    polite: Match
    # The polite phrase must begin within this many characters of the interrupting segment.
    polite_window: int = Field(default=12, ge=1)

    _bc: Optional[re.Pattern] = PrivateAttr(default=None)
    _bc_words: frozenset = PrivateAttr(default=frozenset())

    def compile(self, ctx: CompileContext) -> None:
        self.polite.compile(ctx)
        words = sorted({normalize_phrase(b) for b in self.backchannels if normalize_phrase(b)},
                       key=len, reverse=True)
        self._bc = re.compile("|".join(map(re.escape, words))) if words else None
        self._bc_words = frozenset(words) | {normalize_phrase(b) for b in self.backchannel_parts
                                             if normalize_phrase(b)}

    def phrases(self, ctx: CompileContext) -> list[str]:
        return self.polite.expanded_phrases(ctx)

    def is_backchannel(self, text: str) -> bool:
        rest = self._bc.sub("", text) if self._bc is not None else text
        if len(rest) <= self.backchannel_rest and not _NEGATION.search(rest):
            return True
        return _made_of(text, self._bc_words)


# A rest that negates what was nodded to turns it into an answer: 不可以, 不对, 没错 aside.
_NEGATION = re.compile("[不没别甭]")


def _made_of(text: str, words: frozenset, longest: int = 8) -> bool:
    """Whether ``text`` is backchannel words one after another, however it splits: the longest-
    first removal above takes 嗯嗯理解 out of 嗯嗯理解理解 and leaves 理解, where 嗯嗯 + 理解理解
    is all backchannel. Only short texts (a backchannel is a few words)."""
    if not words or not text or len(text) > 4 * longest:
        return False
    reach = [True] + [False] * len(text)
    for i in range(len(text)):
        if reach[i]:
            for j in range(i + 1, min(len(text), i + longest) + 1):
                if text[i:j] in words:
                    reach[j] = True
    return reach[-1]


def _first_cut_into(item: Item, call: Call, mine: list[int], theirs: list[int]) -> dict[int, int]:
    """For each of the interrupter's segments, the first (lowest-index) segment of the other
    speaker that is still running when it starts, with at least ``min_overlap`` s to go.

    One sweep in time order instead of a scan of all the other's segments per segment: theirs
    join a heap (by index) once they have started; one whose remaining time falls under
    ``min_overlap`` can never qualify for a later start, so it leaves the heap for good."""
    segs = call.segments
    by_start = sorted(theirs, key=lambda j: segs[j].start)
    heap: list[int] = []
    out: dict[int, int] = {}
    k = 0
    for i in sorted(mine, key=lambda i: segs[i].start):
        t = segs[i].start
        while k < len(by_start) and segs[by_start[k]].start < t:
            heapq.heappush(heap, by_start[k])
            k += 1
        # (timings are decimals: 86.6 - 85.9 is 0.6999… in floating point, and an overlap of
        # exactly min_overlap counts)
        while heap and segs[heap[0]].end - t < item.min_overlap - TIME_EPS:
            heapq.heappop(heap)
        if heap:
            out[i] = heap[0]
    return out


def run(item: Item, call: Call) -> Outcome:
    if not call.timed:
        return Outcome("na", "needs segment timings; this transcript has none", zh="没有时间信息，无法判断")
    other = "customer" if item.interrupter == "agent" else "agent"
    cut = _first_cut_into(item, call, call.indices(item.interrupter), call.indices(other))
    found = []
    polite = 0
    for i in call.indices(item.interrupter):
        seg = call.segments[i]
        if seg.end - seg.start < item.min_utterance:
            continue
        j = cut.get(i)
        if j is None:
            continue
        o = call.segments[j]
        norm = call.norms[i]
        if item.is_backchannel(norm.text):
            continue
        hit = next((h for h in item.polite.find(norm) if h.start < item.polite_window), None)
        if hit is not None:
            polite += 1
            continue
        overlap = min(o.end, seg.end) - seg.start
        found.append(call.evidence(
            i, note=f"started at {seg.start:.1f} s while the {other} spoke until {o.end:.1f} s "
                    f"({overlap:.1f} s overlap)"))
        found.append(call.evidence(j, note=f"the {other} was cut into"))
    if found:
        first = found[0]
        return Outcome("fail", f"talked over the {other} {len(found) // 2} time(s) without polite "
                               f"phrasing, first with {quote(first.text)}", tuple(found),
                       zh=f"{len(found) // 2} 次抢话且没有礼貌打断用语，第一次是{quote(first.text)}")
    if polite:
        return Outcome("pass", f"{polite} interruption(s), each opened politely", zh=f"{polite} 次打断，均使用了礼貌用语")
    if _one_track(call):
        return Outcome("pass", f"never found talking over the {other}; a one-track recording shows no overlap "
                               "(two voices at once are one stretch of speech), so this is an estimate",
                       zh="未发现抢话（单声道录音无法分辨两人同时说话，仅供参考）")
    return Outcome("pass", f"never talked over the {other}", zh="没有抢话")


def _one_track(call: Call) -> bool:
    """Whether the transcript was made from a one-track recording, its voices told apart
    afterwards (as ``transcribe`` records it in ``metadata.roles.method``)."""
    roles = call.transcript.metadata.get("roles")
    method = roles.get("method") if isinstance(roles, dict) else None
    return isinstance(method, str) and method.startswith("mono")
