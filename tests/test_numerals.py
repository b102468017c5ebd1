"""Rubric regexes are written as people write Chinese (有一个洞, 快一点), but normalised text
writes a counted numeral as its digit (有1个洞, 快1点). schema.digits_too lets each numeral of a
regex also match its digit, so such a regex finds what its author meant."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from qa_scorer.models import Transcript
from qa_scorer.normalize import normalize
from qa_scorer.rubric.loader import load_rubric, parse_rubric
from qa_scorer.rubric.schema import digits_too
from qa_scorer.score import score_transcript


def test_numerals_outside_and_inside_classes():
    assert digits_too("有(一个|一条)洞") == "有([一1]个|[一1]条)洞"
    assert digits_too("[一二三]个") == "[一二三123]个"
    assert digits_too("[^两]") == "[^两2]"
    assert digits_too("[]一]") == "[]一1]"
    assert digits_too("(?!点|一点|些)") == "(?!点|[一1]点|些)"
    assert digits_too(r"\[一\]") == r"\[[一1]\]"
    assert digits_too("没有数字") == "没有数字"


_NUMERALS = "零一二两三四五六七八九"
_TEXT = st.text(alphabet=_NUMERALS + "个天点次件台号年只直定共些洞有了晚快", min_size=1, max_size=12)


_DIGIT = {"零": "0", "一": "1", "二": "2", "两": "2", "三": "3", "四": "4", "五": "5", "六": "6", "七": "7",
          "八": "8", "九": "9"}


@settings(max_examples=300, deadline=None)
@given(_TEXT)
def test_a_regex_written_as_text_finds_that_text_normalised(text):
    pattern = digits_too(re.escape(text))
    assert re.fullmatch(pattern, text)  # what it found before, it still finds
    norm = normalize(text).text
    # wherever normalisation wrote numerals as digits one for one, the regex finds the result
    if len(norm) == len(text) and all(a == b or _DIGIT.get(a) == b for a, b in zip(text, norm)):
        assert re.fullmatch(pattern, norm)


_RUBRIC = """
id: t
name: t
items:
  - id: hole
    name: hole
    kind: prohibited
    points: 10
    type: classifier
    speaker: customer
    match:
      regex: ['有(一个|一条)(洞|缝)', '晚了(一点|好久)(?!吧)']
"""


def _call(text: str) -> Transcript:
    return Transcript.model_validate({"version": 1, "call_id": "c", "agent_id": "a", "channel": "chat",
                                      "segments": [{"speaker": "customer", "text": text}]})


def test_rubric_regex_with_a_counted_numeral_finds_it():
    rubric = parse_rubric(_RUBRIC)
    for text, found in [("外壳上有一个洞", True), ("这里有一条缝", True), ("有个洞", False),
                        ("送得晚了一点", True), ("晚了一点吧", False)]:
        assert (score_transcript(_call(text), rubric).item("hole").status == "fail") is found, text


def test_default_rubric_reads_counted_numerals():
    rubric = load_rubric(None)
    # a hole reported with 一个 is a problem; "处理快一点" asks for speed, it does not praise it
    card = score_transcript(Transcript.model_validate({
        "version": 1, "call_id": "c", "agent_id": "a", "channel": "chat", "segments": [
            {"speaker": "agent", "text": "您好"},
            {"speaker": "customer", "text": "收到的箱子外壳上有一个洞"},
            {"speaker": "agent", "text": "好的"},
            {"speaker": "customer", "text": "那你们处理快一点"},
            {"speaker": "agent", "text": "好的"}]}), rubric)
    assert card.item("apology").status == "fail"
    assert card.item("customer_praise").status == "na"


def test_yao_is_one_among_digits_read_out():
    """幺 is how "one" is read out in numbers (幺二三幺五, a phone number's 幺三九): among other
    numerals it is the digit 1, so 一二三幺五 and 幺二三幺五 both read as 12315; alone it is a word
    (幺妹, 幺儿) and stays; a regex written with it also finds the digit."""
    assert normalize("我打一二三幺五").text == "我打12315"
    assert normalize("我打幺二三幺五").text == "我打12315"
    assert normalize("电话幺三九").text == "电话139"
    assert normalize("她是我们家幺妹").text == "她是我们家幺妹"
    assert normalize("幺号").text == "幺号"
    assert digits_too("幺二") == "[幺1][二2]"
    # the youngest child (老幺 / 小幺) before a number is no digit (the before-stop review)
    assert normalize("我家老幺三岁了").text == "我家老幺三岁了"
    assert "老幺" in normalize("排行老幺一个人在外地").text
    assert normalize("打幺幺零").text == "打110"
    # …nor is 幺 read with units (幺十 / 三十幺), nor 幺幺 the baby before a number (the code review)
    assert normalize("三十幺").text == "三十幺"
    assert normalize("我家幺幺一岁半").text == "我家幺幺一岁半"
    assert normalize("幺幺两个月").text == "幺幺两个月"
