import bisect
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qa_scorer.normalize import normalize, normalize_phrase, pinyin_key


@pytest.mark.parametrize("raw, norm", [
    ("您好，請問您是張先生嗎？", "你好请问你是张先生吗"),
    ("ＡＢＣ１２３，好的！", "abc123好的"),
    ("我保證三天內送到", "我保证3天内送到"),
    ("二十四小時之內", "24小时之内"),
    ("两个小时", "2个小时"),
    ("訂單號是一三八零零", "订单号是13800"),
    ("一定给您处理", "一定给你处理"),  # 一定 is not a quantity
    ("万一不行", "万一不行"),
    ("百分之百能修好", "百分之百能修好"),
    ("  好 的 ", "好的"),
])
def test_normalize_text(raw, norm):
    assert normalize(raw).text == norm


def test_spans_map_back_to_the_original_text():
    raw = "先生，我保證三天內到貨！"
    n = normalize(raw)
    start = n.text.index("3天")
    s, e = n.source_span(start, start + 2)
    assert raw[s:e] == "三天"
    start = n.text.index("保证")
    s, e = n.source_span(start, start + 2)
    assert raw[s:e] == "保證"


def test_full_width_text_keeps_its_spans():
    raw = "ＯＫ，您好"
    n = normalize(raw)
    s, e = n.source_span(n.text.index("你好"), n.text.index("你好") + 2)
    assert raw[s:e] == "您好"


def test_clauses_and_questions():
    n = normalize("你好，能保证明天到吗？好的")
    c = n.clause(n.text.index("保证"))
    assert n.text[c[0]:c[1]] == "能保证明天到吗"
    assert n.is_question(*c)
    c2 = n.clause(len(n.text) - 1)
    assert n.text[c2[0]:c2[1]] == "好的" and not n.is_question(*c2)


def test_tag_questions_ask():
    """能/会/可以 … 吧 at a clause's end asks the other side to confirm; other 吧 does not ask."""
    n = normalize("周六中午之前能到吧，我给你们留着")
    assert n.is_question(*n.clause(n.text.index("能到")))
    for text in ("您明天再来吧", "那就这样吧", "你先试试吧"):
        n = normalize(text)
        assert not n.is_question(*n.clause(0)), text


def test_word_segmented_text_keeps_its_clauses_whole():
    """A corpus's word-segmented export (a space between every word) is read as the same text
    unsegmented: a lone space there is no clause break, so 不 stays in 保证's clause and
    不便 in 抱歉's segment clause; a recogniser's spaces between phrases stay breaks."""
    seg = normalize("我 不 能 保证 明天 到 的 ， 给 您 带来 不便 非常 抱歉")
    plain = normalize("我不能保证明天到的，给您带来不便非常抱歉")
    assert seg.text == plain.text and seg.breaks == plain.breaks
    c = seg.clause(seg.text.index("保证"))
    assert seg.text[c[0]:c[1]] == "我不能保证明天到的"
    asr = normalize("嗯 对 是的 那个 我就是想问一下 你们这个 什么时候 到")
    assert len(asr.breaks) == 7
    short = normalize("好 的 谢谢")  # too short to tell: spaces stay breaks
    assert len(short.breaks) == 2


def test_pinyin_homophones():
    assert pinyin_key("抱歉") == pinyin_key("报歉")
    assert pinyin_key("稍等") == pinyin_key("烧等")  # sh/s folded
    assert pinyin_key("抱歉") != pinyin_key("道歉")
    assert len(pinyin_key("你好ok1")) == len("你好ok1")


def test_word_bounds_keep_words_whole():
    n = normalize("滚筒洗衣机坏了你滚")
    assert 1 not in n.bounds  # no boundary inside 滚筒
    assert len(n.text) - 1 in n.bounds


def test_phrases_go_through_the_same_pipeline():
    assert normalize_phrase("請您稍等！") == "请你稍等"


def test_cantonese_function_characters_fold_to_mandarin():
    assert normalize("收咗我两百蚊，我唔想投訴你哋").text == "收了我200蚊我不想投诉你们"
    # give, that, find; and two-character words: 唔該 is thanks, never 不该 "should not"
    assert normalize("你哋唔處理我就俾差評").text == "你们不处理我就给差评"
    assert normalize("嗰個搵唔到").text == "那个找不到"
    # 唔該 thanks before 晒 or at a message's end, please otherwise
    assert normalize("唔該晒，搞掂咗").text == "谢谢晒搞定了"
    assert normalize("唔該等等，我幫你查下").text == "麻烦等等我帮你查下"
    assert normalize("好 唔該").text == "好谢谢"
    assert normalize("仲有冇其他嘢").text == "还有没其他事"
    # Taiwan's phonetic typing: ㄉ for 的, ㄇ for 吗 (a question), ㄚ for 啊
    n = normalize("我買ㄉ是黑色，是ㄇ")
    assert n.text == "我买的是黑色是吗" and n.is_question(*n.clause(len(n.text) - 1))
    # …and nothing Mandarin text holds changes: 关系 / 系统 / 点解决 / 好耐用
    for text in ("我们的系统", "关系很好", "重点解决", "这个好耐用", "仲裁结果", "你这边个人资料", "然而家里没人",
                 "钢琴日常练习", "酒店周边度假", "搜寻日志"):
        assert normalize(text).text == text
    raw = "佢冇嚟"
    n = normalize(raw)
    assert n.text == "他没来" and n.source_span(0, 3) == (0, 3)
    # 咩 is what: 有咩可以幫到你 reads as 有啥可以帮到你
    assert normalize("請問有咩可以幫到你？").text == "请问有啥可以帮到你"


def test_the_northern_an_folds_to_wo():
    # 俺 is 我 in the north: 你等俺一下 is the customer's 你等我一下
    n = normalize("好 你等俺一下 俺们去看看")
    assert n.text == "好你等我一下我们去看看" and n.source_span(2, 6) == (3, 7)  # 等我一下 is 等俺一下


def test_the_northern_nen_folds_to_ni_where_it_is_you():
    # 恁 is 你 / 你们 in Henan and Shandong (给恁差评 / 恁们), but "so" before what it qualifies (恁大)
    n = normalize("我在小程序上给恁差评 恁们到底弄啥嘞")
    assert n.text == "我在小程序上给你差评你们到底弄啥嘞" and n.source_span(7, 9) == (7, 9)
    assert normalize("恁大的事 恁多人 这瓜恁甜").text == "恁大的事恁多人这瓜恁甜"
    # …and 恁好 opening a message is the greeting 您好
    assert normalize("恁好 这里是丰禾种业").text == "你好这里是丰禾种业"
    assert normalize("喂 恁好 恁咋不接电话").text == "喂你好你咋不接电话"
    assert normalize("他对恁好").text == "他对恁好"


def test_two_spellings_of_one_word_fold_to_the_one_rules_use():
    """A recogniser writes 干吗 as often as 干嘛 (and 其它 for 其他): a rule written with one
    must find the other, and evidence still points at the characters as written."""
    raw = "到期了才想起来，早干吗了？还有其它问题吗"
    n = normalize(raw)
    assert n.text == "到期了才想起来早干嘛了还有其他问题吗"
    at = n.text.index("干嘛")
    assert raw[slice(*n.source_span(at, at + 2))] == "干吗"
    assert normalize_phrase("干吗") == normalize_phrase("干嘛") == "干嘛"


def test_the_map_starts_from_what_normalize_made_and_ends_where_a_fresh_build_does():
    """normalize() hands its first two steps (NFKC, lower case, simplified) to the lazy map when
    they kept the text's length; the map must be the one _build makes from the text alone,
    whether they did or not (full-width, ligatures, circled digits, traditional phrases,
    Cantonese, numerals, punctuation only, empty)."""
    from qa_scorer.normalize import _build

    texts = ["您好，請問有什麼可以幫您？", "ＡＢＣ１２３，好的！", "ﬁle ① 三天后到", "唔該晒，佢話冇問題", "…！？", "",
             "二十四小时内，订单号一二三四五六", "麵包 乾燥機 頭髮", "Straße ǅ Σ"]
    for text in texts:
        fresh = _build(text)
        norm = normalize.__wrapped__(text)
        assert norm.text == fresh[0]
        if norm._simplified is not None:
            assert len(norm._simplified) == len(text)
        assert (norm.src_start, norm.src_end, norm.breaks, norm.questions) == fresh[1:]
        assert norm._simplified is None  # dropped once the map is made


def test_pinyin_key_is_each_characters_code_whatever_was_seen_before():
    """pinyin_key translates with the codes learnt so far and learns the ideographs it has not
    met: every text gets each character's own code (_char_code), ideographs new or known, with
    pinyin or without, other characters (letters, digits, newlines, private-use codes) as
    they are."""
    import random

    from qa_scorer.normalize import _char_code

    rng = random.Random(1)
    for _ in range(2000):
        text = "".join(chr(rng.choice([rng.randint(0x20, 0x7e), rng.randint(0x3400, 0x9fff), rng.randint(0x4e00, 0x4f00),
                                       0xE000 + rng.randint(0, 50), 10, rng.randint(0xa000, 0x2ffff)]))
                       for _ in range(rng.randint(0, 30)))
        assert pinyin_key(text) == "".join(_char_code(c) for c in text), text
    assert pinyin_key("抱歉\n报歉") == pinyin_key("抱歉") + "\n" + pinyin_key("报歉")


# The map as it was made before splitting on the dropped runs (run by run, with match objects)
# and before the numerals moved breaks by run instead of by character: the reference the faster
# one must equal exactly.
def _reference_map(text: str, simplified=None):
    import unicodedata

    from qa_scorer.normalize import (_CLAUSE_BREAK, _DROP, _NUM_RUN, _QUESTION, _UNITS, _fold, _parse_cn_number,
                                     to_simplified)
    from qa_scorer.normalize import _DIGITS, _MEASURE, _MEASURE_WORDS, _word_segmented

    def numeral_value(run, following):
        value = _parse_cn_number(run)
        if value is not None:
            return str(value)
        if any(c in _UNITS for c in run):
            return None
        if len(run) >= 2 or following.startswith(_MEASURE) or following.startswith(_MEASURE_WORDS):
            return "".join(str(_DIGITS[c]) for c in run)
        return None

    if simplified is not None:
        chars, same_length = simplified, True
    else:
        folded = unicodedata.normalize("NFKC", text).replace("Σ", "σ").lower()  # every Σ to σ, as normalize does
        same_length = len(folded) == len(text)
        if same_length:
            chars = to_simplified(folded)
            if len(chars) != len(folded):
                chars = "".join(to_simplified(c) for c in folded)
    if same_length:
        starts, ends = list(range(len(text))), list(range(1, len(text) + 1))
    else:
        pieces, starts, ends = [], [], []
        for i, c in enumerate(text):
            for ch in unicodedata.normalize("NFKC", c).replace("Σ", "σ").lower():
                pieces.append(ch)
                starts.append(i)
                ends.append(i + 1)
        chars = to_simplified("".join(pieces))
        if len(chars) != len(pieces):
            chars = "".join(to_simplified(c) for c in pieces)
    pieces, o_start, o_end, breaks, questions = [], [], [], set(), set()
    kept = prev = 0
    gap = " " if _word_segmented(chars) else None
    for m in _DROP.finditer(chars):
        begin, end = m.span()
        if begin > prev:
            pieces.append(chars[prev:begin])
            o_start.extend(starts[prev:begin])
            o_end.extend(ends[prev:begin])
            kept += begin - prev
        if kept and m.group() != gap and not _CLAUSE_BREAK.isdisjoint(m.group()):
            breaks.add(kept)
            if not _QUESTION.isdisjoint(m.group()):
                questions.add(kept)
        prev = end
    pieces.append(chars[prev:])
    o_start.extend(starts[prev:])
    o_end.extend(ends[prev:])
    s = _fold("".join(pieces))
    out, n_start, n_end, remap, pos, converted = [], [], [], {}, 0, False
    for m in _NUM_RUN.finditer(s):
        value = numeral_value(m.group(), s[m.end():m.end() + 3])
        if value is None:
            continue
        converted = True
        for i in range(pos, m.start()):
            remap[i] = len(out)
            out.append(s[i])
            n_start.append(o_start[i])
            n_end.append(o_end[i])
        remap[m.start()] = len(out)
        for ch in value:
            out.append(ch)
            n_start.append(o_start[m.start()])
            n_end.append(o_end[m.end() - 1])
        pos = m.end()
    if converted:
        for i in range(pos, len(s)):
            remap[i] = len(out)
            out.append(s[i])
            n_start.append(o_start[i])
            n_end.append(o_end[i])
        remap[len(s)] = len(out)
        s, o_start, o_end = "".join(out), n_start, n_end
        breaks = {remap[b] for b in breaks if b in remap}
        questions = {remap[q] for q in questions if q in remap}
    return s, o_start, o_end, frozenset(breaks), frozenset(questions)


_MAP_TEXT = st.lists(st.sampled_from(
    list("一二两三十百千万零〇五九天个号小时分钟月块元你好您請問麵乾髮咗唔冇帐該而家俾嗰揾，。！？?!,.、；: ～…_-'\n\tＡＢＣ１２abc0189")
    + ["ﬁ", "①", "Σ", "😀", "ǅ", "  ", " ", " ", "我 不 能 保证 ", "二十四", "一百零五", "十二点", "一三八零零", "万一", "一定", "三天"]),
    max_size=30).map("".join)


@settings(max_examples=600, deadline=None)
@given(_MAP_TEXT)
def test_the_map_is_the_reference_one(text):
    """_build (and the numerals step it ends with) against the reference above: the same text,
    source spans, clause breaks and questions, from the text alone and from what normalize()
    handed over, on punctuation runs at either end, numerals next to breaks and inside runs,
    traditional and full-width characters, ligatures that change the length."""
    from qa_scorer.normalize import _build

    assert _build(text) == _reference_map(text)
    norm = normalize.__wrapped__(text)
    if norm._simplified is not None:
        assert _build(text, norm._simplified) == _reference_map(text, norm._simplified)


@settings(max_examples=600, deadline=None)
@given(st.one_of(_MAP_TEXT, _MAP_TEXT.map(lambda t: re.sub("[零〇一二两三四五六七八九十百千万]", "", t))))
def test_the_map_of_runs_is_the_full_one(text):
    """The map made from the dropped runs alone (when steps 1-2 kept the length and there are no
    numerals) gives what the full map gives: every character's source span, every span's,
    each offset's clause, breaks, questions."""
    from qa_scorer.normalize import _NUM_RUN, _build, _Map

    norm = normalize.__wrapped__(text)
    light = norm._simplified is not None and not _NUM_RUN.search(norm._simplified)
    if not light:
        return  # the full map: see test_the_map_is_the_reference_one
    full = _build(text)
    n = len(norm.text)
    assert (norm.src_start, norm.src_end, norm.breaks, norm.questions) == full[1:]
    assert norm._map._starts is None
    reference = _Map(*full[1:3], None, None, *full[3:])
    for start in range(n):
        for end in range(start + 1, n + 1):
            assert norm.source_span(start, end) == reference.span(start, end)
    for pos in range(n + 1):
        order = reference.order  # the clause as NormText.clause finds it from the full map
        i = bisect.bisect_right(order, pos)
        expected = (pos if pos <= 0 else (order[i - 1] if i else 0), min(order[i], n) if i < len(order) else n)
        assert norm.clause(pos) == expected


def test_pinyin_keys_are_each_texts_pinyin_key():
    """pinyin_keys (one numpy lookup for many texts) gives what pinyin_key gives each text:
    ideographs it meets first (learnt in both views of the codes), ideographs without pinyin,
    letters, digits, private-use codes, characters past the ideographs and outside the BMP, a
    lone surrogate, empty texts, and texts with a line break of their own (one by one); in
    batches above and below the size where numpy takes over."""
    import random

    from qa_scorer.normalize import _BATCH_CHARS, _char_code, pinyin_keys

    rng = random.Random(2)

    def text():
        return "".join(chr(rng.choice([rng.randint(0x20, 0x7e), rng.randint(0x3400, 0x9fff), rng.randint(0x4e00, 0x4f00),
                                       0xE000 + rng.randint(0, 50), rng.randint(0xa000, 0x2ffff), 0x33ff, 0x9fff]))
                       for _ in range(rng.randint(0, 40)))

    for _ in range(300):
        texts = [text() for _ in range(rng.choice([0, 1, 2, 5, 40]))]
        if rng.random() < 0.1 and texts:
            texts[0] += "\n" + text()
        if rng.random() < 0.1:
            texts.append("\ud800" + "好" * _BATCH_CHARS)
        assert pinyin_keys(texts) == ["".join(_char_code(c) for c in t) for t in texts], texts
    assert pinyin_keys(["抱歉" * _BATCH_CHARS, "报歉"])[1] == pinyin_key("抱歉")


def test_pinyins_fill_each_segments_codes():
    """NormText.pinyins makes the codes still missing together and keeps them with each text."""
    from qa_scorer.normalize import NormText

    norms = [normalize.__wrapped__(t) for t in ["抱歉，报歉" * 60, "", "您好abc123", "𠀀嗯"]]
    norms[2].pinyin  # one made already
    assert NormText.pinyins(norms) == [pinyin_key(n.text) for n in norms] == [n.pinyin for n in norms]


_BATCH_TEXT = st.lists(st.sampled_from(
    list("乾隆藉口憑瞭解沈默你好您請問咗帐唔該嗰，。？！,.?！_-＿ＡＢΣσΑe\u0301\u0338=한\u1161ﬁ①😀\n\r\t 一二三天")
    + ["乾", "隆", "藉", "口", "瞭", "解", "沈", "默", "ΑΣ", "\u0301a"]),
    max_size=6).map("".join)


@settings(max_examples=500, deadline=None)
@given(st.lists(_BATCH_TEXT, max_size=8))
def test_normalize_all_is_normalize_of_each_text(texts):
    """normalize_all (steps 1-2 of the texts not cached, done once on their text joined by line
    breaks) makes what normalize makes of each text alone: OpenCC phrases split across two
    texts (乾|隆 is 乾隆 whole, 干隆 apart; 藉|口, 瞭|解, 沈|默), combining marks at a text's
    start, final sigma at its end, texts holding a line break, repeats, and cached texts."""
    from qa_scorer.normalize import _normalize, normalize_all

    normalize.cache_clear()
    for t in texts[::3]:
        normalize(t)  # some cached already
    got = normalize_all(texts)
    assert len(got) == len(texts)
    for t, n in zip(texts, got):
        fresh = _normalize(t)
        assert (n.text, n.original, n._simplified) == (fresh.text, fresh.original, fresh._simplified), t
        assert normalize(t) is n  # and kept in the cache
    normalize.cache_clear()


def test_normalize_all_keeps_opencc_phrases_inside_each_text():
    from qa_scorer.normalize import normalize_all

    normalize.cache_clear()
    assert [n.text for n in normalize_all(["沈", "默", "乾", "隆", "憑藉"])] == ["沈", "默", "干", "隆", "凭借"]
    assert [n.text for n in normalize_all(["沈默", "乾隆", "瞭解"])] == ["沉默", "乾隆", "了解"]
    normalize.cache_clear()


def test_normalize_cache_keeps_the_latest_texts():
    from qa_scorer import normalize as N

    N.normalize.cache_clear()
    for k in range(N._NORMS_SIZE + 10):
        N.normalize(str(k))
    assert len(N._NORMS) == N._NORMS_SIZE and "9" not in N._NORMS and str(N._NORMS_SIZE + 9) in N._NORMS
    first = N.normalize("100")  # asked again: the most recent
    assert list(N._NORMS)[-1] == "100" and N.normalize("100") is first
    N.normalize.cache_clear()
    assert not N._NORMS


def test_joined_pinyin_is_the_pinyin_of_the_joined_text():
    """Joined.pinyin joins each segment's own codes (NormText.pinyin, kept with the segment):
    the same as the codes of the joined text, empty segments and recurring ones included."""
    from qa_scorer.rubric.schema import Joined

    norms = [normalize(t) for t in ["抱歉，报歉", "", "您好abc123", "抱歉，报歉", "𠀀嗯", "。"]]
    assert Joined(norms).pinyin == pinyin_key(Joined(norms).text)
    assert Joined([]).pinyin == pinyin_key("") == ""


@settings(max_examples=1000, deadline=None)
@given(st.lists(st.sampled_from(list("，？！：；（）,?!你好ＡａＢ１①ﬁ…～＝=＜≮゙́̀かカｶ한ᄀ\u1161\u3000 ") + ["\u0338", "\u0301", "\u3099"]),
                max_size=12).map("".join))
def test_nfkc_is_unicodedatas(text):
    """normalize's NFKC swaps full-width marks for their ASCII forms before NFKC: the same text
    as NFKC itself, combining marks after a swapped mark, compositions (= and U+0338 make ≠),
    Hangul jamo, kana voicing marks and other compatibility characters included."""
    import unicodedata

    from qa_scorer.normalize import nfkc

    assert nfkc(text) == unicodedata.normalize("NFKC", text)


def test_final_sigma_does_not_break_the_map_back_to_the_original():
    # str.lower() makes Σ a final ς after a letter; a character lowered on its own cannot know
    # that. With ǅ (NFKC makes it two letters) the map is built character by character, and it
    # must agree with the text: every Σ is folded to σ on both paths.
    for text in ["ǅΣ", "ǅ好Σ 坏了", "AΣ", "ΣΣ"]:
        n = normalize.__wrapped__(text)
        assert "ς" not in n.text
        assert n.source_span(0, len(n.text))[1] <= len(text)
        assert len(n.src_start) == len(n.text)
