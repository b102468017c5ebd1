"""The command line: every command documented, exit codes, a bad input never stops the batch."""

import json
import re
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from qa_scorer.cli import app

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "samples" / "transcripts"
runner = CliRunner()


def commands():
    import typer.main

    group = typer.main.get_command(app)
    out = []
    for name, cmd in group.commands.items():
        if hasattr(cmd, "commands"):
            out += [f"{name} {sub}" for sub in cmd.commands]
        else:
            out.append(name)
    return out


@pytest.mark.parametrize("command", commands())
def test_every_command_has_help_and_a_readme_entry(command):
    res = runner.invoke(app, command.split() + ["--help"])
    assert res.exit_code == 0, res.output
    assert "Usage" in res.output
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert f"qa-scorer {command}" in readme, f"README lacks an entry for 'qa-scorer {command}'"


def test_score_goes_on_after_a_bad_transcript(tmp_path):
    inputs = tmp_path / "in"
    inputs.mkdir()
    for f in sorted(SAMPLES.glob("*.json"))[:3]:
        shutil.copy(f, inputs / f.name)
    (inputs / "broken.json").write_text('{"version": 1, "call_id": "x", "segments": [{"speaker": "店员甲", "text": "hi"}]}', encoding="utf-8")
    out = tmp_path / "out"
    res = runner.invoke(app, ["score", str(inputs), "--out", str(out), "--json", str(tmp_path / "all.json"), "-q"])
    assert res.exit_code == 1
    assert "broken.json" in res.output and "$.segments[0].speaker" in res.output
    cards = json.loads((tmp_path / "all.json").read_text(encoding="utf-8"))
    assert len(cards) == 3
    for card in cards:
        assert {"call_id", "agent_id", "score", "fatal", "bonus", "items"} <= card.keys()
        for item in card["items"]:
            assert {"id", "kind", "status", "points", "evidence", "reason"} <= item.keys()
            assert item["status"] in ("pass", "fail", "na")
        assert (out / "scorecards" / f"{card['call_id']}.json").exists()
        assert (out / "transcripts" / f"{card['call_id']}.json").exists()
    assert (out / "qa.sqlite").exists() and (out / "index.html").exists()


def test_many_transcripts_in_one_file_jsonl_and_array(tmp_path):
    """A export of many chats: JSON Lines (one transcript per line) or a .json array. Every call
    is scored; a bad line costs only itself, and its error names the file and the line (or the
    array index and JSON path); the source in the history says where each call came from."""
    calls = [json.loads(f.read_text(encoding="utf-8")) for f in sorted(SAMPLES.glob("*.json"))[:3]]
    lines = [json.dumps(c, ensure_ascii=False) for c in calls]
    bad_speaker = json.dumps({"version": 1, "call_id": "bad1", "segments": [{"speaker": "店员甲", "text": "hi"}]})
    jsonl = tmp_path / "export.jsonl"
    jsonl.write_text("\n".join([lines[0], bad_speaker, "", "{not json", lines[1], lines[2]]) + "\n", encoding="utf-8")
    out = tmp_path / "out"
    res = runner.invoke(app, ["score", str(jsonl), "--out", str(out), "--json", str(tmp_path / "all.json"), "-q"])
    assert res.exit_code == 1
    assert "export.jsonl: line 2: $.segments[0].speaker" in res.output
    assert "export.jsonl: line 4: invalid JSON" in res.output
    cards = json.loads((tmp_path / "all.json").read_text(encoding="utf-8"))
    assert sorted(c["call_id"] for c in cards) == sorted(c["call_id"] for c in calls)
    import sqlite3
    with sqlite3.connect(out / "qa.sqlite") as db:
        sources = dict(db.execute("SELECT call_id, source FROM calls"))
    assert sources[calls[0]["call_id"]].endswith("export.jsonl:1")
    assert sources[calls[2]["call_id"]].endswith("export.jsonl:6")

    # the same calls as a JSON array in a .json file, one of them broken
    arr = tmp_path / "export.json"
    broken = dict(calls[1], segments=[{"speaker": "agent", "text": 5}])
    arr.write_text(json.dumps([calls[0], broken, calls[2]], ensure_ascii=False), encoding="utf-8")
    res = runner.invoke(app, ["score", str(arr), "--out", str(tmp_path / "out2"), "--json", str(tmp_path / "arr.json"), "-q"])
    assert res.exit_code == 1
    assert "export.json: $[1].segments[0].text" in res.output
    assert len(json.loads((tmp_path / "arr.json").read_text(encoding="utf-8"))) == 2

    # eval reads bundles too, and a call id given twice in one file is reported, not scored twice
    labels = tmp_path / "labels.csv"
    labels.write_text("call_id,item,expected\n" + f"{calls[0]['call_id']},greeting,pass\n", encoding="utf-8")
    res = runner.invoke(app, ["eval", str(jsonl), "--labels", str(labels)])
    assert "3 call(s)" in res.output and "line 2" in res.output
    twice = tmp_path / "twice.jsonl"
    twice.write_text(lines[0] + "\n" + lines[0] + "\n", encoding="utf-8")
    res = runner.invoke(app, ["score", str(twice), "--out", str(tmp_path / "out3"), "-q"])
    assert res.exit_code == 1 and "twice.jsonl:2" in res.output and "also given by" in res.output


def test_a_jsonl_file_that_is_one_pretty_printed_document_or_not_utf8(tmp_path):
    """A transcript saved pretty-printed under .jsonl is read as the one document it is (it
    used to give an error for each of its lines); a GBK export is one error naming the encoding,
    not one a line; a first line that is broken JSON in a real JSON Lines file still costs only
    that line."""
    call = json.loads(sorted(SAMPLES.glob("*.json"))[0].read_text(encoding="utf-8"))
    src = tmp_path / "in"
    src.mkdir()
    (src / "pretty.jsonl").write_text(json.dumps(call, ensure_ascii=False, indent=2), encoding="utf-8")
    (src / "gbk.jsonl").write_bytes((json.dumps(dict(call, call_id="g1"), ensure_ascii=False) + "\n").encode("gbk") * 3)
    (src / "lines.jsonl").write_text("{not json\n" + json.dumps(dict(call, call_id="l2"), ensure_ascii=False) + "\n",
                                     encoding="utf-8")
    res = runner.invoke(app, ["score", str(src), "--out", str(tmp_path / "o"), "--json", str(tmp_path / "all.json"),
                              "-q"], env={"COLUMNS": "300"})
    assert res.exit_code == 1
    assert sorted(c["call_id"] for c in json.loads((tmp_path / "all.json").read_text(encoding="utf-8"))) == sorted(
        [call["call_id"], "l2"])
    assert res.output.count("gbk.jsonl") == 1 and "not UTF-8 text" in res.output and "iconv" in res.output
    assert "lines.jsonl: line 1: invalid JSON" in res.output and "pretty.jsonl" not in res.output


def test_a_folder_written_by_transcribe_scores_each_call_once(tmp_path):
    """``transcribe --out T`` keeps its cache in ``T/.cache``, a second copy of every call; the
    obvious next step, ``score T`` or ``eval T``, must score each call once and report nothing.
    Hidden entries inside a folder (``.cache/``, a Mac's ``._*`` files) are skipped; a call id
    given by two visible files is still reported, and eval counts it once."""
    src = sorted(SAMPLES.glob("*.json"))[:2]
    calls = [json.loads(f.read_text(encoding="utf-8")) for f in src]
    folder = tmp_path / "transcripts"
    (folder / ".cache").mkdir(parents=True)
    for f in src:
        shutil.copy(f, folder / f.name)
        shutil.copy(f, folder / ".cache" / f"0123{f.name}")
    (folder / "._x.json").write_bytes(b"\x00\x05\x16\x07 Mac metadata")
    res = runner.invoke(app, ["score", str(folder), "--out", str(tmp_path / "out"), "-q"])
    assert res.exit_code == 0, res.output
    labels = tmp_path / "labels.csv"
    labels.write_text("call_id,item,expected\n" + "".join(f"{c['call_id']},greeting,pass\n" for c in calls),
                      encoding="utf-8")
    res = runner.invoke(app, ["eval", str(folder), "--labels", str(labels)])
    assert res.exit_code == 0 and "2 call(s)" in res.output and "/2 " in res.output, res.output
    shutil.copy(src[0], folder / "copy.json")
    res = runner.invoke(app, ["eval", str(folder), "--labels", str(labels)])
    assert "2 call(s)" in res.output and "copy.json" in res.output and "also given by" in res.output, res.output
    assert res.exit_code == 1


def test_rescoring_a_written_transcript_gives_the_same_scorecard(tmp_path):
    src = sorted(SAMPLES.glob("*.json"))[0]
    out = tmp_path / "out"
    assert runner.invoke(app, ["score", str(src), "--out", str(out), "-q", "--no-render"]).exit_code == 0
    first = json.loads(next((out / "scorecards").glob("*.json")).read_text(encoding="utf-8"))
    written = next((out / "transcripts").glob("*.json"))
    again = tmp_path / "again"
    assert runner.invoke(app, ["score", str(written), "--out", str(again), "-q", "--no-render"]).exit_code == 0
    second = json.loads(next((again / "scorecards").glob("*.json")).read_text(encoding="utf-8"))
    assert [i["status"] for i in first["items"]] == [i["status"] for i in second["items"]]
    assert first["score"] == second["score"]


def test_rubric_check_exit_codes(tmp_path):
    assert runner.invoke(app, ["rubric", "check", str(ROOT / "rubrics" / "default.yaml")]).exit_code == 0
    bad = tmp_path / "bad.yaml"
    bad.write_text("id: x\nitems:\n  - id: a\n    kind: required\n    type: phrase\n    macth: {phrases: [x]}\n", encoding="utf-8")
    res = runner.invoke(app, ["rubric", "check", str(bad)])
    assert res.exit_code == 3
    assert re.search(r"bad\.yaml:6:5: unknown key 'macth'", res.output)


def test_error_locations_print_as_they_are_not_as_emoji(tmp_path):
    """":100:" is an emoji code to the console library: an error on line 100 of a rubric, or a
    file named with such a code, must still print as written."""
    bad = tmp_path / "bad:thumbs_up:.yaml"
    bad.write_text("id: x\nitems: []\n" + "# filler\n" * 97 + "  - id: [\n", encoding="utf-8")
    res = runner.invoke(app, ["rubric", "check", str(bad)])
    assert res.exit_code == 3
    assert re.search(r"bad:thumbs_up:\.yaml:100:\d+: ", res.output), res.output


def test_score_with_a_broken_rubric_stops_before_any_work(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("id: [\n", encoding="utf-8")
    res = runner.invoke(app, ["score", str(SAMPLES), "--rubric", str(bad), "--out", str(tmp_path / "o")])
    assert res.exit_code == 3 and "bad.yaml:" in res.output
    assert not (tmp_path / "o").exists()


def test_rubric_explain_prints_docs():
    res = runner.invoke(app, ["rubric", "explain"])
    assert res.exit_code == 0
    assert "greeting" in res.output and "instead:" in res.output
    # kind, points and rule type, in brackets that are text, not console markup
    assert "[required, 10 points, type classifier]" in res.output


def test_models_lists_how_to_get_each_model():
    res = runner.invoke(app, ["models"], env={"COLUMNS": "400"})
    assert res.exit_code == 0
    assert "qa-scorer[small]" not in res.output and "truncated" in res.output


def test_eval_reports_per_item_scores():
    res = runner.invoke(app, ["eval", str(SAMPLES), "--labels", str(ROOT / "samples" / "labels.csv")])
    assert res.exit_code == 0, res.output
    for item in ("greeting", "banned_phrases", "complaint_soothing"):
        assert item in res.output


def test_eval_rejects_bad_labels(tmp_path):
    labels = tmp_path / "labels.csv"
    labels.write_text("call_id,item,expected\ns01,greeting,maybe\n", encoding="utf-8")
    res = runner.invoke(app, ["eval", str(SAMPLES), "--labels", str(labels)])
    assert res.exit_code == 5 and "labels.csv:2" in res.output


def test_eval_reads_labels_excel_saved_in_gbk_and_a_reward_labelled_fail(tmp_path):
    # Excel on a Chinese Windows saves CSV in GBK: eval crashed with a traceback (exit 1)
    labels = tmp_path / "labels.csv"
    labels.write_bytes("call_id,item,expected,备注\ns01_earbuds_right_silent,greeting,pass,开场白完整\n"
                       "s02_ac_install_delay,customer_praise,fail,没有表扬\n".encode("gbk"))
    res = runner.invoke(app, ["eval", str(SAMPLES), "--labels", str(labels), "--mismatches"], env={"COLUMNS": "300"})
    assert res.exit_code == 0, res.output
    # "fail" on a reward is read as not earned, as the machine's na (未获得)
    row = next(line for line in res.output.splitlines() if "customer_praise" in line)
    assert row.rstrip(" │┃").endswith("1/1"), row
    labels.write_bytes(b"call_id,item,expected\n\xff\xfe,greeting,pass\n")
    res = runner.invoke(app, ["eval", str(SAMPLES), "--labels", str(labels)])
    assert res.exit_code == 5 and "not UTF-8 or GBK text" in res.output, res.output
    # UTF-8 rows with GBK rows appended would come out as mojibake: refused
    labels.write_bytes("call_id,item,expected\ns01_earbuds_right_silent,greeting,pass\n".encode()
                       + "s02_ac_install_delay,greeting,pass,备注\n".encode("gbk") + "x,greeting,pass,说明\n".encode())
    res = runner.invoke(app, ["eval", str(SAMPLES), "--labels", str(labels)])
    assert res.exit_code == 5 and "UTF-8 and GBK lines mixed" in res.output, res.output


def test_eval_fails_when_no_labelled_call_is_among_the_inputs(tmp_path):
    # labels naming calls by another name compared nothing and exited 0
    labels = tmp_path / "labels.csv"
    labels.write_text("call_id,item,expected\nF01,greeting,pass\nF02,greeting,fail\n", encoding="utf-8")
    res = runner.invoke(app, ["eval", str(SAMPLES), "--labels", str(labels)], env={"COLUMNS": "300"})
    assert res.exit_code == 5, res.output
    assert "no labelled item of the 2 labelled call(s) is among the" in res.output and "F01" in res.output


def test_eval_shows_no_ratio_where_nothing_was_flagged(tmp_path):
    labels = tmp_path / "labels.csv"
    labels.write_text("call_id,item,expected\ns01_earbuds_right_silent,greeting,pass\n", encoding="utf-8")
    res = runner.invoke(app, ["eval", str(SAMPLES), "--labels", str(labels)], env={"COLUMNS": "300"})
    assert res.exit_code == 0, res.output
    row = next(line for line in res.output.splitlines() if "greeting" in line)
    cells = row.split()
    assert cells[2:] == ["0", "0", "–", "–", "–", "1/1"], cells


def _eval_labels(path: Path, text: str, code: int = 5) -> str:
    """eval of the sample transcripts against labels file ``path`` holding ``text``: its output,
    once the exit code is ``code`` (5: bad labels) and no traceback is in it."""
    path.write_text(text, encoding="utf-8")
    res = runner.invoke(app, ["eval", str(SAMPLES), "--labels", str(path)], env={"COLUMNS": "300"})
    assert res.exit_code == code, (path.name, res.output)
    assert "Traceback" not in res.output
    return res.output


def test_eval_names_every_label_problem_at_once(tmp_path):
    # a misspelt item used to be dropped in silence and one call's item labelled twice to let the
    # last row win; each problem cost a run of its own
    out = _eval_labels(tmp_path / "labels.csv", "call_id,item,expected\ns01,greting,pass\ns01,closing,na\n"
                       "s01,closing,fail\ns02,greeting,PASS\n")
    assert "labels.csv:2: the rubric has no item 'greting'" in out
    assert "labels.csv:4: s01 closing is already labelled on line 3" in out
    assert "labels.csv:5: expected must be pass, fail or na" in out


GUIDE_ROW = {"greeting": True, "identity_check": False, "apology_needed": True, "apology": False, "banned_phrase": False,
             "false_promise": True, "closing": True, "customer_praise": False, "complaint_intent": True, "soothing": True}


def test_eval_reads_the_labelling_guides_judgments_a_row_per_call(tmp_path):
    # a reviewer labelling by the guide writes ten true/false judgments a call; eval wanted one row
    # per rubric item, and a newcomer had to write a converter (apology_needed + apology -> apology, ...)
    from qa_scorer.evaluation import read_labels

    wide = tmp_path / "guide.csv"
    wide.write_text("call_id," + ",".join(GUIDE_ROW) + ",notes,greeting_ev\n"
                    "s01_earbuds_right_silent," + ",".join("true" if v else "false" for v in GUIDE_ROW.values())
                    + ",开场白完整,[0]\n"
                    "s02_ac_install_delay,是,是,否,,否,否,是,否,否,\n", encoding="utf-8")
    got = read_labels(wide)
    assert {k: v for (c, k), v in got.items() if c == "s01_earbuds_right_silent"} == {
        "greeting": "pass", "identity_check": "fail", "apology": "fail", "banned_phrases": "pass",
        "false_promise": "fail", "closing": "pass", "customer_praise": "na", "complaint_soothing": "pass"}
    # 否 for apology_needed: no apology due, whatever the blank beside it
    assert got[("s02_ac_install_delay", "apology")] == "na"
    assert got[("s02_ac_install_delay", "complaint_soothing")] == "na"
    res = runner.invoke(app, ["eval", str(SAMPLES), "--labels", str(wide)], env={"COLUMNS": "300"})
    assert res.exit_code == 0, res.output
    assert "complaint_soothing" in res.output and "2 call(s)" not in res.output


def test_eval_reads_the_guides_own_json_lines(tmp_path):
    from qa_scorer.evaluation import read_labels

    row = {"idx": 0, "session": "s01_earbuds_right_silent", **GUIDE_ROW, "greeting_ev": [1], "notes": "难判"}
    jl = tmp_path / "labels.jsonl"
    jl.write_text(json.dumps(row, ensure_ascii=False) + "\n\n"
                  + json.dumps({"call_id": "s02_ac_install_delay", "greeting": False, "closing": "na"}) + "\n",
                  encoding="utf-8")
    got = read_labels(jl, ["greeting", "identity_check", "apology", "banned_phrases", "false_promise", "closing",
                           "customer_praise", "complaint_soothing"])
    assert got[("s01_earbuds_right_silent", "false_promise")] == "fail"
    assert got[("s01_earbuds_right_silent", "complaint_soothing")] == "pass"
    # an item id with a status may stand beside the judgments
    assert got[("s02_ac_install_delay", "greeting")] == "fail" and got[("s02_ac_install_delay", "closing")] == "na"
    res = runner.invoke(app, ["eval", str(SAMPLES), "--labels", str(jl)], env={"COLUMNS": "300"})
    assert res.exit_code == 0, res.output


def test_eval_names_what_is_wrong_in_a_guide_labels_file(tmp_path):
    out = _eval_labels(tmp_path / "guide.csv", "call_id,greeting,apology,banned_phrase,greting\ns01,true,false,maybe,pass\n")
    assert "guide.csv:1: column 'greting': the rubric has no item 'greting' (did you mean 'greeting'?)" in out
    out = _eval_labels(tmp_path / "guide.csv", "call_id,greeting,apology,banned_phrase\ns01,true,false,maybe\n"
                       "s02,true,true,false\ns01,true,true,false\n")
    assert "guide.csv:2: banned_phrase must be true or false (a judgment of the labelling guide), not 'maybe'" in out
    assert "guide.csv:3: apology (true / false) is the guide's judgment whether the agent apologised" in out
    assert "guide.csv:4: 's01' is already labelled on line 2" in out
    out = _eval_labels(tmp_path / "labels.jsonl", '{"session": "s01", "greeting": "yes please", "apology_needed": true}\n'
                       '{"greeting": true}\n[1]\n{oops\n' + '{"session": ' + "[" * 100_000 + "\n")
    assert "labels.jsonl:1: $.greeting: greeting must be true or false" in out
    assert "labels.jsonl:2: $.call_id: the call's id" in out
    assert "labels.jsonl:3: $: expected an object" in out
    assert "labels.jsonl:4: not JSON" in out
    assert "labels.jsonl:5: not JSON (nested too deep)" in out
    # a guide judgment's name in the one-row-per-item form says where it belongs
    out = _eval_labels(tmp_path / "labels.csv", "call_id,item,expected\ns01,banned_phrase,pass\ns01,apology_needed,fail\n")
    assert "the rubric has no item 'banned_phrase' (banned_phrase is a judgment of the labelling guide" in out
    assert "the rubric has no item 'apology_needed' (apology_needed is a judgment" in out
    out = _eval_labels(tmp_path / "labels.csv", "call,item,expected\n")
    assert "header must be call_id,item,expected (a row per item), or call_id then" in out


def test_eval_labels_files_a_careless_or_hostile_hand_makes(tmp_path):
    # the before-stop review's files: each a clear message naming file and line, exit 5, no traceback
    def run(name: str, text: str) -> str:
        return _eval_labels(tmp_path / name, text)

    # a notes cell over the csv module's field limit crashed with _csv.Error
    assert "not readable as CSV" in run("big.csv", "call_id,greeting,notes\ns01,true,\"" + "x" * 200_000 + "\"\n")
    # a JSON array, pretty-printed JSON, and a file starting with [ nested deep
    assert "a JSON array: write the labels as JSON lines" in run("a.json", '[{"session": "s01", "greeting": true}]')
    assert "one object per call on a line" in run("pretty.jsonl", json.dumps({"session": "s01", "greeting": True}, indent=2))
    assert "a JSON array" in run("deep.jsonl", "[" * 100_000)
    # a column twice: the last one won in silence
    assert "column 'greeting' is there twice" in run("dup.csv", "call_id,greeting,greeting\ns01,pass,fail\n")
    # a quoted note over several lines: the bad row was reported two lines early
    out = run("multi.csv", 'call_id,greeting,notes\ns01,true,"one\ntwo\nthree"\ns02,maybe,\n')
    assert "multi.csv:5: greeting must be true or false" in out, out
    # U+2028 inside a JSON string broke the line in two
    jl = json.dumps({"session": "s01", "greeting": "maybe", "notes": "a\u2028b"}, ensure_ascii=False)
    out = run("sep.jsonl", jl + "\n")
    assert "sep.jsonl:1: $.greeting: greeting must be true or false" in out and "sep.jsonl:2" not in out, out
    # a 200 KB value was echoed whole
    out = run("huge.jsonl", json.dumps({"session": "s01", "greeting": "x" * 200_000}) + "\n")
    assert len(out) < 2_000 and "…" in out
    # a header of the row-per-item form, misspelt, is named as such
    assert "header must be call_id,item,expected" in run("h.csv", "call_id,item,status\ns01,greeting,pass\n")
    assert "header must be call_id,item,expected" in run("h2.csv", "call_id,expected,item\n")
    # a file with nothing to score said nothing and exited 0
    assert "no column of an item or a guide judgment" in run("ev.csv", "call_id,greeting_ev\ns01,[1]\n")
    assert "no labels in it" in run("blank.csv", "call_id,greeting\ns01,\n")
    assert "no labels in it" in run("empty.csv", "call_id,item,expected\n")
    # a call id cannot drive the terminal
    esc = json.dumps({"session": "\x1b[2J\x1b[31mX", "greeting": True})
    out = run("ansi.jsonl", esc + "\n" + esc + "\n")
    assert "\x1b" not in out and "already labelled on line 1" in out


def test_eval_table_fits_an_80_column_terminal():
    # its headers were cut to flagg… / preci… / requi… in a terminal 80 columns wide
    res = runner.invoke(app, ["eval", str(SAMPLES), "--labels", str(ROOT / "samples" / "labels.csv")],
                        env={"COLUMNS": "80"})
    assert res.exit_code == 0, res.output
    assert "…" not in res.output, res.output
    lines = res.output.splitlines()
    assert max(len(line.rstrip()) for line in lines) <= 80
    assert any("labels" in line and "machine" in line for line in lines)
    assert any("complaint_soothing" in line and "fatal" in line for line in lines)
    assert any("banned_phrases" in line and "prohibited" in line for line in lines)


def test_eval_table_cuts_no_number_with_a_thousand_calls_and_a_long_item_id(tmp_path):
    # with 1,000 calls the agree column came out as 857/10…, and a longer item id cut it further
    calls = tmp_path / "calls.jsonl"
    calls.write_text("\n".join(json.dumps({"version": 1, "call_id": f"c{i}", "channel": "chat", "segments": [
        {"speaker": "agent", "text": "您好 很高兴为您服务"}, {"speaker": "customer", "text": "好的"}]}) for i in range(1000)),
        encoding="utf-8")
    rubric = tmp_path / "r.yaml"
    rubric.write_text((ROOT / "rubrics" / "default.yaml").read_text(encoding="utf-8").replace(
        "  - id: greeting\n", "  - id: greeting_at_the_very_start_of_it\n", 1), encoding="utf-8")
    labels = tmp_path / "labels.csv"
    labels.write_text("call_id,item,expected\n" + "".join(f"c{i},greeting_at_the_very_start_of_it,pass\n"
                                                          for i in range(1000)), encoding="utf-8")
    res = runner.invoke(app, ["eval", str(calls), "--labels", str(labels), "--rubric", str(rubric)],
                        env={"COLUMNS": "80"})
    assert res.exit_code == 0, res.output
    assert "1000/1000" in res.output and "…" not in res.output, res.output
    assert max(len(line.rstrip()) for line in res.output.splitlines()) <= 80


def test_report_without_history_is_a_clear_error(tmp_path):
    res = runner.invoke(app, ["report", "--out", str(tmp_path / "nothing")])
    assert res.exit_code == 4 and "no history database" in res.output


def test_a_call_given_twice_is_scored_once_and_reported(tmp_path):
    src = sorted(SAMPLES.glob("*.json"))[0]
    inputs = tmp_path / "in"
    (inputs / "a").mkdir(parents=True)
    (inputs / "b").mkdir()
    shutil.copy(src, inputs / "a" / src.name)
    shutil.copy(src, inputs / "b" / src.name)
    res = runner.invoke(app, ["score", str(inputs), "--out", str(tmp_path / "out"), "-q", "--no-render"])
    assert res.exit_code == 1
    assert "is also given by" in res.output
    assert len(list((tmp_path / "out" / "scorecards").glob("*.json"))) == 1


def test_unknown_device_is_a_usage_error_not_a_traceback(tmp_path):
    for command in ("transcribe", "score"):
        res = CliRunner().invoke(app, [command, str(ROOT / "samples" / "calls" / "c02_refund_rude.wav"),
                                       "--out", str(tmp_path / "o"), "--device", "gpu"])
        assert res.exit_code == 2, res.output
        assert "--device" in res.output and "cuda" in res.output
        assert "Traceback" not in res.output and isinstance(res.exception, SystemExit)
        assert not (tmp_path / "o").exists()


def test_cuda_without_a_gpu_is_a_per_file_error_naming_the_device(tmp_path):
    import ctranslate2

    if ctranslate2.get_cuda_device_count() > 0:
        pytest.skip("this machine has a CUDA device: the cuda path runs for real (bench/bench_gpu.py)")
    wav = ROOT / "samples" / "calls" / "c02_refund_rude.wav"
    res = CliRunner().invoke(app, ["transcribe", str(wav), "--out", str(tmp_path / "o"), "--device", "cuda", "-q"])
    assert res.exit_code == 1, res.output
    assert "c02_refund_rude.wav" in res.output and "on cuda" in res.output and "--device cpu" in res.output
    assert "Traceback" not in res.output


def test_crosstalk_suppression_can_be_turned_off_from_the_command_line():
    """--no-crosstalk reaches the transcription options (for recorders whose channels carry no
    echo, or to compare); left out, it stays on."""
    from qa_scorer.cli import _transcribe_options

    assert _transcribe_options(None, None, None, None, None, None).crosstalk is True
    assert _transcribe_options(None, None, None, None, None, None, False).crosstalk is False
    for command in ("score", "transcribe"):
        res = runner.invoke(app, [command, "--help"])
        assert "--no-crosstalk" in res.output


def test_a_recording_not_found_is_named_in_a_warning(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    (src / "m1.json").write_text(json.dumps({"version": 1, "call_id": "m1", "audio": "nope.wav", "segments": [
        {"speaker": "agent", "text": "您好"}, {"speaker": "customer", "text": "你好"}]}), encoding="utf-8")
    res = runner.invoke(app, ["score", str(src), "--out", str(tmp_path / "o")], env={"COLUMNS": "300"})
    assert res.exit_code == 0, res.output  # the call is scored, without its recording
    assert "recording not found" in res.output and "m1: nope.wav" in res.output


def test_users_commands_say_which_database_they_use(tmp_path):
    db = tmp_path / "elsewhere" / "qa.sqlite"
    res = runner.invoke(app, ["users", "list", "--db", str(db)])
    assert res.exit_code != 0 and "no history database" in res.output and not db.exists()
    res = runner.invoke(app, ["users", "add", "lead", "--role", "qa", "--password-stdin", "--db", str(db)],
                        input="a-long-password\n", env={"COLUMNS": "300"})
    assert res.exit_code == 0 and "no history database" in res.output  # made, and said so
    # a login bound to an agent id no call carries (ids are case-sensitive)
    out = tmp_path / "o"
    assert runner.invoke(app, ["score", str(SAMPLES), "--out", str(out), "-q"]).exit_code == 0
    agent = json.loads(sorted(SAMPLES.glob("*.json"))[0].read_text(encoding="utf-8"))["agent_id"]
    res = runner.invoke(app, ["users", "add", "w", "--role", "agent", "--agent-id", agent.upper() + "X",
                              "--password-stdin", "--db", str(out / "qa.sqlite")], input="a-long-password\n",
                        env={"COLUMNS": "300"})
    assert res.exit_code == 0 and "no call in" in res.output
    res = runner.invoke(app, ["users", "add", "v", "--role", "agent", "--agent-id", agent, "--password-stdin",
                              "--db", str(out / "qa.sqlite")], input="a-long-password\n", env={"COLUMNS": "300"})
    assert res.exit_code == 0 and "warning" not in res.output


def test_a_period_that_ends_before_it_starts_is_refused(tmp_path):
    for cmd in ("report", "export"):
        res = runner.invoke(app, [cmd, "--since", "2026-12-05", "--until", "2026-12-01", "--out", str(tmp_path / cmd)])
        assert res.exit_code == 2 and "before --since" in res.output


def test_a_rubric_file_not_found_is_named_plainly(tmp_path):
    res = runner.invoke(app, ["rubric", "check", str(tmp_path / "nosuch.yaml")])
    assert res.exit_code == 3 and "nosuch.yaml: file not found" in res.output and ":0:0" not in res.output


def test_an_agents_page_quotes_a_long_example_in_a_line(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    long_turn = "好的" + "这个情况我们已经记录下来了" * 400  # 5,000 characters: no greeting, no closing
    (src / "x.json").write_text(json.dumps({"version": 1, "call_id": "x1", "agent_id": "w1", "channel": "chat",
                                            "segments": [{"speaker": "customer", "text": "我的快递到哪了"},
                                                         {"speaker": "agent", "text": long_turn}]},
                                           ensure_ascii=False), encoding="utf-8")
    out = tmp_path / "o"
    assert runner.invoke(app, ["score", str(src), "--out", str(out), "-q"]).exit_code == 0
    page = next((out / "agents").glob("w1*/index.html")).read_text(encoding="utf-8")
    assert "这个情况我们已经记录下来了" * 3 in page  # the example is quoted…
    assert "这个情况我们已经记录下来了" * 20 not in page  # …in a line, not whole


def test_score_shows_a_re_scored_calls_score_after_the_rulings_kept(tmp_path):
    from qa_scorer.review import Reviews
    from qa_scorer.store import History

    src = tmp_path / "in"
    src.mkdir()
    card = None
    for f in sorted(SAMPLES.glob("*.json")):
        shutil.copy(f, src / f.name)
    out = tmp_path / "o"
    res = runner.invoke(app, ["score", str(src), "--out", str(out), "--json", str(tmp_path / "a.json"), "-q"])
    assert res.exit_code == 0, res.output
    cards = json.loads((tmp_path / "a.json").read_text(encoding="utf-8"))
    card = next(c for c in cards if not c["fatal"]
                and any(i["status"] == "fail" and i["kind"] == "required" for i in c["items"]))
    item = next(i for i in card["items"] if i["status"] == "fail" and i["kind"] == "required")
    with History(out / "qa.sqlite") as h:
        r = Reviews(h)
        agent = r.add_user("ag", "agent", "agent-password-1", card["agent_id"])
        qa = r.add_user("lead", "qa", "lead-password-1")
        a = r.file_appeal(agent, card["call_id"], item["id"], "请复核")
        r.decide(qa, a.id, "overturn", "ok")
        after = h.effective(card["call_id"], card["rubric_version"])
    assert after[0] > card["score"]
    res = runner.invoke(app, ["score", str(src), "--out", str(out)], env={"COLUMNS": "400"})
    assert res.exit_code == 0, res.output
    row = next(line for line in res.output.splitlines() if card["call_id"] in line)
    assert f"{after[0]:g} ({card['score']:g})" in row and "after rulings" in row


def test_an_agent_filter_that_selects_nothing_is_named(tmp_path):
    out = tmp_path / "o"
    assert runner.invoke(app, ["score", str(SAMPLES), "--out", str(out), "-q"]).exit_code == 0
    agent = json.loads(sorted(SAMPLES.glob("*.json"))[0].read_text(encoding="utf-8"))["agent_id"]
    for cmd in ("report", "export"):
        res = runner.invoke(app, [cmd, "--out", str(out), "--agent", agent.swapcase()], env={"COLUMNS": "300"})
        assert res.exit_code == 0 and "no call of agent" in res.output and repr(agent) in res.output, res.output
        res = runner.invoke(app, [cmd, "--out", str(out), "--agent", agent], env={"COLUMNS": "300"})
        assert res.exit_code == 0 and "no call of agent" not in res.output


def test_rubric_check_and_explain_name_a_disabled_item(tmp_path):
    text = (ROOT / "rubrics" / "default.yaml").read_text(encoding="utf-8")
    marker = "  - id: speech_rate\n"
    assert marker in text
    mine = tmp_path / "r.yaml"
    mine.write_text(text.replace(marker, marker + "    enabled: false\n", 1), encoding="utf-8")
    res = runner.invoke(app, ["rubric", "check", str(mine)], env={"COLUMNS": "300"})
    assert res.exit_code == 0 and "(1 disabled)" in res.output, res.output
    res = runner.invoke(app, ["rubric", "explain", str(mine)], env={"COLUMNS": "300"})
    line = next(l for l in res.output.splitlines() if l.startswith("speech_rate"))
    assert "disabled" in line and not any("disabled" in l for l in res.output.splitlines() if l.startswith("greeting"))


def test_rubric_check_notes_a_fatal_items_points(tmp_path):
    text = (ROOT / "rubrics" / "default.yaml").read_text(encoding="utf-8")
    res = runner.invoke(app, ["rubric", "check", str(ROOT / "rubrics" / "default.yaml")], env={"COLUMNS": "300"})
    assert res.exit_code == 0 and "note:" not in res.output, res.output
    head = "  - id: complaint_soothing\n"
    at = text.index(head)
    assert "    points: 0\n" in text[at:at + 400]
    mine = tmp_path / "r.yaml"
    mine.write_text(text[:at] + text[at:].replace("    points: 0\n", "    points: 20\n", 1), encoding="utf-8")
    res = runner.invoke(app, ["rubric", "check", str(mine)], env={"COLUMNS": "300"})
    assert res.exit_code == 0 and "note: complaint_soothing: a failed fatal item sets the score to 0" in res.output
    assert "(20)" in res.output, res.output


def test_a_reward_is_rated_over_the_calls_it_was_tried_on(tmp_path):
    # A reward not earned is stored n/a (未获得…); it was judged all the same, so its rate is not 100 %.
    import csv

    out = tmp_path / "o"
    res = runner.invoke(app, ["score", str(SAMPLES), "--out", str(out), "--json", str(tmp_path / "a.json"), "-q"])
    assert res.exit_code == 0, res.output
    cards = json.loads((tmp_path / "a.json").read_text(encoding="utf-8"))
    earned = sum(1 for c in cards for i in c["items"] if i["id"] == "customer_praise" and i["status"] == "pass")
    tried = sum(1 for c in cards for i in c["items"] if i["id"] == "customer_praise"
                and (i["status"] == "pass" or i["reason"].startswith("未获得")))
    assert 0 < earned < tried
    assert runner.invoke(app, ["export", "--out", str(out)]).exit_code == 0
    rows = {r["item_id"]: r for r in csv.DictReader((out / "items.csv").read_text(encoding="utf-8-sig").splitlines())}
    assert (int(rows["customer_praise"]["applicable_calls"]), int(rows["customer_praise"]["flagged_calls"])) == (tried, earned)
    versions = list(csv.DictReader((out / "rubric_version_items.csv").read_text(encoding="utf-8-sig").splitlines()))
    praise = next(r for r in versions if r["item_id"] == "customer_praise")
    rate = float(next(v for k, v in praise.items() if k.startswith("flagged_rate@")))
    assert rate == pytest.approx(earned / tried, abs=1e-3)


def test_the_rubric_version_comparison_rates_items_on_the_same_calls(tmp_path):
    import csv

    out = tmp_path / "o"
    assert runner.invoke(app, ["score", str(SAMPLES), "--out", str(out), "-q"]).exit_code == 0
    text = (ROOT / "rubrics" / "default.yaml").read_text(encoding="utf-8")
    assert "    name: 开场问候\n" in text
    v2 = tmp_path / "v2.yaml"  # the same judgments, another version, greeting renamed
    v2.write_text(text.replace("    name: 开场问候\n", "    name: 开场白\n", 1), encoding="utf-8")
    some = tmp_path / "some"
    some.mkdir()
    for f in sorted(SAMPLES.glob("*.json"))[:7]:
        shutil.copy(f, some / f.name)
    assert runner.invoke(app, ["score", str(some), "--rubric", str(v2), "--out", str(out), "-q"]).exit_code == 0
    assert runner.invoke(app, ["export", "--out", str(out)]).exit_code == 0
    rows = list(csv.DictReader((out / "rubric_version_items.csv").read_text(encoding="utf-8-sig").splitlines()))
    rates = [k for k in rows[0] if k.startswith("flagged_rate@")]
    assert len(rates) == 2
    for r in rows:  # nothing but a name changed: every item's rate is the same under both, on the same calls
        assert r[rates[0]] == r[rates[1]], r
    assert next(r for r in rows if r["item_id"] == "greeting")["name"] == "开场白"
    assert "on the 7 call(s) every version scored" in (out / "dashboard.html").read_text(encoding="utf-8")


def test_a_recording_a_transcript_names_is_not_scored_again_as_a_call_of_its_own(tmp_path):
    """A vendor's export names a call's recording by another id (rec/9f2c1e.wav for V-0001): the
    recording was also scored as call 9f2c1e of agent unknown, counted twice and copied where
    whoever is bound to unknown could play it."""
    inputs = tmp_path / "in"
    (inputs / "rec").mkdir(parents=True)
    shutil.copy(ROOT / "samples" / "calls" / "c02_refund_rude.wav", inputs / "rec" / "9f2c1e.wav")
    doc = json.loads((ROOT / "samples" / "calls" / "src" / "c02_refund_rude.json").read_text(encoding="utf-8"))
    doc.update(call_id="V-0001", agent_id="victim", audio="rec/9f2c1e.wav")
    (inputs / "V-0001.json").write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    out = tmp_path / "out"
    res = runner.invoke(app, ["score", str(inputs), "--out", str(out), "--json", str(tmp_path / "all.json"), "-q"])
    assert res.exit_code == 0, res.output
    cards = json.loads((tmp_path / "all.json").read_text(encoding="utf-8"))
    assert [(c["call_id"], c["agent_id"]) for c in cards] == [("V-0001", "victim")]
    assert not (out / "agents" / "unknown").exists()
    assert list((out / "agents" / "victim" / "audio").iterdir())  # the recording plays on its call's page
    # a refused transcript naming it, or a manifest row for it, leaves the recording its own call
    doc["segments"][0]["speaker"] = "店员甲"
    (inputs / "V-0001.json").write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    res = runner.invoke(app, ["score", str(inputs), "--out", str(tmp_path / "o2"), "--json", str(tmp_path / "b.json"),
                              "-q"])
    assert res.exit_code == 1 and "V-0001.json" in res.output
    assert [c["call_id"] for c in json.loads((tmp_path / "b.json").read_text(encoding="utf-8"))] == ["9f2c1e"]


def test_score_names_what_it_assumed(tmp_path):
    """A chat log without a channel was scored as a phone call (hold failed in every chat) and a
    recording the manifest left out was scored as agent unknown: both without a word."""
    inputs = tmp_path / "in"
    inputs.mkdir()
    doc = json.loads((SAMPLES / "s21_chat_cream_allergy.json").read_text(encoding="utf-8"))
    doc.pop("channel")
    (inputs / "nochannel.json").write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    shutil.copy(SAMPLES / "s22_chat_nuts_shipping.json", inputs / "ok.json")
    shutil.copy(ROOT / "samples" / "calls" / "c02_refund_rude.wav", inputs / "unlisted.wav")
    manifest = inputs / "manifest.csv"
    manifest.write_text("call_id,agent_id,audio\n", encoding="utf-8")
    res = runner.invoke(app, ["score", str(inputs), "--manifest", str(manifest), "--out", str(tmp_path / "o"), "-q"],
                        env={"COLUMNS": "300"})
    assert res.exit_code == 0, res.output
    assert "2 call(s) scored on an assumption" in res.output, res.output
    assert "unlisted.wav: not in the manifest" in res.output
    assert 'nochannel.json: no "channel" and no recording' in res.output and "ok.json" not in res.output


def test_a_hostile_file_name_cannot_write_escapes_or_lines_to_the_terminal(tmp_path):
    # a broken file named with an escape sequence and a line break: the path went out raw (set the
    # window title, cleared the screen) and the newline faked an error line of its own
    inputs = tmp_path / "in"
    inputs.mkdir()
    bad = inputs / "ctrl\x1b]0;pwned\x07\x1b[2J\nfake.json"
    bad.write_text("{", encoding="utf-8")
    res = runner.invoke(app, ["score", str(inputs), "--out", str(tmp_path / "o"), "-q"])
    assert res.exit_code == 1
    assert "\x1b" not in res.output and "\x07" not in res.output
    line = next(l for l in res.output.splitlines() if "ctrl" in l)
    assert "\\x1b]0;pwned\\x07\\x1b[2J\\x0afake.json" in line and "invalid JSON" in line
    # nor a recording's name in a transcript, in the warning that it is missing
    doc = json.loads((SAMPLES / "s21_chat_cream_allergy.json").read_text(encoding="utf-8"))
    doc["audio"] = "\x1b]0;PWNED\x07\x1b[2J\nfake line.wav"
    (inputs / "ok.json").write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    res = runner.invoke(app, ["score", str(inputs / "ok.json"), "--out", str(tmp_path / "o2"), "-q"])
    assert "\x1b" not in res.output and "\x07" not in res.output and "PWNED" in res.output, res.output
