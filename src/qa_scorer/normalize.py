"""Text normalisation before matching.

Every segment (and every rubric phrase) goes through the same pipeline so that they meet on
common ground:

1. Unicode NFKC (full-width letters, digits and punctuation fold to half-width), lower case.
2. Traditional → simplified Chinese (OpenCC ``t2s``).
3. Punctuation and whitespace removed; the places they were become clause breaks.
4. Chinese numerals that denote quantities become Arabic digits (``三天`` → ``3天``,
   ``二十四小时`` → ``24小时``; a run read digit by digit, with 幺 for one among its digits, keeps
   every digit: ``幺二三幺五`` → ``12315``), so ``3天`` and ``三天`` match the same rule. Words that merely
   contain a numeral character (``一定``, ``一下``, ``万一``) are left alone.
5. ``您`` folds to ``你``: ASR swaps them freely and no rule depends on the difference; and
   Cantonese function characters fold to their Mandarin counterparts (咗→了, 唔→不, 冇→没,
   嘅→的, 佢→他, 哋→们, 睇→看, 嚟→来, 喺→在, 啲→些, 咩→啥, 俾→给, 嗰→那, 揾→找, 攞→拿; and
   Taiwan's phonetic ㄉ→的, ㄇ→吗, ㄚ→啊), and a few two-character words to the Mandarin word
   of the same length (唔该→麻烦 or 谢谢, 搞掂→搞定, 仲有→还有), as does the northern 俺 to 我 (你等俺一下 /
   俺们) and 恁 to 你 where it is "you" (给恁差评 / 恁们), not "so" (恁大 / 恁多), so a rule written
   once covers them all; the
   variant 帐 folds to 账 (帐号 / 账号), 干吗 to 干嘛 and 其它 to 其他.

The result keeps, for every normalised character, the span of original text it came from, so
evidence can point at the exact characters in the segment as written.

Optional views, computed lazily and cached on the object: toneless pinyin codes (one code
character per normalised character, for homophone-tolerant matching) and jieba word
boundaries (so that a banned ``滚`` does not fire inside ``滚筒``).
"""

from __future__ import annotations

import gc
import re
import unicodedata
from bisect import bisect_right
from functools import lru_cache
from itertools import islice
from pathlib import Path
from typing import Optional

import numpy as np

__all__ = ["NormText", "is_word", "normalize", "normalize_all", "normalize_phrase", "pinyin_key", "pinyin_keys",
           "syllables", "to_simplified", "word_bounds"]

# Characters that end a clause. Everything else that is not a letter or digit is dropped silently.
_CLAUSE_BREAK = set(",.!?;:、，。！？；：…\n\r\t ~～")
_QUESTION = set("?？")
_KEEP = re.compile(r"[^\W_]", re.UNICODE)

_DIGITS = {"零": 0, "〇": 0, "一": 1, "幺": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5,
           "六": 6, "七": 7, "八": 8, "九": 9}
_UNITS = {"十": 10, "百": 100, "千": 1000, "万": 10000}
_UNIT_CHARS = frozenset(_UNITS)
# 幺 is "one" read out digit by digit (幺二三幺五, 幺八六…): a digit among other numerals; alone it
# is a word of its own (幺妹 / 幺儿), so a lone 幺 before a measure word is left as it is, and so is
# the youngest child's 老幺 / 小幺 / 满幺 before a number (我家老幺三岁了)
_NUM_RUN = re.compile(r"(?:(?<![老小满])幺|[零〇一二两三四五六七八九十百千万])+")
# A single numeral followed by one of these is a quantity ("三天", "两个小时", "一号").
_MEASURE = tuple("天个号点元块次周年日件台单份位趟遍瓶箱斤公")
_MEASURE_WORDS = ("小时", "分钟", "星期", "工作日", "礼拜", "月")



@lru_cache(maxsize=1)
def _converter():
    import opencc

    return opencc.OpenCC("t2s")


def to_simplified(text: str) -> str:
    """Traditional → simplified Chinese."""
    return _converter().convert(text)


# What Whisper invents on silence and noise, learnt from video subtitles: subtitle credits and
# video outros (字幕由Amara.org社区提供 / 请不吝点赞 订阅 转发 打赏支持明镜与点点栏目 / 谢谢观看),
# compared after simplified conversion with punctuation and spaces removed, lower case (``credit_norm``).
# The transcriber's guard drops them from what it decodes; ``subtitle_only`` finds a segment of a
# transcript made elsewhere that holds nothing else.
SUBTITLE_CREDITS = (
    "字幕由amaraorg社群提供", "字幕由amaraorg社区提供", "由amaraorg社区提供的字幕", "amaraorg",
    "请不吝点赞订阅转发打赏支持明镜与点点栏目", "请不吝点赞", "订阅转发打赏", "打赏支持明镜", "明镜与点点栏目",
    "明镜需要您的支持", "欢迎订阅明镜", "点赞订阅转发", "点赞订阅", "订阅我的频道",
    "谢谢观看", "感谢观看", "谢谢收看", "感谢收看", "感谢您的观看", "谢谢大家观看",
    "优优独播剧场", "yoyotelevisionseriesexclusive", "独播剧场",
    "中文字幕", "字幕志愿者", "字幕组", "本字幕由", "字幕由", "字幕by", "校对",
    "以上言论不代表本台立场", "词曲李宗盛", "作词", "作曲",
)
# Only on the recogniser's own output, where a person's words cannot be told from it by position:
# a real 下次再见 closes a call.
GUARD_ONLY_CREDITS = ("下次再见",)
_CREDIT_PUNCT = re.compile(r"[\s\W_]+", re.UNICODE)
# A cheap test before the full one: some word every credit holds (traditional forms too).
_CREDIT_NEEDLE = re.compile(r"字幕|订阅|訂閱|观看|觀看|收看|amara|明镜|明鏡|独播|獨播|yoyo|校对|校對|立场|立場|作词|作詞|作曲",
                            re.IGNORECASE)
_CREDITS_LONGEST = tuple(sorted(SUBTITLE_CREDITS, key=len, reverse=True))


def credit_norm(text: str) -> str:
    """Text as subtitle credits are compared: NFKC, no punctuation or spaces, lower case."""
    return _CREDIT_PUNCT.sub("", unicodedata.normalize("NFKC", text)).lower()


def regular_file_bytes(path: "str | Path", limit: int = -1) -> bytes:
    """The bytes of a file a person names (a rubric, a manifest, labels, training data), at most
    ``limit`` of them when given: raises OSError ("not a regular file") for anything else, before
    opening it (a FIFO would block the run for ever, a device never end)."""
    import os
    import stat

    p = os.fspath(path)
    if not stat.S_ISREG(os.stat(p).st_mode):
        raise OSError("not a regular file")
    with open(p, "rb") as fh:
        return fh.read(limit)


def spreadsheet_text(raw: bytes) -> str:
    """The text of a CSV a person made: UTF-8 (with or without a BOM), else GB18030 (GBK's
    superset), what Excel on a Chinese Windows saves a CSV in. Raises the UTF-8 attempt's
    UnicodeDecodeError when the bytes are neither."""
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        try:
            text = raw.decode("gb18030")
        except UnicodeDecodeError:
            raise exc from None
        # a file with UTF-8 lines and GBK lines (rows appended by another program) would come out
        # as GB18030 mojibake on its UTF-8 lines: refused at the first such line instead
        at = 0
        for line in raw.split(b"\n"):
            if not line.isascii():
                try:
                    line.decode("utf-8")
                except UnicodeDecodeError:
                    pass
                else:
                    raise UnicodeDecodeError("utf-8", raw, at, at + len(line),
                                             "UTF-8 and GBK lines mixed in one file") from None
            at += len(line) + 1
        return text


def subtitle_segments(texts: list[str]) -> frozenset[int]:
    """Indices of the texts that ``subtitle_only`` holds for (the usual call has none: one
    search of the joined texts tells)."""
    if not _CREDIT_NEEDLE.search("\n".join(texts)):
        return frozenset()
    return frozenset(i for i, t in enumerate(texts) if subtitle_only(t))


def subtitle_only(text: str) -> bool:
    """Whether a segment holds a recogniser's subtitle credit or video outro and nothing else
    (请不吝点赞 订阅 转发 / 謝謝觀看): no one said it, so no check may read it as praise or a closing."""
    if not _CREDIT_NEEDLE.search(text):
        return False
    rest = credit_norm(to_simplified(text))
    if not rest:
        return False
    for phrase in _CREDITS_LONGEST:
        rest = rest.replace(phrase, "")
    return not rest


def _parse_cn_number(run: str) -> Optional[int]:
    """Value of a Chinese numeral like 二十四 / 一百零五 / 十二, or None if not well formed."""
    if not any(c in _UNITS for c in run):
        return None
    if run[0] not in _DIGITS and run[0] != "十":
        return None
    total, section, digit = 0, 0, None
    for c in run:
        if c in _DIGITS:
            if digit is not None:  # two digits in a row without a unit: not a simple number
                return None
            digit = _DIGITS[c]
        else:
            unit = _UNITS[c]
            if unit == 10000:
                section = (section + (digit or 0)) * unit
                total += section
                section = 0
            else:
                section += (1 if digit is None else digit) * unit
            digit = None
    return total + section + (digit or 0)


def _numeral_value(run: str, following: str) -> Optional[str]:
    if run == "幺" or ("幺" in run and not _UNIT_CHARS.isdisjoint(run)):
        return None  # 幺 is read digit by digit only, never with 十 / 百 / 万
    if run.startswith("幺幺") and len(run) <= 3 and run[2:] in ("", "一", "两"):
        return None  # 幺幺 the baby (幺幺一岁半 / 幺幺两个月), not 幺幺零
    if not _UNIT_CHARS.isdisjoint(run):
        value = _parse_cn_number(run)
        return str(value) if value is not None else None  # a unit, but not a well-formed number
    if len(run) >= 2 or following.startswith(_MEASURE) or following.startswith(_MEASURE_WORDS):
        return "".join(str(_DIGITS[c]) for c in run)  # digit by digit: phone and order numbers
    return None


# A clause ending 能/会 + an outcome + 吧 asks the other side to confirm (能到吧 / 会退吧): a question;
# not a suggestion (你自己联系快递会快一些吧) nor an assurance (放心 明天肯定能送到吧).
_TAG_QUESTION = re.compile(r"(能|会)(到|收到|送到|退|退回|到账|修好|好|来|回来|弄好|办好)(了)?吧$")
_TAG_ASSURED = re.compile("肯定|一定|保证|绝对|百分百|放心")


class NormText:
    """A normalised string with a map back to the original text.

    Only ``text`` is computed up front; the map back to the original, the clause breaks, the
    pinyin and the word boundaries are worked out the first time a match needs them.
    """

    __slots__ = ("text", "original", "_map", "_pinyin", "_bounds", "_simplified")

    def __init__(self, text: str, original: str, simplified: Optional[str] = None):
        self.text = text
        self.original = original
        self._map: Optional[_Map] = None
        self._pinyin: Optional[str] = None
        self._bounds: Optional[frozenset[int]] = None
        # steps 1-2 of the original, when they kept its length: the map starts from them
        self._simplified = simplified

    def __repr__(self) -> str:
        return f"NormText({self.text!r})"

    def _mapping(self) -> "_Map":
        if self._map is None:
            simplified = self._simplified
            if simplified is not None and _NUM_RUN.search(simplified) is None:
                self._map = _Map.of_runs(simplified)
            else:
                text, starts, ends, breaks, questions = _build(self.original, simplified)
                assert text == self.text
                self._map = _Map(starts, ends, None, None, breaks, questions)
            self._simplified = None
        return self._map

    @property
    def src_start(self) -> list[int]:
        """Original offset where each normalised character begins."""
        return self._mapping().starts(len(self.text))

    @property
    def src_end(self) -> list[int]:
        """Original offset where each normalised character ends."""
        return self._mapping().ends(len(self.text))

    @property
    def breaks(self) -> frozenset[int]:
        """Normalised offsets where a clause begins (punctuation stood before them)."""
        return self._mapping().breaks

    @property
    def questions(self) -> frozenset[int]:
        """Normalised offsets of clause ends marked with ? or ？."""
        return self._mapping().questions

    def source_span(self, start: int, end: int) -> tuple[int, int]:
        """Character span in the original text for normalised [start, end)."""
        if not self.text or end <= start:
            return (0, 0)
        return self._mapping().span(start, end)

    def clause(self, pos: int) -> tuple[int, int]:
        """The clause [start, end) containing normalised offset pos.

        A binary search in the sorted clause breaks: a segment with thousands of hits in one
        long clause must not cost a scan of the clause per hit."""
        order = self._mapping().order
        i = bisect_right(order, pos)
        start = pos if pos <= 0 else (order[i - 1] if i else 0)
        n = len(self.text)
        return (start, min(order[i], n) if i < len(order) else n)

    def is_question(self, start: int, end: int) -> bool:
        """Whether the clause [start, end) is a question (ends in ? or 吗/么, or is a tag question
        asking the other to confirm what can or will happen: 周六中午之前能到吧)."""
        if end in self.questions:
            return True
        if end <= start:
            return False
        last = self.text[end - 1]
        return last in "吗么" or (last == "吧" and _TAG_QUESTION.search(self.text, start, end) is not None
                                   and _TAG_ASSURED.search(self.text, start, end) is None)

    @property
    def pinyin(self) -> str:
        if self._pinyin is None:
            self._pinyin = pinyin_key(self.text)
        return self._pinyin

    @staticmethod
    def pinyins(norms: list["NormText"]) -> list[str]:
        """``[n.pinyin for n in norms]``: those not made yet are made together (``pinyin_keys``)."""
        todo = [n for n in norms if n._pinyin is None]
        if todo:
            for n, codes in zip(todo, pinyin_keys([n.text for n in todo])):
                n._pinyin = codes
        return [n._pinyin for n in norms]

    @property
    def bounds(self) -> frozenset[int]:
        """Offsets where a jieba word begins or ends, and where a clause does: the punctuation or
        space dropped between 滚 and 别 in 滚，别再打过来了 still parts them, though jieba, reading the
        text without it, makes one word of 滚别."""
        if self._bounds is None:
            self._bounds = word_bounds(self.text) | frozenset(self._mapping().order)
        return self._bounds


class _Map:
    """A NormText's map back to its original text, with its clause breaks and questions.

    In full (``_build``): each normalised character's source span. The usual text (steps 1-2
    kept its length, no numerals) needs less (``of_runs``): it lost only the runs of punctuation
    and spaces that step 3 dropped, so character k comes from original offset k plus the
    lengths of the runs dropped before it, found by a binary search in the runs' offsets."""

    __slots__ = ("_starts", "_ends", "_at", "_shift", "breaks", "questions", "order")

    def __init__(self, starts: Optional[list[int]], ends: Optional[list[int]], at: Optional[list[int]],
                 shift: Optional[list[int]], breaks: frozenset[int], questions: frozenset[int]):
        self._starts, self._ends = starts, ends
        # normalised offsets before which a dropped run stood, and the characters dropped up
        # to and including each of those runs
        self._at, self._shift = at, shift
        self.breaks, self.questions = breaks, questions
        self.order = sorted(breaks)

    @classmethod
    def of_runs(cls, chars: str) -> "_Map":
        """The map of a text whose steps 1-2 (``chars``) kept its length and hold no numerals."""
        at: list[int] = []
        shift: list[int] = []
        breaks: set[int] = set()
        questions: set[int] = set()
        dropped = 0
        gap = " " if _word_segmented(chars) else None  # as in _build
        for m in _DROP.finditer(chars):
            a, b = m.span()
            kept = a - dropped  # characters kept before this run
            dropped += b - a
            at.append(kept)
            shift.append(dropped)
            if kept and m.group() != gap and not _CLAUSE_BREAK.isdisjoint(m.group()):
                breaks.add(kept)
                if not _QUESTION.isdisjoint(m.group()):
                    questions.add(kept)
        return cls(None, None, at, shift, frozenset(breaks), frozenset(questions))

    def _source(self, k: int) -> int:
        i = bisect_right(self._at, k)
        return k + self._shift[i - 1] if i else k

    def span(self, start: int, end: int) -> tuple[int, int]:
        """The original span of normalised [start, end) (not empty)."""
        if self._starts is not None:
            return (self._starts[start], self._ends[end - 1])
        return (self._source(start), self._source(end - 1) + 1)

    def starts(self, n: int) -> list[int]:
        """Each of the ``n`` normalised characters' original start."""
        return self._starts if self._starts is not None else [self._source(k) for k in range(n)]

    def ends(self, n: int) -> list[int]:
        return self._ends if self._ends is not None else [self._source(k) + 1 for k in range(n)]


_DROP = re.compile(r"[\W_]+", re.UNICODE)
_DROP_RUNS = re.compile(r"([\W_]+)", re.UNICODE)  # the same, kept by re.split


_FOLD = str.maketrans({"您": "你", "帐": "账", "咗": "了", "唔": "不", "冇": "没", "嘅": "的", "佢": "他",
                       "哋": "们", "睇": "看", "嚟": "来", "喺": "在", "啲": "些", "咩": "啥", "俺": "我",
                       # 俾 / 畀 give, 嗰 (simplified by OpenCC to 𠮶) that, 揾 find, 攞 take
                       "俾": "给", "畀": "给", "\U00020BB6": "那", "揾": "找", "攞": "拿",
                       # Taiwan's phonetic typing (注音文): ㄉ for 的, ㄇ for 吗, ㄚ for 啊
                       "ㄉ": "的", "ㄇ": "吗", "ㄚ": "啊",
                       # Cantonese 嘢 thing, matter (其他嘢 / 冇嘢), after 乜嘢 / 咩嘢 became 什么
                       "嘢": "事"})
# the characters _FOLD changes besides 您 (which every text is searched for anyway), so that a text
# holding none of them is not translated
_FOLDED = re.compile("[%s]" % "".join(chr(c) for c in _FOLD if chr(c) != "您"))


# Two spellings of one word, the second the one rules are written with; a recogniser writes
# either (早干吗了 / 早干嘛了). Same length, so the map back to the original still holds.
# Cantonese words of two characters fold to the Mandarin word of the same length, each one that
# Mandarin text does not hold, not even across two of its words: 唔该 is please (麻烦), or thanks
# where it ends a message or comes before 晒 or a goodbye (唔该晒 / 好 唔该 拜拜), never 不该 "should
# not"; 乜嘢 / 咩嘢 what, 搞掂 done, 啱啱 just now, 仲有 / 仲未 / 仲要 still (仲 alone is
# left: 仲裁, 仲介). Not 边个 / 边度 / 而家 / 琴日 / 寻日: 这边个人, 周边度假, 然而家里, 钢琴日常 and 搜寻日志
# hold them. Taiwan's phonetic ㄇㄉ is 妈的, before ㄇ and ㄉ fold one by one.
_VARIANTS = (("干吗", "干嘛"), ("其它", "其他"), ("唔该", "麻烦"), ("乜嘢", "什么"), ("咩嘢", "什么"),
             ("搞掂", "搞定"), ("啱啱", "刚刚"), ("仲有", "还有"), ("仲未", "还未"), ("仲要", "还要"),
             ("ㄇㄉ", "妈的"))
# 唔该 as thanks: at the end of a message (or of the joined texts' one, see ``_JOIN``), or before
# 晒 (all) or a goodbye
_CANTONESE_THANKS = re.compile("唔该(?=晒|哂|你晒|$|\ufb01|再见|拜拜|掰掰|bye)")
# the northern 恁 is "you" (恁们 / 给恁差评 / 恁这服务), except before a word it makes "so …" (恁大 /
# 恁多 / 恁贵 / 恁么 / 恁样 / 恁甜 / 恁些), and 恁好 opening a message (or after 喂) is 你好
_NIN_YOU = re.compile("(?<![^\\s喂])恁(?=好)|恁(?![大多好贵快慢长高小远久么样般难深重早晚急厉热冷少壮甜便宜轻些个时])")


def _fold(s: str) -> str:
    s = s.replace("您", "你")
    if "唔该" in s:
        s = _CANTONESE_THANKS.sub("谢谢", s)
    if "恁" in s:
        s = _NIN_YOU.sub("你", s)
    for variant, word in _VARIANTS:
        if variant in s:
            s = s.replace(variant, word)
    return s.translate(_FOLD) if _FOLDED.search(s) else s


# Full-width marks, one of which is in most Chinese texts, each with what NFKC makes of it.
_WIDE_MARKS = tuple((c, unicodedata.normalize("NFKC", c)) for c in "，？！：；（）")


def nfkc(text: str) -> str:
    """``unicodedata.normalize("NFKC", text)``, made faster for Chinese text. One full-width
    comma makes a text not NFKC-normal, and NFKC then decomposes and recomposes all of it. So
    the common full-width marks are first replaced by what NFKC makes of them: each one's
    compatibility decomposition, a single ASCII mark that decomposes no further. NFKC composes
    the full decomposition of the text, which this does not change, so the result is the same;
    and most texts are then normal already, which a quick check sees; of many texts joined by
    line breaks, only the lines that are not are normalised."""
    if not text.isascii():
        for wide, narrow in _WIDE_MARKS:
            text = text.replace(wide, narrow)
    if unicodedata.is_normalized("NFKC", text):
        return text
    if "\n" not in text:
        return unicodedata.normalize("NFKC", text)
    # Many texts joined by line breaks (``normalize_all``), a few of them not normal (an
    # ellipsis, a full-width digit): only those lines are normalised. The same text: a line
    # break neither composes with nor reorders around anything, so NFKC of the whole is NFKC
    # of each line, joined by line breaks.
    return "\n".join([line if unicodedata.is_normalized("NFKC", line) else unicodedata.normalize("NFKC", line)
                      for line in text.split("\n")])


# normalize's cache: text -> NormText, the most recently asked last (a dict keeps its order).
_NORMS: dict[str, "NormText"] = {}
_NORMS_SIZE = 8192


def normalize(text: str) -> NormText:
    """Normalise one segment's text, keeping (lazily) the map back to the original.

    Results are cached (the latest 8,192 texts; ``normalize.cache_clear()`` empties the cache):
    scripted phrases and backchannels (您好 / 嗯 / 好的) recur across calls, and a NormText is
    never changed once made (its lazy views are pure functions of the text)."""
    norm = _NORMS.pop(text, None)
    if norm is None:
        norm = _normalize(text)
    _remember(text, norm)
    return norm


def normalize_all(texts: list[str]) -> list[NormText]:
    """``[normalize(t) for t in texts]``, with steps 1-2 (NFKC, lower case, simplified) of the
    texts not in the cache done once for all of them, on their text joined by line breaks:
    OpenCC's and NFKC's fixed costs per call are most of their cost on short segments. The same
    as text by text: a line break is a character that no step changes, joins to nothing (NFKC
    composes nothing with it, lower case's final sigma sees no letter across it) and that no
    OpenCC dictionary entry holds, so no conversion runs across it. Texts that hold a line
    break themselves go one by one."""
    found: dict[str, NormText] = {}
    todo: list[str] = []
    for t in dict.fromkeys(texts):
        n = _NORMS.pop(t, None)
        if n is None:
            todo.append(t)
        else:
            found[t] = n
    if len(todo) > 1:
        joined = "\n".join(todo)
        folded = _lower(nfkc(joined))
        simplified = to_simplified(folded)
        if joined.count("\n") == folded.count("\n") == simplified.count("\n") == len(todo) - 1:
            found.update(zip(todo, _normalized_all(todo, folded.split("\n"), simplified.split("\n"))))
    for t in todo:
        if t not in found:
            found[t] = _normalize(t)
    # the cache as ``_remember`` leaves it after each of them: the latest entries, the oldest
    # beyond its size dropped (at once: finding the oldest walks past every entry dropped before)
    _NORMS.update(found)
    excess = len(_NORMS) - _NORMS_SIZE
    if excess > 0:
        try:
            for old in list(islice(_NORMS, excess)):
                _NORMS.pop(old, None)
        except RuntimeError:  # another thread changed the cache meanwhile: it trims it too
            pass
    return [found[t] for t in texts]


# Joins texts for steps 3-5 done on all of them at once (``_normalized_all``): a letter, so
# step 3 keeps it and no run of dropped characters spans two texts, that no other step
# changes or reads as part of a word or numeral, and that no text holds after step 1 (NFKC
# makes it "fi").
_JOIN = "\ufb01"


def _normalized_all(texts: list[str], folded: list[str], simplified: list[str]) -> list[NormText]:
    """``[_normalized(t, f, c) for t, f, c in zip(texts, folded, simplified)]``, with steps 3-5
    run once on the simplified texts joined by ``_JOIN`` (a regex pass and a translation per
    text cost more in fixed costs than in work on short segments). The same texts: no step
    works across ``_JOIN`` (punctuation runs end at it; a numeral's unit or measure word that
    would follow it starts with it, as an empty rest of its text starts with nothing)."""
    joined = _JOIN.join(simplified)
    if joined.count(_JOIN) != len(texts) - 1:
        return [_normalized(t, f, c) for t, f, c in zip(texts, folded, simplified)]
    s = _fold(_DROP.sub("", joined))
    if _NUM_RUN.search(s):
        s = _NUM_RUN.sub(_numeral_sub, s)
    parts = s.split(_JOIN)
    if len(parts) != len(texts):  # pragma: no cover - no step adds or drops the letter
        return [_normalized(t, f, c) for t, f, c in zip(texts, folded, simplified)]
    return [NormText(n, t, c if len(c) == len(f) == len(t) else None)
            for n, t, f, c in zip(parts, texts, folded, simplified)]


def _remember(text: str, norm: "NormText") -> None:
    """Keep ``norm`` as the most recent entry of the cache, dropping the oldest beyond its size."""
    _NORMS[text] = norm
    if len(_NORMS) > _NORMS_SIZE:
        try:
            del _NORMS[next(iter(_NORMS))]
        except (KeyError, StopIteration, RuntimeError):  # another thread dropped it first
            pass


def _normalize(text: str) -> NormText:
    """normalize without the cache."""
    folded = _lower(nfkc(text))
    return _normalized(text, folded, to_simplified(folded))


def _normalized(text: str, folded: str, simplified: str) -> NormText:
    """The rest of the pipeline, from steps 1 (``folded``) and 2 (``simplified``) of ``text``."""
    s = _fold(_DROP.sub("", simplified))
    if _NUM_RUN.search(s):
        s = _NUM_RUN.sub(_numeral_sub, s)
    # _build starts from the same two steps when neither changed the length (the usual case)
    return NormText(s, text, simplified if len(simplified) == len(folded) == len(text) else None)


normalize.cache_clear = _NORMS.clear  # type: ignore[attr-defined]  # as functools.lru_cache's
normalize.__wrapped__ = _normalize  # type: ignore[attr-defined]


def _lower(s: str) -> str:
    """Lower case that depends on nothing around a character: str.lower() makes Σ a final ς
    after a letter, which a character lowered on its own (the map of a text whose length
    steps 1-2 change, ``_build``) cannot know; every Σ becomes σ."""
    return s.replace("Σ", "σ").lower()


def _numeral_sub(m: re.Match) -> str:
    return _numeral_value(m.group(), m.string[m.end():m.end() + 3]) or m.group()


def _build(text: str, simplified: Optional[str] = None):
    """The full normalisation: text, per-character source spans, clause breaks, questions.
    ``simplified``: steps 1-2 of ``text`` (NFKC, lower case, simplified), as :func:`normalize`
    made them, when each kept the length (so they are what the first branch below makes)."""
    # Steps 1-2 keep length in the common case; fall back to char-by-char mapping when not.
    if simplified is not None:  # normalize() made them already, and they kept the length
        chars = simplified
        same_length = True
    else:
        folded = _lower(unicodedata.normalize("NFKC", text))
        same_length = len(folded) == len(text)
        if same_length:
            chars = to_simplified(folded)
            if len(chars) != len(folded):  # phrase conversion changed length: convert per char
                chars = "".join(to_simplified(c) for c in folded)
    if same_length:
        starts = range(len(text))  # ranges: their slices extend the lists below as lists would
        ends = range(1, len(text) + 1)
    else:
        pieces, starts, ends = [], [], []
        for i, c in enumerate(text):
            n = _lower(unicodedata.normalize("NFKC", c))
            for ch in n:
                pieces.append(ch)
                starts.append(i)
                ends.append(i + 1)
        chars = to_simplified("".join(pieces))
        if len(chars) != len(pieces):
            chars = "".join(to_simplified(c) for c in pieces)

    # Drop punctuation and spaces run by run; each run that holds a clause mark is a break.
    # Split on the runs (one call), kept text and dropped runs alternate: kept, run, kept, ...
    parts = _DROP_RUNS.split(chars)
    # In word-segmented text (a corpus's export: 给 您 带来 不便), a lone space is a word gap.
    gap = " " if _word_segmented(chars, parts) else None
    o_start: list[int] = []
    o_end: list[int] = []
    breaks: set[int] = set()
    questions: set[int] = set()
    kept = pos = 0  # characters kept so far; where the next part begins in ``chars``
    for i in range(1, len(parts), 2):
        n = len(parts[i - 1])
        if n:
            o_start += starts[pos:pos + n]
            o_end += ends[pos:pos + n]
            kept += n
            pos += n
        run = parts[i]
        if kept and run != gap and not _CLAUSE_BREAK.isdisjoint(run):
            breaks.add(kept)
            if not _QUESTION.isdisjoint(run):
                questions.add(kept)
        pos += len(run)
    o_start += starts[pos:]
    o_end += ends[pos:]
    s = _fold("".join(parts[::2]))
    if _NUM_RUN.search(s):
        s, o_start, o_end, breaks, questions = _convert_numerals(s, o_start, o_end, breaks, questions)
    return s, o_start, o_end, frozenset(breaks), frozenset(questions)


def _word_segmented(chars: str, parts: Optional[list[str]] = None) -> bool:
    """Whether a text (after steps 1-2; ``parts``: it split by ``_DROP_RUNS``, if made already)
    reads as word-segmented Chinese: most of its runs are lone spaces, between pieces of Chinese a
    word long. A recogniser's or a writer's spaces stand between phrases, whose pieces are
    longer, and those stay clause breaks."""
    if chars.count(" ") < 4:
        return False
    if parts is None:
        parts = _DROP_RUNS.split(chars)
    words = parts[::2]
    if len(words) < 5:
        return False
    spaces = sum(1 for run in parts[1::2] if run == " ")
    if spaces * 3 < (len(parts) // 2) * 2:
        return False
    han = [w for w in words if w and _IDEOGRAPH.match(w)]
    if len(han) * 3 < len(words) * 2:
        return False
    return sum(map(len, han)) <= 2.2 * len(han)



def _convert_numerals(s, o_start, o_end, breaks, questions):
    """Step 4 on the map: each numeral run that denotes a quantity becomes its digits, every
    digit spanning the run's source; breaks and questions move with the text after a run (those
    that fell inside a converted run are dropped)."""
    out: list[str] = []
    n_start: list[int] = []
    n_end: list[int] = []
    moves: list[tuple[int, int, int]] = []  # each converted run: start, end, length change so far
    pos = change = 0
    for m in _NUM_RUN.finditer(s):
        value = _numeral_value(m.group(), s[m.end():m.end() + 3])
        if value is None:
            continue
        a, b = m.span()
        out += (s[pos:a], value)
        n_start += o_start[pos:a]
        n_end += o_end[pos:a]
        n_start += [o_start[a]] * len(value)
        n_end += [o_end[b - 1]] * len(value)
        change += len(value) - (b - a)
        moves.append((a, b, change))
        pos = b
    if not moves:
        return s, o_start, o_end, breaks, questions
    out.append(s[pos:])
    n_start += o_start[pos:]
    n_end += o_end[pos:]

    def moved(i: int) -> Optional[int]:
        before = 0  # the length change of the runs before offset i
        for a, b, after in moves:
            if i <= a:
                break
            if i < b:
                return None  # inside a converted run
            before = after
        return i + before

    nb = {j for j in map(moved, breaks) if j is not None}
    nq = {j for j in map(moved, questions) if j is not None}
    return "".join(out), n_start, n_end, nb, nq


def normalize_phrase(phrase: str) -> str:
    """The matching form of a rubric phrase (same pipeline as segment text)."""
    return normalize(phrase).text


# --- pinyin -----------------------------------------------------------------------------------

_SYLLABLE_CODES: dict[str, str] = {}
_PUA = 0xE000


def _fold_syllable(py: str) -> str:
    """Merge the distinctions ASR and accents blur most: zh/z, ch/c, sh/s and -ng/-n."""
    for a, b in (("zh", "z"), ("ch", "c"), ("sh", "s")):
        if py.startswith(a):
            py = b + py[2:]
            break
    if py.endswith("ng") and len(py) > 2 and py[-3] in "aeio":
        py = py[:-1]
    return py


def _static_data_loaded() -> None:
    """Dictionaries just loaded (jieba's, pypinyin's) live as long as the process: move what is
    alive now out of the cyclic garbage collector's reach (``gc.freeze``). Otherwise every full
    collection walks their hundreds of thousands of entries again, which cost scoring about a
    fifth of its time. Objects that die later are still freed by reference counting."""
    gc.freeze()


@lru_cache(maxsize=1)
def _pinyin():
    from pypinyin import Style, lazy_pinyin

    lazy_pinyin("中", style=Style.NORMAL)  # loads the dictionaries
    _static_data_loaded()
    return lazy_pinyin, Style.NORMAL


def syllables(text: str) -> list[str]:
    """Each character's syllable with its tone (``bao4``), as pypinyin reads the text; a
    character without one stands for itself."""
    from pypinyin import Style

    lazy_pinyin, _ = _pinyin()
    out = lazy_pinyin(text, style=Style.TONE3, neutral_tone_with_five=True, errors=lambda x: list(x))
    return out if len(out) == len(text) else list(text)


@lru_cache(maxsize=65536)
def _char_code(c: str) -> str:
    if not ("\u3400" <= c <= "\u9fff"):
        return c
    lazy_pinyin, normal = _pinyin()
    py = lazy_pinyin(c, style=normal, errors="ignore")
    if not py:
        return c
    key = _fold_syllable(py[0])
    code = _SYLLABLE_CODES.get(key)
    if code is None:
        code = chr(_PUA + len(_SYLLABLE_CODES))
        _SYLLABLE_CODES[key] = code
    return code


# Ideograph code point → its pinyin code, for ``str.translate``, learnt on first sight: at most
# the 27,648 code points _char_code gives codes to; every other character is its own code, which
# translate gives by leaving it alone. A plain dict: translate looks it up much faster than a
# dict subclass that fills itself (__missing__).
_CODES: dict[int, str] = {}
_IDEOGRAPH = re.compile("[\u3400-\u9fff]")


def pinyin_key(text: str) -> str:
    """One code character per input character; homophones share a code (抱歉 == 报歉)."""
    out = text.translate(_CODES)
    if _IDEOGRAPH.search(out) is None:
        return out  # every ideograph had its code already
    # ideographs not met before (or known to have no pinyin, and so their own code)
    new = {c for c in _IDEOGRAPH.findall(out) if ord(c) not in _CODES}
    if not new:
        return out
    for c in new:
        _learn(c)
    return text.translate(_CODES)


def _learn(c: str) -> None:
    """Give ideograph ``c`` its code in both views of the codes: ``_CODES`` and ``_TABLE``."""
    code = _char_code(c)
    _CODES[ord(c)] = code
    _TABLE[ord(c) - _FIRST_IDEOGRAPH] = ord(code)
    _KNOWN[ord(c) - _FIRST_IDEOGRAPH] = True


# The same codes as an array for numpy (``pinyin_keys``): index ``ord(c) - 0x3400`` of an
# ideograph holds its code's code point, learnt (``_KNOWN``) on first sight like ``_CODES``.
_FIRST_IDEOGRAPH, _LAST_IDEOGRAPH = 0x3400, 0x9FFF
_TABLE = np.arange(_FIRST_IDEOGRAPH, _LAST_IDEOGRAPH + 1, dtype=np.uint32)
_KNOWN = np.zeros(len(_TABLE), dtype=bool)
# Below this many characters in all, texts are translated one by one (numpy's fixed costs).
_BATCH_CHARS = 256


def pinyin_keys(texts: list[str]) -> list[str]:
    """``[pinyin_key(t) for t in texts]``, for many texts at once: their code points are looked
    up in ``_TABLE`` with one numpy indexing (``str.translate`` with a dict looks every
    character up on its own, several times slower). Texts with a line break go one by one."""
    joined = "\n".join(texts)
    if len(joined) < _BATCH_CHARS or joined.count("\n") != len(texts) - 1:
        return [pinyin_key(t) for t in texts]
    points = np.frombuffer(joined.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    ideographs = (points >= _FIRST_IDEOGRAPH) & (points <= _LAST_IDEOGRAPH)
    offsets = points[ideographs] - _FIRST_IDEOGRAPH
    for k in np.unique(offsets[~_KNOWN[offsets]]).tolist():
        _learn(chr(k + _FIRST_IDEOGRAPH))
    codes = points.copy()
    codes[ideographs] = _TABLE[offsets]
    return codes.tobytes().decode("utf-32-le", "surrogatepass").split("\n")


# --- word boundaries --------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _jieba():
    import logging

    import jieba

    jieba.setLogLevel(logging.WARNING)
    jieba.initialize()
    _static_data_loaded()
    return jieba


def is_word(text: str) -> bool:
    """Whether ``text`` is a word of jieba's dictionary."""
    return _jieba().dt.FREQ.get(text, 0) > 0


def word_bounds(text: str) -> frozenset[int]:
    """Offsets in ``text`` where a jieba word begins or ends (its start and end included)."""
    bounds = {0, len(text)}
    for _, start, end in _jieba().tokenize(text):
        bounds.add(start)
        bounds.add(end)
    return frozenset(bounds)
