from pathlib import Path

import pytest

from qa_scorer.normalize import normalize
from qa_scorer.rubric.loader import RubricError, load_rubric, parse_rubric

ROOT = Path(__file__).resolve().parents[1]

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
    return exc.value.problems


def test_default_rubric_has_the_contract_items(default_rubric):
    ids = [i.id for i in default_rubric.items]
    for required in ["greeting", "identity_check", "apology", "banned_phrases", "interruption",
                     "false_promise", "closing", "customer_praise", "complaint_soothing", "hold_etiquette"]:
        assert required in ids
    assert default_rubric.item("customer_praise").kind == "reward"
    assert default_rubric.item("complaint_soothing").kind == "fatal"
    for item in default_rubric.items:
        assert item.doc.what and item.doc.why and item.doc.example and item.doc.instead, item.id


def test_bundled_default_is_the_repository_rubric():
    assert load_rubric(None).version == load_rubric(ROOT / "rubrics" / "default.yaml").version


def test_version_is_a_hash_of_the_text():
    assert parse_rubric(GOOD).version == parse_rubric(GOOD).version
    assert parse_rubric(GOOD).version != parse_rubric(GOOD + "# changed\n").version


def test_unknown_key_is_reported_with_line_and_column():
    text = GOOD.replace("match: {phrases: [你好]}", "match: {phrass: [你好]}")
    assert problems(text) == ["r.yaml:7:13: unknown key 'phrass'"]


def test_unknown_rule_type():
    (p,) = problems(GOOD.replace("type: phrase", "type: phrasee"))
    assert p.startswith("r.yaml:6:5: unknown rule type 'phrasee'")


def test_bad_kind_and_missing_match():
    text = GOOD.replace("kind: required", "kind: optional").replace("    match: {phrases: [你好]}\n", "")
    ps = problems(text)
    assert any(p.startswith("r.yaml:4:5: items.0.kind") for p in ps)
    assert any("missing required key 'match'" in p for p in ps)


def test_invalid_regex_points_at_the_entry():
    text = GOOD.replace("match: {phrases: [你好]}", "match:\n      regex:\n        - '(open'")
    (p,) = problems(text)
    assert p.startswith("r.yaml:9:11:") and "invalid regular expression" in p


def test_unknown_list_reference():
    (p,) = problems(GOOD.replace("[你好]", "['@greetings']"))
    assert p.startswith("r.yaml:3:5:") and "unknown list '@greetings'" in p


def test_duplicate_ids():
    text = GOOD + GOOD.split("items:\n")[1]
    (p,) = problems(text)
    assert p.startswith("r.yaml:8:5:") and "duplicate item id 'hello'" in p


def test_yaml_syntax_error():
    (p,) = problems("id: x\nitems:\n  - id: a\n   kind: b\n")
    assert p.startswith("r.yaml:4:") and "YAML syntax" in p


def test_missing_file():
    with pytest.raises(RubricError) as exc:
        load_rubric(ROOT / "nope.yaml")
    assert "nope.yaml" in str(exc.value) and "not found" in str(exc.value)


def test_numbers_in_phrase_lists_are_text():
    r = parse_rubric(GOOD.replace("[你好]", "[12315]"))
    assert r.items[0].match.phrases == ["12315"]


def test_named_patterns_are_used_where_named():
    text = GOOD.replace("id: mini\n", "id: mini\npatterns:\n  refund: ['退(款|钱)']\n  undone: ['没退款']\n").replace(
        "match: {phrases: [你好]}", "match: {regex: ['@refund'], exclude_regex: ['@undone']}")
    match = parse_rubric(text).items[0].match
    assert match.search(normalize("我要退钱")) is not None
    assert match.search(normalize("还没退款")) is None  # the named exclusion drops it

def test_an_exclusion_is_not_hidden_by_another_that_starts_at_the_same_character():
    # the phrase 保修 and the regex 保修期内…肯定 both start at 保: each exclusion counts on its own
    text = GOOD.replace("match: {phrases: [你好]}",
                        "match: {regex: ['肯定是免费'], exclude: [保修], exclude_regex: ['保修期内[^\\n]{0,2}肯定']}")
    match = parse_rubric(text).items[0].match
    assert match.search(normalize("这个肯定是免费的")) is not None
    assert match.search(normalize("保修期内肯定是免费的")) is None


def test_unknown_pattern_reference():
    (p,) = problems(GOOD.replace("match: {phrases: [你好]}", "match: {regex: ['@refund']}"))
    assert p.startswith("r.yaml:") and "unknown pattern list '@refund'" in p


def test_named_patterns_inside_a_regex_are_one_group_of_alternatives():
    # @{name} inside a longer pattern: the named list's patterns as alternatives at that spot
    text = GOOD.replace("id: mini\n", "id: mini\npatterns:\n  refusal: ['没办法|不能', '退不了']\n").replace(
        "match: {phrases: [你好]}", "match: {regex: ['放心[^\\n]{0,8}(@{refusal}|不好说)']}")
    match = parse_rubric(text).items[0].match
    for said in ("您放心 这个没办法", "放心 钱退不了", "放心吧 这个不好说"):
        assert match.search(normalize(said)) is not None, said
    assert match.search(normalize("您放心 马上给您退")) is None
    assert match.search(normalize("这个退不了")) is None  # the words alone, without 放心, are not the pattern
    # one named list may use another inside it
    nested = text.replace("refusal: ['没办法|不能', '退不了']", "refusal: ['没办法|@{cost}']\n  cost: ['自费']")
    match = parse_rubric(nested).items[0].match
    assert match.search(normalize("放心 这个要自费")) is not None
    assert match.search(normalize("放心 这个不能退")) is None


def test_named_patterns_inside_a_regex_unknown_or_circular_are_errors_naming_the_item():
    (p,) = problems(GOOD.replace("match: {phrases: [你好]}", "match: {regex: ['放心@{nope}']}"))
    assert p.startswith("r.yaml:3:") and "item 'hello'" in p and "unknown pattern list '@{nope}'" in p
    loop = GOOD.replace("id: mini\n", "id: mini\npatterns:\n  a: ['不能|@{b}']\n  b: ['没办法|@{a}']\n").replace(
        "match: {phrases: [你好]}", "match: {regex: ['放心@{a}']}")
    (p,) = problems(loop)
    assert "item 'hello'" in p and "more than 4 deep" in p
    # what the parts make together is checked like any regex: written as it stands, '@{maybe}?'
    # needs the characters "@{maybe"; written out, '(?:好的)?' matches the empty string
    empty = GOOD.replace("id: mini\n", "id: mini\npatterns:\n  maybe: ['好的']\n").replace(
        "match: {phrases: [你好]}", "match: {regex: ['@{maybe}?']}")
    (p,) = problems(empty)
    assert "item 'hello'" in p and "with its named patterns written out" in p and "empty string" in p


def test_named_patterns_inside_a_regex_are_bounded_and_checked_where_they_are_defined():
    # a phrase list's @{...} is no regex use: an unknown list, as before
    (p,) = problems(GOOD.replace("match: {phrases: [你好]}", "match: {phrases: ['@{sorry}']}"))
    assert "unknown list '@{sorry}'" in p
    # an empty list, a name inside a character class, a name unknown inside an unused named pattern
    empty = GOOD.replace("id: mini\n", "id: mini\npatterns:\n  none: []\n").replace(
        "match: {phrases: [你好]}", "match: {regex: ['退@{none}']}")
    assert "pattern list '@{none}' is empty" in problems(empty)[0]
    inside = GOOD.replace("id: mini\n", "id: mini\npatterns:\n  y: ['的']\n").replace(
        "match: {phrases: [你好]}", "match: {regex: ['好[@{y}]']}")
    assert "inside a character class" in problems(inside)[0]
    for regex in ("好[]a@{y}]", "好\\@{y}"):  # a ] first in a class is a member; an escaped @ is a literal
        text = inside.replace("'好[@{y}]'", "'" + regex + "'")
        assert "escaped or inside a character class" in problems(text)[0], regex
    unused = GOOD.replace("id: mini\n", "id: mini\npatterns:\n  spare: ['好@{nope}']\n")
    (p,) = problems(unused)
    assert "spare" in p and "unknown pattern list '@{nope}'" in p
    # names used inside names many times over grow fast: refused, quickly, with a short message
    rep = lambda name, n=40: "'" + ("@{%s}" % name) * n + "'"
    blow = GOOD.replace("id: mini\n", f"id: mini\npatterns:\n  a: [{rep('b')}]\n  b: [{rep('c')}]\n  c: [{rep('d')}]\n"
                                        "  d: ['好的']\n").replace("match: {phrases: [你好]}", f"match: {{regex: [{rep('a')}]}}")
    (p,) = problems(blow)
    assert "longer than 50,000 characters" in p and len(p) < 600


def test_named_patterns_written_out_are_bounded_over_the_whole_rubric_and_need_a_plain_regex():
    # each use below the cap for one regex, but many of them: the rubric as a whole is refused, quickly
    words = "[" + ", ".join(f"x{k}y" for k in range(10)) + "]"
    uses = lambda name, n: "[" + ", ".join(f"'@{{{name}}}{k}'" for k in range(n)) + "]"
    many = GOOD.replace("id: mini\n", f"id: mini\npatterns:\n  a: {words}\n  b: {uses('a', 12)}\n  c: {uses('b', 12)}\n"
                                        f"  d: {uses('c', 7)}\n").replace(
        "match: {phrases: [你好]}", "match: {regex: [" + ", ".join(f"'q{k}@{{d}}'" for k in range(20)) + "]}")
    (p,) = problems(many)
    assert "longer than 200,000 characters in all" in p
    # a regex whose text is not all pattern (comments, verbose mode), or an @{ that names nothing
    for regex, said in (("(?#[)[]@{y}]", "comments"), ("(?x)好 @{y}", "verbose"), ("不@{ y }", "must be followed")):
        text = GOOD.replace("id: mini\n", "id: mini\npatterns:\n  y: ['的']\n").replace(
            "match: {phrases: [你好]}", "match: {regex: ['" + regex + "']}")
        assert said in problems(text)[0], regex


def test_a_pattern_too_deep_to_compile_is_a_rubric_error():
    (p,) = problems(GOOD.replace("match: {phrases: [你好]}", "match: {regex: ['" + "(?:好的)" * 1000 + "']}"))
    assert p.startswith("r.yaml:3:") and "too deeply nested or too long to compile" in p


def test_named_patterns_are_checked_like_any_regex():
    (p,) = problems(GOOD.replace("id: mini\n", "id: mini\npatterns:\n  bad: ['(open']\n"))
    assert p.startswith("r.yaml:3:") and "invalid regular expression" in p


def test_false_hedges_void_the_hedge_they_cover_and_a_rubric_can_set_its_own():
    promise = "match: {phrases: [一定给你发出], hedges: true}"
    default = parse_rubric(GOOD.replace("match: {phrases: [你好]}", promise)).items[0].match
    assert default.search(normalize("商家说20号前一定给您发出")) is None  # what the shop said hedges
    assert default.search(normalize("我跟商家说好了20号前一定给您发出")) is not None  # the agent's own word does not
    assert default.search(normalize("检测都正常，三天之内一定给您发出")) is not None
    assert default.search(normalize("正常三天之内一定给您发出")) is None
    # a rubric's own list replaces the default one: none at all leaves every hedge standing
    none = parse_rubric(GOOD.replace("id: mini\n", "id: mini\nfalse_hedges: []\n").replace(
        "match: {phrases: [你好]}", promise)).items[0].match
    assert none.search(normalize("我跟商家说好了20号前一定给您发出")) is None


def test_a_false_hedge_too_long_to_look_back_for_is_refused():
    (p,) = problems(GOOD.replace("id: mini\n", "id: mini\nfalse_hedges: [跟商家说好了跟快递说好了跟仓库]\n"))
    assert p.startswith("r.yaml:2:") and "false_hedges" in p


def test_a_duplicate_id_is_named_with_the_other_problems_at_once():
    text = """\
id: r
items:
  - id: hello
    kind: required
    point: 5
    type: phrase
    speaker: agent
    match: {phrases: [您好]}
  - id: hello
    kind: required
    points: 5
    type: phrase
    speaker: agent
    match: {phrases: [你好]}
"""
    found = problems(text)
    assert "r.yaml:5:5: unknown key 'point'" in found and "r.yaml:9:5: duplicate item id 'hello'" in found
    # a phrases list dedented out of its match: no validator's internal name in the message
    bad = problems("id: r\nitems:\n  - id: hello\n    kind: required\n    points: 5\n    type: phrase\n"
                   "    match:\n    phrases: [你好]\n")
    assert bad == ["r.yaml:7:5: items.0.match: Input should be a valid dictionary or instance of Match",
                   "r.yaml:8:5: unknown key 'phrases'"]
