"""The pattern made for many literal words (schema._alternation_pattern) against the one it
was written as before its alternatives were laid out for re's quick scan of first characters:
the same matches, everywhere."""

import random
import re

from hypothesis import given, settings
from hypothesis import strategies as st

from qa_scorer.rubric import safe_regex
from qa_scorer.rubric.schema import _alternation, _alternation_pattern


def _reference_pattern(words: list[str]) -> str:
    """_alternation_pattern as it was: (?<!\\d) before a number, the trie in one group with its
    one-character words in a class."""

    def literal(word: str) -> str:
        pattern = re.escape(word)
        if word[0].isdigit():
            pattern = r"(?<!\d)" + pattern
        if word[-1].isdigit():
            pattern += r"(?!\d)"
        return pattern

    def trie(words: list[str]) -> str:
        root: dict = {}
        for w in words:
            node = root
            for ch in w:
                node = node.setdefault(ch, {})
            node[""] = {}

        def build(node: dict) -> str:
            alts, singles = [], []
            for ch in sorted(k for k in node if k):
                rest = build(node[ch])
                if rest:
                    alts.append(re.escape(ch) + rest)
                else:
                    singles.append(re.escape(ch))
            if singles:
                alts.append(singles[0] if len(singles) == 1 else "[" + "".join(singles) + "]")
            if not alts:
                return ""
            body = alts[0] if len(alts) == 1 else "(?:" + "|".join(alts) + ")"
            if "" in node:
                body = "(?:" + body + ")?"
            return body

        return build(root)

    words = sorted({w for w in words if w})
    plain = [w for w in words if not (w[0].isdigit() or w[-1].isdigit())]
    numbers = sorted((w for w in words if w not in plain), key=len, reverse=True)
    parts = [literal(w) for w in numbers]
    if plain:
        parts.append(trie(plain))
    return "|".join(parts)


_CHARS = list("一不好你的是吗1230٣①a.*+?[]()|\\^$ \n")
_WORD = st.lists(st.sampled_from(_CHARS), min_size=1, max_size=4).map("".join)


@settings(max_examples=400, deadline=None)
@given(st.lists(_WORD, min_size=1, max_size=12), st.lists(st.sampled_from(_CHARS), max_size=40).map("".join))
def test_alternation_finds_what_it_found_before(words, text):
    """Numbers (Arabic, Arabic-Indic, circled; at the text's start, after a digit, after a line
    break), one-character words beside longer ones, regex syntax characters: the same spans
    from every starting position, compiled as it is (compile_skipping) and plainly."""
    new = _alternation(words)
    old = safe_regex.compile_skipping(_reference_pattern(words))
    plain = re.compile(_alternation_pattern(words))
    for pos in range(len(text) + 1):
        expected = [m.span() for m in old.finditer(text, pos)]
        assert [m.span() for m in new.finditer(text, pos)] == expected
        assert [m.span() for m in plain.finditer(text, pos)] == expected


def test_alternation_alternatives_all_begin_with_a_character():
    """So re scans for their first characters by itself: compile_skipping adds no lookahead."""
    rng = random.Random(3)
    for _ in range(50):
        words = ["".join(rng.choice("一不好你12٣") for _ in range(rng.randint(1, 4))) for _ in range(rng.randint(1, 20))]
        pattern = _alternation_pattern(words)
        assert safe_regex.compile_skipping(pattern).pattern == pattern, pattern


_MANY = [chr(c) for c in range(0x4E00, 0x4E00 + 50)] + list("不好你的是吗a.*+?[]()|\\^$ \n\ufffd")


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(st.sampled_from(_MANY), min_size=1, max_size=4).map("".join), min_size=1, max_size=80),
       st.lists(st.sampled_from(_MANY + ["\ud800"]), max_size=60).map("".join), st.integers(0, 60))
def test_a_big_trie_on_re2_finds_what_re_finds(words, text, pos):
    """A trie whose words begin with many characters runs on RE2 (safe_regex.literal_re2):
    the same spans as the trie on Python's re, regex syntax characters, line breaks and lone
    surrogates in the text included (a word holding U+FFFD, which stands for a surrogate in
    RE2's text, stays on re)."""
    words = words + [chr(0x4E00 + k) + "好" for k in range(safe_regex.RE2_FIRST_CHARS)]
    pattern = _alternation_pattern(words)
    compiled = safe_regex.literal_re2(pattern, words)
    assert (compiled is None) == any("\ufffd" in w for w in words)
    if compiled is not None:
        pos = min(pos, len(text))
        assert safe_regex.re2_spans(compiled, text, pos) == [m.span() for m in re.compile(pattern).finditer(text, pos)]


def test_small_tries_and_numbers_stay_on_re():
    few = ["抱歉", "不好意思", "对不起"]
    assert safe_regex.literal_re2(_alternation_pattern(few), few) is None
    many = [chr(0x4E00 + k) + "好" for k in range(safe_regex.RE2_FIRST_CHARS)]
    assert safe_regex.literal_re2(_alternation_pattern(many), many) is not None
    assert safe_regex.literal_re2(_alternation_pattern(many + ["12315"]), many + ["12315"]) is None


def test_numbers_apart_from_a_big_trie_find_what_one_pattern_finds():
    """A big trie that also holds numbers (whose guards RE2 lacks) runs on RE2 with the numbers
    on re alone when no number can overlap another word (schema._apart): the same matches."""
    from qa_scorer.rubric.schema import _apart

    words = [chr(0x4E00 + k) + chr(0x4E80 + k % 7) for k in range(60)] + ["投诉", "差评"]
    numbers, plain = _apart(words + ["12315", "5星"])
    assert numbers == ["12315", "5星"] and "投诉" in plain
    one = re.compile(_alternation_pattern(words + ["12315", "5星"]))
    trie = safe_regex.literal_re2(safe_regex.trie_pattern(plain), plain)
    apart = _alternation(numbers)
    rng = random.Random(0)
    pieces = words + ["12315", "5星", "1", "星", "9", "投", "诉"]
    for _ in range(2000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(1, 8)))
        found = set(safe_regex.re2_spans(trie, text)) | {m.span() for m in apart.finditer(text)}
        assert sorted(found) == [m.span() for m in one.finditer(text)]
    # a number that can overlap a word (星 begins 星级) keeps the one pattern
    assert _apart(words + ["5星", "星级"]) == ([], [])
    assert _apart(words + ["12315", "投诉12315"]) == ([], [])


_PIECES = ["^", "$", "你", "好", "[^\\n]", "[^\\n]*", "(?<!不)", "(?![^\\n]*吗)", "吗", "(你|我)", "(的)?", "a", "\\n"]


@settings(max_examples=400, deadline=None)
@given(st.lists(st.lists(st.sampled_from(_PIECES), min_size=1, max_size=5).map("".join), min_size=1, max_size=6),
       st.lists(st.sampled_from(list("你好我的吗不a\n")), max_size=40).map("".join), st.integers(0, 40),
       st.booleans())
def test_skipping_with_line_starts_finds_what_re_finds(alternatives, text, pos, multiline):
    """Alternatives that begin with ^ (MULTILINE or not) beside ones that begin with a character
    or a class that takes any: the lookahead compile_skipping puts first (a first character, or
    a line's start) finds the same spans as the pattern compiled plainly, from any position."""
    pattern = "|".join(f"(?:{a})" for a in alternatives)
    flags = re.M if multiline else 0
    try:
        plain = re.compile(pattern, flags)
    except re.error:
        return
    skipping = safe_regex.compile_skipping(pattern, flags)
    pos = min(pos, len(text))
    assert [m.span() for m in skipping.finditer(text, pos)] == [m.span() for m in plain.finditer(text, pos)]


def test_skipping_lets_alternatives_anchored_at_a_line_start_keep_the_lookahead():
    """One alternative that begins with ^ no longer costs the others their first-character test."""
    compiled = safe_regex.compile_skipping("(?:^[^\\n]*吗$)|(?:(你|我)好)", re.M)
    assert compiled.pattern.startswith("(?:(?=[")
    assert [m.span() for m in compiled.finditer("我好\n好吗\n你好")] == [(0, 2), (3, 5), (6, 8)]


@settings(max_examples=400, deadline=None)
@given(st.lists(st.lists(st.sampled_from(_PIECES + ["(?<!你)", "(?:(?<!好)的|吗)"]), min_size=1, max_size=5)
                .map("".join), min_size=1, max_size=6),
       st.lists(st.sampled_from(list("你好我的吗不a\n")), max_size=40).map("".join), st.integers(0, 40))
def test_guarded_alternatives_find_what_the_regex_finds(alternatives, text, pos):
    """A rubric regex as planned for Python's re (each alternative that begins with a
    lookbehind, an optional part or a group led by a lookahead for its first characters) finds
    the same spans as the regex compiled plainly, alone and joined with other patterns."""
    regex = "|".join(alternatives)
    try:
        plain = re.compile(regex, re.M)
        planned = safe_regex.plan(regex).py
    except (re.error, ValueError):
        return
    if planned is None:
        return
    pos = min(pos, len(text))
    want = [m.span() for m in plain.finditer(text, pos)]
    assert [m.span() for m in re.compile(planned, re.M).finditer(text, pos)] == want
    joined = safe_regex.compile_skipping(f"{planned}|(?:a吗)", re.M)
    assert [m.span() for m in joined.finditer(text, pos)] == [m.span() for m in re.compile(
        f"(?:{regex})|(?:a吗)", re.M).finditer(text, pos)]


def test_an_alternative_led_by_lookbehinds_gets_its_own_first_character_test():
    """re enters such an alternative at every position its group is tried; the lookahead for
    付 / 支 lets it leave at once. One that begins with a character needs none."""
    planned = safe_regex.plan("(?<!不管)(?<!无论)(?:付款|支付)金额|请问|^好的").py
    assert planned.startswith("(?:(?:(?=[\\U00004ed8\\U0000652f])(?<!不管)")
    assert "|请问|^好的" in planned
    compiled = re.compile(planned, re.M)
    assert [m.span() for m in compiled.finditer("不管付款金额\n付款金额\n好的")] == [(7, 11), (12, 14)]
