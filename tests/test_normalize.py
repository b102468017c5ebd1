import pytest

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
    raw = "佢冇嚟"
    n = normalize(raw)
    assert n.text == "他没来" and n.source_span(0, 3) == (0, 3)


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
