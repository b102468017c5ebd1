"""A transcript prepared for the checks: normalised segments, turns, timing facts."""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from typing import NamedTuple, Optional

from qa_scorer.models import Evidence, Status, Transcript, trusted
from qa_scorer.normalize import NormText, normalize_all, subtitle_segments
from qa_scorer.rubric.schema import Hit, Joined, Matcher, Scope
from qa_scorer.textmodel import CallGrams, ModelBank, TextModel


# Timings are decimals (85.9 s): a difference of them is off by a little in floating point
# (86.6 - 85.9 = 0.6999…), so comparisons of a duration with a bound allow this much.
TIME_EPS = 1e-6


class Outcome(NamedTuple):
    """What a check concluded; the engine turns it into an ItemResult. (A named tuple: made
    for every item of every call, it costs a fraction of a frozen dataclass.)"""

    status: Status
    reason: str
    evidence: tuple[Evidence, ...] = ()
    # The reason in Chinese, for the agents who read the scorecards (shown first).
    zh: str = ""

    @property
    def text(self) -> str:
        return f"{self.zh}（{self.reason}）" if self.zh else self.reason


# A chatbot's, a phone menu's or a queue's messages on the agent side before a person takes the
# call or chat over (您好，我是智能客服小乐… / 人工服务请按0 / 正在为您转接人工客服，当前排队3人):
# the self-introduction of a bot, a key-press menu, a transfer under way, a queue; not a transfer
# done (已为您转接人工客服，我是7号客服小鹿: the person's own first words) nor one advised (拨打95588
# 转人工), and not a recording notice alone (a person may read it out); a transfer done with only a
# wait after it (已为您转接人工客服，请稍候 / 正在召唤人工客服) is the system's. Matched on normalised
# text (您 is 你, numerals are digits). A brand named …智能 with its service centre (欢迎来到净途智能客服
# 中心，我是小净, set 58) is a person's greeting, not a bot's.
_AUTOMATED = re.compile(
    r"(我是|这里是)[^\n]{0,8}(智能客服|智能助手|智能助理|机器人|小助手|ai助手|自助服务)(?!中心|部|热线|团队)|智能客服(?!中心|部|热线|团队)|机器人客服|自动回复"
    r"|请按[0-9零一二三四五六七八九井星#*]|按[0-9零一二三四五六七八九井星#*]键|(坐|座)席(正|繁|全|都)?(在)?忙|(来电|电话)(已|正在)(进入)?排队|进入排队"
    r"|正在(为你)?(转接|转入|接入)|转接中|排队(人数|中|等待)|前面(还)?有\d+(人|位)|客服(正在赶来|繁忙)|正在赶来"
    r"|已(经)?(为你)?(转接|转入|接入|转)(至|到|给)?人工(客服|服务|坐席|座席)?(了)?((?!我是|工号)[^\n]){0,8}?(请)?(稍候|稍等|耐心等待)(?![^\n]{0,8}(我是|工号|号客服|为你服务))"
    r"|正在(为你)?(召唤|呼叫)人工")
# A busy notice on its own (亲，现在咨询人数较多，请耐心等待 / 您好，欢迎光临…当前咨询人数较多，请
# 耐心等待): a person says the same in a longer message while looking something up (我帮您查一下…
# 今天咨询人数较多，回复慢请包涵), so only a short notice that looks nothing up counts.
_BUSY = re.compile(r"(咨询|排队)(的)?(人数|用户|人)(较多|过多|太多|比较多)|咨询高峰")
_BUSY_CHARS = 28
# A handover is looked for among the agent's first messages only: a person who later mentions
# a transfer does not make everything before it a bot's.
_AUTOMATED_WITHIN = 4
# The customer asking for a person (人工 / 转人工 / 我要人工客服): the bot's answers before it are a bot's too.
_ASKS_PERSON = re.compile(r"^(转|要|找|我要|转接)?人工(服务|客服)?(吧|啊|呀|谢谢)?$|(转|找|要|接)人工")
# A message the chat system posts on the agent's side, marked as such wherever it comes (【系统提示】本次
# 服务已结束… / [系统消息]由于您长时间未回复，会话已结束): the platform's words, not the person's, so no
# closing of theirs (the reviewers of sets 40 and 41 judged the person's last words). Matched on the
# segment's own text, whose brackets normalising drops.
_SYSTEM_NOTICE = re.compile(r"^\s*[【\[［(（〔]\s*(系统|自动|平台|机器人)[^】\]］)）〕\n]{0,6}[】\]］)）〕]")
# A record a ticket or case system posts into the conversation (【工单 #TK-20261102-0156 已创建】来源：… /
# 【工单状态更新】待财务处理 → 已提交财务 / [系统消息]…): written to no one, so neither the opening nor
# the closing (set 70's reviewers judged the person's first and last words around them); so is a
# booking or order system's confirmation or notice (【预约成功】服务类型:到店维修…, set 138's reviewers;
# 【订单已发货】 / 【预约提醒】 / [订单] 订单号:…, set 142; an event's notice, 【活动通知】…活动取消, set 160), unless
# the agent greets, closes or offers help in it (…还有其他问题吗 / 再见 / 有什么可以帮). An
# auto-reply (【自动回复】亲爱的宝，感谢你的私信) is written to the customer: it opens the conversation.
# What neither kind of record below holds: a greeting, a closing or help offered in the same message.
_NO_GREETING = r"(?![^\n]*(您好|你好|欢迎|我是|为您服务|有什么可以帮|还有其他|还有别的|再见))"
_RECORD = re.compile(r"^\s*[【\[［]\s*(系统|平台|工单|服务单|案件|诉求|状态|(活动|服务|变更|取消|重要)?(通知|公告)(?=\s*[】\]］])|(预约|预订|订单|挂号|下单|支付)(已)?(成功|确认|已确认|信息|详情|提醒|变更|取消|异常|发货|退款)|订单\s*(?=[】\]］]))(?![^】\]］\n]{0,40}(自动回复|欢迎))[^】\]］\n]{0,40}[】\]］]" + _NO_GREETING)

# ... and a notice the company's platform posts under its own name, telling what has happened to the order
# or the goods (【闲换回收】您的手机已完成质检，最终回收价…请在72小时内确认成交, set 336's reviewers judged the
# person's first words after it): a bracketed name that is no bot's or auto-reply's (a desk's name, 【京东客服】, may post
# one too), then the status.
_NAMED_NOTICE = re.compile(r"^\s*[【\[［](?![^】\]］\n]{0,12}(自动回复|欢迎|助手|助理|机器人|小秘书))[^】\]］\n]{1,12}[】\]］]\s*(您的|你的)?[^\n，,。!！?？]{0,16}(已完成|已发货|已签收|已受理|已出库|已送达|已揽收|已派送|已退款|已到账|已生成|已创建|已取消|已确认|已到站|已到达|已入柜|已存入|已放入|已审核|已通过|已支付|已付款)" + _NO_GREETING)


class Call:
    """Read-only view of one transcript for the checks. Nothing here is mutated by a check."""

    def __init__(self, transcript: Transcript, bank: Optional[ModelBank] = None,
                 norms: Optional[list[NormText]] = None):
        """``norms``: the segments' normalised texts when already made (``normalize_all`` of
        their texts, as ``engine.prepared`` makes them for a chunk of calls at once)."""
        self.transcript = transcript
        self.segments = transcript.segments
        self.norms: list[NormText] = normalize_all([s.text for s in self.segments]) if norms is None else norms
        self.timed = transcript.timed
        self.channel = transcript.channel
        self._turns: dict[str, list[list[int]]] = {}
        self._bounds: dict[str, tuple[list[int], list[int]]] = {}
        self._joined: dict[tuple[int, ...], Joined] = {}
        # per segment-local matcher: the segments searched so far, and the hits of those that had any
        # (never changed: a set shared by the matchers searched together, replaced when extended)
        self._hits: dict[Matcher, tuple[frozenset[int], dict[int, list[Hit]]]] = {}
        self._indices: dict[str, list[int]] = {}
        self._selected: dict[tuple, Optional[list[int]]] = {}
        self._automated: Optional[frozenset[int]] = None
        self._records: Optional[frozenset[int]] = None
        self._grams: Optional[CallGrams] = None
        self._probs: dict[int, list[float]] = {}
        # what a check works out once and asks for again within the call (a detect's readings that
        # add up, asked by the conditional rule's pre-search and by its trigger)
        self.memo: dict[tuple, object] = {}
        self._bank = bank
        # Segments that hold only a recogniser's subtitle credit or video outro (请不吝点赞 订阅 /
        # 谢谢观看), as transcripts made by other tools keep them: no one said them, so they are
        # no one's turn (not the agent's last words, nor the customer's praise) and no silence's end.
        # So are the lines an export marks as a bot's or the system's (``Segment.automated``).
        self.void: frozenset[int] = subtitle_segments([s.text for s in self.segments]) | frozenset(
            i for i, s in enumerate(self.segments) if s.automated)

    def forget_models(self) -> None:
        """Drop every model probability made so far (they are made again when asked)."""
        self._probs.clear()
        self._grams = None

    def probabilities(self, model: TextModel) -> list[float]:
        """A text model's probability for every segment. The first question to a model scores
        every segment of the call at once, with the rubric's other models of the same features
        (its :class:`ModelBank`); a model whose features cannot be coded as integers is asked
        segment by segment."""
        probs = self._probs.get(id(model))
        if probs is not None:
            return probs
        bank = self._bank
        if bank is None or not bank.has(model):
            bank = ModelBank([model])
        probs = bank.probabilities(model, self._call_grams())
        if probs is None:
            before = self._model_inputs()[2] if model.spec.context else [-1] * len(self.segments)
            probs = [model.probability(seg.text, self.segments[j].text if j >= 0 else "")
                     for seg, j in zip(self.segments, before)]
        self._probs[id(model)] = probs
        return probs

    def _call_grams(self) -> CallGrams:
        if self._grams is None:
            self._grams = CallGrams(*self._model_inputs())
        return self._grams

    def _model_inputs(self, base: int = 0) -> tuple[list[str], list[bool], list[int]]:
        """What :class:`CallGrams` reads: normalised texts, question marks, and for each segment
        the other speaker's segment before it when that one has text (-1: none), numbered from
        ``base`` (for several calls read as one)."""
        previous: list[int] = []
        other = -1  # the latest segment by someone other than the current speaker
        who = None
        segments = self.segments
        for i, seg in enumerate(segments):
            if i and seg.speaker != who:
                other = i - 1
            who = seg.speaker
            previous.append(base + other if other >= 0 and segments[other].text else -1)
        return ([n.text for n in self.norms], ["?" in s.text or "？" in s.text for s in segments], previous)

    def joined(self, indices: list[int]) -> Joined:
        """The normalised text of these segments joined for one regex pass (cached)."""
        key = tuple(indices)
        j = self._joined.get(key)
        if j is None:
            j = self._joined[key] = Joined([self.norms[i] for i in indices])
        return j

    def hits(self, matcher: Matcher, indices: list[int]) -> list[tuple[int, Hit]]:
        """(segment, hit) pairs of a segment-local matcher (``matcher.local``) in ``indices``,
        in their order. Each segment is searched once per call (see :func:`search_together`):
        rules that look at overlapping selections of segments (a conditional rule's response
        windows) look up what was found, and so do all checks of a chunk of calls searched
        before they ran (``engine.prepare_hits``)."""
        known = self._hits.get(matcher)
        if known is None or not known[0].issuperset(indices):
            search_together([matcher], [(self, indices)])
            known = self._hits[matcher]
        found = known[1]
        if not found:  # the usual case: nothing anywhere in the call
            return []
        return [(i, hit) for i in indices if i in found for hit in found[i]]

    def forget_hits(self) -> None:
        """Drop every matcher's hits found so far (they are searched again when asked)."""
        self._hits.clear()

    def indices(self, speaker: str) -> list[int]:
        """Segment indices of one speaker ('any': all), in order (cached)."""
        got = self._indices.get(speaker)
        if got is None:
            void = self.void
            got = self._indices[speaker] = [
                i for i, s in enumerate(self.segments)
                if (speaker == "any" or s.speaker == speaker) and i not in void]
        return got

    def turns(self, speaker: str) -> list[list[int]]:
        """Runs of consecutive segments by one speaker (all speakers' runs for 'any'), cached."""
        got = self._turns.get(speaker)
        if got is None:
            runs = self._turns.get("any")
            if runs is None:
                runs, prev = [], None
                segments = self.segments
                for i in self.indices("any"):
                    s = segments[i]
                    if s.speaker != prev:
                        runs.append([])
                        prev = s.speaker
                    runs[-1].append(i)
                self._turns["any"] = runs
            got = runs if speaker == "any" else [r for r in runs if self.segments[r[0]].speaker == speaker]
            self._turns[speaker] = got
        return got

    def turn_bounds(self, speaker: str) -> tuple[list[int], list[int]]:
        """First and last segment index of each of ``speaker``'s turns (both ascending), for
        finding the turns before or after a segment by binary search (cached)."""
        got = self._bounds.get(speaker)
        if got is None:
            turns = self.turns(speaker)
            got = self._bounds[speaker] = ([t[0] for t in turns], [t[-1] for t in turns])
        return got

    def turns_after(self, speaker: str, index: int, count: int) -> list[list[int]]:
        """Up to ``count`` of ``speaker``'s turns that start after segment ``index``."""
        i = bisect_right(self.turn_bounds(speaker)[0], index)
        return self.turns(speaker)[i:i + count]

    def turns_before(self, speaker: str, index: int, count: int) -> list[list[int]]:
        """Up to ``count`` of ``speaker``'s turns that end before segment ``index``."""
        j = bisect_left(self.turn_bounds(speaker)[1], index)
        return self.turns(speaker)[max(0, j - count):j] if count > 0 else []

    def turn_of(self, speaker: str, index: int) -> int:
        """Position of the turn containing segment ``index`` among ``speaker``'s turns (-1 if none)."""
        for n, run in enumerate(self.turns(speaker)):
            if index in run:
                return n
        return -1

    def select(self, speaker: str, scope: Optional[Scope]) -> Optional[list[int]]:
        """Segment indices a scoped rule looks at; None when the scope needs timings we lack.
        Cached per speaker and scope (its values): the chunk's search and the check both ask."""
        if scope is None:
            return self.indices(speaker)
        key = (speaker, scope.bounds)
        if key not in self._selected:
            self._selected[key] = self._select(speaker, scope)
        return self._selected[key]

    def automated(self) -> frozenset[int]:
        """Agent segments sent by a bot or a queue before a person took the conversation over:
        every agent segment up to the last one that introduces a bot, hands over to a person
        or reports a queue, when that one is among the agent's first few, and the bot's
        answers up to the customer's asking for a person; only when a person's message
        follows. Also, anywhere, a message marked as the system's (【系统提示】…), when a person
        wrote some other message. Empty when there is none of these."""
        if self._automated is None:
            # the notices are looked for among what the bot left, and set aside only when the
            # person wrote something else: some agent segment always remains the person's
            bot = self._handover()
            rest = [i for i in self.indices("agent") if i not in bot]
            records = self.records()
            notices = frozenset(i for i in rest if i in records or _SYSTEM_NOTICE.match(self.segments[i].text))
            self._automated = bot | notices if len(notices) < len(rest) else bot
        return self._automated

    def records(self) -> frozenset[int]:
        """Agent segments that are a ticket or case system's records (【工单…已创建】), when a
        person wrote something else."""
        if self._records is None:
            agent = self.indices("agent")
            found = frozenset(i for i in agent if _RECORD.match(self.segments[i].text) or _NAMED_NOTICE.match(self.segments[i].text))
            self._records = found if len(found) < len(agent) else frozenset()
        return self._records

    def _handover(self) -> frozenset[int]:
        agent = self.indices("agent")
        last = -1
        for i in agent[:_AUTOMATED_WITHIN]:
            text = self.norms[i].text
            if _AUTOMATED.search(text) or (len(text) <= _BUSY_CHARS and "查" not in text and _BUSY.search(text)):
                last = i
        if last >= 0:
            # ... and every answer of the bot until the customer asked for a person
            first_agent = agent[0]
            for i in self.indices("customer"):
                if i > first_agent and i > last and _ASKS_PERSON.search(self.norms[i].text):
                    if sum(1 for j in agent if j < i) <= _AUTOMATED_WITHIN:
                        last = max(j for j in agent if j < i)
                    break
        return frozenset(i for i in agent if i <= last) if last >= 0 and agent[-1] > last else frozenset()

    def _select(self, speaker: str, scope: Scope) -> Optional[list[int]]:
        if scope.needs_timing and not self.timed:
            return None
        turns = self.turns(speaker)
        # The opening is the first message the customer gets, a bot's or an auto-reply's too (the
        # guide: the agent's FIRST turn; the reviewers of sets 62 and 68 passed a bot's 您好 and
        # failed an auto-reply without one, whoever greeted after it); the closing is the person's
        # who took the conversation over: a bot's or the system's last words are no closing of theirs.
        closing_turns = turns
        if scope.last_turns and speaker == "agent":
            closing_turns = _without(turns, self.automated())
        opening_turns = turns
        if scope.first_turns and speaker == "agent":
            opening_turns = _without(turns, self.records())
        parts: list[list[int]] = []  # the segments each bound picks, each list in order
        if scope.first_turns:
            parts.append([i for run in opening_turns[: scope.first_turns] for i in run])
        if scope.last_turns:
            parts.append([i for run in closing_turns[-scope.last_turns:] for i in run])
        if scope.first_seconds:
            parts.append([i for i in self.indices(speaker) if self.segments[i].start < scope.first_seconds])
        if scope.last_seconds:
            end = self.transcript.duration or 0
            parts.append([i for i in self.indices(speaker) if self.segments[i].end > end - scope.last_seconds])
        if not parts:
            return self.indices(speaker)
        if len(parts) == 1:
            return parts[0]  # in order, each segment once
        return sorted(set().union(*parts))

    def evidence(self, index: int, hit: Optional[Hit] = None, note: str = "") -> Evidence:
        seg = self.segments[index]
        if hit is not None:
            span = _balanced(seg.text, *self.norms[index].source_span(hit.start, hit.end))
            text = seg.text[span[0]:span[1]]
        else:
            span, text = None, seg.text
        if len(text) > MAX_EVIDENCE_CHARS:
            # a whole utterance judged, or a hit spanning one, of a size no turn has: the evidence
            # says where it is and shows its start (its text again for every item and every page
            # made a 50 MB transcript a 335 MB history)
            text = text[:MAX_EVIDENCE_CHARS] + "…"
        # built from a validated segment: nothing to check again (validation cost more than the rest)
        return trusted(Evidence, segment=index, speaker=seg.speaker, start=seg.start, end=seg.end,
                       text=text, span=span, note=note)


# The most of an utterance's text one piece of evidence repeats (a turn is rarely a tenth of it).
MAX_EVIDENCE_CHARS = 2000

_BRACKETS = {"[": "]", "【": "】", "(": ")", "（": "）", "<": ">", "《": "》", "「": "」", "『": "』", "〔": "〕"}
_CLOSERS = {c: o for o, c in _BRACKETS.items()}


def _balanced(text: str, s: int, e: int) -> tuple[int, int]:
    """The span [s, e) of ``text`` widened by one character on a side where a bracket it holds
    stands unmatched and its partner is right outside: a placeholder's ``[ORDERID_101]`` or a
    card's ``【售后单号】`` shown whole in the evidence, not ``ORDERID_101]``."""
    if e <= s:
        return s, e
    inner = text[s:e]
    if s > 0 and text[s - 1] in _BRACKETS and inner.count(_BRACKETS[text[s - 1]]) > inner.count(text[s - 1]):
        s -= 1
        inner = text[s:e]
    if e < len(text) and text[e] in _CLOSERS and inner.count(_CLOSERS[text[e]]) > inner.count(text[e]):
        e += 1
    return s, e


def _without(turns: list[list[int]], drop: frozenset[int]) -> list[list[int]]:
    """``turns`` without the segments in ``drop`` (a turn left empty goes too)."""
    if not drop:
        return turns
    return [kept for run in turns if (kept := [i for i in run if i not in drop])]


def prepare_models(calls: list[Call], bank: ModelBank) -> None:
    """Score every segment of several calls with every model of ``bank`` in one pass (a few
    array operations for the lot instead of a few per call), and hand each call its share: the
    checks then find every probability ready. The same numbers as asking each call alone."""
    if not calls or not len(bank):
        return
    texts: list[str] = []
    questions: list[bool] = []
    previous: list[int] = []
    starts: list[int] = []
    for call in calls:
        starts.append(len(texts))
        t, q, p = call._model_inputs(len(texts))
        texts += t
        questions += q
        previous += p
    grams = CallGrams(texts, questions, previous)
    for model in bank.models:
        probs = bank.probabilities(model, grams)
        for call, start in zip(calls, starts):
            call._probs[id(model)] = probs[start:start + len(call.segments)]


def search_together(matchers: list[Matcher], selections: list[tuple[Call, list[int]]]) -> None:
    """Search the chosen segments of several calls (a chunk's, or one call's; each call named
    once) with segment-local matchers, in one pass per matcher over their text joined by
    newlines, and keep each segment's hits in its call (``Call.hits`` reads them). Matchers
    that have searched none of these calls yet share one joined text; segments a call has
    already had searched by a matcher are not searched again. What a local matcher finds in a
    segment does not depend on the segments around it, so this finds what searching each
    selection on its own would."""
    fresh = [m for m in dict.fromkeys(matchers) if not any(m in call._hits for call, _ in selections)]
    if fresh:
        _search(fresh, [(call, list(dict.fromkeys(indices))) for call, indices in selections])
    for matcher in dict.fromkeys(matchers):
        if matcher not in fresh:
            _search([matcher], [(call, [i for i in dict.fromkeys(indices)
                                        if matcher not in call._hits or i not in call._hits[matcher][0]])
                                for call, indices in selections])


def _search(matchers: list[Matcher], selections: list[tuple[Call, list[int]]]) -> None:
    """search_together's pass: ``selections`` name segments none of ``matchers`` has searched."""
    norms: list[NormText] = []
    owners: list[Call] = []  # for each segment searched: its call ...
    segments: list[int] = []  # ... and its index there
    for call, todo in selections:
        searched: Optional[frozenset[int]] = None  # one set for all matchers new to this call
        for matcher in matchers:
            known = call._hits.get(matcher)
            if known is None:
                if searched is None:
                    searched = frozenset(todo)
                call._hits[matcher] = (searched, {})
            else:
                call._hits[matcher] = (known[0].union(todo), known[1])
        segment_norms = call.norms
        norms += [segment_norms[i] for i in todo]
        owners += [call] * len(todo)
        segments += todo
    if norms:
        joined = Joined(norms)
        for matcher in matchers:
            for k, hit in matcher.find_in(joined):
                owners[k]._hits[matcher][1].setdefault(segments[k], []).append(hit)


def quote(text: str, limit: int = 30) -> str:
    text = text.strip()
    return f"“{text if len(text) <= limit else text[:limit] + '…'}”"
