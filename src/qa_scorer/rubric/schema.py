"""Rubric records shared by every rule type: the item base, phrase matchers, scopes.

Rule types extend :class:`ItemBase` in their own module under ``checks/``; ``registry.py``
collects them. Patterns are compiled once, when the rubric is loaded; checks only match.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from itertools import accumulate
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Literal, NamedTuple, Optional

from pydantic import (AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, PrivateAttr, field_validator,
                      model_validator)

from qa_scorer.models import Channel, ItemDoc, Kind
from qa_scorer.normalize import NormText, is_word, normalize_phrase, pinyin_key, syllables, word_bounds
from qa_scorer.rubric import safe_regex

SpeakerSel = Literal["agent", "customer", "any"]

DEFAULT_NEGATORS = [
    "不能", "不会", "不敢", "不可能", "不一定", "没法", "没办法", "无法", "不是", "没有", "并非",
    "别", "不要", "不用", "未", "不", "没", "非", "唔", "冇",
]
# Words that start with a negator character but negate nothing.
DEFAULT_FALSE_NEGATORS = [
    "不好意思", "不客气", "不错", "不断", "不过", "不用谢", "不如", "不便", "没关系", "没事",
    "不少", "非常", "唔该", "唔好意思",
    # "A-not-A" questions ask, they do not negate (是不是坏了 suspects it is broken)
    "是不是",
    # words that merely hold a negator's character (这个特别不好用, 人脸识别一直失败, 没想到刚用两天
    # 就坏了) or say something other than "not" (对不起, 差不多, 不知道为什么…, 不管怎么弄…)
    "特别", "识别", "区别", "分别", "个别", "级别", "类别", "差别", "性别", "鉴别", "辨别", "告别",
    "对不起", "差不多", "了不起", "没想到", "想不到", "不知道", "不管", "不仅", "不久", "未来",
]
DEFAULT_HEDGES = [
    "预计", "一般", "大概", "大约", "可能", "应该", "尽量", "争取", "估计", "原则上", "正常情况",
    "如果", "要是", "假如", "万一", "只要", "前提是", "左右", "力争", "尽可能", "通常", "初步", "暂定",
    "理论上", "不一定", "最快", "最早", "那边说", "说是",
    # what the tracking or the system shows, reported (物流显示 / 这边显示 / 显示今天下午会派送), not
    # any 显示 (显示器 / 来电显示)
    "系统显示", "物流显示", "页面显示", "后台显示", "显示是", "这边显示", "上面显示", "目前显示", "现在显示",
    "查询显示", "显示今天", "显示明天", "显示后天", "显示上午", "显示下午", "显示晚上",
    # a plan and its conditions (计划是周五完工 施工顺利的话周五晚上就能恢复)
    "计划", "顺利的话", "正常的话", "不出意外",
    # "normally" before the time (正常今天中午前能派送 / 正常明天或者后天能到店), not 恢复正常
    "正常来说", "正常来讲", "正常时效", "正常是", "正常今天", "正常明天", "正常后天", "正常上午", "正常中午", "正常下午", "正常晚上",
    "正常这两天", "正常当天",
    # …and before a span or a count (正常2小时内会给您送上门 / 正常三到五个工作日到账), set 252
    *[f"正常{n}" for n in "0123456789一二两三四五六七八九十半几"],
    # what the shop, the maker or the courier said, reported (商家说20号前一定发出), set 258 (the agent's own word to them,
    # 我跟商家说好了 20号前一定给您发出, is none: DEFAULT_FALSE_HEDGES)
    "商家说", "卖家说", "厂家说", "仓库说", "快递说", "物流说", "对方说",
    # an exception named (除非有特殊情况，明天上午能到的)
    "除非",
    # most, not all (大部分员工今天晚上能到), and the details left to who decides (具体到账看银行), set 240; not 具体看
    # alone (我具体看了一下 is "I looked into it"), nor 具体以 (…以页面为准 is said of other things in the same message)
    "大部分", "大多数", "具体要看", "具体到账看", "具体看银行", "具体看物流", "具体看快递", "具体看实际",
]
# Words that hold a hedge but hedge nothing: a hedge whose first character one of them covers is
# none. The agent's own word to the shop or the courier is no report of theirs (我跟商家说好了
# 20号前一定给您发出 holds 商家说), 正常 said of a state is not "normally" before a time
# (检测都正常 三天之内肯定给您退款 holds 正常三), and 不可能 is no 可能.
DEFAULT_FALSE_HEDGES = [
    *[f"{to}{who}说" for to in "跟和给同向" for who in ("商家", "卖家", "厂家", "仓库", "快递", "物流", "对方")],
    # …also through 那边 (也跟快递那边说了，绝对不会再发生这种情况: a newcomer's trial of social-media desks)
    *[f"{to}{who}那边说" for to in "跟和给同向" for who in ("", "商家", "卖家", "厂家", "仓库", "快递", "物流", "对方", "师傅", "网点", "站点")],
    *[f"{how}正常" for how in ("都", "也", "均", "很", "挺", "还算", "一切", "完全", "检测", "检查", "测试", "运行",
                               "恢复", "属于", "比较", "不", "是否")],
    # 不可能 denies, it does not hedge (不可能不给您退的 is a guarantee)
    "不可能",
]


def _check_regex(value: str) -> str:
    try:
        re.compile(value)
    except re.error as exc:
        raise ValueError(f"invalid regular expression {value!r}: {exc}") from None
    # Refuses what could hang scoring (catastrophic backtracking, back references, patterns
    # that match the empty string); see safe_regex for what is guaranteed.
    return safe_regex.check(value)


Regex = Annotated[str, AfterValidator(_check_regex)]
def _numbers_as_text(value):
    # `12315` written bare in YAML is a phrase, not a number.
    return str(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else value


NonEmpty = Annotated[str, BeforeValidator(_numbers_as_text), Field(min_length=1)]


# No number in a rubric (points, weights, thresholds, windows, seconds, counts) needs to be
# larger than this; bigger ones are typing mistakes or attacks on the history and reports.
MAX_NUMBER = 1_000_000


class Strict(BaseModel):
    """Base of every rubric record: unknown keys are refused, and so is every number that is
    not finite (``.inf``, ``.nan``) or lies outside ±``MAX_NUMBER``, whatever the field."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    @field_validator("*", mode="after")
    @classmethod
    def _number_in_range(cls, value):
        if isinstance(value, (int, float)) and not isinstance(value, bool) and abs(value) > MAX_NUMBER:
            raise ValueError(f"{value:.15g} is out of range (at most {MAX_NUMBER:,})")
        return value


class Hit(NamedTuple):
    """One match in a segment's normalised text (a named tuple: cheaper to make than a frozen
    dataclass, and there is one for every phrase found)."""

    start: int
    end: int
    text: str


@dataclass
class CompileContext:
    """Rubric-level settings a matcher needs when it is compiled."""

    lists: dict[str, list[str]] = field(default_factory=dict)
    # named regular expressions: ``@name`` in a ``regex`` / ``exclude_regex`` list stands for them
    patterns: dict[str, list[str]] = field(default_factory=dict)
    negators: list[str] = field(default_factory=lambda: list(DEFAULT_NEGATORS))
    false_negators: list[str] = field(default_factory=lambda: list(DEFAULT_FALSE_NEGATORS))
    hedges: list[str] = field(default_factory=lambda: list(DEFAULT_HEDGES))
    false_hedges: list[str] = field(default_factory=lambda: list(DEFAULT_FALSE_HEDGES))
    # The rubric file's folder: model files a rubric names are found relative to it.
    base_dir: Optional[str] = None
    # characters of named patterns written out by @{name} so far, over the whole rubric
    inline_chars: int = 0


def _literal(word: str) -> str:
    """A literal phrase as a pattern; numbers only match whole (12315 not inside a phone number)."""
    pattern = re.escape(word)
    if word[0].isdigit():
        # "(?<!\d)1" written as "1(?<!\d1)" (the same test, made once the 1 is read): a pattern
        # whose alternatives all begin with a character gets re's quick scan for them
        first = re.escape(word[0])
        pattern = first + r"(?<!\d" + first + ")" + re.escape(word[1:])
    if word[-1].isdigit():
        pattern += r"(?!\d)"
    return pattern


def _alternation_pattern(words: list[str]) -> str:
    """One pattern for many literal words: the numbers first, longest first, then the trie of
    the rest. Every alternative at the top begins with a literal character (the trie's are not
    grouped, nor its one-character words put in a class): Python's re then finds where a match
    can begin with a quick scan for those characters instead of trying the pattern at every
    position (re._compiler._compile_info)."""
    words = sorted({w for w in words if w})
    plain = [w for w in words if not (w[0].isdigit() or w[-1].isdigit())]
    # (the numbers by the same test: asking ``w not in plain`` was a scan of the list per word,
    # 31 s to load a rubric of 60,000 listed words)
    numbers = sorted((w for w in words if w[0].isdigit() or w[-1].isdigit()), key=len, reverse=True)
    parts = [_literal(w) for w in numbers]
    if plain:
        parts.append(safe_regex.trie_pattern(plain))
    return "|".join(parts)


def _apart(words: list[str]) -> tuple[list[str], list[str]]:
    """The numbers and the other words of ``_alternation_pattern(words)`` when they can be
    searched apart, else ([], []): when no number can overlap another word in any text (none
    holds or is held by another, and no end of one is the start of the other). Then no match
    of one kind starts inside a match of the other, so at every position the one pattern finds
    what one of the two finds alone, and each kind's matches are those it finds alone."""
    words = sorted({w for w in words if w})
    plain = [w for w in words if not (w[0].isdigit() or w[-1].isdigit())]
    numbers = [w for w in words if w[0].isdigit() or w[-1].isdigit()]
    if not numbers or not plain:
        return [], []
    inside = {n[i:j] for n in numbers for i in range(len(n)) for j in range(i + 1, len(n) + 1)}
    starts = {w[:k] for w in plain for k in range(1, len(w))}
    ends = {w[-k:] for w in plain for k in range(1, len(w))}
    joined = "\n".join(plain)  # a number found in it (even across two words) counts as held
    for n in numbers:
        if n in joined or any(n[-k:] in starts or n[:k] in ends for k in range(1, len(n))):
            return [], []
    if any(w in inside for w in plain):
        return [], []
    return numbers, plain


# The longest word a false-hedge list may hold (the loader refuses longer): how far back to look.
MAX_FALSE_HEDGE = 12
# Hedges said after the figure they hedge (三天左右): they reach no further back than their own clause.
POSTFIX_HEDGES = frozenset({"左右"})


class Hedges(NamedTuple):
    """A rubric's hedges and the words that hold one but hedge nothing, compiled together
    (:meth:`of`) for a matcher or a model rule that drops hedged hits."""

    words: re.Pattern
    false: Optional[re.Pattern]

    @classmethod
    def of(cls, ctx: "CompileContext") -> Optional["Hedges"]:
        words = _alternation([normalize_phrase(p) for p in ctx.hedges])
        return None if words is None else cls(words, _alternation([normalize_phrase(p) for p in ctx.false_hedges]))

    def within(self, norm: NormText, start: int = 0, end: Optional[int] = None,
               clause_start: Optional[int] = None) -> bool:
        """Whether a hedge stands in ``norm.text[start:end]`` within one clause: words that only
        meet across a break are none (恢复正常，明天保证修好 holds no 正常明天), nor is a hedge whose
        first character a false hedge covers (我跟商家说好了 holds no report of the shop's). A
        hedge that follows what it hedges (左右) counts only from ``clause_start`` on, the hit's
        own clause: a price said with 左右 in the clause before hedges no guarantee after it
        (一千二左右 修好保证不会再漏)."""
        text = norm.text
        for m in self.words.finditer(text, start, len(text) if end is None else end):
            if clause_start is not None and m.start() < clause_start and m.group() in POSTFIX_HEDGES:
                continue
            if m.end() <= norm.clause(m.start())[1] and not (self.false is not None
                                                            and _covered(self.false, text, m.start())):
                return True
        return False


def _covered(false: re.Pattern, text: str, at: int) -> bool:
    """Whether a match of ``false`` starting at most MAX_FALSE_HEDGE characters before ``at``
    covers the character at ``at``."""
    for p in range(max(0, at - MAX_FALSE_HEDGE + 1), at + 1):
        m = false.match(text, p)
        if m is not None and m.end() > at:
            return True
    return False


def _alternation(words: list[str]) -> Optional[re.Pattern]:
    pattern = _alternation_pattern(words)
    return safe_regex.compile_skipping(pattern) if pattern else None


_META = set(".^$*+?{}[]\\|()")


def _syntax(regex: str):
    """(index, char, depth) for each character of a regex that is syntax: outside character
    classes and not escaped; depth counts the groups open before it. A ``]`` first in a class
    (``[]a]``, ``[^]a]``) is one of its members, as Python's re reads it."""
    depth, klass, esc, opened = 0, False, False, -1
    for i, ch in enumerate(regex):
        if esc:
            esc = False
        elif ch == "\\":
            esc = True
        elif klass:
            first = i == opened + 1 or (i == opened + 2 and regex[opened + 1] == "^")
            klass = ch != "]" or first
        elif ch == "[":
            klass, opened = True, i
        else:
            if ch == ")":
                depth -= 1
            yield i, ch, depth
            if ch == "(":
                depth += 1


# Normalised text writes a numeral that counts something as its digit (一个 → 1个, 三天 → 3天,
# 晚了一点 → 晚了1点) and keeps it elsewhere (一直, 一定). A rubric regex is written as people
# write Chinese, so each numeral in it also accepts its digit: (一个|一条)洞 finds 有1个洞.
_NUMERAL_DIGITS = {"零": "0", "〇": "0", "一": "1", "幺": "1", "二": "2", "两": "2", "三": "3", "四": "4",
                   "五": "5", "六": "6", "七": "7", "八": "8", "九": "9"}


def digits_too(regex: str) -> str:
    """``regex`` with every single-character numeral also matching its digit: outside a character
    class 一 becomes [一1]; inside one the digit joins the class. Numerals with units (十 / 百)
    are left as they are: 三十天 is 30天 in normalised text, which no per-character rewrite gives."""
    if not any(ch in _NUMERAL_DIGITS for ch in regex):
        return regex
    out: list[str] = []
    klass, esc, added = False, False, ""
    for i, ch in enumerate(regex):
        if esc:
            esc = False
            out.append(ch)
        elif ch == "\\":
            esc = True
            out.append(ch)
        elif klass:
            # "]" right after "[" or "[^" is a literal member, not the end of the class
            if ch == "]" and regex[i - 1] != "[" and not regex[i - 2:i] == "[^":
                klass = False
                out.append("".join(dict.fromkeys(added)))
                added = ""
            elif ch in _NUMERAL_DIGITS:
                added += _NUMERAL_DIGITS[ch]
            out.append(ch)
        elif ch == "[":
            klass = True
            out.append(ch)
        elif ch in _NUMERAL_DIGITS:
            out.append(f"[{ch}{_NUMERAL_DIGITS[ch]}]")
        else:
            out.append(ch)
    return "".join(out)


def _finite(regex: str, limit: int = 400) -> Optional[list[str]]:
    """Every string a small regex matches, when it matches only a few (literals, character
    classes of literals, alternatives, optional parts); None otherwise. Such alternatives go into
    the character trie, which is much faster than Python's regex engine trying them one by one."""
    try:
        from re import _constants as C, _parser as P  # Python 3.11+
    except ImportError:  # pragma: no cover - Python 3.10
        import sre_constants as C
        import sre_parse as P
    try:
        parsed = P.parse(regex)
    except Exception:
        return None

    def expand(items) -> Optional[list[str]]:
        out = [""]
        for op, av in items:
            if op is C.LITERAL:
                opts = [chr(av)]
            elif op is C.SUBPATTERN:
                opts = expand(av[-1])
            elif op is C.BRANCH:
                opts = []
                for branch in av[1]:
                    got = expand(branch)
                    if got is None:
                        return None
                    opts += got
            elif op is C.IN and all(o is C.LITERAL for o, _ in av):
                opts = [chr(a) for _, a in av]
            elif op in (C.MAX_REPEAT, C.MIN_REPEAT) and av[1] <= 2:
                sub = expand(av[2])
                if sub is None:
                    return None
                opts = []
                for n in range(av[0], av[1] + 1):
                    level = [""]
                    for _ in range(n):
                        level = [a + b for a in level for b in sub]
                    opts += level
            else:
                return None
            if opts is None:
                return None
            out = [a + b for a in out for b in opts]
            if len(out) > limit:
                return None
        return out

    words = expand(list(parsed))
    return [w for w in words if w] if words is not None and all(words) else None


def _expand_names(entries: list[str], named: dict[str, list[str]], what: str, key: str,
                  inline: bool = False) -> list[str]:
    """``entries`` with each ``@name`` replaced by the rubric's ``named[name]`` (its ``lists`` for
    phrases, its ``patterns`` for regexes); an unknown name is an error naming the rubric key.
    With ``inline`` (regexes), an entry that begins ``@{`` is a regex using a name inside it."""
    out: list[str] = []
    for entry in entries:
        if entry.startswith("@") and not (inline and entry.startswith("@{")):
            if entry[1:] not in named:
                raise ValueError(f"unknown {what} {entry!r} (define it under '{key}')")
            out.extend(named[entry[1:]])
        else:
            out.append(entry)
    return out


# ``@{name}`` inside a regex: the rubric's named pattern list ``name`` as one group of
# alternatives, for a list of words that several longer patterns share (refusal words after
# 放心 in one, after soothing words in another).
_INLINE_NAME = re.compile(r"@\{([^{}\s]{1,100})\}")
# how deep named patterns may use one another inline (a cycle is refused at this depth), and how
# long a regex may grow with its names written out (the bundled rubric's longest is a few
# thousand characters): a few bytes of names used inside names must not make loading hang
MAX_INLINE_DEPTH = 4
MAX_INLINE_CHARS = 50_000
MAX_INLINE_TOTAL = 200_000  # …and all of a rubric's regexes together
# what makes a regex's text mean something other than its characters: a comment group or verbose mode
_COMMENTS = re.compile(r"\(\?#|\(\?[aiLmsu]*x")


def _short(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


def inline_problem(regex: str, named: dict[str, list[str]]) -> Optional[str]:
    """Why the ``@{name}`` uses in ``regex`` cannot be written out (None: they can)."""
    if "@{" not in regex:
        return None
    uses = {m.start() for m in _INLINE_NAME.finditer(regex)}
    if any(at not in uses for at in (m.start() for m in re.finditer(r"@\{", regex))):
        return "'@{' must be followed by a pattern list's name (no spaces, at most 100 characters) and '}'"
    if _COMMENTS.search(regex):
        return "@{name} cannot be used in a regex with comments (?#…) or verbose mode (?x)"
    syntax = {i for i, ch, _ in _syntax(regex) if ch == "@"}  # the @s neither escaped nor in a class
    for m in _INLINE_NAME.finditer(regex):
        name = m.group(1)
        if name not in named:
            return f"unknown pattern list '@{{{name}}}' (define it under 'patterns')"
        if not named[name]:
            return f"pattern list '@{{{name}}}' is empty"
        if m.start() not in syntax:
            return f"'@{{{name}}}' escaped or inside a character class [...] cannot stand for patterns"
    return None


def _written_out(named: dict[str, list[str]], m: re.Match) -> str:
    """What one ``@{name}`` stands for: the named patterns as one group of alternatives."""
    return "(?:" + "|".join(named[m.group(1)]) + ")"


def _inline_names(regex: str, named: dict[str, list[str]], ctx: Optional["CompileContext"] = None) -> str:
    """``regex`` with each ``@{name}`` replaced by ``(?:p1|p2|…)``, the rubric's ``patterns``
    ``name``. An unknown or empty name, one inside a character class, names that keep using one
    another past ``MAX_INLINE_DEPTH`` or a regex that grows past ``MAX_INLINE_CHARS`` is an error
    naming the regex. The result is checked like any regex (it may hold what no part held
    alone: a group that matches the empty string, say)."""
    if "@{" not in regex:
        return regex
    out = regex
    for _ in range(MAX_INLINE_DEPTH):
        problem = inline_problem(out, named)
        if problem is not None:
            raise ValueError(f"{problem} in {_short(regex)!r}")
        size = len(out) + sum(len(_written_out(named, m)) - len(m.group()) for m in _INLINE_NAME.finditer(out))
        if size > MAX_INLINE_CHARS:
            raise ValueError(f"{_short(regex)!r} with its named patterns written out would be longer than "
                             f"{MAX_INLINE_CHARS:,} characters")
        if ctx is not None:
            ctx.inline_chars += size
            if ctx.inline_chars > MAX_INLINE_TOTAL:
                raise ValueError(f"{_short(regex)!r}: the rubric's regexes with their named patterns written out would "
                                 f"be longer than {MAX_INLINE_TOTAL:,} characters in all")
        out = _INLINE_NAME.sub(lambda m: _written_out(named, m), out)
        if not _INLINE_NAME.search(out):
            try:
                return _check_regex(out)
            except ValueError as exc:
                raise ValueError(f"{_short(regex)!r} with its named patterns written out: {_short(str(exc), 300)}") from None
    raise ValueError(f"named patterns used inside one another more than {MAX_INLINE_DEPTH} deep in {_short(regex)!r}")


def _split_alternatives(regex: str) -> list[str]:
    """Top-level alternatives of a regular expression."""
    cuts = [i for i, ch, depth in _syntax(regex) if ch == "|" and depth == 0]
    bounds = [-1] + cuts + [len(regex)]
    return [regex[a + 1:b] for a, b in zip(bounds, bounds[1:])]


class Match(Strict):
    """What to look for in a segment.

    ``phrases`` are literal (normalised like the text: simplified, no punctuation, 您→你,
    numerals as digits); ``regex`` runs on that normalised text. An entry ``@name`` in a phrase
    list pulls in the rubric's list ``name``; in a ``regex`` or ``exclude_regex`` list, the
    rubric's named ``patterns`` ``name`` (one pattern written once, used where several checks
    need it: a phrase exclusion and a model's veto). Inside a regex, ``@{name}`` stands for the
    named patterns as one group of alternatives, ``(?:p1|p2|…)``, so that longer patterns can
    share a list of words.
    """

    phrases: list[NonEmpty] = Field(default_factory=list)
    regex: list[Regex] = Field(default_factory=list)
    # A hit is dropped when an ``exclude`` phrase (or ``exclude_regex`` match) overlaps it
    # (滚 inside 滚筒).
    exclude: list[NonEmpty] = Field(default_factory=list)
    exclude_regex: list[Regex] = Field(default_factory=list)
    # A hit is dropped when its clause contains any of these (抱歉 makes a refusal polite).
    unless: list[NonEmpty] = Field(default_factory=list)
    # Where ``unless`` looks: the hit's clause, or the whole segment (a polite refusal often
    # apologises in one clause and refuses in the next).
    unless_scope: Literal["clause", "segment"] = "clause"
    # Drop hits preceded by a negator in the same clause (我不能保证 is not a promise).
    negation: bool = False
    negation_window: int = Field(default=4, ge=1, le=20)
    # Drop hits with a hedge nearby (预计 / 尽量 / 如果…): in the hit's clause or the one before,
    # at most ``hedge_window`` characters before the hit or a few after it.
    hedges: bool = False
    hedge_window: int = Field(default=12, ge=1, le=60)
    # Drop hits in a question (能保证明天到吗?).
    questions: bool = False
    # Drop hits that lie inside quotation marks in the original text that hold more than the hit:
    # a user's or a product's name, a title or a message read out (查到您给“清风不识字”的一笔交易) is
    # not the speaker's own word; a word alone in scare quotes (你是不是“弱智”啊) still is.
    quoted: bool = False
    # Also match phrases by toneless pinyin, so ASR homophones (报歉 for 抱歉) still count.
    pinyin: bool = False
    # Require jieba word boundaries around literal hits: 'auto' does so for one-character phrases.
    word_boundary: Literal["auto", "always", "never"] = "auto"
    # Also accept, as a segment's very first words, a phrase whose first characters a recording cut
    # off (迎致电 for 欢迎致电, 兴为您服务 for 很高兴为您服务): the cut must fall inside the phrase's
    # first word of two or more characters (no one starts a sentence with half a word) and leave at
    # least three characters (``clipped_tails``).
    clipped_start: bool = False

    _matcher: Optional["Matcher"] = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _not_empty(self) -> "Match":
        if not self.phrases and not self.regex:
            raise ValueError("a match needs at least one entry in 'phrases' or 'regex'")
        return self

    def expanded_phrases(self, ctx: CompileContext) -> list[str]:
        return _expand_names(self.phrases, ctx.lists, "list", "lists")

    @staticmethod
    def expanded_regex(patterns: list[str], ctx: CompileContext) -> list[str]:
        return [_inline_names(r, ctx.patterns, ctx)
                for r in _expand_names(patterns, ctx.patterns, "pattern list", "patterns", inline=True)]

    def compile(self, ctx: CompileContext) -> None:
        self._matcher = Matcher(self, ctx)

    @property
    def matcher(self) -> "Matcher":
        """The compiled matcher; fetch it once outside loops over segments."""
        # straight from pydantic's private store: ``self._matcher`` takes its slow __getattr__
        return self.__pydantic_private__["_matcher"]

    def find(self, norm: NormText) -> list[Hit]:
        """All hits in one normalised segment that survive the exclusions."""
        return self._matcher.find(norm)

    def search(self, norm: NormText) -> Optional[Hit]:
        hits = self._matcher.find(norm)
        return hits[0] if hits else None


# Quotation marks, opening and closing; an ASCII '"' opens and closes by turns.
_QUOTES = (("“", "”"), ("「", "」"), ("『", "』"), ("《", "》"), ('"', '"'))
_OPENINGS = "".join(opening for opening, _ in _QUOTES)


def in_quotes(norm: NormText, start: int, end: int) -> bool:
    """Whether normalised [start, end) lies inside a pair of quotation marks of the original that
    hold more than it: a name or a message read out (“清风不识字”), not a word put in scare
    quotes at the customer (你是不是“弱智”啊)."""
    raw = norm.original
    if not any(q in raw for q in _OPENINGS):
        return False
    s, e = norm.source_span(start, end)
    for opening, closing in _QUOTES:
        if opening == closing:
            i = raw.rfind(opening, 0, s) if raw.count(opening, 0, s) % 2 == 1 else -1
        else:
            i = raw.rfind(opening, 0, s)
            if i >= 0 and raw.find(closing, i, s) >= 0:
                i = -1
        k = raw.find(closing, e) if i >= 0 else -1
        if k >= 0:
            return len(raw[i + 1:k].strip()) > e - s
    return False


# Characters of grammar: in a stretch taken for a phrase misheard, one must be the phrase's syllable
# with its tone (a recogniser writes 在 for 再; 是 for 师 is what was said: ``Matcher._misheard``).
_FUNCTION_CHARS = frozenset("是的了吗呢吧啊在有和与或把被给就都也还又很")


# How much of a phrase's start a recording may have cut off, and how much must be left of it.
CLIPPED_MAX_CUT = 3
CLIPPED_MIN_LEFT = 3


def clipped_tails(phrases: list[str]) -> list[str]:
    """What is left of each (normalised) phrase when a recording starts inside its first word of
    two or more characters, longest first: 欢迎致电 → 迎致电; 有什么可以帮 → 么可以帮, not 什么可以帮 (a
    whole word first: those words must stand on their own) nor 可以帮 (a longer word lost whole)."""
    out: set[str] = set()
    for p in phrases:
        bounds = sorted(word_bounds(p))
        # the first word longer than one character
        word = next(((a, b) for a, b in zip(bounds, bounds[1:]) if b - a > 1), None)
        if word is None:
            continue
        for cut in range(word[0] + 1, min(word[1], CLIPPED_MAX_CUT + 1, len(p) - CLIPPED_MIN_LEFT + 1)):
            out.add(p[cut:])
    out -= set(phrases)
    return sorted(out, key=lambda t: (-len(t), t))


class Matcher:
    """A :class:`Match` compiled once: plain attributes, so matching stays fast."""

    __slots__ = ("literal", "literal_re2", "numbers", "regex", "pinyin", "sounds", "short", "exclude", "unless", "unless_segment",
                 "negators", "false_neg", "negation_window", "hedges", "hedge_window", "questions", "quoted", "local")

    def __init__(self, spec: Match, ctx: CompileContext):
        phrases = [normalize_phrase(p) for p in spec.expanded_phrases(ctx)]
        phrases = [p for p in phrases if p]
        # Plain-word alternatives inside the regexes join the phrases' trie; the rest stay regex.
        words, patterns = list(phrases), []
        for r in spec.expanded_regex(spec.regex, ctx):
            for alt in _split_alternatives(r):
                if not alt:
                    continue
                if not _META.intersection(alt):
                    words.append(normalize_phrase(alt) or alt)
                    continue
                finite = None if re.search(r"[\^$]", alt) else _finite(alt)
                if finite is not None:
                    # each string as segment text reads it (一个 → 1个, 您 → 你)
                    words.extend(normalize_phrase(w) or w for w in finite)
                else:
                    patterns.append(digits_too(alt))
        self.literal = _alternation(words)
        # A big trie whose words begin with many characters runs on RE2 (see safe_regex.literal_re2)
        self.literal_re2 = safe_regex.literal_re2(self.literal.pattern, words) if self.literal is not None else None
        # ... and so does one that also holds numbers, whose guards against other digits RE2
        # cannot run, when no number can overlap another word: the numbers then run on re
        # alone, and the two find together what the one pattern finds (``_apart``).
        self.numbers: Optional[re.Pattern] = None
        if self.literal is not None and self.literal_re2 is None:
            numbers, plain = _apart(words)
            trie = safe_regex.literal_re2(safe_regex.trie_pattern(plain), plain) if numbers and plain else None
            if trie is not None:
                self.literal_re2, self.numbers = trie, _alternation(numbers)
        if spec.clipped_start:
            tails = clipped_tails(phrases)
            if tails:
                patterns.append("^(?:" + _alternation_pattern(tails) + ")")
        # Each pattern runs on Python's re or on RE2, whichever bounds its cost (safe_regex).
        self.regex = safe_regex.RegexSet.build(patterns)
        # Whether what it finds in a segment does not depend on the segments joined around it
        # (see find_in): then a segment's hits can be found once per call and looked up for
        # every selection of segments (Call.hits). Phrases and pinyin never hold a line break.
        self.local = all("\n" not in w for w in words) and all(safe_regex.line_local(p) for p in patterns)
        self.pinyin = None
        self.sounds: dict[str, list[str]] = {}
        if spec.pinyin:
            for p in phrases:
                if len(p) >= 2:
                    self.sounds.setdefault(pinyin_key(p), []).append(p)
            self.pinyin = _alternation(list(self.sounds))
        if spec.word_boundary == "always":
            self.short = frozenset(phrases)
        elif spec.word_boundary == "auto":
            self.short = frozenset(p for p in phrases if len(p) == 1)
        else:
            self.short = frozenset()
        parts = [_literal(w) for w in sorted({normalize_phrase(p) for p in spec.exclude} - {""}, key=len, reverse=True)]
        # Each exclusion is searched on its own: joined with "|" they would be leftmost-first and
        # never overlap, so a short phrase (保修) would hide a longer exclusion starting at the
        # same character (保修期内肯定…), and the hit that exclusion overlaps would stand.
        sets = [safe_regex.RegexSet.build([], parts)] + [
            safe_regex.RegexSet.build([digits_too(r)]) for r in spec.expanded_regex(spec.exclude_regex, ctx)]
        sets = [s for s in sets if s is not None]
        self.exclude = _Exclusions(sets) if sets else None
        self.unless = _alternation([normalize_phrase(p) for p in self._expand(spec.unless, ctx)])
        self.unless_segment = spec.unless_scope == "segment"
        self.negators = self.false_neg = self.hedges = None
        if spec.negation:
            self.negators = _alternation([normalize_phrase(p) for p in ctx.negators])
            self.false_neg = _alternation([normalize_phrase(p) for p in ctx.false_negators])
        self.negation_window = spec.negation_window
        self.hedge_window = spec.hedge_window
        if spec.hedges:
            self.hedges = Hedges.of(ctx)
        self.questions = spec.questions
        self.quoted = spec.quoted

    @staticmethod
    def _expand(words: list[str], ctx: CompileContext) -> list[str]:
        return _expand_names(words, ctx.lists, "list", "lists")

    def search(self, norm: NormText) -> Optional[Hit]:
        hits = self.find(norm)
        return hits[0] if hits else None

    def find_in(self, joined: "Joined") -> list[tuple[int, Hit]]:
        """Hits in many segments at once: one regex pass over their text joined by newlines.

        Returns (position in ``joined.norms``, hit) pairs in segment order."""
        text = joined.text
        if len(text) < len(joined.norms):  # nothing but separators
            return []
        raw = self._spans(text, joined.pinyin if self.pinyin is not None else "")
        if not raw:
            return []
        per_segment: dict[int, list[tuple[int, int]]] = {}
        starts, norms = joined.starts, joined.norms
        for start, end in raw:
            k = bisect_right(starts, start) - 1  # the segment holding the span's start
            base = starts[k]
            if end - base > len(norms[k].text):
                continue  # ran across a segment boundary
            spans = per_segment.get(k)
            if spans is None:
                per_segment[k] = [(start - base, end - base)]
            else:
                spans.append((start - base, end - base))
        out = []
        for k in sorted(per_segment):
            out += [(k, hit) for hit in self._accept(norms[k], per_segment[k])]
        return out

    def find(self, norm: NormText) -> list[Hit]:
        """All hits in one normalised segment that survive the exclusions."""
        if not norm.text:
            return []
        raw = self._spans(norm.text, norm.pinyin if self.pinyin is not None else "")
        return self._accept(norm, raw) if raw else []

    def _spans(self, text: str, pinyin: str) -> list[tuple[int, int]]:
        raw: list[tuple[int, int]] = []
        if self.literal_re2 is not None:
            raw.extend(safe_regex.re2_spans(self.literal_re2, text))
            if self.numbers is not None:
                raw.extend([m.span() for m in self.numbers.finditer(text)])
        elif self.literal is not None:
            raw.extend(m.span() for m in self.literal.finditer(text))
        if self.regex is not None:
            raw.extend(self.regex.spans(text))
        if self.pinyin is not None:
            # a stretch the words or patterns found already needs no check of how it sounds
            # (mostly the same words, written right: _accept keeps each span once anyway)
            found = set(raw)
            raw.extend(m.span() for m in self.pinyin.finditer(pinyin)
                       if m.span() not in found
                       and (self._sounds_like(text, m.start(), m.end(), m.group())
                            or self._misheard(text, m.start(), m.end(), m.group())))
        return raw

    def _accept(self, norm: NormText, raw: list[tuple[int, int]]) -> list[Hit]:
        """Spans in one segment → hits, after word boundaries, overlaps and exclusions."""
        text = norm.text
        hits: list[Hit] = []
        seen = _Seen()
        spans = sorted(set(raw))
        k = 0
        while k < len(spans):
            start, end = spans[k]
            k += 1
            if hits and start < hits[-1].end:
                continue
            if self.short and text[start:end] in self.short:
                bounds = norm.bounds
                if start not in bounds or end not in bounds:
                    continue
            if self._rejected(norm, start, end, seen):
                # A pattern's match that ran on past its clause was judged, and dropped, by the
                # clause it starts in; the pattern may still match from the next clause on
                # (如果延误的话 酒店也肯定给您安排好 | 绝对没问题: ASR text has spaces for commas).
                # Every span searched again starts after this one, so none was looked at yet.
                if self.regex is not None and (brk := norm.clause(start)[1]) < end:
                    later = self.regex.spans(text, brk)
                    if later:
                        spans = sorted(set(later).union(spans[k:]))
                        k = 0
                continue
            hits.append(Hit(start, end, text[start:end]))
        return hits

    def _sounds_like(self, text: str, start: int, end: int, key: str) -> bool:
        """A homophone counts when it keeps at least half the phrase's characters in place
        (不好一思 / 不好以撕 for 不好意思), so that unrelated words that merely sound alike (之前 /
        致歉) do not; a two-character one that keeps one of them only where it stands as whole
        words in its line (报歉 for 抱歉, 在见 for 再见; not 上基 across 晚上|基本 for 上级). One
        that keeps fewer counts where it is a recogniser's garble (``_misheard``)."""
        said = text[start:end]
        one_of_two = False
        for phrase in self.sounds.get(key, ()):
            same = sum(a == b for a, b in zip(said, phrase))
            if same * 2 > len(phrase) or (same * 2 == len(phrase) and len(phrase) > 2):
                return True
            one_of_two = one_of_two or same * 2 == len(phrase)
        return one_of_two and self._whole_words(text, start, end)

    @staticmethod
    def _whole_words(text: str, start: int, end: int) -> bool:
        """Whether text[start:end] begins and ends at word boundaries (jieba's, of the line
        around the stretch)."""
        lo = max(text.rfind("\n", 0, start) + 1, start - 12)
        hi = text.find("\n", end)
        hi = min(end + 12, len(text) if hi < 0 else hi)
        bounds = word_bounds(text[lo:hi])
        return start - lo in bounds and end - lo in bounds

    def _misheard(self, text: str, start: int, end: int, key: str) -> bool:
        """Whether a stretch that sounds like a phrase but keeps fewer than half its characters
        is the phrase misheard, as a speech recogniser's wrong characters of the right sound are
        (报签 for 抱歉, 倩议 for 歉意): at least half its syllables are the phrase's with their
        tones; it is no word of its own (之前 is a word, and stays 之前, not 致歉); a function word
        in it (是, 的, 了…) is the phrase's syllable with its tone (在件 for 再见: 在 is zai4 as 再 is;
        手续费率是多少 says 率 是, shi4, not 律师, shi1, a fatal complaint); and it stands as whole
        words in its line (not 前一 across 之前|一定, nor 自签 across 自|签收; words are jieba's, of
        the line around the stretch)."""
        said = text[start:end]
        if is_word(said):
            return False
        heard = syllables(said)

        def fits(phrase: str) -> bool:
            sounds = syllables(phrase)
            if sum(a == b for a, b in zip(heard, sounds)) * 2 < len(phrase):
                return False
            return all(heard[k] == sounds[k] for k, c in enumerate(said[:len(sounds)]) if c in _FUNCTION_CHARS)

        if not any(fits(p) for p in self.sounds.get(key, ())):
            return False
        return self._whole_words(text, start, end)

    def _rejected(self, norm: NormText, start: int, end: int, seen: "_Seen") -> bool:
        """Whether an exclusion, ``unless``, a hedge, a question or a negator drops the hit.

        What does not depend on the hit (the exclusions' spans, whether the segment or a clause
        holds an ``unless`` word) is worked out once per segment or clause and kept in ``seen``,
        so a segment with thousands of hits costs one pass, not one pass per hit."""
        text = norm.text
        if self.quoted and in_quotes(norm, start, end):
            return True
        if self.exclude is not None:
            if seen.excluded is None:
                spans = sorted(self.exclude.spans(text))
                # (start, running maximum of the ends): spans of two engines may overlap.
                ends, top = [], 0
                for _, e in spans:
                    top = max(top, e)
                    ends.append(top)
                seen.excluded = ([s for s, _ in spans], ends)
            ex_starts, ex_ends = seen.excluded
            # The first span whose running end passes the hit's start has the smallest start
            # of all spans that can still reach the hit: if it starts too late, all do.
            k = bisect_right(ex_ends, start)
            if k < len(ex_ends) and ex_starts[k] < end:
                return True
        if not (self.unless or self.hedges or self.questions or self.negators):
            return False
        c_start, c_end = norm.clause(start)
        c_end = max(c_end, norm.clause(end - 1)[1])
        if self.unless is not None:
            key = None if self.unless_segment else (c_start, c_end)
            said = seen.unless.get(key)
            if said is None:
                said = seen.unless[key] = self.unless.search(text if key is None else text[c_start:c_end]) is not None
            if said:
                return True
        if self.hedges is not None:
            p_start = norm.clause(c_start - 1)[0] if c_start > 0 else c_start
            if self.hedges.within(norm, max(p_start, start - self.hedge_window), min(c_end, end + 4), c_start):
                return True
        if self.questions and norm.is_question(c_start, c_end):
            return True
        if self.negators is not None:
            window = text[max(c_start, start - self.negation_window):start]
            if self.false_neg is not None:
                window = self.false_neg.sub("", window)
            if window and self.negators.search(window):
                # "不是…吗" asks rhetorically and affirms (这不是坑人吗 says it is): a 不是
                # alone does not negate a hit in a question
                rhetorical = ("不是" in window and norm.is_question(c_start, c_end)
                              and not self.negators.search(window.replace("不是", "")))
                # a negator that ends a condition, with 我 or 就 starting what follows, does not
                # negate it (周五修不好我就去街道了 / 明天还不到我找平台 / 不行就投诉)
                last = None
                for last in self.negators.finditer(window):
                    pass
                condition = last is not None and _CONDITION_THEN.search(window, last.end())
                return not (rhetorical or condition)
        return False


# What follows a negator when the negator ended a condition: a new subject or 就 (修不好我就…).
_CONDITION_THEN = re.compile("[我就]")


class _Exclusions:
    """A match's exclusions, each searched on its own: the spans of all of them.

    A rubric item's exclusions are often dozens of regexes, each its own set; nearly all of
    them have needles (literal text every match holds), and a segment holds the needles of one
    or two at most. One search for all their needles (``NeedleFinder``) picks the sets worth
    searching; the sets without needles are searched always."""

    __slots__ = ("sets", "always", "finder", "by_needle")

    def __init__(self, sets: list["safe_regex.RegexSet"]):
        self.sets = sets
        self.always = [k for k, one in enumerate(sets) if not one.needles]
        self.by_needle: dict[str, list[int]] = {}
        for k, one in enumerate(sets):
            for needle in one.needles or ():
                self.by_needle.setdefault(needle, []).append(k)
        self.finder = safe_regex.NeedleFinder(list(self.by_needle)) if len(sets) > 1 else None

    def spans(self, text: str) -> list[tuple[int, int]]:
        if self.finder is None:
            return self.sets[0].spans(text)
        chosen = set(self.always)
        for needle in self.finder.held(text):
            chosen.update(self.by_needle[needle])
        sets = self.sets
        return [span for k in sorted(chosen) for span in sets[k].spans(text)]


class _Seen:
    """Per-segment facts shared by all hits of one matcher in that segment."""

    __slots__ = ("excluded", "unless")

    def __init__(self):
        self.excluded: Optional[tuple[list[int], list[int]]] = None
        self.unless: dict[Optional[tuple[int, int]], bool] = {}


class Joined:
    """Several segments' normalised text joined by newlines, for one regex pass per matcher."""

    __slots__ = ("norms", "text", "starts", "_pinyin")

    def __init__(self, norms: list[NormText]):
        self.norms = norms
        texts = [n.text for n in norms]
        self.text = "\n".join(texts)
        # where each segment's text begins: the lengths before it, plus one newline each
        self.starts: list[int] = list(accumulate([len(t) + 1 for t in texts], initial=0))
        self.starts.pop()
        self._pinyin: Optional[str] = None

    @property
    def pinyin(self) -> str:
        """The pinyin codes of the joined text: those of each segment joined by newlines (codes
        are per character, and a newline's code is itself). Each segment's codes are made once
        and kept with its text (``NormText.pinyins``, which makes those still missing together):
        a segment is read by several joined texts (all of a speaker's, a scope's, a response
        window's), and a recurring text by many calls."""
        if self._pinyin is None:
            self._pinyin = "\n".join(NormText.pinyins(self.norms))
        return self._pinyin


def find_any(matchers: list["Match"], norm_or_joined, joined: bool = False):
    """Hits of several matchers (any of them counts), in order, overlapping ones dropped."""
    if len(matchers) == 1:
        m = matchers[0].matcher
        return m.find_in(norm_or_joined) if joined else m.find(norm_or_joined)
    hits = []
    for spec in matchers:
        m = spec.matcher
        hits.extend(m.find_in(norm_or_joined) if joined else m.find(norm_or_joined))
    return sorted(hits, key=(lambda h: (h[0], h[1].start)) if joined else (lambda h: h.start))


class Scope(Strict):
    """Where in the call a phrase rule looks: the first/last N turns or seconds."""

    first_turns: Optional[int] = Field(default=None, ge=1)
    last_turns: Optional[int] = Field(default=None, ge=1)
    first_seconds: Optional[float] = Field(default=None, gt=0)
    last_seconds: Optional[float] = Field(default=None, gt=0)

    @property
    def needs_timing(self) -> bool:
        return self.first_seconds is not None or self.last_seconds is not None

    @property
    def bounds(self) -> tuple:
        """Its four values: what two scopes must share to select the same segments."""
        return (self.first_turns, self.last_turns, self.first_seconds, self.last_seconds)

    def describe(self, speaker: str, lang: str = "en") -> str:
        """The scope in words, in English or Chinese (``lang="zh"``)."""
        words = _SCOPE_WORDS[lang]
        who = words["who"][speaker]
        parts = [words[key].format(who=who, n=getattr(self, key))
                 for key in ("first_turns", "last_turns", "first_seconds", "last_seconds") if getattr(self, key)]
        return words["and"].join(parts) or words["all"]


_SCOPE_WORDS = {
    "en": {"who": {"agent": "the agent's", "customer": "the customer's", "any": "the"},
           "first_turns": "{who} first {n} turn(s)", "last_turns": "{who} last {n} turn(s)",
           "first_seconds": "the first {n:g} s", "last_seconds": "the last {n:g} s",
           "and": " and ", "all": "the whole call"},
    "zh": {"who": {"agent": "坐席", "customer": "客户", "any": ""},
           "first_turns": "{who}前 {n} 轮", "last_turns": "{who}最后 {n} 轮",
           "first_seconds": "前 {n:g} 秒", "last_seconds": "最后 {n:g} 秒",
           "and": "、", "all": "整通对话"},
}


ITEM_ID = r"^[a-z][a-z0-9_]*$"


class ItemBase(Strict):
    """Fields every rubric item has, whatever its rule type."""

    id: Annotated[str, Field(pattern=ITEM_ID)]
    name: str = ""
    kind: Kind
    points: float = Field(default=0, ge=0)
    doc: ItemDoc = Field(default_factory=ItemDoc)
    channels: list[Channel] = Field(default_factory=lambda: ["phone", "chat"])
    enabled: bool = True

    def compile(self, ctx: CompileContext) -> None:
        """Compile patterns once; rule types with matchers override this."""

    def phrases(self, ctx: CompileContext) -> list[str]:
        """Literal phrases this item listens for (used as ASR hotwords)."""
        return []


class Expectation(Strict):
    """Whether an item expects its finding present (required, reward) or absent (prohibited,
    fatal), unless ``expect`` says otherwise; with present, in how many different segments."""

    expect: Optional[Literal["present", "absent"]] = None
    min_count: int = Field(default=1, ge=1)

    @property
    def expects_present(self) -> bool:
        if self.expect is not None:
            return self.expect == "present"
        return self.kind in ("required", "reward")


class RubricBase(Strict):
    id: Annotated[str, Field(min_length=1)]
    name: str = ""
    description: str = ""
    base_score: float = Field(default=100, gt=0)
    lists: dict[str, list[NonEmpty]] = Field(default_factory=dict)
    # Named regular expressions, checked like any other; ``@name`` in a regex list uses them.
    patterns: dict[str, list[Regex]] = Field(default_factory=dict)
    negators: list[NonEmpty] = Field(default_factory=lambda: list(DEFAULT_NEGATORS))
    false_negators: list[NonEmpty] = Field(default_factory=lambda: list(DEFAULT_FALSE_NEGATORS))
    hedges: list[NonEmpty] = Field(default_factory=lambda: list(DEFAULT_HEDGES))
    # words that hold a hedge but hedge nothing (跟商家说 / 都正常)
    false_hedges: list[Annotated[str, BeforeValidator(_numbers_as_text), Field(min_length=1, max_length=MAX_FALSE_HEDGE)]] = Field(
        default_factory=lambda: list(DEFAULT_FALSE_HEDGES))

    # Set by the loader: where the rubric file is (models it names are found beside it).
    path: str = ""

    @field_validator("patterns")
    @classmethod
    def _names_inside_patterns(cls, patterns: dict[str, list[str]]) -> dict[str, list[str]]:
        # a name used inside a named pattern is checked even where no item uses that pattern
        for name, entries in patterns.items():
            for entry in entries:
                problem = inline_problem(entry, patterns)
                if problem is not None:
                    raise ValueError(f"{name}: {problem} in {_short(entry)!r}")
        return patterns

    def context(self) -> CompileContext:
        base = str(Path(self.path).parent) if self.path and not self.path.startswith("<") else None
        return CompileContext(lists=dict(self.lists), patterns=dict(self.patterns), negators=list(self.negators),
                              false_negators=list(self.false_negators), hedges=list(self.hedges),
                              false_hedges=list(self.false_hedges), base_dir=base)
