"""Hostile and broken rubrics and transcripts: every one ends in a rubric error with
``file:line:col`` (exit 3) or a scorecard, quickly, never in a traceback or a hang.

Time limits here are generous and only catch hangs; speed is measured in bench/."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from qa_scorer.cli import app
from qa_scorer.models import Transcript
from qa_scorer.normalize import normalize
from qa_scorer.rubric.loader import MAX_BYTES, RubricError, parse_rubric
from qa_scorer.rubric.safe_regex import RegexSet, plan
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


@pytest.mark.slow
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


# --- 7: regexes that could hang scoring -----------------------------------------------------


def with_regex(*regexes: str, field: str = "regex") -> str:
    entries = "".join(f"        - '{r}'\n" for r in regexes)
    return GOOD.replace("match: {phrases: [你好]}", f"match:\n      phrases: [你好]\n      {field}:\n" + entries)


CATASTROPHIC = ["(a+)+$", "(a|a)*b", "(.*)*x", "(a*)*b", "(a|aa)+c", r"(\d+\w*)+!", "(x+x+)+y", "(ab|a(b))*c",
                "((a|b)*a?)+c", "(咣|嗡|咣咣)+(响|叫)",
                # under ASCII, \W accepts 你: the repeat and the literal after it overlap
                r"(?a:\W{0,30}你){6}x"]


@pytest.mark.parametrize("regex", CATASTROPHIC)
def test_catastrophic_backtracking_is_refused_at_its_line_and_column(tmp_path, regex):
    (p,) = problems(with_regex("坏了", regex))
    assert p.startswith("r.yaml:11:11: items.0.match.regex.1:") and "catastrophic backtracking" in p, p
    check_exit(tmp_path, with_regex(regex))


@pytest.mark.parametrize("regex", CATASTROPHIC)
def test_catastrophic_exclusion_is_refused_too(regex):
    (p,) = problems(with_regex(regex, field="exclude_regex"))
    assert ": items.0.match.exclude_regex.0:" in p and "catastrophic" in p


@pytest.mark.parametrize("regex", [r"(a)\1", r"(?P<x>a)(?P=x)", r"(a)?(?(1)b|c)"])
def test_back_references_are_refused(regex):
    (p,) = problems(with_regex(regex))
    assert p.startswith("r.yaml:10:11:") and "back references" in p


@pytest.mark.parametrize("regex", ["", "a*", "x|", "(?=x)", "^", "$", r"\b", "(你好)?", "a{0}"])
def test_a_regex_that_matches_the_empty_string_is_refused(tmp_path, regex):
    (p,) = problems(with_regex(regex))
    assert p.startswith("r.yaml:10:11:") and "empty string" in p
    check_exit(tmp_path, with_regex(regex))


def test_lookaround_patterns_with_unbounded_cost_are_refused():
    (p,) = problems(with_regex("a.{0,60}b.{0,60}c.{0,60}(?!x)d"))
    assert "steps per text position" in p and "lookaround" in p


def test_the_bundled_rubric_no_longer_hangs_on_a_knocking_noise(default_rubric):
    # (咣|…|咣咣)+ used to backtrack exponentially: 45 咣 took about ten minutes.
    t = call(("agent", "您好"), ("customer", "咣" * 5000 + "。"), ("customer", "咣咣咣响了"))
    t0 = time.perf_counter()
    card = score_transcript(t, default_rubric)
    assert time.perf_counter() - t0 < 30
    assert card.item("apology").status == "fail"  # 咣咣咣响 still reports a problem


PATHOLOGICAL_TEXTS = ["a" * 20_000 + "!", "ab" * 10_000, "a" * 10_000 + "b" * 10_000, "1" * 20_000 + "x",
                      ("你" * 5000 + "\n") * 4, "x" * 20_000]


@pytest.mark.parametrize("regex", [".*x", "a.*b.*c", "(a|b)*c", "(a|ab)*c", r"\d+\d+x", "(你们|你|个|一个)*差评",
                                   "x[^y]*y|x", ".{0,100}.{0,100}.{0,100}z", "(?<!x)(a|b){1,6}(?!c)"])
def test_accepted_regexes_stay_linear_on_pathological_text(regex):
    rs = RegexSet.build([regex])
    for text in PATHOLOGICAL_TEXTS:
        t0 = time.perf_counter()
        rs.spans(text)
        assert time.perf_counter() - t0 < 10, (regex, text[:10])


def test_open_repeats_match_at_most_a_hundred_more_times_than_their_minimum():
    assert RegexSet.build(["哈+"]).spans("哈" * 250) == [(0, 101), (101, 202), (202, 250)]
    assert RegexSet.build(["嗯*好"]).spans("嗯" * 150 + "好") == [(50, 151)]


def test_patterns_run_on_re2_find_what_python_finds():
    """Where a pattern runs on RE2, its matches are Python's: \\d, \\w and \\s keep their Unicode
    meaning, ^ and $ anchor at every segment, alternatives are tried in order."""
    texts = ["给你们个差评", "订单号٣٤٥٦٧٨٩ 已发", "保证明天一定给你送到", "你好\n随便吧\n随便", "a b\u3000c", "ａｂ１２",
             "我\ud800坏了"]
    for regex in [r"(给|打)(你们|你|个|一个)*差评", r"\d{6,}", r"^随便(你|吧)?$", r"\w{1,20}\s\w{1,20}", r"(保证|一定)(给你)?.{0,8}?(送到|到)",
                  r"[^\s\d]+", r"\W"]:
        assert plan(regex).re2 is not None, regex
        py = re.compile(regex, re.M)
        forced = RegexSet([], [plan(regex).re2])
        for text in texts:
            want = [m.span() for m in py.finditer(text) if m.end() > m.start()]
            assert forced.spans(text) == want, (regex, text)


def test_every_bundled_regex_is_accepted_and_keeps_its_matches(default_rubric):
    """The rewrite (groups non-capturing, open repeats capped) changes no match of the
    bundled rubric on any labelled transcript in the repository."""
    from qa_scorer.ingest import load_transcript
    from qa_scorer.rubric import schema
    texts = sorted({normalize(s.text).text for f in (ROOT / "tests" / "data").rglob("*.json")
                    if f.parent.name.startswith("heldout") for s in _segments(f, load_transcript)})
    assert len(texts) > 3000
    joined = "\n".join(texts)
    regexes = []
    for m in _matches(default_rubric):
        regexes += list(m.regex) + list(m.exclude_regex)
    assert len(regexes) > 40
    for r in regexes:
        for alt in schema._split_alternatives(r):
            if alt:
                want = [s.span() for s in re.compile(alt, re.M).finditer(joined) if s.end() > s.start()]
                assert RegexSet.build([alt]).spans(joined) == want, alt


def _segments(path, load):
    try:
        return load(path).segments
    except Exception:
        return []


def _matches(obj):
    from pydantic import BaseModel

    from qa_scorer.rubric.schema import Match

    if isinstance(obj, Match):
        yield obj
    elif isinstance(obj, list):
        for x in obj:
            yield from _matches(x)
    elif isinstance(obj, BaseModel):
        for name in type(obj).model_fields:
            yield from _matches(getattr(obj, name))


# --- 9: many segments ------------------------------------------------------------------------


def _random_call(rng, n: int) -> Transcript:
    segs, t = [], 0.0
    for _ in range(n):
        start = round(max(0.0, t + rng.uniform(-3, 4)), 1)
        segs.append({"speaker": rng.choice(["agent", "customer"]), "text": rng.choice(["坏了", "抱歉", "嗯", "你好请稍等"]),
                     "start": start, "end": round(start + rng.uniform(0.2, 6), 1)})
        t += rng.uniform(0, 5)
    return Transcript.model_validate({"version": 1, "call_id": "r", "segments": segs})


def test_turn_lookups_match_the_scans_they_replace():
    import random

    from qa_scorer.rubric.call import Call
    from qa_scorer.rubric.checks import hold

    rng = random.Random(7)
    for _ in range(200):
        call = Call(_random_call(rng, rng.randint(1, 30)))
        for who in ("agent", "customer"):
            turns = call.turns(who)
            for index in range(-1, len(call.segments) + 1):
                for count in (0, 1, 3):
                    assert call.turns_after(who, index, count) == [t for t in turns if t[0] > index][:count]
                    before = [t for t in turns if t[-1] < index]
                    assert call.turns_before(who, index, count) == (before[-count:] if count else [])
        agent = call.turns("agent")
        for around in range(len(call.segments)):
            prior = [t for t in agent if t[0] <= around]
            later = [t for t in agent if t[-1] >= around]
            assert hold._agent_turn(call, around, True) == (prior[-1] if prior else [])
            assert hold._agent_turn(call, around, False) == (later[0] if later else [])


def test_interruption_sweep_finds_the_segment_the_scan_found(default_rubric):
    import random

    from qa_scorer.rubric.call import TIME_EPS, Call
    from qa_scorer.rubric.checks import interruption

    item = default_rubric.item("interruption")
    rng = random.Random(11)
    for _ in range(300):
        call = Call(_random_call(rng, rng.randint(1, 40)))
        mine, theirs = call.indices("agent"), call.indices("customer")
        want = {}
        for i in mine:
            s = call.segments[i]
            for j in theirs:
                o = call.segments[j]
                if (o.start < s.start < o.end) and o.end - s.start >= item.min_overlap - TIME_EPS:
                    want[i] = j
                    break
        assert interruption._first_cut_into(item, call, mine, theirs) == want


@pytest.mark.slow
def test_fifty_thousand_segments_are_scored_without_hanging(default_rubric):
    segs = []
    for n in range(50_000):
        t = n * 10.0
        segs.append(("customer", "我的洗衣机坏了我要投诉") if n % 2 == 0 else ("agent", "嗯这个我看一下先生"))
    t = Transcript.model_validate({"version": 1, "call_id": "many", "segments": [
        {"speaker": who, "text": text, "start": n * 10.0 - (5 if who == "agent" else 0), "end": n * 10.0 + (-1 if who == "agent" else 8)}
        for n, (who, text) in enumerate(segs)]})
    t0 = time.perf_counter()
    card = score_transcript(t, default_rubric)
    assert time.perf_counter() - t0 < 120  # a hang guard only
    assert card.fatal and card.item("interruption").status == "fail"


# --- property-based fuzzing (a short, fixed budget; bench/fuzz_rubric.py runs longer) --------

# CI: a fixed, derandomized budget. bench/fuzz_rubric.py sets QA_SCORER_FUZZ_EXAMPLES for a
# long random run of the same properties.
LONG_RUN = int(os.environ.get("QA_SCORER_FUZZ_EXAMPLES", "0"))


def fuzz(examples: int = 150, deadline: int = 5000):
    quiet = [HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.data_too_large]
    if LONG_RUN:
        return settings(max_examples=max(LONG_RUN * examples // 150, 1), deadline=None, derandomize=False,
                        database=None, suppress_health_check=quiet)
    return settings(max_examples=examples, deadline=deadline, derandomize=True, database=None,
                    suppress_health_check=quiet)

DEFAULT_TEXT = (ROOT / "rubrics" / "default.yaml").read_text(encoding="utf-8")

KEYS = ["id", "items", "kind", "points", "type", "match", "phrases", "regex", "exclude", "exclude_regex", "unless",
        "speaker", "scope", "first_turns", "last_seconds", "within_turns", "lookback_turns", "trigger", "response",
        "min_silence", "before", "after", "polite", "lists", "doc", "what", "enabled", "channels", "negation",
        "negation_window", "hedges", "pinyin", "min_cpm", "max_cpm", "base_score", "expect", "min_count", "zzz"]
WORDS = ["phrase", "conditional", "hold", "interruption", "speech_rate", "required", "prohibited", "reward", "fatal",
         "agent", "customer", "any", "phone", "chat", "你好", "@greet", "(a+)+$", "", "a*", "(?=x)", "(a)\\1", "[",
         "坏了|", "(你|您)好", ".{0,3}", "\\d+", "&x", "*x", "<<", "- ", ": ", "{", "]", "#", "!!python/object:os.system"]
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(min_value=-10**30, max_value=10**30),
                    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12), st.sampled_from(WORDS))


def _nested(inner):
    return st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.sampled_from(KEYS), inner, max_size=5))


TREES = st.recursive(SCALARS, _nested, max_leaves=25)
ITEMS = st.lists(st.dictionaries(st.sampled_from(KEYS), TREES, max_size=7).map(
    lambda d: {"id": "a", "kind": "required", "type": "phrase", **d}), max_size=3)
RUBRICS = st.fixed_dictionaries({"id": st.one_of(st.just("r"), SCALARS), "items": st.one_of(ITEMS, TREES)},
                                optional={"lists": TREES, "base_score": SCALARS, "zzz": TREES})


def ends_well(text: str, path: str = "f.yaml") -> None:
    """A rubric, or a RubricError whose every problem is located: never another exception."""
    try:
        parse_rubric(text, path)
    except RubricError as exc:
        assert exc.problems, text
        for p in exc.problems:
            assert p.startswith(path + ":") and re.match(r"^f\.yaml:\d+:\d+: \S", p), p


def _dump(obj) -> str:
    import io

    from ruamel.yaml import YAML

    buf = io.StringIO()
    y = YAML(typ="safe", pure=True)
    y.default_flow_style = None
    y.dump(obj, buf)
    return buf.getvalue()


@fuzz()
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=300))
def test_fuzz_loader_any_text_ends_in_a_rubric_or_a_located_error(text):
    ends_well(text)


@fuzz()
@given(st.text(alphabet=":-[]{}&*!|>'\"#%@`,? \n\t.0123456789abcdeinx", max_size=200))
def test_fuzz_loader_yaml_syntax_soup_ends_in_a_rubric_or_a_located_error(text):
    ends_well(text)


@pytest.mark.slow
@fuzz()
@given(RUBRICS)
def test_fuzz_loader_random_structures_end_in_a_rubric_or_a_located_error(obj):
    ends_well(_dump(obj))


@pytest.fixture(scope="module")
def default_rubric_checked_once():
    """One check of the bundled rubric before the timed examples: the first one loads the
    dictionaries and models the rubric's own examples need (seconds on a busy machine), which
    would count against the first example's deadline."""
    assert runner.invoke(app, ["rubric", "check", str(ROOT / "rubrics" / "default.yaml")]).exit_code == 0


@pytest.mark.slow
# each example loads the whole bundled rubric (about 4 s on two busy cores, with its ten models): a deadline
# that catches a hang, not one a slow first example trips (a clean clone's run once took 6.7 s)
@fuzz(40, deadline=15000)
@given(st.data())
def test_fuzz_loader_mangled_default_rubric_via_cli_exits_0_or_3(default_rubric_checked_once, tmp_path, data):
    text = DEFAULT_TEXT
    for _ in range(data.draw(st.integers(1, 3))):
        a = data.draw(st.integers(0, len(text)))
        b = data.draw(st.integers(a, min(len(text), a + 200)))
        insert = data.draw(st.one_of(st.just(""), st.text(max_size=8), st.just(text[a:b] * 2), st.sampled_from(WORDS)))
        text = text[:a] + insert + text[b:]
    f = tmp_path / "f.yaml"
    f.write_text(text, encoding="utf-8", errors="surrogatepass")
    res = runner.invoke(app, ["rubric", "check", str(f)])
    assert res.exit_code in (0, 3), (res.output, res.exception)
    if res.exit_code == 3:
        assert all(re.match(rf"^{re.escape(str(f))}:\d+:\d+: ", line) for line in res.output.strip().splitlines()
                   if line.startswith(str(f))), res.output


ATOMS = st.sampled_from(["a", "b", "ab", ".", "\\d", "\\w", "[ab]", "[^a]", "你", "(?:a|b)", "(a|ab)", "x?", "^", "$",
                         "\\b", "(?=a)", "(?!b)", "(?<!a)"])


def _compound(inner):
    return st.one_of(st.tuples(inner, st.sampled_from(["*", "+", "?", "{2,5}", "{0,3}", "*?", "{1,}"])).map("".join),
                     st.lists(inner, min_size=2, max_size=3).map("".join),
                     st.lists(inner, min_size=2, max_size=3).map(lambda xs: "(" + "|".join(xs) + ")"))


REGEXES = st.recursive(ATOMS, _compound, max_leaves=8)
HOSTILE_TEXTS = ["a" * 3000 + "!", "ab" * 1500 + "c", "1" * 3000, "你" * 3000, "a\n" * 1500, "aab" * 1000]


@pytest.mark.slow
@fuzz(200)
@given(REGEXES)
def test_fuzz_regexes_are_refused_or_stay_fast_on_hostile_text(regex):
    """Soundness, tried on random patterns: whatever passes the check runs in bounded time on
    texts built to trigger backtracking; whatever fails says why (ValueError)."""
    try:
        plan(regex)
    except ValueError as exc:
        assert str(exc)
        return
    rs = RegexSet.build([regex])
    for text in HOSTILE_TEXTS:
        t0 = time.perf_counter()
        rs.spans(text)
        assert time.perf_counter() - t0 < 2, (regex, text[:6])


SEGMENT_TEXT = st.one_of(
    st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=120),
    st.builds(lambda unit, n: unit * n, st.sampled_from(["我的洗衣机坏了", "咣", "滚", "抱歉，", "a", "12315", "？", "\x00\x1f",
                                                         "您好请问有什么可以帮您", "二十四小时", "保证明天到"]),
              st.integers(0, 4000)),
    st.just(""), st.just(" \t\n"))


@st.composite
def transcripts(draw):
    n = draw(st.integers(0, 12))
    timed = draw(st.booleans())
    segs, t = [], 0.0
    for _ in range(n):
        seg = {"speaker": draw(st.sampled_from(["agent", "customer"])), "text": draw(SEGMENT_TEXT)}
        if timed:
            start = t + draw(st.floats(0, 30, allow_nan=False))
            seg.update(start=start, end=start + draw(st.floats(0, 40, allow_nan=False)))
            t = start
        segs.append(seg)
    return Transcript.model_validate({"version": 1, "call_id": "fuzz", "channel": draw(st.sampled_from(["phone", "chat"])),
                                      "segments": segs})


@pytest.mark.slow
@fuzz(120, deadline=20000)
@given(transcripts())
def test_fuzz_scorer_any_transcript_gets_a_scorecard_quickly(default_rubric, transcript):
    t0 = time.perf_counter()
    card = score_transcript(transcript, default_rubric)
    assert time.perf_counter() - t0 < 15
    assert {r.id for r in card.items} == {i.id for i in default_rubric.items if i.enabled}
    assert 0 <= card.score <= default_rubric.base_score


@pytest.mark.parametrize("regex", [r"(,\w{0,200}x){1,9}", r"(,\w{0,9}x){1,10}", r"(,\w{0,100}){1,10}"])
def test_patterns_too_large_for_either_engine_are_refused_quickly(tmp_path, regex):
    t0 = time.perf_counter()
    (p,) = problems(with_regex(regex))
    assert time.perf_counter() - t0 < 5
    assert "steps per text position" in p and ("RE2" in p), p
    check_exit(tmp_path, with_regex(regex))


LOCAL = [r"abc", r"(你|你们)(自己)?.{0,10}(都不看|不看的)", r"^随便(你|吧|啊)?$", r"(?<!\d)12315(?!\d)", r"\bok\b",
         r"\d{6,}", r"(?>保证)到", r"[a-z]+好", r"(?=[^\d\n])保证", r"(?m:^好)",
         r"(?<!\S)好"]
NOT_LOCAL = [r"a\sb", r"[^了]{1,5}到", r"\W好", r"\D{2}天", r"a\Z", r"\Aa", r"(?s)保.证", r"(?-m:好$)",
             r"(?<=[^x])好", r"(?i)ok", "好\n的", r"[\n]好"]


def test_line_local_patterns_find_in_joined_lines_what_they_find_in_each_line():
    """``line_local`` vouches for a pattern only when searching lines joined by newlines finds,
    in every line, what searching that line alone finds: the hits a call's segments share
    between selections (Call.hits) rest on it."""
    from qa_scorer.rubric.safe_regex import line_local

    assert [r for r in LOCAL if not line_local(r)] == []
    assert [r for r in NOT_LOCAL if line_local(r)] == []
    lines = ["随便", "随便吧你们自己都不看", "12315", "订单123456已发", "保证到", "ok好", "我\ud800坏了", "", "x好的",
             "打12315投诉", "a", "好", "你们自己一次都不看"]
    for regex in LOCAL:
        compiled = RegexSet.build([regex])
        joined, starts, pos = "\n".join(lines), [], 0
        for line in lines:
            starts.append(pos)
            pos += len(line) + 1
        together = sorted(compiled.spans(joined))
        alone = sorted((s + a, s + b) for s, line in zip(starts, lines) for a, b in compiled.spans(line))
        assert together == alone, regex


def test_hits_looked_up_per_segment_are_the_hits_of_each_selection_searched_alone(default_rubric, monkeypatch):
    """Segment-local matchers search each segment once per call (a chunk of calls at a time)
    and checks look the hits up; every other matcher searches each selection of segments joined
    on its own, as all did before. Both ways give the same scorecards."""
    from qa_scorer.ingest import find_transcripts, load_transcript
    from qa_scorer.score import score_transcripts

    transcripts = [load_transcript(p) for p in find_transcripts([ROOT / "tests" / "data", ROOT / "samples" / "transcripts"])]
    assert len(transcripts) > 300
    matchers = list(_compiled_matchers(default_rubric))
    assert matchers and all(m.local for m in matchers)
    looked_up = [card.model_dump() for _, card in score_transcripts(transcripts, default_rubric)]
    for m in matchers:
        monkeypatch.setattr(m, "local", False)
    searched = [card.model_dump() for _, card in score_transcripts(transcripts, default_rubric)]
    assert looked_up == searched


def _compiled_matchers(rubric):
    """Every compiled matcher of a rubric's phrase, classifier and conditional items."""
    for item in rubric.items:
        for side in (item, getattr(item, "trigger", None), getattr(item, "response", None)):
            for m in getattr(side, "matchers", None) or []:
                yield m.matcher


def test_a_chunk_that_cannot_be_searched_together_is_searched_call_by_call(default_rubric, monkeypatch):
    import qa_scorer.rubric.engine as engine
    from qa_scorer.ingest import find_transcripts, load_transcript
    from qa_scorer.score import score_transcripts

    transcripts = [load_transcript(p) for p in find_transcripts([ROOT / "samples" / "transcripts"])][:20]
    alone = [score_transcript(t, default_rubric).model_dump() for t in transcripts]

    def broken(matchers, selections):
        for call, indices in selections:
            call._hits[matchers[0]] = (set(indices), {})  # half-made (searched, nothing found), then fails
        raise MemoryError("no room for the chunk")

    monkeypatch.setattr(engine, "search_together", broken)
    assert [card.model_dump() for _, card in score_transcripts(transcripts, default_rubric)] == alone


SKIPPING = [r"(?<!\d)12315(?!\d)|(?:你好|您好)", r"(?:你|你们)(?:自己)?.{0,10}(?:都不看)", r"^随便(?:你|吧)?$", r"\b(?:ok|好)",
            r"(?:一|二)?天", r"(?i:ok)|好", r"(?s:.)好", r"(?:[^了]到)", r"(?=保)保证|(?<=一)定", r"(?:\d{2,}|[a-z]+)号",
            r"(?:好){1,3}的", r"(?:再见)*拜拜", r"(?:嗯)?(?:对)?的", r"(?s)(?:a|b).", r"(?x) (?:a|b) c",
            # ASCII classes: (?a:\W) accepts every ideograph, (?a:\D) every non-ASCII digit
            r"(?<!x)(?a:\W)好", r"(?:^|(?a:\W))退款", r"(?<!x)(?a:\D)3", r"(?<!x)(?a:\w)好"]


def test_compile_skipping_finds_what_the_plain_pattern_finds(default_rubric):
    """compile_skipping may put a lookahead for a match's possible first characters before a
    pattern; the matches (finditer, search, sub) must stay those of the plain pattern: for the
    bundled rubric's matchers and for patterns that begin with groups, lookarounds, anchors,
    optional and case-insensitive parts."""
    from qa_scorer.ingest import load_transcript
    from qa_scorer.rubric.safe_regex import compile_skipping

    texts = sorted({normalize(s.text).text for f in (ROOT / "tests" / "data").rglob("*.json")
                    if f.parent.name.startswith("heldout") for s in _segments(f, load_transcript)})
    texts += ["12315", "a12315b", "OK好", "ok", "随便\n随便吧", "一天两天", "\n好", "到了到", "保证一定", "12号ab号",
              "好好好好的", "再见再见拜拜", "嗯对的", "对的", "的", "申请退款", "٣3", "a好"]
    joined = "\n".join(texts)
    patterns = list(SKIPPING)
    for m in _matches(default_rubric):
        compiled = m.matcher
        patterns += [p.pattern for p in (compiled.literal, compiled.pinyin, compiled.unless) if p is not None]
        if compiled.regex is not None and compiled.regex.py is not None:
            patterns.append(compiled.regex.py.pattern)
    # the rubric's own patterns were compiled skipping: take the plain pattern back out
    patterns = [p[p.index("])(?:") + 5:-1] if p.startswith("(?=[") else p for p in dict.fromkeys(patterns)]
    skipped = 0
    for pattern in patterns:
        plain, fast = re.compile(pattern, re.M), compile_skipping(pattern, re.M)
        skipped += fast.pattern != pattern
        assert [m.span() for m in fast.finditer(joined)] == [m.span() for m in plain.finditer(joined)], pattern
        for text in texts[:300] + texts[-15:]:
            assert bool(fast.search(text)) == bool(plain.search(text)) and fast.sub("", text) == plain.sub("", text)
    assert skipped >= 10  # the lookahead is really there for most of these


def test_hits_searched_in_pieces_and_together_are_each_segments_own(default_rubric):
    """Call.hits searches the segments not searched yet, several matchers sharing one joined
    text when none has searched the call; whatever the order of the selections, each segment's
    hits are those it has searched alone."""
    import random

    from qa_scorer.ingest import find_transcripts, load_transcript
    from qa_scorer.rubric.call import Call, search_together
    from qa_scorer.rubric.schema import Joined

    transcripts = [load_transcript(p) for p in find_transcripts([ROOT / "samples" / "transcripts"])][:40]
    matchers = list(_compiled_matchers(default_rubric))
    rng = random.Random(3)
    calls = [Call(t) for t in transcripts]
    everything = [(call, list(range(len(call.segments)))) for call in calls]
    search_together(matchers[:3], [(c, rng.sample(i, len(i) // 2)) for c, i in everything])  # some shared
    for call, indices in everything:
        for m in matchers:
            for _ in range(3):  # overlapping pieces, then all
                piece = sorted(rng.sample(indices, min(len(indices), rng.randint(1, 6))))
                alone = [(i, h) for i in piece for _, h in m.find_in(Joined([call.norms[i]]))]
                assert call.hits(m, piece) == alone
            assert call.hits(m, indices) == [(i, h) for i in indices for _, h in m.find_in(Joined([call.norms[i]]))]


def test_scoped_selection_is_every_segment_a_bound_picks_in_order():
    """Call.select with one bound or several (turns and seconds from either end): the sorted
    segments that any bound picks, each once, as the union of the bounds' picks."""
    import itertools
    import random

    from qa_scorer.ingest import find_transcripts, load_transcript
    from qa_scorer.rubric.call import Call
    from qa_scorer.rubric.schema import Scope

    transcripts = [load_transcript(p) for p in find_transcripts([ROOT / "samples" / "transcripts"])][:30]
    rng = random.Random(5)
    for t in transcripts:
        call = Call(t)
        for speaker in ("agent", "customer", "any"):
            for names in itertools.chain.from_iterable(
                    itertools.combinations(("first_turns", "last_turns", "first_seconds", "last_seconds"), k)
                    for k in (1, 2, 3)):
                values = {n: rng.randint(1, 4) if n.endswith("turns") else rng.uniform(1, 60) for n in names}
                scope = Scope(**values)
                got = call.select(speaker, scope)
                if scope.needs_timing and not t.timed:
                    assert got is None
                    continue
                turns = call.turns(speaker)
                mine = call.indices(speaker)
                end = t.duration or 0
                picks = {"first_turns": lambda n: {i for r in turns[:n] for i in r},
                         "last_turns": lambda n: {i for r in turns[-n:] for i in r},
                         "first_seconds": lambda s: {i for i in mine if t.segments[i].start < s},
                         "last_seconds": lambda s: {i for i in mine if t.segments[i].end > end - s}}
                assert got == sorted(set().union(*(picks[n](v) for n, v in values.items()))), (speaker, values)
