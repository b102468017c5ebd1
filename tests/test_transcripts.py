import json
from pathlib import Path

import pytest

from qa_scorer.ingest import TranscriptError, find_transcripts, load_transcript
from qa_scorer.models import Transcript

ROOT = Path(__file__).resolve().parents[1]


def write(tmp_path, name, data):
    p = tmp_path / name
    p.write_text(data if isinstance(data, str) else json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return p


def test_published_schema_matches_the_model():
    published = json.loads((ROOT / "schema" / "transcript-v1.json").read_text(encoding="utf-8"))
    published.pop("$schema")
    published.pop("$id")
    assert published == Transcript.model_json_schema()


def test_minimal_chat_transcript(tmp_path):
    p = write(tmp_path, "c.json", {"version": 1, "call_id": "c1", "agent_id": "a1", "channel": "chat",
                                   "segments": [{"speaker": "customer", "text": "在吗"},
                                                {"speaker": "agent", "text": "您好，在的"}]})
    t = load_transcript(p)
    assert t.channel == "chat" and not t.timed and t.duration is None


def test_speaker_aliases(tmp_path):
    p = write(tmp_path, "c.json", {"version": 1, "call_id": "c1", "segments": [
        {"speaker": "客服", "text": "您好"}, {"speaker": "Customer", "text": "你好"}]})
    assert [s.speaker for s in load_transcript(p).segments] == ["agent", "customer"]


@pytest.mark.parametrize("agent, customer", [("卖家", "买家"), ("话务员", "来电人"), ("Support", "visitor"),
                                             ("seller", "buyer"), ("人工客服", "用户")])
def test_other_exports_names_for_the_two_sides(tmp_path, agent, customer):
    p = write(tmp_path, "c.json", {"version": 1, "call_id": "c1", "segments": [
        {"speaker": agent, "text": "您好"}, {"speaker": customer, "text": "你好"}]})
    assert [s.speaker for s in load_transcript(p).segments] == ["agent", "customer"]


@pytest.mark.parametrize("agent, customer", [("客服小美", "用户123"), ("客服-小王", "顾客A"), ("在线客服", "买家"),
                                             ("商家客服", "访客"), ("客户经理", "客户"), ("客户服务代表", "用户")])
def test_a_role_with_a_name_is_that_role(tmp_path, agent, customer):
    p = write(tmp_path, "c.json", {"version": 1, "call_id": "c1", "segments": [
        {"speaker": agent, "text": "您好"}, {"speaker": customer, "text": "你好"}]})
    assert [s.speaker for s in load_transcript(p).segments] == ["agent", "customer"]


@pytest.mark.parametrize("sender", ["bot", "机器人", "system", "assistant", "智能客服", "智能客服小星", "系统消息"])
def test_an_automated_sender_is_read_as_the_companys_side_and_marked(tmp_path, sender):
    # An export's bot and system lines were refused, so a helpdesk's chats could not be read as
    # they come; they are kept with the agent's lines, marked, and judged as nobody's words.
    p = write(tmp_path, "c.json", {"version": 1, "call_id": "c1", "segments": [
        {"speaker": sender, "text": "您好，很高兴为您服务"}, {"speaker": "顾客", "text": "转人工"},
        {"speaker": "客服", "text": "在的"}]})
    t = load_transcript(p)
    assert [(s.speaker, s.automated) for s in t.segments] == [("agent", True), ("customer", None), ("agent", None)]


def test_the_one_unknown_name_beside_one_side_is_the_other_side(tmp_path):
    for agent, customer in (("客服小桃", "tb_小猪佩奇88"), ("Kelly_HK", "顾客")):
        p = write(tmp_path, "c.json", {"version": 1, "call_id": "c1", "segments": [
            {"speaker": customer, "text": "在吗"}, {"speaker": agent, "text": "您好"},
            {"speaker": "系统消息", "text": "会话已转接"}, {"speaker": customer, "text": "好的"}]})
        t = load_transcript(p)
        assert [s.speaker for s in t.segments] == ["customer", "agent", "agent", "customer"]
        unknown = customer if agent == "客服小桃" else agent
        assert t.metadata["speaker_names"] == {unknown: "customer" if agent == "客服小桃" else "agent"}
    # two names no rule reads: still refused, naming them
    p = write(tmp_path, "c.json", {"version": 1, "call_id": "c1", "segments": [
        {"speaker": "Kelly_HK", "text": "您好"}, {"speaker": "tb_小猪佩奇88", "text": "在吗"}]})
    with pytest.raises(TranscriptError, match="'Kelly_HK' is not a speaker"):
        load_transcript(p)


@pytest.mark.parametrize("name, role", [("饱饱用户_7731", "customer"), ("星联用户139****5521", "customer"),
                                        ("会员No.88", "customer"), ("棉花糖家居旗舰店:小桃", "agent"),
                                        ("某某专营店：客服01", "agent")])
def test_platform_handles_and_shop_sub_accounts(name, role):
    from qa_scorer.models import speaker_role

    assert speaker_role(name) == role


def test_an_unknown_speaker_is_named_with_the_names_read(tmp_path):
    p = write(tmp_path, "c.json", {"version": 1, "call_id": "c1", "segments": [{"speaker": "店员甲", "text": "您好"}]})
    with pytest.raises(TranscriptError) as exc:
        load_transcript(p)
    assert "'店员甲' is not a speaker" in str(exc.value) and "客服" in str(exc.value)


@pytest.mark.parametrize("data, fragment", [
    ({"version": 1, "call_id": "x", "segments": [{"speaker": "店员甲", "text": "hi"}]}, "$.segments[0].speaker"),
    ({"version": 1, "call_id": "x", "segments": [{"speaker": "agent", "text": "hi", "start": 3, "end": 1}]}, "$.segments[0]"),
    ({"version": 2, "call_id": "x", "segments": []}, "$.version"),
    ({"version": 1, "segments": []}, "$.call_id"),
    ({"version": 1, "call_id": "x", "segments": [{"speaker": "agent", "text": "hi", "start": -1}]}, "$.segments[0].start"),
    ({"version": 1, "call_id": "x", "segments": [{"speaker": "agent", "text": "hi", "start": 0, "end": 1.7e308}]},
     "$.segments[0].end: Value error, 1.7e+308 is more than 1e+10 seconds"),
    ([1, 2], "$: expected a JSON object"),
])
def test_errors_name_file_and_json_path(tmp_path, data, fragment):
    p = write(tmp_path, "bad.json", data)
    with pytest.raises(TranscriptError) as exc:
        load_transcript(p)
    assert str(p) in str(exc.value) and fragment in str(exc.value)


def test_invalid_json_names_line_and_column(tmp_path):
    p = write(tmp_path, "broken.json", '{"version": 1,\n "call_id": }')
    with pytest.raises(TranscriptError) as exc:
        load_transcript(p)
    assert "broken.json" in str(exc.value) and "line 2" in str(exc.value)


def test_not_utf8(tmp_path):
    p = tmp_path / "gbk.json"
    p.write_bytes('{"call_id": "您好"}'.encode("gbk"))
    with pytest.raises(TranscriptError) as exc:
        load_transcript(p)
    assert "UTF-8" in str(exc.value)


def test_find_transcripts_recurses_and_dedupes(tmp_path):
    (tmp_path / "sub").mkdir()
    a = write(tmp_path, "a.json", "{}")
    b = write(tmp_path / "sub", "b.json", "{}")
    write(tmp_path, "notes.txt", "x")
    assert find_transcripts([tmp_path, a]) == [a, b]


def test_one_unknown_speaker_in_many_lines_is_one_error(tmp_path):
    segments = [{"speaker": "店员甲" if i % 2 else "店员乙", "text": "嗯"} for i in range(40)]
    p = write(tmp_path, "c.json", {"version": 1, "call_id": "c1", "segments": segments})
    with pytest.raises(TranscriptError) as exc:
        load_transcript(p)
    text = str(exc.value)
    assert text.count("is not a speaker") == 2 and len(text) < 1000, text
    assert "$.segments[0].speaker: Value error, '店员乙'" in text and "(and in 19 more segments: 2, 4, 6, 8, 10, …)" in text
    # a word's field wrong in every segment is one error too
    segments = [{"speaker": "agent", "text": "a", "words": [{"word": "a", "start": 0, "end": "x"}]} for _ in range(200)]
    p = write(tmp_path, "w.json", {"version": 1, "call_id": "c1", "segments": segments})
    with pytest.raises(TranscriptError) as exc:
        load_transcript(p)
    assert len(str(exc.value)) < 1000 and "(and in 199 more segments" in str(exc.value)


@pytest.mark.parametrize("name", ["系统工程师", "assistant manager", "Talbot", "tb_bottle88", "ecosystem_fan"])
def test_a_name_that_only_holds_a_bots_word_is_no_bot(name):
    from qa_scorer.models import automated_sender

    assert not automated_sender(name)


@pytest.mark.parametrize("name", ["Re:Zero", "小猪：88", "微信:wxid_8k2j1"])
def test_a_colon_alone_makes_no_shop_sub_account(name):
    from qa_scorer.models import speaker_role

    with pytest.raises(ValueError, match="is not a speaker"):
        speaker_role(name)


def test_a_staff_title_does_not_decide_the_other_name(tmp_path):
    # 王经理 may be a customer addressed by title: 小桃 is not taken for the customer because of it
    from qa_scorer.models import speaker_role, two_party_names

    assert speaker_role("客户服务中心:小王") == "agent" and speaker_role("用户服务部：小美") == "agent"
    assert two_party_names(["小桃", "王经理"]) == {}
    p = write(tmp_path, "c.json", {"version": 1, "call_id": "c1", "segments": [
        {"speaker": "小桃", "text": "您好"}, {"speaker": "王经理", "text": "在吗"}]})
    with pytest.raises(TranscriptError, match="'小桃' is not a speaker"):
        load_transcript(p)
