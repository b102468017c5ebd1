"""Hostile and broken rubrics and transcripts: every one ends in a rubric error with
``file:line:col`` (exit 3) or a scorecard, quickly, never in a traceback or a hang.

Time limits here are generous and only catch hangs; speed is measured in bench/."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from qa_scorer.cli import app
from qa_scorer.models import Transcript
from qa_scorer.normalize import normalize
from qa_scorer.rubric.loader import MAX_BYTES, RubricError, load_rubric, parse_rubric
from qa_scorer.score import score_transcript

ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()
LOCATED = re.compile(r"^.+:\d+:\d+: .+")

GOOD = """\
id: mini
items:
  - id: hello
    kind: required
    points: 5
    type: phrase
    match: {phrases: [你好]}
"""


def problems(text: str) -> list[str]:
    with pytest.raises(RubricError) as exc:
        parse_rubric(text, "r.yaml")
    assert exc.value.problems and all(LOCATED.match(p) for p in exc.value.problems), exc.value.problems
    return exc.value.problems


def check_exit(tmp_path, text: str | bytes) -> str:
    """`rubric check` on a file with this content: exit 3 and located messages."""
    f = tmp_path / "r.yaml"
    f.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    res = runner.invoke(app, ["rubric", "check", str(f)])
    assert res.exit_code == 3, res.output
    assert res.exception is None or isinstance(res.exception, SystemExit), res.exception
    assert f"{f}:" in res.output and re.search(r":\d+:\d+: ", res.output), res.output
    return res.output


def call(*segments, timed=True) -> Transcript:
    segs = []
    for n, (speaker, text) in enumerate(segments):
        seg = {"speaker": speaker, "text": text}
        if timed:
            seg.update(start=n * 5.0, end=n * 5.0 + 4.0)
        segs.append(seg)
    return Transcript.model_validate({"version": 1, "call_id": "c1", "segments": segs})


# --- 9: long segments with many matches -----------------------------------------------------


def test_clause_lookup_matches_the_scan_it_replaces():
    def scanned(norm, pos):
        start = pos
        while start > 0 and start not in norm.breaks:
            start -= 1
        end = pos + 1
        while end < len(norm.text) and end not in norm.breaks:
            end += 1
        return (start, min(end, len(norm.text)))

    for text in ["", "你好", "你好，我的洗衣机坏了。能退吗？", "，，开头。结尾，", "三天，二十四小时。一定"]:
        norm = normalize(text)
        for pos in range(-1, len(norm.text) + 2):
            assert norm.clause(pos) == scanned(norm, pos), (text, pos)


@pytest.mark.parametrize("punctuated", [False, True], ids=["one_clause", "many_clauses"])
def test_a_segment_with_fifty_thousand_hits_is_scored_without_hanging(default_rubric, punctuated):
    unit = "我的洗衣机坏了"
    text = ("，".join([unit] * 50_000)) if punctuated else unit * 50_000
    t = call(("agent", "您好，请问有什么可以帮您？"), ("customer", text), ("agent", "非常抱歉，再见。"))
    t0 = time.perf_counter()
    card = score_transcript(t, default_rubric)
    assert time.perf_counter() - t0 < 60  # a hang guard only; bench/bench_long_segment.py measures
    assert card.item("apology").status == "pass"


def test_exclusions_and_unless_still_apply_to_every_hit_in_a_long_segment():
    rubric = parse_rubric("""\
id: t
items:
  - id: rude
    kind: prohibited
    points: 10
    type: phrase
    speaker: any
    match:
      phrases: [滚]
      exclude: [滚筒]
      unless: [抱歉]
      word_boundary: never
""")
    text = "滚筒洗衣机，" * 2000 + "抱歉滚，" + "滚筒" * 1000 + "，你滚"
    card = score_transcript(call(("agent", text)), rubric)
    res = card.item("rude")
    assert res.status == "fail"
    assert [e.text for e in res.evidence] == ["滚"]
    assert res.evidence[0].span[0] == len(text) - 1


# --- 8: YAML bombs, size and depth ----------------------------------------------------------

BILLION_LAUGHS = """\
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
"""


def test_billion_laughs_rubric_is_refused_quickly(tmp_path):
    assert len(BILLION_LAUGHS.encode()) < 400
    t0 = time.perf_counter()
    out = check_exit(tmp_path, BILLION_LAUGHS)
    assert time.perf_counter() - t0 < 10
    assert "through YAML aliases" in out


def test_a_few_aliases_are_still_fine():
    text = GOOD.replace("match: {phrases: [你好]}", "match: &greet {phrases: [你好]}") + """\
  - id: hello_again
    kind: required
    points: 5
    type: phrase
    match: *greet
"""
    assert [i.id for i in parse_rubric(text).items] == ["hello", "hello_again"]


def test_recursive_alias_is_refused():
    (p,) = problems("id: x\nitems: &a [*a]\n")
    assert "inside its own anchor" in p


def test_rubric_nested_five_thousand_levels_is_a_rubric_error(tmp_path):
    deep = "id: x\nitems:\n  - " + "[" * 5000 + "]" * 5000 + "\n"
    out = check_exit(tmp_path, deep)
    assert "nested more than" in out
    mappings = "id: x\nitems:\n  - " + "{k: " * 5000 + "}" * 5000 + "\n"
    assert "nested more than" in check_exit(tmp_path, mappings)
    block = "id: x\nitems:\n- k:\n" + "".join(" " * (i + 3) + "k:\n" for i in range(200)) + " " * 203 + "v\n"
    assert "nested more than" in check_exit(tmp_path, block)


def test_rubric_larger_than_the_cap_is_refused_before_parsing(tmp_path):
    big = GOOD + "# " + "x" * MAX_BYTES + "\n"
    out = check_exit(tmp_path, big)
    assert "1 MiB" in out
    assert "1 MiB" in problems(big)[0]


def test_a_number_too_long_to_convert_is_a_rubric_error(tmp_path):
    out = check_exit(tmp_path, GOOD.replace("points: 5", "points: " + "9" * 5000))
    assert "r.yaml:5:13:" in out and "out of range" in out


def test_impossible_date_is_a_rubric_error(tmp_path):
    check_exit(tmp_path, GOOD.replace("id: mini", "id: mini\ndescription: 2026-02-31"))


# --- 4: numbers -----------------------------------------------------------------------------


@pytest.mark.parametrize("value", [".inf", "-.inf", ".nan", ".NaN", "1e400", "1e300", "1000001", "99999999999999999999"])
def test_points_must_be_a_finite_number_in_range(tmp_path, value):
    out = check_exit(tmp_path, GOOD.replace("points: 5", f"points: {value}"))
    assert "r.yaml:5:5: items.0.points:" in out


NUMBER_FIELDS = [
    ("base_score", "base_score"),
    ("min_silence", "items.0.min_silence"),
    ("within_turns", "items.0.within_turns"),
    ("first_seconds", "items.0.scope.first_seconds"),
    ("negation_window", "items.0.match.negation_window"),
    ("max_cpm", "items.0.max_cpm"),
]


def _with_number(field: str, v: str) -> str:
    if field == "base_score":
        return GOOD.replace("id: mini\n", f"id: mini\nbase_score: {v}\n")
    if field == "min_silence":
        return GOOD.replace("type: phrase\n    match: {phrases: [你好]}",
                            f"type: hold\n    min_silence: {v}\n    before: {{phrases: [稍等]}}\n    after: {{phrases: [谢谢]}}")
    if field == "within_turns":
        return GOOD.replace("type: phrase\n    match: {phrases: [你好]}",
                            "type: conditional\n    trigger: {speaker: customer, match: {phrases: [坏了]}}\n"
                            f"    response: {{speaker: agent, match: {{phrases: [抱歉]}}}}\n    within_turns: {v}")
    if field == "first_seconds":
        return GOOD.replace("match: {phrases: [你好]}", f"match: {{phrases: [你好]}}\n    scope: {{first_seconds: {v}}}")
    if field == "negation_window":
        return GOOD.replace("match: {phrases: [你好]}", f"match: {{phrases: [你好], negation: true, negation_window: {v}}}")
    if field == "max_cpm":
        return GOOD.replace("type: phrase\n    match: {phrases: [你好]}", f"type: speech_rate\n    max_cpm: {v}")
    raise AssertionError(field)


@pytest.mark.parametrize("field,where", NUMBER_FIELDS)
@pytest.mark.parametrize("value", [".inf", ".nan", "1e12"])
def test_every_number_field_refuses_non_finite_and_huge_values(field, where, value):
    parse_rubric(_with_number(field, "400" if field == "max_cpm" else "5"))  # a sane number loads
    (p,) = problems(_with_number(field, value))
    assert f": {where}: " in p, p
