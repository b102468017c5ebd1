"""``hold`` etiquette: a long silence inside the call must be announced and closed politely.

For every gap of at least ``min_silence`` seconds between consecutive segments, the agent's
last turn before it (or the one before that, when the customer cut in between) must ask the
customer to wait (请您稍等) and the agent's first turn after it must thank them (谢谢您的耐心等待),
each on its own side of the silence (one agent turn may go on across it). ``na`` without timings
or without such a gap. A silence the customer asked for (``customer_away``: the customer's words just before it, 你等下 我去看看)
and broke (the customer speaks first after it) is the customer's own pause, not a hold. The
agent may answer between their words and the pause in at most ``short_reply`` characters (好的
您慢慢来), unless that answer takes up work of the agent's own (``agent_own_work``: 我这边也帮您查一下),
which makes the silence the agent's again. A silence after the agent gave the customer a step to
take (``customer_task``: 您把插头拔下来 再看看灯亮不亮 / 您收到了吗), broken by the customer, is the
customer's too, unless the agent also said they would wait or look something up. So is one the
customer breaks by reporting a step of their own done (``customer_done``: 好了 付了 / 可以了 开了), where
the agent's last turn before it asked no one to wait.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from typing import Literal, Optional

from pydantic import Field

from qa_scorer.rubric.call import TIME_EPS, Call, Outcome
from qa_scorer.rubric.schema import CompileContext, ItemBase, Match


class Item(ItemBase):
    type: Literal["hold"]
    min_silence: float = Field(default=10.0, gt=0)
    before: Match
    after: Match
    # the customer's words just before a silence that make it their own pause (你等下 我去看看)
    customer_away: Optional[Match] = None
    # the most characters of the agent's reply between those words and the pause (好的 您慢慢来)
    short_reply: int = Field(default=12, ge=0, le=60)
    # ...unless the reply takes up work of the agent's own (那我这边也帮您查一下 / 我先给您转人工)
    agent_own_work: Optional[Match] = None
    # the agent's last words before a silence that give the customer a step to take (您把插头拔下来 再看看)
    customer_task: Optional[Match] = None
    # the customer's first words after a silence that report a step of their own done (好了 付了 / 出来了)
    customer_done: Optional[Match] = None

    def compile(self, ctx: CompileContext) -> None:
        for m in (self.before, self.after, self.customer_away, self.agent_own_work, self.customer_task,
                  self.customer_done):
            if m is not None:
                m.compile(ctx)

    def phrases(self, ctx: CompileContext) -> list[str]:
        # what the item listens for (hotwords); agent_own_work is a guard on a reply, not one of them
        return [p for m in (self.before, self.after, self.customer_away, self.customer_task, self.customer_done)
                if m is not None for p in m.expanded_phrases(ctx)]


def _gaps(call: Call, min_silence: float) -> list[tuple[int, int, float, float]]:
    """(last index before, first index after, gap start, gap end) for each long silence."""
    order = sorted(call.indices("any"), key=lambda i: call.segments[i].start)
    out = []
    last_end, last_i = None, None
    for i in order:
        seg = call.segments[i]
        if last_end is not None and seg.start - last_end >= min_silence - TIME_EPS:
            out.append((last_i, i, last_end, seg.start))
        if last_end is None or seg.end >= last_end:
            last_end, last_i = seg.end, i
    return out


def _agent_turn(call: Call, around: int, before: bool) -> list[int]:
    """Segments of the agent's turn ending at/before (or starting at/after) segment ``around``."""
    starts, ends = call.turn_bounds("agent")
    turns = call.turns("agent")
    if before:
        k = bisect_right(starts, around)  # turns starting at or before ``around``
        return turns[k - 1] if k else []
    k = bisect_left(ends, around)  # the first turn ending at or after ``around``
    return turns[k] if k < len(turns) else []


def _customer_away(item: Item, call: Call, before_i: int, after_i: int) -> bool:
    """Whether a silence is the customer's own pause: their last words before it ask the agent
    to wait for them (with at most the agent's short reply after them: 好的 不着急), and they are
    the one who speaks first after it."""
    segs = call.segments
    if segs[after_i].speaker != "customer":
        return False
    i = before_i
    if (segs[i].speaker == "agent" and i > 0 and len(call.norms[i].text) <= item.short_reply
            and (item.agent_own_work is None or item.agent_own_work.search(call.norms[i]) is None)):
        i -= 1  # the agent's 好的 您慢慢来 between the customer's words and the silence
    return (segs[i].speaker == "customer" and item.customer_away is not None
            and item.customer_away.search(call.norms[i]) is not None)


# A customer's acknowledgement of a step (好 / 嗯 / 行 / 哦 那我等着 / 我试试), not a report back or a
# question to the agent (拔了 然后呢 / 试过了还是不行), which hands the turn back to them.
_ACK = re.compile(r"^(好|好的|好嘞|嗯|嗯嗯|哦|噢|行|可以|对|ok|知道了|明白|明白了|那|我|这就|现在)*(去)?(等着|等一下|试试|试一下|看看|弄|拔|插|找|看)?(啊|哈|呀|吧)?$")


def _customer_task(item: Item, call: Call, before_i: int, after_i: int) -> bool:
    """Whether a silence is the customer doing a step the agent just gave them: the agent's last
    words before it (or before the customer's short acknowledgement of them) give the step, without
    asking the customer to wait for the agent in other words, and the customer is the one who speaks
    first after it."""
    segs = call.segments
    if item.customer_task is None or segs[after_i].speaker != "customer":
        return False
    i = before_i
    if (segs[i].speaker == "customer" and i > 0 and len(call.norms[i].text) <= item.short_reply
            and _ACK.match(call.norms[i].text)):
        i -= 1  # the customer's 好 / 哦 那我等着 between the step and the silence
    if segs[i].speaker != "agent":
        return False
    norm = call.norms[i]
    steps = item.customer_task.find(norm)
    if not steps:
        return False
    return not _asks_wait(item, norm, steps)


# Words that only ever ask the customer to wait: a hit of them counts even inside what reads as a step
# (您等一会儿 这边看一下 / 请您等两分钟 后台同事看一下: the agent's wait, not the customer's task).
_WAIT = re.compile(r"稍等|稍候|等一下|等一等|等一会|等会|请等|请你等|你等|耐心等|别挂|不要挂")


def _asks_wait(item: Item, norm, steps=None) -> bool:
    """Whether an agent's words ask the customer to wait for them (我这边查一下), in words other than a
    step they give the customer (您看一下屏幕 / 您检查一下插头: 看一下 and 查一下 are among the words that
    ask to wait); a wait word (稍等 / 你等一会儿) always asks."""
    if steps is None:
        steps = item.customer_task.find(norm) if item.customer_task is not None else []
    return any(_WAIT.search(norm.text, h.start, h.end) or all(h.end <= t.start or h.start >= t.end for t in steps)
               for h in item.before.find(norm))


def _customer_done(item: Item, call: Call, before_i: int, after_i: int) -> bool:
    """Whether the customer breaks a silence reporting a step of their own done (好了 付了), and the
    agent's last turn before it asked no one to wait (so the silence was not the agent's lookup)."""
    segs = call.segments
    if item.customer_done is None or segs[after_i].speaker != "customer":
        return False
    if item.customer_done.search(call.norms[after_i]) is None:
        return False
    return not any(_asks_wait(item, call.norms[i]) for i in _agent_turn(call, before_i, True))


def _own_pause(item: Item, call: Call, before_i: int, after_i: int) -> Optional[str]:
    """Why a silence is the customer's own (the evidence note), or None when it is not."""
    if _customer_away(item, call, before_i, after_i):
        return "the customer asked to wait"
    if _customer_task(item, call, before_i, after_i):
        return "the customer took a step the agent gave"
    if _customer_done(item, call, before_i, after_i):
        return "the customer came back with a step of their own done"
    return None


_THANKS = re.compile(r"谢|久等|抱歉|不好意思|sorry")


def _announcing(item: Item, norm) -> list:
    """The hits of ``before`` in an agent's words that are no thanks for a wait: 耐心等待 asks to
    wait in 请您耐心等待 but thanks in 谢谢您的耐心等待, the thanks for the hold before."""
    thanks = [t for t in item.after.find(norm) if _THANKS.search(norm.text, t.start, t.end)]
    return [h for h in item.before.find(norm) if not any(t.start < h.end and h.start < t.end for t in thanks)]


def run(item: Item, call: Call) -> Outcome:
    if not call.timed:
        return Outcome("na", "needs segment timings; this transcript has none", zh="没有时间信息，无法判断")
    gaps = _gaps(call, item.min_silence)
    bot = call.automated()
    if bot and gaps:
        # the wait in a phone queue, before a person took the call, is no hold of theirs
        person = min(i for i in call.indices("agent") if i not in bot)
        gaps = [g for g in gaps if g[1] > person]
    if (item.customer_away is not None or item.customer_task is not None or item.customer_done is not None) and gaps:
        notes = [_own_pause(item, call, g[0], g[1]) for g in gaps]
        theirs = [(g, note) for g, note in zip(gaps, notes) if note]
        gaps = [g for g, note in zip(gaps, notes) if not note]
        if theirs and not gaps:
            return Outcome("na", f"only the customer's own pause(s) ({len(theirs)}), no hold",
                           tuple(call.evidence(g[0], note=note) for g, note in theirs),
                           zh=f"仅有客户自己的停顿（要求稍等或按坐席的指引操作，{len(theirs)} 次），没有坐席让客户等待")
    if not gaps:
        return Outcome("na", f"no silence of {item.min_silence:g} s or more", zh=f"没有 {item.min_silence:g} 秒以上的静音")
    problems, good = [], []
    segs = call.segments
    # The end of the silence before, when the customer spoke after it: an announcement before that
    # silence was its own, and a new request needs a new one (稍等 … 谢谢 查到了 / 那另一笔呢 / 可以的 …
    # silence); an agent going on with the same lookup across two silences announced both.
    since, prev_end = float("-inf"), None
    customer_starts = [segs[j].start for j in call.indices("customer")]
    for before_i, after_i, g0, g1 in gaps:
        if prev_end is not None and any(prev_end - TIME_EPS <= t < g0 for t in customer_starts):
            since = prev_end
        # the agent's words on the silence's own side only: a turn may go on across it (请您耐心等待
        # … 查到了), and the announcement must not pass for the thanks, nor the thanks for it
        # (and in the agent's turn before that one, when the customer cut in between: 您先别挂 稍等一下好吗 /
        # 你快点啊 / 理解理解 我马上联系 … silence)
        last = [i for i in _agent_turn(call, before_i, True) if since - TIME_EPS <= segs[i].start
                and segs[i].end <= g0 + TIME_EPS]
        earlier = call.turns_before("agent", last[0], 1) if last else []
        asked = next(((i, h) for i in last + [j for run in earlier for j in run if segs[j].start >= since - TIME_EPS]
                      for h in _announcing(item, call.norms[i])), None)
        thanked = next(((i, h) for i in _agent_turn(call, after_i, False) if segs[i].start >= g1 - TIME_EPS
                        for h in item.after.find(call.norms[i])), None)
        prev_end = g1
        label = f"{g1 - g0:.0f} s silence at {g0:.0f}–{g1:.0f} s"
        if asked and thanked:
            good.append(call.evidence(asked[0], asked[1], note=f"asked to wait before the {label}"))
            good.append(call.evidence(thanked[0], thanked[1], note="thanked after it"))
            continue
        missing = []
        if not asked:
            missing.append("did not ask the customer to wait before it")
            problems.append(call.evidence(before_i, note=f"{label}: last words before it"))
        else:
            problems.append(call.evidence(asked[0], asked[1], note=f"asked to wait before the {label}"))
        if not thanked:
            missing.append("did not thank the customer for waiting after it")
            problems.append(call.evidence(after_i, note=f"{label}: first words after it"))
        problems_reason = f"{label}: " + " and ".join(missing)
        return Outcome("fail", problems_reason, tuple(problems),
                       zh=f"{g1 - g0:.0f} 秒静音（{g0:.0f}–{g1:.0f} 秒）前后没有按要求提示稍等或致谢")
    return Outcome("pass", f"{len(gaps)} hold(s), each announced and closed with thanks", tuple(good),
                   zh=f"{len(gaps)} 次等待，均有提示并致谢")
