"""Cut-offs of the learned checks swept against labels (``eval --sweep``), and the calibrated copy."""

import re
from pathlib import Path

from typer.testing import CliRunner

from qa_scorer.calibrate import best, calibrated_text, in_use, knobs, sweep
from qa_scorer.cli import app
from qa_scorer.models import Transcript
from qa_scorer.rubric.loader import load_rubric, parse_rubric
from qa_scorer.textmodel import BUILTIN_DIR, load_model

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "samples" / "transcripts"
runner = CliRunner()

PRAISE = """\
id: praise-only
items:
  - id: praised
    kind: reward
    points: 5
    type: classifier
    speaker: customer
    model: praise
    threshold: 0.95
"""

LINES = ["你们服务真好 太感谢了", "谢谢你啊 挺快的", "还算靠谱", "你们这态度好", "好的 知道了", "我要退货",
         "什么时候发货", "太感谢了 这么晚了还有人回", "嗯 行", "我再想想"]


def _call(n: int, line: str) -> Transcript:
    return Transcript.model_validate({"version": 1, "call_id": f"c{n}", "channel": "chat", "segments": [
        {"speaker": "agent", "text": "您好 请问有什么可以帮您"}, {"speaker": "customer", "text": line}]})


def test_the_default_rubric_s_learned_checks_are_knobs():
    names = {k.name for k in knobs(load_rubric(None))}
    for name in ("apology.trigger", "apology.response", "false_promise", "customer_praise",
                 "complaint_soothing.trigger", "banned_phrases", "identity_check"):
        assert name in names


def test_the_sweep_scores_each_cut_off_against_the_labels_and_leaves_the_rubric_as_it_was():
    rubric = parse_rubric(PRAISE)
    model = load_model(BUILTIN_DIR / "praise.json")
    p = {line: model.probability(line) for line in LINES}
    # the reviewer calls a line praise where the model reads 0.5 or more: every cut-off at or
    # below the lowest such reading and above the highest other one agrees with them fully
    calls = [_call(n, line) for n, line in enumerate(LINES)]
    labels = {(f"c{n}", "praised"): "pass" if p[line] >= 0.5 else "na" for n, line in enumerate(LINES)}
    low = min(v for v in p.values() if v >= 0.5)
    high = max((v for v in p.values() if v < 0.5), default=0.0)
    assert sum(v >= 0.5 for v in p.values()) >= 3 and high < 0.5
    ((knob, rows),) = sweep(rubric, calls, labels)
    assert knob.name == "praised" and in_use(knob) == 0.95
    assert [r.cutoff for r in rows] == [0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95]
    for row in rows:
        found = sum(v >= row.cutoff for v in p.values() if v >= 0.5)
        false = sum(v >= row.cutoff for v in p.values() if v < 0.5)
        assert (row.tp, row.fp, row.fn, row.calls) == (found, false, sum(v >= 0.5 for v in p.values()) - found, len(LINES))
        assert (row.f1 == 1.0) == (high < row.cutoff <= low)
    top = best(knob, rows)
    assert top is not None and top.f1 == 1.0 and high < top.cutoff <= low
    assert rubric.items[0].threshold == 0.95  # put back


def test_cut_offs_the_rubric_s_own_bars_rule_out_are_skipped_with_the_reason():
    rubric = load_rubric(None)
    calls = [Transcript.model_validate_json(f.read_text(encoding="utf-8")) for f in sorted(SAMPLES.glob("*.json"))]
    labels = {(t.call_id, "apology"): "fail" for t in calls}
    ((knob, rows),) = sweep(rubric, calls, labels, only={"apology.trigger"})
    skipped = {r.cutoff: r.skipped for r in rows if r.skipped}
    assert set(skipped) == {0.5, 0.55, 0.6, 0.85, 0.9, 0.95}
    assert "accumulate 0.6" in skipped[0.6] and "question_threshold 0.85" in skipped[0.85]
    assert rubric.item("apology").trigger.threshold == 0.7


CALIBRATE = """\
id: three
# a comment that stays
items:
  - id: promise
    kind: prohibited
    points: 10
    type: classifier
    model: commitment
    threshold: 0.95   # the rubric's own
    speaker: agent
  - id: praised
    kind: reward
    points: 5
    type: classifier
    speaker: customer
    model: praise
    match: {phrases: [点赞]}
  - id: sorry
    kind: required
    points: 10
    type: conditional
    trigger: {speaker: customer, model: problem}
    response: {speaker: agent, match: {phrases: [抱歉]}}
"""


def test_the_calibrated_copy_changes_the_cut_offs_and_nothing_else():
    text = CALIBRATE
    chosen = {(0, ""): 0.8, (1, ""): 0.85, (2, "trigger"): 0.75}
    out = calibrated_text(text, chosen)
    rubric = parse_rubric(out)
    assert rubric.items[0].threshold == 0.8 and rubric.items[1].threshold == 0.85
    assert rubric.items[2].trigger.threshold == 0.75
    assert "threshold: 0.8   # the rubric's own" in out and "# a comment that stays" in out
    assert "trigger: {threshold: 0.75, speaker: customer, model: problem}" not in out  # written at the model key
    assert "trigger: {speaker: customer, threshold: 0.75, model: problem}" in out
    # every other line as it was: only the changed line and the one written in differ
    new = [line for line in out.splitlines() if line not in text.splitlines()]
    assert new == ["    threshold: 0.8   # the rubric's own", "    threshold: 0.85",
                   "    trigger: {speaker: customer, threshold: 0.75, model: problem}"]


def test_eval_sweep_prints_each_cut_off_and_writes_the_calibrated_rubric(tmp_path):
    out = tmp_path / "calibrated.yaml"
    res = runner.invoke(app, ["eval", str(SAMPLES), "--labels", str(ROOT / "samples" / "labels.csv"),
                              "--sweep", "--only", "false_promise", "--only", "apology.trigger", "--calibrated", str(out)])
    assert res.exit_code == 0, res.output
    assert "false_promise: model commitment, cut-off 0.95" in res.output
    assert "apology.trigger: model problem, complaint, cut-off 0.70" in res.output
    assert "<- in use" in res.output and "skipped: question_threshold 0.85 must be above" in res.output
    assert "identity_check:" not in res.output  # not asked for
    # the labels' flagged calls and the machine's, each its own column, as in eval's table
    assert re.search(r"cut-off\s+labelled\s+flagged\s+found\s+false\s+missed", res.output)
    for line in res.output.splitlines():  # where the machine flags nothing, precision is no 1.00
        cells = line.split()
        if len(cells) >= 10 and re.fullmatch(r"0\.\d\d", cells[0]) and cells[2] == "0":
            assert cells[6] == "–", line
    assert f"wrote {out}" in res.output
    load_rubric(out)  # a rubric that loads


def test_eval_sweep_usage_errors(tmp_path):
    labels = str(ROOT / "samples" / "labels.csv")
    res = runner.invoke(app, ["eval", str(SAMPLES), "--labels", labels, "--calibrated", str(tmp_path / "c.yaml")])
    assert res.exit_code == 2 and "go with --sweep" in res.output
    res = runner.invoke(app, ["eval", str(SAMPLES), "--labels", labels, "--sweep", "--only", "nope"])
    assert res.exit_code == 2 and "no check a model judges is called nope" in res.output and "apology.trigger" in res.output
    mine = tmp_path / "mine.yaml"
    mine.write_text((ROOT / "rubrics" / "default.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    res = runner.invoke(app, ["eval", str(SAMPLES), "--labels", labels, "--rubric", str(mine), "--sweep",
                              "--only", "false_promise", "--calibrated", str(mine)])
    assert res.exit_code == 2 and "that is the rubric being swept" in res.output
    assert mine.read_text(encoding="utf-8") == (ROOT / "rubrics" / "default.yaml").read_text(encoding="utf-8")


def test_the_calibrated_copy_keeps_line_endings_and_a_byte_order_mark_and_writes_beside_a_first_key():
    text = "\ufeff" + CALIBRATE.replace("  - id: praised\n", "  - model: praise\n    id: praised\n").replace(
        "    model: praise\n    match:", "    match:").replace("\n", "\r\n")
    out = calibrated_text(text, {(1, ""): 0.85, (0, ""): 0.8})
    assert out.startswith("\ufeff") and "\n" not in out.replace("\r\n", "")
    assert "  - model: praise\r\n    threshold: 0.85\r\n    id: praised\r\n" in out  # not after the dash
    rubric = parse_rubric(out.lstrip("\ufeff"))
    assert rubric.items[0].threshold == 0.8 and rubric.items[1].threshold == 0.85


def test_layouts_the_calibrated_copy_cannot_edit_safely_are_refused_by_name():
    import pytest

    from qa_scorer.calibrate import CalibrationError

    quoted = CALIBRATE.replace("threshold: 0.95   # the rubric's own", "threshold: '0.95'")
    with pytest.raises(CalibrationError, match="item 1: its threshold is not written as a plain number"):
        calibrated_text(quoted, {(0, ""): 0.8})
    shared = CALIBRATE.replace("trigger: {speaker: customer, model: problem}",
                               "trigger: &t {speaker: customer, model: problem}") + """\
  - id: sorry2
    kind: required
    points: 10
    type: conditional
    trigger: *t
    response: {speaker: agent, match: {phrases: [抱歉]}}
"""
    parse_rubric(shared)  # a rubric that loads
    with pytest.raises(CalibrationError, match="anchor"):
        calibrated_text(shared, {(3, "trigger"): 0.8})


def test_eval_sweep_refuses_to_write_over_the_swept_rubric_through_a_hard_link(tmp_path):
    import os

    mine = tmp_path / "mine.yaml"
    mine.write_text((ROOT / "rubrics" / "default.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    os.link(mine, tmp_path / "hard.yaml")
    res = runner.invoke(app, ["eval", str(SAMPLES), "--labels", str(ROOT / "samples" / "labels.csv"), "--rubric", str(mine),
                              "--sweep", "--only", "false_promise", "--calibrated", str(tmp_path / "hard.yaml")])
    assert res.exit_code == 2 and "that is the rubric being swept" in res.output


def test_the_sweep_counts_calls_as_their_scorecards_do():
    # a call on a channel the item is not for, and a call without speech, are na at every cut-off
    rubric = parse_rubric(PRAISE.replace("    threshold: 0.95\n", "    threshold: 0.95\n    channels: [chat]\n"))
    phone = Transcript.model_validate({"version": 1, "call_id": "p", "channel": "phone", "segments": [
        {"speaker": "customer", "text": "你们服务真好 太感谢了"}]})
    silent = Transcript.model_validate({"version": 1, "call_id": "s", "channel": "chat", "segments": [
        {"speaker": "customer", "text": "。。。"}]})
    labels = {("p", "praised"): "pass", ("s", "praised"): "na"}
    ((knob, rows),) = sweep(rubric, [phone, silent], labels)
    for row in rows:
        assert (row.calls, row.tp, row.fp, row.fn) == (2, 0, 0, 1)


def test_several_models_sharing_one_default_cut_off_have_it_in_use():
    rubric = load_rubric(None)
    (knob,) = [k for k in knobs(rubric) if k.name == "complaint_soothing.response"]
    assert knob.current is None and {m.threshold for m in knob.detect.text_models} == {in_use(knob)}


def test_a_check_shared_through_a_parent_s_anchor_is_refused_and_unicode_line_separators_are_not_line_breaks():
    import pytest

    from qa_scorer.calibrate import CalibrationError

    merged = CALIBRATE.replace("  - id: sorry\n", "  - &sorry\n    id: sorry\n") + """\
  - <<: *sorry
    id: sorry2
"""
    parse_rubric(merged)
    with pytest.raises(CalibrationError, match="anchor, alias or merge"):
        calibrated_text(merged, {(2, "trigger"): 0.8})
    odd = CALIBRATE.replace("id: three\n", 'id: three\nname: "QA\u2028rubric"\n')
    out = calibrated_text(odd, {(1, ""): 0.85})
    assert parse_rubric(out).items[1].threshold == 0.85


def test_eval_sweep_refuses_to_write_the_calibrated_copy_over_the_labels(tmp_path):
    labels = tmp_path / "labels.csv"
    labels.write_text((ROOT / "samples" / "labels.csv").read_text(encoding="utf-8"), encoding="utf-8")
    res = runner.invoke(app, ["eval", str(SAMPLES), "--labels", str(labels), "--sweep", "--only", "false_promise",
                              "--calibrated", str(labels)])
    assert res.exit_code == 2 and "that is the labels file" in res.output
    assert labels.read_text(encoding="utf-8") == (ROOT / "samples" / "labels.csv").read_text(encoding="utf-8")


def test_a_bar_on_false_flags_picks_the_best_f1_within_it_or_else_the_fewest():
    from qa_scorer.calibrate import Row

    knob = knobs(parse_rubric(PRAISE))[0]
    rows = [Row(0.5, calls=100, tp=10, fp=5, fn=0), Row(0.7, calls=100, tp=9, fp=1, fn=1),
            Row(0.9, calls=100, tp=6, fp=0, fn=4)]
    assert best(knob, rows).cutoff == 0.7  # F1 0.90 against 0.80 and 0.75
    assert best(knob, rows, max_false_flags=0.5).cutoff == 0.9  # the only one within half a false flag per 100
    assert best(knob, rows, max_false_flags=2).cutoff == 0.7
    rows[2].fp = 3
    assert best(knob, rows, max_false_flags=0.5).cutoff == 0.7  # none within: the fewest false flags


def test_eval_sweep_with_a_bar_on_false_flags_says_which_choice_it_made():
    res = runner.invoke(app, ["eval", str(SAMPLES), "--labels", str(ROOT / "samples" / "labels.csv"), "--sweep",
                              "--only", "banned_phrases", "--max-false-flags", "1"])
    assert res.exit_code == 0, res.output
    assert "within 1 false flags / 100" in res.output or "none within 1 / 100" in res.output
    res = runner.invoke(app, ["eval", str(SAMPLES), "--labels", str(ROOT / "samples" / "labels.csv"), "--max-false-flags", "1"])
    assert res.exit_code == 2 and "go with --sweep" in res.output
