"""``speech_rate``: characters per minute of a speaker's own speaking time, within bounds.

Counts normalised characters (no punctuation) over the summed duration of the speaker's
segments. ``na`` without timings or with too little speech to judge.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from qa_scorer.rubric.call import Call, Outcome
from qa_scorer.rubric.schema import ItemBase


class Item(ItemBase):
    type: Literal["speech_rate"]
    speaker: Literal["agent", "customer"] = "agent"
    min_cpm: float = Field(default=100, ge=0)
    max_cpm: float = Field(default=360, gt=0)
    min_speech_seconds: float = Field(default=15, ge=0)

    @model_validator(mode="after")
    def _bounds(self) -> "Item":
        if self.min_cpm >= self.max_cpm:
            raise ValueError("min_cpm must be below max_cpm")
        return self


def run(item: Item, call: Call) -> Outcome:
    if not call.timed:
        return Outcome("na", "needs segment timings; this transcript has none", zh="没有时间信息，无法判断")
    idx = call.indices(item.speaker)
    seconds = sum(call.segments[i].end - call.segments[i].start for i in idx)
    chars = sum(len(call.norms[i].text) for i in idx)
    if seconds < item.min_speech_seconds or not chars:
        return Outcome("na", f"only {seconds:.0f} s of {item.speaker} speech; too little to judge",
                       zh=f"只有 {seconds:.0f} 秒语音，不足以判断")
    cpm = chars / (seconds / 60)
    fig = f"{cpm:.0f} characters/min over {seconds:.0f} s"
    if cpm < item.min_cpm:
        return Outcome("fail", f"too slow: {fig} (at least {item.min_cpm:g})",
                       zh=f"语速过慢：{cpm:.0f} 字/分钟（至少 {item.min_cpm:g}）")
    if cpm > item.max_cpm:
        def rate(i: int) -> float:
            seg = call.segments[i]
            return len(call.norms[i].text) / max(seg.end - seg.start, 0.1) * 60

        fast = sorted((i for i in idx if rate(i) > item.max_cpm), key=rate, reverse=True)[:3]
        return Outcome("fail", f"too fast: {fig} (at most {item.max_cpm:g})",
                       tuple(call.evidence(i, note=f"{rate(i):.0f} characters/min") for i in sorted(fast)),
                       zh=f"语速过快：{cpm:.0f} 字/分钟（至多 {item.max_cpm:g}）")
    return Outcome("pass", f"{fig}, within {item.min_cpm:g}–{item.max_cpm:g}",
                   zh=f"{cpm:.0f} 字/分钟，在 {item.min_cpm:g}–{item.max_cpm:g} 之间")
