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


def _rubric(tmp_path: Path, model_ref: str, extra: str = "") -> Path:
    r = tmp_path / "rubric.yaml"
    r.write_text(f"""id: t
items:
  - id: sorry
    kind: required
    points: 10
    type: classifier
    speaker: agent
    model: {model_ref}
{extra}""", encoding="utf-8")
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
            "complaint"} <= used
