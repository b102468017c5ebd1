"""Needles: literal text every match of a rubric pattern holds, and the searches that skip the
lines without one (safe_regex.needles, RegexSet). A needle that a match lacks would make a
search miss what the pattern finds: these tests hold both against the plain patterns."""

import re

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from qa_scorer.rubric import safe_regex

# few characters, so that patterns and texts meet often; 你 and 不 are "common" (never a needle
# of their own), the line break separates segments
_CHARS = "你不是投诉好差评a1"
_TEXT = st.lists(st.sampled_from(list(_CHARS) + ["你不", "投诉", "差评", "\n", "!", "Z"]), max_size=40).map("".join)


def _atom():
    return st.one_of(
        st.sampled_from(list(_CHARS)).map(re.escape),
        st.sampled_from(["[你不]", "[投诉差]", "[^\\n]", ".", "\\d", "[a1]", "[^你]"]),
    )


def _pattern():
    def extend(inner):
        return st.one_of(
            st.lists(inner, min_size=1, max_size=4).map("".join),
            st.lists(inner, min_size=2, max_size=3).map(lambda xs: "(" + "|".join(xs) + ")"),
            st.tuples(inner, st.sampled_from(["?", "*", "+", "{1,2}", "{0,2}", "{2}", "+?"])).map(
                lambda t: "(?:" + t[0] + ")" + t[1]),
            st.tuples(st.sampled_from(["(?<!你)", "(?<=投)", "(?=诉)", "(?!评)", "^", "$", "\\b"]), inner).map(
                lambda t: t[0] + t[1]),
            st.tuples(inner, st.sampled_from(["(?!你)", "$", "(?<=诉)"])).map(lambda t: t[0] + t[1]),
        )
    return st.recursive(_atom(), extend, max_leaves=8)


@settings(max_examples=600, deadline=None)
@given(_pattern(), _TEXT)
def test_every_match_holds_one_of_the_needles(pattern, text):
    try:
        compiled = re.compile(pattern, re.M)
    except re.error:
        assume(False)
    found = safe_regex.needles(pattern, re.M)
    assume(found is not None)
    assert all(found)
    for m in compiled.finditer(text):
        assert any(n in m.group() for n in found), (pattern, text, m.span(), found)


@settings(max_examples=600, deadline=None)
@given(st.lists(_pattern(), min_size=1, max_size=3), st.lists(st.sampled_from(["投诉", "差评", "好a"]), max_size=2),
       st.lists(_TEXT.map(lambda t: t.replace("\n", "")), max_size=8), st.integers(0, 30), st.booleans())
def test_a_set_with_needles_finds_what_it_finds_without(patterns, phrases, lines, pos, costly):
    """RegexSet.spans, which skips the lines (and texts) without a needle, against the same
    set searching everything: the same spans, from the start of a text of lines joined by line
    breaks and from a later position (as a clause's search does); with ``costly``, a pattern
    that only RE2 may run joins the set."""
    if costly:
        patterns = patterns + ["[^\\n]*" + patterns[0] + "[^\\n]*[^\\n]*差评"]
    try:
        full = safe_regex.RegexSet.build(patterns, [re.escape(p) for p in phrases])
    except ValueError:  # refused by the planner (catastrophic, empty, ...)
        assume(False)
    assume(full is not None)
    assert not costly or full.re2 is not None
    plain = safe_regex.RegexSet.build(patterns, [re.escape(p) for p in phrases])
    plain.py_needles = plain.re2_needles = plain.py_sieve = None
    text = "\n".join(lines)
    for start in (0, min(pos, len(text))):
        assert sorted(full.spans(text, start)) == sorted(plain.spans(text, start)), (patterns, text, start)
    for line in lines:
        assert sorted(full.spans(line)) == sorted(plain.spans(line))


_LINE = st.lists(st.sampled_from(list(_CHARS) + ["你不", "投诉", "差评", "!", "Z", "\ud800"]), max_size=30).map("".join)


@settings(max_examples=600, deadline=None)
@given(_pattern(), st.lists(_LINE, max_size=6))
def test_every_line_a_pattern_matches_in_holds_a_match_of_its_sieve(pattern, lines):
    """safe_regex.sieve: the RE2 pattern that picks the lines worth searching for a pattern
    that only Python's re runs finds something in every line the pattern matches in."""
    import re2

    try:
        compiled = re.compile(pattern, re.M)
    except re.error:
        assume(False)
    assume(safe_regex.line_local(pattern))
    found = safe_regex.sieve(pattern)
    assume(found is not None)
    sieve = re2.compile("(?m)" + found)
    for line in lines:
        if compiled.search(line) is not None:
            assert sieve.search(line.replace("\ud800", "\ufffd")) is not None, (pattern, found, line)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(st.lists(_pattern(), min_size=1, max_size=4), st.lists(_LINE, max_size=8), st.integers(0, 30))
def test_a_set_searched_through_its_sieve_finds_what_it_finds_without(patterns, lines, pos):
    """RegexSet.spans where Python's patterns have no needle worth looking for: only the lines
    their sieves find something in are searched, with the same spans as a search of the whole
    text (from its start and from a later position; a text holding a lone surrogate, which
    RE2 cannot read as it is, is searched whole)."""
    try:
        full = safe_regex.RegexSet.build(patterns)
    except ValueError:
        assume(False)
    assume(full is not None and full.py_sieve is not None)
    plain = safe_regex.RegexSet.build(patterns)
    plain.py_needles = plain.re2_needles = plain.py_sieve = None
    text = "\n".join(lines)
    for start in (0, min(pos, len(text))):
        assert sorted(full.spans(text, start)) == sorted(plain.spans(text, start)), (patterns, text, start)


def test_sieves_of_a_few_patterns():
    # the two widest stretches between broad gaps, lookarounds left out, repeats open
    assert safe_regex.sieve("(你|亲)(当时|之前)?(定|订)的是(?:(?!放心)[^\\n]){1,12}(没错|对吧)") == (
        "(?:(?:[你亲])(?:(?:(?:当时|之前)))?(?:[定订])的是(?:[^\\x{a}])*(?:(?:没错|对吧)))")
    assert safe_regex.sieve("^(?![^\\n]*(想|要))[^\\n]*几点(钟)?(的|那趟)(车|船)$") == (
        "(?:几点(?:(?:钟))?(?:(?:的|那趟))(?:[车船])$)")
    # each alternative its own; a group's when the sequence has nothing but gaps
    assert safe_regex.sieve("(a|b[^\\n]*cd)") == "(?:a|b(?:[^\\x{a}])*cd)"
    assert safe_regex.sieve("(有股[^\\n]{0,4}味|(油漆|霉)味)(?![^\\n]{0,4}正常)") == (
        "(?:有股(?:[^\\x{a}])*味|(?:(?:油漆|霉))味)")
    assert safe_regex.sieve("^[^\\n]{0,3}$") is None  # nothing but a gap
    assert safe_regex.sieve("(?i)abc") is None


def test_only_the_lines_a_sieve_finds_something_in_are_searched():
    rs = safe_regex.RegexSet.build(["(?<!不)是你[^\\n]{0,4}吗", "^好(?!的)"])
    assert rs.py_needles is None and rs.py_sieve is not None  # 是你 and 好 are in nearly every line
    lines = ["你好呀" * 20, "是你订的吗", "不是你吗", "好的", "好", "x是你吗", "再见" * 20]
    searched = []

    class Spy:
        def __init__(self, compiled):
            self.compiled = compiled

        def finditer(self, text, pos=0):
            searched.append(text)
            return self.compiled.finditer(text, pos)

    rs.py = Spy(rs.py)
    text = "\n".join(lines)
    starts = [sum(len(l) + 1 for l in lines[:k]) for k in range(len(lines))]
    assert sorted(rs.spans(text)) == [(starts[1], starts[1] + 5), (starts[4], starts[4] + 1),
                                      (starts[5] + 1, starts[5] + 4)]
    assert searched == ["\n".join(lines[1:6])]  # not the first line nor the last


def test_needles_of_a_few_patterns():
    assert safe_regex.needles("投诉(你们|你)") == ("投诉你", "投诉你们")
    assert safe_regex.needles("(给|打)(你们|你)*差评") == ("差评",)
    assert safe_regex.needles("a|投诉") == ("a", "投诉")
    assert safe_regex.needles("(?i)abc") is None  # other cases would match too
    assert safe_regex.needles("你.?") == ("你",)
    assert safe_regex.needles(".{0,3}") is None
    assert safe_regex.needles("(?=投诉)..") is None  # a lookahead matches nothing
    assert safe_regex.needles("(投诉|.)好") == ("好",)


def test_only_needles_of_uncommon_text_are_looked_for():
    rs = safe_regex.RegexSet.build(["(给|打)差评"])
    assert rs.py_needles is not None and rs.py_needles.search("我给差评") is not None
    assert safe_regex.RegexSet.build(["你.{0,3}好"]).py_needles is None  # 你 is in nearly every line


def test_only_the_lines_with_a_needle_are_searched():
    rs = safe_regex.RegexSet.build(["(?<!不)投诉(你们|你)", "^差评$"])
    lines = ["你好", "我要投诉你们", "不投诉你", "好" * 50, "差评", "x差评", "投诉你"]
    text = "\n".join(lines)
    starts = [sum(len(l) + 1 for l in lines[:k]) for k in range(len(lines))]
    assert sorted(rs.spans(text)) == [(starts[1] + 2, starts[1] + 6), (starts[4], starts[4] + 2),
                                      (starts[6], starts[6] + 3)]


@settings(max_examples=400, deadline=None)
@given(st.lists(_pattern(), min_size=1, max_size=5), st.lists(st.sampled_from(["投诉", "差评", "好a", "投"]), max_size=3),
       _TEXT)
def test_exclusions_searched_by_their_needles_find_what_each_finds(patterns, phrases, text):
    """An item's exclusions (schema._Exclusions: each pattern a set of its own, searched only
    where the text holds one of its needles, found for all of them in one search) give the
    spans of every set searched in full."""
    from qa_scorer.rubric.schema import _Exclusions

    sets = []
    for p in patterns:
        try:
            one = safe_regex.RegexSet.build([p])
        except ValueError:
            continue
        if one is not None:
            sets.append(one)
    if phrases:
        sets.append(safe_regex.RegexSet.build([], [re.escape(p) for p in phrases]))
    assume(sets)
    want = sorted(span for one in sets for span in one.spans(text))
    assert sorted(_Exclusions(sets).spans(text)) == want


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(["投", "投诉", "投诉了", "诉", "差评", "评", "a1", "好"]), min_size=1, max_size=6), _TEXT)
def test_the_needle_finder_finds_every_needle_a_text_holds(words, text):
    """Needles that begin where a longer one does (投 / 投诉 / 投诉了) and that overlap (投诉 /
    诉): all of them found."""
    assert safe_regex.NeedleFinder(words).held(text) == {w for w in words if w in text}


def test_an_re2_exclusion_with_a_replacement_character_needle_is_searched_always():
    """RE2 reads a lone surrogate as U+FFFD; a needle holding U+FFFD may be in what RE2 reads and
    not in the text, so such a set is never skipped (the code review's counterexample)."""
    from qa_scorer.rubric.schema import _Exclusions

    sets = [safe_regex.RegexSet.build(["a\ufffd[^\\n]{0,100}[^x]{0,100}[^y]{0,100}z"]),
            safe_regex.RegexSet.build(["投诉"])]
    text = "a\ud800z"
    assert _Exclusions(sets).spans(text) == [span for one in sets for span in one.spans(text)] == [(0, 3)]
