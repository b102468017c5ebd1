"""Learned checks: text models (train, load, score), the classifier rule type, and models as
the trigger or response of a conditional rule."""

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from qa_scorer.cli import app
from qa_scorer.models import Transcript
from qa_scorer.rubric.loader import RubricError, load_rubric, parse_rubric
from qa_scorer.score import score_transcript
from qa_scorer.textmodel import (ModelError, builtin_models, cross_validate, features, fit, from_dict,
                                 load_model, read_examples, FeatureSpec, Example)

runner = CliRunner()

SORRY = ["非常抱歉给您添麻烦了", "实在不好意思让您久等了", "真的很抱歉", "对不起是我们的疏忽", "抱歉哈亲",
         "给您带来不便深表歉意", "不好意思哦亲", "很抱歉这边处理慢了"]
OTHER = ["请您提供一下订单号", "已经帮您登记了", "好的亲", "物流显示正在派送", "可以申请售后的哦",
         "请问还有其他问题吗", "这边帮您查询一下", "发票可以在订单详情里下载"]


def _examples():
    return [Example(t, True, "agent") for t in SORRY] + [Example(t, False, "agent") for t in OTHER]


def _write_training(path: Path) -> None:
    with path.open("w", encoding="utf-8") as f:
        for e in _examples():
            f.write(json.dumps({"text": e.text, "speaker": e.speaker, "label": e.label}, ensure_ascii=False) + "\n")


def test_a_trained_model_separates_what_it_was_taught():
    model = from_dict(fit(_examples(), name="sorry", min_df=1))
    assert model.probability("非常抱歉让您久等了") > 0.5
    assert model.probability("请提供一下您的订单号") < 0.5


def test_training_is_reproducible():
    a = fit(_examples(), name="sorry", min_df=1)
    b = fit(_examples(), name="sorry", min_df=1)
    assert a == b


def test_features_read_the_normalised_text_and_the_question_mark():
    spec = FeatureSpec(ngram_min=1, ngram_max=2)
    assert features("您好！", spec) == features("你好", spec) | set()  # 您→你, punctuation dropped
    assert "\x00?" in features("能到吗？", spec)
    ctx = FeatureSpec(ngram_min=1, ngram_max=2, context=1)
    assert any(g.startswith("<") for g in features("是的", ctx, previous="今晚能到吗"))
    assert not any(g.startswith("<") for g in features("是的", spec, previous="今晚能到吗"))


def test_train_command_writes_a_model_a_rubric_can_name(tmp_path):
    data = tmp_path / "sorry.jsonl"
    _write_training(data)
    out = tmp_path / "models" / "sorry.json"
    res = runner.invoke(app, ["train", str(data), "--out", str(out), "--cv", "4"])
    assert res.exit_code == 0, res.output
    assert "cross-validated" in res.output
    raw = json.loads(out.read_text(encoding="utf-8"))
    assert raw["format"] == "qa-scorer.text-classifier" and raw["training"]["examples"] == 16
    assert "cv" in raw["training"]
    assert load_model(out).name == "sorry"


def test_train_command_names_the_file_and_line_of_a_bad_label(tmp_path):
    data = tmp_path / "bad.jsonl"
    data.write_text('{"text": "抱歉", "label": true}\n{"text": "好的", "label": "maybe"}\n', encoding="utf-8")
    res = runner.invoke(app, ["train", str(data), "--out", str(tmp_path / "m.json")])
    assert res.exit_code == 5
    assert f"{data}:2:" in res.output


def test_training_examples_from_csv(tmp_path):
    data = tmp_path / "sorry.csv"
    data.write_text("text,label,speaker\n抱歉,1,agent\n好的,0,agent\n", encoding="utf-8")
    got = read_examples([data])
    assert [(e.text, e.label) for e in got] == [("抱歉", True), ("好的", False)]


def test_cross_validation_reports_figures():
    cv = cross_validate(_examples() * 2, folds=4, min_df=1)
    assert 0.0 <= cv["f1"] <= 1.0 and cv["folds"] == 4


@pytest.mark.parametrize("body, message", [
    ("not json", "not a model file"),
    ('{"format": "qa-scorer.text-classifier", "version": 1, "name": "x", "bias": NaN, "weights": {}}', "NaN"),
    ('{"format": "qa-scorer.text-classifier", "version": 1, "name": "x", "bias": 0, "weights": {"a": 1e999}}', "weights"),
    ('{"format": "qa-scorer.text-classifier", "version": 1, "name": "x", "bias": 0, "weights": {}, "code": "import os"}', "code"),
    ('{"format": "pickle", "version": 1, "name": "x", "bias": 0, "weights": {}}', "format"),
])
def test_a_bad_model_file_is_refused_naming_it(tmp_path, body, message):
    p = tmp_path / "m.json"
    p.write_text(body, encoding="utf-8")
    with pytest.raises(ModelError) as exc:
        load_model(p)
    assert str(p) in str(exc.value) and message in str(exc.value)


def _rubric(tmp_path: Path, model_ref: str | None, extra: str = "") -> Path:
    r = tmp_path / "rubric.yaml"
    model = f"    model: {model_ref}\n" if model_ref else ""
    r.write_text(f"""id: t
items:
  - id: sorry
    kind: required
    points: 10
    type: classifier
    speaker: agent
{model}{extra}""", encoding="utf-8")
    return r


def _trained(tmp_path: Path) -> Path:
    out = tmp_path / "sorry.json"
    out.write_text(json.dumps(fit(_examples(), name="sorry", min_df=1), ensure_ascii=False), encoding="utf-8")
    return out


def _call(*lines):
    return Transcript.model_validate({"version": 1, "call_id": "c1", "channel": "chat", "segments": [
        {"speaker": s, "text": t} for s, t in lines]})


def test_classifier_item_gives_the_utterance_and_its_probability_as_evidence(tmp_path):
    _trained(tmp_path)
    rubric = load_rubric(_rubric(tmp_path, "sorry.json"))
    card = score_transcript(_call(("customer", "东西坏了"), ("agent", "真的非常抱歉给您添麻烦了")), rubric)
    item = card.item("sorry")
    assert item.status == "pass"
    assert item.evidence[0].segment == 1 and "p=" in item.evidence[0].note
    card = score_transcript(_call(("customer", "东西坏了"), ("agent", "请提供订单号")), rubric)
    assert card.item("sorry").status == "fail"


def test_a_phrase_match_counts_as_well_as_the_model(tmp_path):
    _trained(tmp_path)
    rubric = load_rubric(_rubric(tmp_path, "sorry.json", "    threshold: 0.99\n    match: {phrases: [请多包涵]}\n"))
    card = score_transcript(_call(("agent", "请多包涵")), rubric)
    assert card.item("sorry").status == "pass"
    assert card.item("sorry").evidence[0].text == "请多包涵"


def test_a_veto_drops_a_model_judgment(tmp_path):
    _trained(tmp_path)
    rubric = load_rubric(_rubric(tmp_path, "sorry.json", "    veto: {phrases: [打扰]}\n"))
    assert score_transcript(_call(("agent", "不好意思打扰一下")), rubric).item("sorry").status == "fail"


def test_question_tail_lets_a_template_offer_after_the_judged_words_stand(tmp_path):
    _trained(tmp_path)
    said = ("agent", "真的非常抱歉给您添麻烦了 请问还有什么可以帮您的吗?")
    asks = load_rubric(_rubric(tmp_path, "sorry.json", "    unless_question: true\n"))
    assert score_transcript(_call(said), asks).item("sorry").status == "fail"
    tail = load_rubric(_rubric(tmp_path, "sorry.json", "    unless_question: true\n"
                                                      "    question_tail: {regex: ['还有(什么|其他)[^\\n]{0,4}帮']}\n"))
    assert score_transcript(_call(said), tail).item("sorry").status == "pass"
    # …also where the offer runs across a recogniser's spaces or a comma
    spaced = ("agent", "真的非常抱歉给您添麻烦了 请问 还有什么，可以帮您的吗?")
    assert score_transcript(_call(spaced), tail).item("sorry").status == "pass"
    # the clause before the offer is judged: a question there still drops the judgment
    asked = ("agent", "真的非常抱歉给您添麻烦了吗? 请问还有什么可以帮您的吗?")
    assert score_transcript(_call(asked), tail).item("sorry").status == "fail"
    # an utterance that is nothing but the offer is a question
    assert score_transcript(_call(("agent", "请问还有什么可以帮您的吗?")), tail).item("sorry").status == "fail"
    with pytest.raises(RubricError, match="question_tail"):
        load_rubric(_rubric(tmp_path, "sorry.json", "    question_tail: {phrases: [帮]}\n"))


def test_answers_count_a_flat_answer_to_the_question_just_before(tmp_path):
    r = tmp_path / "rubric.yaml"
    r.write_text("""id: t
items:
  - id: promise
    kind: prohibited
    points: 10
    type: classifier
    speaker: agent
    match: {phrases: [保证送到]}
    answers:
      - match: {regex: ['^(是的|对)'], hedges: true}
        asked: {regex: ['明天能到吗']}
        unless: {regex: ['为准']}
""", encoding="utf-8")
    rubric = load_rubric(r)

    def status(*lines):
        return score_transcript(_call(*lines), rubric).item("promise")

    found = status(("customer", "快递明天能到吗"), ("agent", "是的"))
    assert found.status == "fail" and found.evidence[0].segment == 1
    asked = ("customer", "快递明天能到吗")
    cases = [
        # the answer is a clause of its own: 对不起 is no 对, 对 明天到 is
        ([asked, ("agent", "对不起 我查一下")], "pass"),
        ([asked, ("agent", "对 明天到")], "fail"),
        # a hedge anywhere in the utterance drops it, or in the rest of the turn, and so does what unless finds
        ([asked, ("agent", "是的 预计明天送达")], "pass"),
        ([asked, ("agent", "是的"), ("agent", "一般明天下午到")], "pass"),
        ([asked, ("agent", "是的"), ("agent", "以物流为准")], "pass"),
        ([asked, ("agent", "是的"), ("customer", "好"), ("agent", "以物流为准")], "fail"),
        # an answer that ends asking, or a yes to a question asked after the one the rule knows, is none
        ([asked, ("agent", "对 您是说明天吗")], "pass"),
        ([("customer", "快递明天能到吗 发票在里面吗"), ("agent", "是的")], "pass"),
        ([asked, ("customer", "发票在里面吗"), ("agent", "是的")], "pass"),
        # only the first utterance of the turn right after the question answers it
        ([asked, ("agent", "我帮您查一下"), ("agent", "是的")], "pass"),
        ([asked, ("agent", "稍等"), ("customer", "好"), ("agent", "是的")], "pass"),
        # a yes to another question is none; the phrases still count
        ([("customer", "是这个订单吗"), ("agent", "是的")], "pass"),
        ([("customer", "是这个订单吗"), ("agent", "保证送到")], "fail"),
        # the customer's own yes is not the agent's
        ([("agent", "快递明天能到吗"), ("customer", "是的")], "pass"),
    ]
    for lines, expected in cases:
        assert status(*lines).status == expected, lines
    # a system's line between question and answer is no one's turn: the yes still answers the question,
    # and a template after it hedges nothing of the agent's
    system = {"speaker": "agent", "text": "【系统】预计稍后为您转接", "automated": True}
    for segments in ([{"speaker": "customer", "text": "快递明天能到吗"}, system, {"speaker": "agent", "text": "是的"}],
                     [{"speaker": "customer", "text": "快递明天能到吗"}, {"speaker": "agent", "text": "是的"}, system]):
        call = Transcript.model_validate({"version": 1, "call_id": "c1", "channel": "chat", "segments": segments})
        assert score_transcript(call, rubric).item("promise").status == "fail", segments
    r.write_text(r.read_text(encoding="utf-8").replace("asked: {regex: ['明天能到吗']}", "asked: {regex: ['(a+)+']}"),
                 encoding="utf-8")
    with pytest.raises(RubricError, match="asked"):
        load_rubric(r)


def test_veto_all_drops_phrase_hits_as_well_as_model_judgments(tmp_path):
    _trained(tmp_path)
    said = ("agent", "真的非常抱歉 打扰了")
    # a plain veto drops the model's judgment only: the phrase still counts
    veto = load_rubric(_rubric(tmp_path, "sorry.json", "    threshold: 0.99\n    veto: {phrases: [打扰]}\n    match: {phrases: [抱歉]}\n"))
    assert score_transcript(_call(said), veto).item("sorry").status == "pass"
    # veto_all drops the phrase hit in its utterance too…
    both = load_rubric(_rubric(tmp_path, "sorry.json", "    threshold: 0.99\n    veto_all: {phrases: [打扰]}\n    match: {phrases: [抱歉]}\n"))
    assert score_transcript(_call(said), both).item("sorry").status == "fail"
    # …and the model's judgment (the model alone finds this apology)
    model = load_rubric(_rubric(tmp_path, "sorry.json", "    veto_all: {regex: ['打扰']}\n"))
    assert score_transcript(_call(("agent", "真的非常抱歉给您添麻烦了")), model).item("sorry").status == "pass"
    assert score_transcript(_call(said), model).item("sorry").status == "fail"
    plain = load_rubric(_rubric(tmp_path, "sorry.json"))
    assert score_transcript(_call(said), plain).item("sorry").status == "pass"
    # only in its own utterance: the same apology in the next message still counts
    card = score_transcript(_call(said, ("agent", "真的非常抱歉")), both)
    assert card.item("sorry").status == "pass" and card.item("sorry").evidence[0].segment == 1


def test_a_phrase_floor_drops_phrase_hits_the_model_reads_as_nothing(tmp_path):
    _trained(tmp_path)
    model = load_model(tmp_path / "sorry.json")
    sorry, other = model.probability("真的非常抱歉"), model.probability("麻烦说一下订单号")
    assert sorry > 0.5 > other
    floor = round((sorry + other) / 2, 3)
    # 抱歉 is a phrase too: in an utterance the model reads as an apology it counts, in one it
    # reads as something else it does not (with the floor), and it does without the floor
    extra = f"    threshold: 0.99\n    phrase_floor: {floor}\n    match: {{phrases: [抱歉, 订单号]}}\n"
    rubric = load_rubric(_rubric(tmp_path, "sorry.json", extra))
    assert score_transcript(_call(("agent", "真的非常抱歉")), rubric).item("sorry").status == "pass"
    assert score_transcript(_call(("agent", "麻烦说一下订单号")), rubric).item("sorry").status == "fail"
    plain = load_rubric(_rubric(tmp_path, "sorry.json", "    threshold: 0.99\n    match: {phrases: [抱歉, 订单号]}\n"))
    assert score_transcript(_call(("agent", "麻烦说一下订单号")), plain).item("sorry").status == "pass"


def test_a_question_needs_the_question_threshold_a_statement_does_not(tmp_path):
    _trained(tmp_path)
    model = load_model(tmp_path / "sorry.json")
    asked, said = "真的非常抱歉吗?", "真的非常抱歉"
    p_asked = model.probability(asked)
    assert p_asked > 0.5
    below, above = round(p_asked + (1 - p_asked) / 2, 3), round((0.5 + p_asked) / 2, 3)
    # a bar above the question's probability drops it; the same words said flat still count
    strict = load_rubric(_rubric(tmp_path, "sorry.json", f"    threshold: 0.5\n    question_threshold: {below}\n"))
    assert score_transcript(_call(("agent", asked)), strict).item("sorry").status == "fail"
    assert model.probability(said) >= 0.5
    assert score_transcript(_call(("agent", said)), strict).item("sorry").status == "pass"
    # …and 吗 / 么 at the end asks as a question mark does
    assert score_transcript(_call(("agent", "真的非常抱歉吗")), strict).item("sorry").status == \
        ("fail" if model.probability("真的非常抱歉吗") < below else "pass")
    # a bar below the probability (still above the statement's cut-off) lets the question count
    loose = load_rubric(_rubric(tmp_path, "sorry.json", f"    threshold: 0.5\n    question_threshold: {above}\n"))
    assert score_transcript(_call(("agent", asked)), loose).item("sorry").status == "pass"
    # a question mark closing the utterance counts whatever marks or emoji follow it
    for closed in ("真的非常抱歉？😂", "真的非常抱歉?!", "真的非常抱歉？）"):
        assert score_transcript(_call(("agent", closed)), strict).item("sorry").status == "fail", closed
    with pytest.raises(RubricError) as exc:
        load_rubric(_rubric(tmp_path, None, "    question_threshold: 0.8\n    match: {phrases: [抱歉]}\n"))
    assert "question_threshold" in str(exc.value.problems)
    # a question the challenge pattern finds is judged as a statement is
    challenged = load_rubric(_rubric(tmp_path, "sorry.json", f"    threshold: 0.5\n    question_threshold: {below}\n"
                                                            "    question_challenge: {regex: ['抱歉吗$']}\n"))
    assert score_transcript(_call(("agent", asked)), challenged).item("sorry").status == "pass"
    with pytest.raises(RubricError) as exc:
        load_rubric(_rubric(tmp_path, "sorry.json", "    question_challenge: {regex: ['吗$']}\n"))
    assert "question_challenge" in str(exc.value.problems)
    # at or below the statement's cut-off (the rubric's, or the model's own) it would do nothing: refused
    for extra in ("    threshold: 0.9\n    question_threshold: 0.5\n", f"    question_threshold: {round(model.threshold / 2, 3)}\n"):
        with pytest.raises(RubricError) as exc:
            load_rubric(_rubric(tmp_path, "sorry.json", extra))
        assert "question_threshold" in str(exc.value.problems)


def test_readings_below_the_cut_off_add_up_with_accumulate(tmp_path):
    _trained(tmp_path)
    model = load_model(tmp_path / "sorry.json")
    a, b, plain = "真的非常抱歉", "实在不好意思", "请提供订单号"
    pa, pb, pp = model.probability(a), model.probability(b), model.probability(plain)
    low = round(min(pa, pb) - 0.01, 3)
    assert pp < low < min(pa, pb) < max(pa, pb) < 0.99
    extra = f"    threshold: 0.99\n    accumulate: {{threshold: {low}, count: 2}}\n"
    rubric = load_rubric(_rubric(tmp_path, "sorry.json", extra))
    # one line the model reads at that level is not enough, nor one with a plain line beside it…
    assert score_transcript(_call(("agent", a)), rubric).item("sorry").status == "fail"
    assert score_transcript(_call(("agent", a), ("agent", plain)), rubric).item("sorry").status == "fail"
    # …two are, and the evidence says they count together
    item = score_transcript(_call(("agent", a), ("customer", "嗯"), ("agent", b)), rubric).item("sorry")
    assert item.status == "pass"
    assert item.evidence[0].segment == 0 and "2 句合计" in item.evidence[0].note
    # without accumulate the same call fails at that cut-off
    plain_rubric = load_rubric(_rubric(tmp_path, "sorry.json", "    threshold: 0.99\n"))
    assert score_transcript(_call(("agent", a), ("agent", b)), plain_rubric).item("sorry").status == "fail"
    # a vetoed line does not count towards the number, nor one that ``unless`` finds
    vetoed = load_rubric(_rubric(tmp_path, "sorry.json", extra + "    veto: {phrases: [实在]}\n"))
    assert score_transcript(_call(("agent", a), ("agent", b)), vetoed).item("sorry").status == "fail"
    unless = extra.replace("count: 2}", "count: 2, unless: {phrases: [实在]}}")
    assert "unless" in unless
    unless_rubric = load_rubric(_rubric(tmp_path, "sorry.json", unless))
    assert score_transcript(_call(("agent", a), ("agent", b)), unless_rubric).item("sorry").status == "fail"
    # …while two lines it does not find still add up
    assert score_transcript(_call(("agent", a), ("agent", a)), unless_rubric).item("sorry").status == "pass"
    # as a conditional rule's trigger: two moderate lines call for the response, one does not
    r = tmp_path / "c.yaml"
    r.write_text(f"""id: t
items:
  - id: answer
    kind: required
    points: 10
    type: conditional
    trigger: {{speaker: customer, model: sorry.json, threshold: 0.99, accumulate: {{threshold: {low}, count: 2}}}}
    response: {{speaker: agent, match: {{phrases: [收到]}}}}
    within_turns: all
""", encoding="utf-8")
    cond = load_rubric(r)
    assert score_transcript(_call(("customer", a), ("agent", "好的")), cond).item("answer").status == "na"
    both = score_transcript(_call(("customer", a), ("customer", b), ("agent", "好的")), cond).item("answer")
    assert both.status == "fail" and "2 句合计" in both.evidence[0].note
    # every line that adds up is shown, not only the first
    assert [e.segment for e in both.evidence if e.note.startswith("trigger")] == [0, 1]
    answered = _call(("customer", a), ("customer", b), ("agent", "收到"))
    assert score_transcript(answered, cond).item("answer").status == "pass"


def test_accumulate_needs_a_model_and_two_lines_or_more(tmp_path):
    _trained(tmp_path)
    with pytest.raises(RubricError) as exc:
        load_rubric(_rubric(tmp_path, None, "    accumulate: {threshold: 0.5, count: 2}\n    match: {phrases: [抱歉]}\n"))
    assert "accumulate" in str(exc.value.problems)
    # at or above the cut-off it would add nothing: refused
    with pytest.raises(RubricError) as exc:
        load_rubric(_rubric(tmp_path, "sorry.json", "    threshold: 0.6\n    accumulate: {threshold: 0.6, count: 2}\n"))
    assert "accumulate" in str(exc.value.problems) and "below the cut-off" in str(exc.value.problems)
    for bad in ("{threshold: 0.5, count: 1}", "{threshold: 1.5, count: 2}", "{threshold: .nan, count: 2}", "{count: 2}"):
        with pytest.raises(RubricError) as exc:
            load_rubric(_rubric(tmp_path, "sorry.json", f"    accumulate: {bad}\n"))
        assert "accumulate" in str(exc.value.problems), bad


def test_a_phrase_floor_needs_a_model(tmp_path):
    with pytest.raises(RubricError) as exc:
        load_rubric(_rubric(tmp_path, None, "    phrase_floor: 0.3\n    match: {phrases: [抱歉]}\n"))
    assert "phrase_floor" in str(exc.value.problems)


def test_a_model_file_outside_the_rubric_folder_is_refused(tmp_path):
    inner = tmp_path / "rubrics"
    inner.mkdir()
    _trained(tmp_path)
    with pytest.raises(RubricError) as exc:
        load_rubric(_rubric(inner, "../sorry.json"))
    assert "outside the rubric's folder" in str(exc.value.problems)
    assert str(inner / "rubric.yaml") + ":" in exc.value.problems[0]


def test_an_unknown_shipped_model_is_a_rubric_error(tmp_path):
    res = runner.invoke(app, ["rubric", "check", str(_rubric(tmp_path, "no_such_model"))])
    assert res.exit_code == 3
    assert "unknown model 'no_such_model'" in res.output


def test_models_as_trigger_and_response_of_a_conditional_rule(tmp_path):
    _trained(tmp_path)
    r = tmp_path / "c.yaml"
    r.write_text("""id: t
items:
  - id: apology
    kind: required
    points: 10
    type: conditional
    trigger: {speaker: customer, model: problem}
    response: {speaker: agent, model: sorry.json}
    within_turns: 2
""", encoding="utf-8")
    rubric = load_rubric(r)
    bad = score_transcript(_call(("customer", "我买的东西到现在还没到，都一个星期了，太慢了"), ("agent", "请提供订单号")), rubric)
    assert bad.item("apology").status == "fail"
    good = score_transcript(_call(("customer", "我买的东西到现在还没到，都一个星期了，太慢了"),
                                  ("agent", "非常抱歉让您久等了")), rubric)
    assert good.item("apology").status == "pass"
    assert [e.note.split(" ")[0] for e in good.item("apology").evidence] == ["trigger", "response"]
    calm = score_transcript(_call(("customer", "发票在哪里下载"), ("agent", "在订单详情里")), rubric)
    assert calm.item("apology").status == "na"


def test_a_detect_needs_a_model_or_a_match():
    with pytest.raises(RubricError) as exc:
        parse_rubric("""id: t
items:
  - {id: x, kind: required, type: classifier, speaker: agent}
""", "r.yaml")
    assert "needs a 'model', a 'match', or both" in "\n".join(exc.value.problems)


def test_every_shipped_model_loads_and_says_what_it_was_trained_on():
    shipped = builtin_models()
    assert {"greeting", "identity", "apology", "soothing", "commitment", "rude", "closing", "problem",
            "praise", "complaint"} <= set(shipped)
    for name, path in shipped.items():
        m = load_model(path)
        assert m.name == name and m.weights and 0 < m.threshold < 1
        assert m.training.get("examples", 0) > 1000 and "data" in m.training
    assert sum(p.stat().st_size for p in shipped.values()) < 3 * 1024 * 1024


def test_the_default_rubric_uses_shipped_models():
    rubric = load_rubric(None)
    used = set()
    for item in rubric.items:
        for side in (item, getattr(item, "trigger", None), getattr(item, "response", None)):
            models = getattr(side, "text_models", None) or []
            used.update(m.name for m in models)
    assert {"greeting", "identity", "problem", "apology", "rude", "commitment", "closing", "praise",
            "complaint", "soothing"} <= used


# --- a whole call at once (integer n-gram codes, one table per feature set) ---------------------

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from qa_scorer.rubric.call import Call  # noqa: E402
from qa_scorer.textmodel import CallGrams, ModelBank, gram_code, load_model  # noqa: E402

_SHIPPED = [load_model(p) for p in builtin_models().values()]
_CHARS = st.sampled_from(list("您好请问订单号码是这个吗抱歉不好意思今天明天到货退款亲～！？?。，, 0123456789abcXYZ😀\u3000") + ["\U00020000", "吗?"])
_UTTERANCES = st.lists(st.tuples(st.sampled_from(["agent", "customer"]),
                                 st.lists(_CHARS, max_size=40).map("".join)), min_size=1, max_size=12)


def _previous_other(segments, i: int):
    """The last segment before ``i`` by another speaker, found the slow, obvious way."""
    return next((j for j in range(i - 1, -1, -1) if segments[j].speaker != segments[i].speaker), None)


def _transcript(turns) -> Transcript:
    segs = [{"speaker": who, "text": text} for who, text in turns]
    return Transcript.model_validate({"call_id": "c", "agent_id": "a", "channel": "chat", "segments": segs})


@pytest.mark.slow
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_UTTERANCES)
def test_a_call_scored_at_once_gives_each_utterance_the_probability_it_gets_alone(turns):
    transcript = _transcript(turns)
    call = Call(transcript, ModelBank(_SHIPPED))
    for model in _SHIPPED:
        for i, seg in enumerate(transcript.segments):
            j = _previous_other(transcript.segments, i) if model.spec.context else None
            previous = transcript.segments[j].text if j is not None else ""
            assert call.probabilities(model)[i] == pytest.approx(model.probability(seg.text, previous), abs=1e-12)


def test_models_of_other_features_and_uncodable_ones_score_as_they_do_alone():
    examples = [Example(t, lab) for t, lab in [("非常抱歉给您带来不便", True), ("不好意思让您久等了", True),
                                               ("抱歉抱歉", True), ("您好请问有什么可以帮您", False),
                                               ("订单已经发货了", False), ("好的", False)] * 3]
    wide = from_dict(fit(examples, name="wide", spec=FeatureSpec(ngram_min=2, ngram_max=5)))
    short = from_dict(fit(examples, name="short", spec=FeatureSpec(ngram_min=2, ngram_max=2, norm="none")))
    context = from_dict(fit([Example(e.text, e.label, previous="能今天到吗") for e in examples], name="ctx",
                            spec=FeatureSpec(context=1, context_ngram_max=3)))
    assert wide.table is None and short.table is not None
    transcript = _transcript([("customer", "今天能到吗？"), ("agent", "非常抱歉，今天到不了"), ("agent", "好的"),
                        ("customer", "哦"), ("agent", "不好意思哦亲")])
    call = Call(transcript, ModelBank([wide, short, context, _SHIPPED[0]]))
    for model in (wide, short, context, _SHIPPED[0]):
        for i, seg in enumerate(transcript.segments):
            j = _previous_other(transcript.segments, i) if model.spec.context else None
            previous = transcript.segments[j].text if j is not None else ""
            assert call.probabilities(model)[i] == pytest.approx(model.probability(seg.text, previous), abs=1e-12)
    # a model outside the bank is scored too (a bank of its own)
    assert Call(transcript).probabilities(short)[1] == pytest.approx(short.probability("非常抱歉，今天到不了"), abs=1e-12)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(st.sampled_from(list("你好吗抱歉好好好1?") + ["😀", "\U00020000", "\U0010fffd"]),
                         max_size=12).map("".join), max_size=9),
       st.sampled_from([(1, 1), (1, 2), (1, 3), (2, 3), (3, 3)]), st.sampled_from([0, 1 << 63]))
def test_the_codes_sorted_with_the_utterance_below_are_those_of_a_stable_sort(texts, lengths, flag):
    # narrow codes with the utterance index in the low bits, one plain sort (CallGrams._codes),
    # against the codes sorted stably (its fallback when a chunk's codes do not fit 64 bits):
    # the same codes, utterances and counts, in the same order, whatever characters appear
    # (a character beyond U+FFFF widens every code; near U+10FFFF the fallback itself runs)
    grams = CallGrams(texts, ["?" in t for t in texts], [-1] * len(texts))
    low, high = lengths
    got, want = grams._codes(low, high, flag), grams._codes_stable(low, high, flag)
    for a, b in zip(got, want):
        assert a.dtype == b.dtype and a.tolist() == b.tolist()


def test_every_n_gram_has_its_own_code():
    grams = ["你", "你好", "你好吗", "<你", "<你好", "\x00?", "<\x00?", "^你", "吗$", "^$", "\U00020000好"]
    codes = [gram_code(g) for g in grams]
    assert len(set(codes)) == len(codes)
    assert all(0 <= c < 2 ** 64 for c in codes)
    assert gram_code("四个字的") is None


def _written_transcripts() -> list[Transcript]:
    from qa_scorer.ingest import find_transcripts, load_transcript

    root = Path(__file__).resolve().parents[1]
    return [load_transcript(p) for p in find_transcripts([root / "tests" / "data", root / "samples" / "transcripts"])]


def test_many_calls_scored_together_get_the_scorecards_each_gets_alone(default_rubric, monkeypatch):
    import qa_scorer.rubric.engine as engine
    from qa_scorer.score import score_transcripts

    transcripts = _written_transcripts()
    assert len(transcripts) > 300
    alone = [score_transcript(t, default_rubric).model_dump() for t in transcripts]
    monkeypatch.setattr(engine, "CHUNK_CALLS", 7)  # chunks that end mid-set, and a short last one
    together = [card.model_dump() for _, card in score_transcripts(transcripts, default_rubric)]
    assert together == alone


def test_a_chunk_the_models_cannot_read_together_is_scored_call_by_call(default_rubric, monkeypatch):
    import qa_scorer.rubric.engine as engine
    from qa_scorer.score import score_transcripts

    transcripts = _written_transcripts()[:20]
    alone = [score_transcript(t, default_rubric).model_dump() for t in transcripts]

    def broken(calls, bank):
        for c in calls:
            c._probs[id(bank.models[0])] = [2.0] * len(c.segments)  # half-made, then fails
        raise MemoryError("no room for the chunk")

    monkeypatch.setattr(engine, "prepare_models", broken)
    assert [card.model_dump() for _, card in score_transcripts(transcripts, default_rubric)] == alone


def test_a_call_whose_words_no_model_knows_is_scored(default_rubric):
    # not one n-gram of any shipped model: the sums must still be numbers (a context model too)
    transcript = _transcript([("customer", "\U00020000"), ("agent", "\U00020001\U00020002")])
    card = score_transcript(transcript, default_rubric)
    assert card.score >= 0 and [i for i in card.items if i.id == "false_promise"]


# Codes below 2**64 - 1: all bits set is the keys' end sentinel, which no n-gram's code can be
# (63 bits of text and the context bit never all set), and a binary search would "find" it.
@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, (1 << 64) - 2), min_size=1, max_size=300, unique=True),
       st.lists(st.integers(0, (1 << 64) - 2), max_size=300), st.data())
def test_the_hashed_lookup_of_codes_finds_what_a_binary_search_finds(keys, others, data):
    """``_Group._find`` (a hash table of the keys, sharing slots) against np.searchsorted: for
    every code, a key is found at its own index and a code that is no key matches none."""
    import numpy as np
    from qa_scorer.textmodel import _Group, _hash_table

    group = _Group.__new__(_Group)
    group.keys = np.array(sorted(keys) + [(1 << 64) - 1], dtype=np.uint64)
    group.slots, group.shift = _hash_table(group.keys)
    # keys, codes that are none, and codes that share a key's slot
    codes = keys + others + data.draw(st.lists(st.sampled_from(keys), max_size=50))
    codes = np.array(sorted(codes), dtype=np.uint64)
    at = group._find(codes)
    expected = np.minimum(np.searchsorted(group.keys, codes), len(group.keys) - 1)
    hit = group.keys[at] == codes
    assert (hit == (group.keys[expected] == codes)).all()
    assert (at[hit] == expected[hit]).all()


def test_keys_that_share_a_slot_are_still_found():
    import numpy as np
    from qa_scorer.textmodel import _HASH, _Group, _hash_table

    # codes whose top bits of code * _HASH agree: the same slot in a table of 1,024
    base = np.arange(1, 200000, dtype=np.uint64)
    h = (base * _HASH) >> np.uint64(54)
    same = np.sort(base[h == h[0]][:5])
    assert len(same) >= 2
    group = _Group.__new__(_Group)
    group.keys = np.append(same, np.uint64((1 << 64) - 1))
    group.slots, group.shift = _hash_table(group.keys)
    assert (group.slots < 0).any()
    assert (group._find(same) == np.arange(len(same))).all()


def test_a_veto_model_drops_a_model_judgment_where_another_model_is_confident(tmp_path):
    _trained(tmp_path)
    # the same model as its own veto: every utterance it judges an apology is vetoed, so the
    # item finds none; a phrase hit is not a model judgment and still counts
    vetoed = load_rubric(_rubric(tmp_path, "sorry.json", "    veto_model: {model: sorry.json, threshold: 0.5}\n"))
    assert score_transcript(_call(("agent", "真的非常抱歉给您添麻烦了")), vetoed).item("sorry").status == "fail"
    plain = load_rubric(_rubric(tmp_path, "sorry.json"))
    assert score_transcript(_call(("agent", "真的非常抱歉给您添麻烦了")), plain).item("sorry").status == "pass"
    phrase = load_rubric(_rubric(tmp_path, "sorry.json", "    veto_model: {model: sorry.json, threshold: 0.5}\n"
                                                         "    match: {phrases: [抱歉]}\n"))
    assert score_transcript(_call(("agent", "真的非常抱歉给您添麻烦了")), phrase).item("sorry").status == "pass"
    # the veto model is part of the rubric's model bank
    assert any(m.name == "sorry" for m in vetoed.text_models())
    with pytest.raises(RubricError) as exc:
        load_rubric(_rubric(tmp_path, None, "    veto_model: {model: sorry.json, threshold: 0.5}\n    match: {phrases: [抱歉]}\n"))
    assert "veto_model" in str(exc.value.problems)


def test_a_sure_veto_drops_phrase_hits_too_unless_its_own_match_finds_something(tmp_path):
    _trained(tmp_path)
    sure = "    veto_model_all: {model: sorry.json, threshold: 0.5, unless: {phrases: [谢谢]}}\n"
    phrase = "    match: {phrases: [抱歉]}\n"
    # the same model as its own sure veto: an apology it is sure of drops the phrase hit in it as well
    vetoed = load_rubric(_rubric(tmp_path, "sorry.json", "    threshold: 0.99\n" + sure + phrase))
    assert score_transcript(_call(("agent", "真的非常抱歉给您添麻烦了")), vetoed).item("sorry").status == "fail"
    # …unless its own match finds something in the utterance
    assert score_transcript(_call(("agent", "真的非常抱歉给您添麻烦了 谢谢")), vetoed).item("sorry").status == "pass"
    # without it, the phrase counts
    plain = load_rubric(_rubric(tmp_path, "sorry.json", "    threshold: 0.99\n" + phrase))
    assert score_transcript(_call(("agent", "真的非常抱歉给您添麻烦了")), plain).item("sorry").status == "pass"
    assert any(m.name == "sorry" for m in vetoed.text_models())
    with pytest.raises(RubricError) as exc:
        load_rubric(_rubric(tmp_path, "sorry.json", "    veto_model_all: {model: sorry.json, threshold: 1.5}\n"))
    assert "threshold" in str(exc.value.problems)


def test_the_shipped_models_learnt_from_the_written_sets_listed_for_them():
    """The models that learn from the written calls say which sets they read, and it is the list
    bench/train_models.py reads (bench/real/written-call-sets.txt): a set added to tests/data for
    tuning is not training data until it is listed and the models are trained again."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
    from train_models import call_sets  # the recipe's own reader: each a labelled set, none twice

    listed = call_sets()
    assert listed
    shipped = builtin_models()
    for name in ("rude", "problem", "praise", "complaint"):
        assert load_model(shipped[name]).training.get("written_call_sets") == listed, name


def _heldout2() -> tuple[Path, dict]:
    """bench/ on the import path (train_models), and the written set heldout2's folder and labels."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
    data = Path(__file__).resolve().parent / "data" / "heldout2"
    return data, {tuple(r.split(",")[:2]): r.split(",")[2] for r in (data / "labels.csv").read_text(encoding="utf-8").split()[1:]}


def test_the_rudeness_model_learns_from_lines_marked_in_failed_calls_only(tmp_path):
    """bench/train_models.py teaches the rudeness model from the written calls' agent lines marked
    one by one (bench/real/written-line-labels.jsonl): a call teaches only when its set's reviewers
    failed it on banned wording and the line reviewer marked a line; its marked lines are positives
    and its other agent lines negatives. A passed call, or a failed one with no line marked, teaches
    nothing; a set that is not a labelled set in tests/data is refused with the file and line."""
    data, labels = _heldout2()
    from train_models import LINE_ITEMS, written_line_examples

    assert labels[("hc_002", "banned_phrases")] == "fail" and labels[("hc_017", "banned_phrases")] == "pass"
    path = tmp_path / "lines.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in (
        {"set": "heldout2", "call": "hc_002", "banned": [4, 8]},
        {"set": "heldout2", "call": "hc_017", "banned": [2]},   # passed by the set's reviewers: not taught
        {"set": "heldout2", "call": "hc_005", "banned": []},    # failed, but no line marked: not taught
    )) + "\n", encoding="utf-8")
    got = written_line_examples("rude", path)
    segs = json.loads((data / "hc_002.json").read_text(encoding="utf-8"))["segments"]
    agent = [i for i, s in enumerate(segs) if s["speaker"] == "agent"]
    assert [e.source for e in got] == [f"heldout2/hc_002#{i}" for i in agent]
    assert {e.source for e in got if e.label} == {"heldout2/hc_002#4", "heldout2/hc_002#8"}
    assert all(e.speaker == "agent" for e in got)
    assert written_line_examples("apology", path) == []   # the apology model reads no marked lines
    path.write_text(json.dumps({"set": "../heldout2", "call": "hc_002", "banned": [4]}) + "\n", encoding="utf-8")
    with pytest.raises(SystemExit) as exc:
        written_line_examples("rude", path)
    assert f"{path}:1" in str(exc.value)
    # the shipped rudeness model was trained with the committed file, and says so
    assert (Path(__file__).resolve().parents[1] / "bench" / "real" / LINE_ITEMS["rude"][3]).is_file()
    assert "marked line by line" in load_model(builtin_models()["rude"]).training["data"]


def test_the_closing_model_learns_the_last_two_turns_only(tmp_path):
    """The closing model learns the written calls' closing lines marked one by one
    (bench/real/written-closing-line-labels.jsonl) and the lines of the calls failed on the closing, but
    only from the agent's last two turns, where a closing is judged: a 感谢您的耐心等待 mid-call is no
    example either way."""
    data, labels = _heldout2()
    from train_models import CALL_ITEMS, LINE_ITEMS, written_call_examples, written_line_examples

    assert labels[("hc_001", "closing")] == "pass" and labels[("hc_002", "closing")] == "fail"
    path = tmp_path / "lines.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in (
        {"set": "heldout2", "call": "hc_001", "closing": [17]},
        {"set": "heldout2", "call": "hc_002", "closing": []},   # failed by the set's reviewers: not taught here
    )) + "\n", encoding="utf-8")
    got = written_line_examples("closing", path)
    # hc_001: the agent's last two turns are segments 15 and 17 (11, 13 and the mid-call 7 are not taught)
    assert [(e.source, e.label) for e in got] == [("heldout2/hc_001#15", False), ("heldout2/hc_001#17", True)]
    assert CALL_ITEMS["closing"] == ("closing", "fail") and LINE_ITEMS["closing"][3] == "written-closing-line-labels.jsonl"
    failed = [e for e in written_call_examples("closing") if e.source.startswith("heldout2/hc_002#")]
    segs = json.loads((data / "hc_002.json").read_text(encoding="utf-8"))["segments"]
    turns, last = [], None
    for i, s in enumerate(segs):
        if s["speaker"] == "agent":
            if last != "agent":
                turns.append([])
            turns[-1].append(i)
        last = s["speaker"]
    assert [e.source for e in failed] == [f"heldout2/hc_002#{i}" for t in turns[-2:] for i in t]
    assert failed and not any(e.label for e in failed)
    assert "marked line by line" in load_model(builtin_models()["closing"]).training["data"]


def test_the_complaint_model_learns_marked_threats_of_calls_soothed_or_not(tmp_path):
    """The complaint model learns the customer lines marked as threats one by one
    (bench/real/written-complaint-line-labels.jsonl) in every call with a threat to soothe, whether its
    reviewers passed or failed the soothing; a call judged to hold no threat (na) teaches nothing here."""
    data, labels = _heldout2()
    from train_models import LINE_ITEMS, written_line_examples

    assert (labels[("hc_002", "complaint_soothing")], labels[("hc_008", "complaint_soothing")],
            labels[("hc_001", "complaint_soothing")]) == ("fail", "pass", "na")
    path = tmp_path / "lines.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in (
        {"set": "heldout2", "call": "hc_002", "complaint": [7]},
        {"set": "heldout2", "call": "hc_008", "complaint": [5]},
        {"set": "heldout2", "call": "hc_001", "complaint": [1]},   # no threat by its reviewers: not taught
    )) + "\n", encoding="utf-8")
    got = written_line_examples("complaint", path)
    assert {e.source for e in got if e.label} == {"heldout2/hc_002#7", "heldout2/hc_008#5"}
    assert not any(e.source.startswith("heldout2/hc_001#") for e in got)
    assert all(e.speaker == "customer" for e in got)
    assert LINE_ITEMS["complaint"][1] == ("pass", "fail")
    assert "judged pass or fail on complaint_soothing, marked line by line" in load_model(builtin_models()["complaint"]).training["data"]


def test_the_soothing_model_learns_the_marked_lines_of_calls_whose_threat_was_soothed(tmp_path):
    """The soothing model learns the agent lines marked one by one as soothing
    (bench/real/written-soothing-line-labels.jsonl) in the calls whose reviewers passed the complaint
    soothing; a call they failed, or one without a threat, teaches nothing here."""
    data, labels = _heldout2()
    from train_models import LINE_ITEMS, written_line_examples

    assert (labels[("hc_002", "complaint_soothing")], labels[("hc_008", "complaint_soothing")],
            labels[("hc_001", "complaint_soothing")]) == ("fail", "pass", "na")
    path = tmp_path / "lines.jsonl"
    segs = json.loads((data / "hc_008.json").read_text(encoding="utf-8"))["segments"]
    agent = [i for i, s in enumerate(segs) if s["speaker"] == "agent"]
    path.write_text("\n".join(json.dumps(r) for r in (
        {"set": "heldout2", "call": "hc_002", "soothing": [2]},   # failed by its reviewers: not taught
        {"set": "heldout2", "call": "hc_008", "soothing": [agent[1]]},
        {"set": "heldout2", "call": "hc_001", "soothing": [2]},   # no threat: not taught
    )) + "\n", encoding="utf-8")
    got = written_line_examples("soothing", path)
    assert [e.source for e in got] == [f"heldout2/hc_008#{i}" for i in agent]
    assert {e.source for e in got if e.label} == {f"heldout2/hc_008#{agent[1]}"}
    assert all(e.speaker == "agent" for e in got)
    assert LINE_ITEMS["soothing"][:3] == ("complaint_soothing", ("pass",), "soothing")
    assert (Path(__file__).resolve().parents[1] / "bench" / "real" / LINE_ITEMS["soothing"][3]).is_file()
    assert "judged pass on complaint_soothing, marked line by line" in load_model(builtin_models()["soothing"]).training["data"]


def test_a_model_retrained_in_place_makes_a_new_rubric_version(tmp_path):
    # The version is what the history keeps results apart by and the dashboard compares: a
    # retrained model under the same file name judges differently, so it is another version.
    _trained(tmp_path)
    rubric = _rubric(tmp_path, "sorry.json")
    before = load_rubric(rubric).version
    assert load_rubric(rubric).version == before  # the same files: the same version
    (tmp_path / "sorry.json").write_text(json.dumps(fit(_examples(), name="sorry", min_df=1, c=100.0),
                                                    ensure_ascii=False), encoding="utf-8")
    assert load_rubric(rubric).version != before


def test_train_reads_previous_only_with_context_and_writes_json_files_only(tmp_path):
    data = tmp_path / "yes.jsonl"
    rows = [{"text": "是的", "label": asks, "previous": q} for asks, q in
            [(True, "今晚能到吗"), (True, "明天能送到吧"), (True, "保证今天发货吗"), (False, "你是客服吗"),
             (False, "这是你们店吗"), (False, "是用这个账号吗")] * 3]
    data.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8")
    plain = runner.invoke(app, ["train", str(data), "--out", str(tmp_path / "plain.json")])
    assert plain.exit_code == 0 and "read only with --context" in plain.output
    assert load_model(tmp_path / "plain.json").spec.context == 0
    ctx = runner.invoke(app, ["train", str(data), "--out", str(tmp_path / "ctx.json"), "--context", "--cv", "3"])
    assert ctx.exit_code == 0, ctx.output
    m = load_model(tmp_path / "ctx.json")
    assert m.spec.context == 1 and m.probability("是的", "今晚能到吗") > m.probability("是的", "你是客服吗")
    bad = runner.invoke(app, ["train", str(data), "--out", str(tmp_path / "m.txt")])
    assert bad.exit_code == 2 and "ends in .json" in bad.output and not (tmp_path / "m.txt").exists()
