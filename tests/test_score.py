"""score.tally and the one definition of failures, penalties, rewards and flagged items."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from qa_scorer.evaluation import compare
from qa_scorer.models import (Evidence, ItemDoc, ItemResult, Scorecard, is_failure, is_flagged, is_penalty, is_reward,
                               Transcript, trusted, updated)
from qa_scorer.score import score_transcript, tally
from qa_scorer.store import ItemCount


def _items() -> list[ItemResult]:
    return [
        ItemResult(id="greet", kind="required", status="fail", weight=5),
        ItemResult(id="rude", kind="prohibited", status="fail", weight=10),
        ItemResult(id="praise", kind="reward", status="pass", weight=3),
        ItemResult(id="thanks", kind="reward", status="fail", weight=2),
        ItemResult(id="close", kind="required", status="pass", weight=5),
        ItemResult(id="hold", kind="required", status="na", weight=5),
    ]


def test_tally_returns_new_results_and_leaves_its_input_alone() -> None:
    given = _items()
    before = [it.model_dump() for it in given]
    out, score, bonus, fatal = tally(given, 100)
    assert [it.model_dump() for it in given] == before
    assert [it.points for it in out] == [-5, -10, 3, 0, 0, 0]
    assert [it.id for it in out] == [it.id for it in given]
    assert out[0] is not given[0] and given[0].points == 0
    assert (score, bonus, fatal) == (85, 3, False)


def test_a_failed_fatal_item_zeroes_the_score() -> None:
    items = _items() + [ItemResult(id="threat", kind="fatal", status="fail", weight=0)]
    _, score, _, fatal = tally(items, 100)
    assert (score, fatal) == (0, True)


def test_item_results_cannot_be_edited_once_built() -> None:
    it = ItemResult(id="greet", kind="required", status="fail", weight=5)
    with pytest.raises(ValidationError):
        it.points = -5  # type: ignore[misc]


@pytest.mark.parametrize("kind,status,failure,penalty,reward,flagged", [
    ("required", "fail", True, False, False, True),
    ("required", "pass", False, False, False, False),
    ("prohibited", "fail", True, True, False, True),
    ("fatal", "fail", True, True, False, True),
    ("fatal", "na", False, False, False, False),
    ("reward", "pass", False, False, True, True),
    ("reward", "fail", False, False, False, False),
])
def test_one_definition_used_everywhere(kind, status, failure, penalty, reward, flagged) -> None:
    assert (is_failure(kind, status), is_penalty(kind, status), is_reward(kind, status),
            is_flagged(kind, status)) == (failure, penalty, reward, flagged)
    it = ItemResult(id="x", kind=kind, status=status)
    assert (it.failed, it.penalty, it.rewarded, it.flagged) == (failure, penalty, reward, flagged)
    assert ItemCount("a", "2024-W01", "v", "x", "x", kind, status, 1).flagged == flagged
    # evaluation counts a labelled flag the same way: the item agreeing with itself is a hit
    card = Scorecard(call_id="c", agent_id="a", rubric_id="r", rubric_version="v", score=0, items=[it])
    stats = compare([card], {("c", "x"): status})["x"]
    assert (stats.tp, stats.tn) == ((1, 0) if flagged else (0, 1))


def test_trusted_records_are_what_model_construct_makes() -> None:
    """Scoring builds evidence and item results with ``trusted``: the same records as pydantic's
    ``model_construct`` with every field named, in whatever order they are named (ItemResult's
    fields start with Judged's kind and status, and records are written out in field order)."""
    ev = dict(segment=2, speaker="agent", start=None, end=1.5, text="抱歉", span=(0, 2), note="n")
    item = dict(id="x", name="X", kind="required", status="pass", points=0.0, weight=5.0,
                evidence=[Evidence(**ev)], reason="r", doc=ItemDoc(what="w"))
    in_order = {name: item[name] for name in ItemResult.model_fields}  # kind and status first
    backwards = dict(reversed(ev.items()))
    for cls, fields in ((Evidence, ev), (Evidence, backwards), (ItemResult, item), (ItemResult, in_order)):
        fast, slow = trusted(cls, **fields), cls.model_construct(**fields)
        assert fast == slow and fast.model_fields_set == slow.model_fields_set
        assert fast.model_dump_json() == slow.model_dump_json() and repr(fast) == repr(slow)
        assert fast.__pydantic_extra__ is None and fast.__pydantic_private__ is None
    with pytest.raises(KeyError):
        trusted(Evidence, segment=1)
    with pytest.raises(KeyError):  # as many names as fields, but one of them wrong
        trusted(Evidence, **{("speakr" if k == "speaker" else k): v for k, v in ev.items()})


def test_updated_records_are_what_model_copy_makes() -> None:
    """tally re-makes item results with their points through ``updated``: the same record as
    ``model_copy(update=...)``, with the same fields set, for records made either way."""
    made = [ItemResult(id="greet", kind="required", status="fail", weight=5),
            trusted(ItemResult, id="x", name="X", kind="reward", status="pass", points=0.0, weight=2.0,
                    evidence=[Evidence(segment=1, text="t")], reason="r", doc=ItemDoc())]
    for record in made:
        fast, slow = updated(record, points=-5.0), record.model_copy(update={"points": -5.0})
        assert fast == slow and fast is not record and record.points == 0
        assert fast.model_fields_set == slow.model_fields_set
        assert fast.model_dump_json() == slow.model_dump_json() and repr(fast) == repr(slow)


def _one_track_call(metadata, agent_start):
    return Transcript.model_validate({
        "version": 1, "call_id": "mono1", "channel": "phone", "metadata": metadata, "segments": [
            {"speaker": "agent", "text": "您好 请问有什么可以帮您", "start": 0.0, "end": 2.0},
            {"speaker": "customer", "text": "我买的热水器一直不出热水 你们什么时候来修", "start": 2.5, "end": 7.0},
            {"speaker": "agent", "text": "你先把订单号报给我", "start": agent_start, "end": agent_start + 2.0}]})


def test_a_one_track_recording_says_its_interruption_pass_is_an_estimate(default_rubric):
    """On one track two voices at once are one stretch of speech, so no overlap is ever
    measured: the pass must say it is an estimate, and an overlap the transcript does hold
    (a hand-made one) still fails."""
    mono = {"roles": {"method": "mono-voice-clustering", "note": "roles are estimates"}}
    item = score_transcript(_one_track_call(mono, 7.5), default_rubric).item("interruption")
    assert item.status == "pass" and "单声道" in item.reason and "estimate" in item.reason
    stereo = {"roles": {"method": "stereo-channels"}}
    item = score_transcript(_one_track_call(stereo, 7.5), default_rubric).item("interruption")
    assert item.status == "pass" and "单声道" not in item.reason
    # metadata of any shape from a hand-made transcript is no one-track recording
    for odd in ({"roles": "mono"}, {"roles": {"method": 3}}, {}):
        item = score_transcript(_one_track_call(odd, 7.5), default_rubric).item("interruption")
        assert item.status == "pass" and "单声道" not in item.reason
    assert score_transcript(_one_track_call(mono, 5.0), default_rubric).item("interruption").status == "fail"


def _call(*lines):
    from qa_scorer.rubric.call import Call

    segs = [{"speaker": "agent" if who == "a" else "customer", "text": text} for who, text in lines]
    return Call(Transcript.model_validate({"version": 1, "call_id": "x", "channel": "chat", "segments": segs}))


def test_a_bots_messages_before_a_handover_are_told_apart():
    # a bot's self-introduction, its answers until the customer asks for a person, the queue
    call = _call(("a", "您好，我是京东智能客服，请问您遇到什么问题了呢？"), ("c", "价保"),
                 ("a", "为您找到以下问题：1.如何申请价格保护 2.价保金额什么时候到账"), ("c", "转人工"),
                 ("a", "正在为您转接人工客服，当前排队3人"), ("a", "您好，客服9527为您服务"), ("c", "降价了"))
    assert call.automated() == frozenset({0, 2, 4})
    # a person's first words that mention the transfer done, and a transfer merely advised
    assert not _call(("a", "您好，已为您转接人工客服，我是7号客服小鹿"), ("c", "充值没到账"),
                     ("a", "抱歉，麻烦提供订单号")).automated()
    assert not _call(("a", "您好，工商银行在线客服很高兴为您服务"), ("c", "建议在哪提"),
                     ("a", "您可以拨打95588转人工反映"), ("c", "好的")).automated()
    # a bot that never handed over: nobody else to judge, nothing set aside
    assert not _call(("c", "在吗"), ("a", "您好，我是智能助手，请问有什么可以帮您")).automated()
    # a phone menu and a queue message; a short busy notice, but not a person's longer message
    # that mentions the queue while looking something up
    assert _call(("a", "您好 欢迎致电清源通卡热线 本次通话可能会被录音 充值查询请按二 人工服务请按零"),
                 ("a", "您的来电已进入排队 请稍候"), ("a", "您好 客服一二三号 请问有什么可以帮您"),
                 ("c", "刷卡扣了两次钱")).automated() == frozenset({0, 1})
    assert _call(("a", "您好，欢迎光临木语家居官方店，当前咨询人数较多，请耐心等待"), ("c", "沙发什么时候送"),
                 ("a", "订单号发一下")).automated() == frozenset({0})
    assert not _call(("a", "您好 在的呢"), ("c", "退款到了吗"),
                     ("a", "我这边帮您看一下退款进度，今天咨询人数较多，回复慢一点请多包涵"),
                     ("a", "已经退款了")).automated()
    assert not _call(("a", "您好，平安银行客服，请问有什么可以帮您？"), ("c", "几号扣款"),
                     ("a", "每月18号扣款，其实用不着专门打电话排队的。")).automated()
    # a message the chat system posts on the agent's side, wherever it comes, but not a person's
    # message that merely mentions the system, and not when nobody else wrote
    assert _call(("c", "外卖超时了"), ("a", "您好，已加急催促骑手"),
                 ("a", "【系统提示】本次服务已结束 如对本次服务满意 请点击下方评价")).automated() == frozenset({2})
    assert _call(("a", "[系统消息] 客服小林已接入"), ("c", "发票开错了"), ("a", "您好 麻烦发一下订单号"),
                 ("a", "［系统消息］由于您长时间未回复，会话已结束")).automated() == frozenset({0, 3})
    assert not _call(("c", "在吗"), ("a", "系统提示我这边还在处理，稍等")).automated()
    assert not _call(("c", "在吗"), ("a", "【系统提示】会话已结束")).automated()
    # a bot's menu, then only a system notice: the notice stays the person's (something must)
    call = _call(("a", "您好 欢迎致电 人工服务请按零"), ("c", "我的宽带断了"), ("a", "【系统提示】通话已结束"))
    assert call.automated() == frozenset({0})


def test_a_call_of_a_menu_and_a_system_notice_only_is_scored(default_rubric):
    """The hold rule looks for the person's first segment after a bot's: a phone call whose
    agent side is a menu and a system notice must still be scored, not fail as an input."""
    t = Transcript.model_validate({"version": 1, "call_id": "menu", "channel": "phone", "segments": [
        {"speaker": "agent", "text": "您好 欢迎致电 人工服务请按零", "start": 0.0, "end": 3.0},
        {"speaker": "customer", "text": "喂 我的宽带断了", "start": 20.0, "end": 23.0},
        {"speaker": "agent", "text": "【系统提示】通话已结束", "start": 40.0, "end": 42.0}]})
    assert score_transcript(t, default_rubric).item("hold_etiquette").status in ("pass", "fail", "na")


_WINDOW_RUBRIC = """\
id: window
items:
  - id: sorry
    name: 致歉
    kind: required
    points: 10
    type: conditional
    trigger: {{speaker: customer, match: {{phrases: [坏了]}}}}
    response: {{speaker: agent, match: {{phrases: [抱歉]}}}}
    within_turns: {within}
    lookback_turns: {lookback}
"""


def test_a_conditional_window_of_all_turns_reaches_either_end_of_the_call():
    from qa_scorer.rubric.loader import RubricError, parse_rubric

    def status(within, lookback, *lines):
        rubric = parse_rubric(_WINDOW_RUBRIC.format(within=within, lookback=lookback), "w.yaml")
        segs = [{"speaker": "agent" if who == "a" else "customer", "text": text} for who, text in lines]
        card = score_transcript(Transcript.model_validate(
            {"version": 1, "call_id": "w", "channel": "chat", "segments": segs}), rubric)
        return card.item("sorry")

    late = [("c", "热水器坏了"), *[(w, t) for n in range(6) for w, t in (("a", f"第{n}步"), ("c", "好"))],
            ("a", "给您添麻烦了 非常抱歉")]
    assert status(3, 0, *late).status == "fail"
    assert status("all", 0, *late).status == "pass"
    early = [("a", "抱歉让您久等了"), *[(w, t) for n in range(6) for w, t in (("c", "嗯"), ("a", f"第{n}步"))],
             ("c", "热水器坏了"), ("a", "好的")]
    assert status("all", 3, *early).status == "fail"
    assert status(3, "all", *early).status == "pass"
    never = status("all", "all", ("c", "热水器坏了"), ("a", "好的"), ("c", "嗯"), ("a", "再见"))
    assert never.status == "fail" and "之后一直没有按要求回应" in never.reason and "afterwards" in never.reason
    with pytest.raises(RubricError) as err:
        parse_rubric(_WINDOW_RUBRIC.format(within="some", lookback=0), "w.yaml")
    assert "w.yaml:" in str(err.value) and "within_turns" in str(err.value)


def test_lookback_unless_voids_what_the_responder_said_before_the_trigger():
    """An apology just before a threat counts by lookback, unless the agent's first turn after it
    takes the threat up (您有权利投诉); a later apology within the window still counts."""
    from qa_scorer.rubric.loader import RubricError, parse_rubric

    text = _WINDOW_RUBRIC.format(within=1, lookback=1) + "    lookback_unless: {regex: ['有权利投诉']}\n"
    rubric = parse_rubric(text, "w.yaml")

    def status(*lines):
        segs = [{"speaker": "agent" if who == "a" else "customer", "text": t} for who, t in lines]
        return score_transcript(Transcript.model_validate(
            {"version": 1, "call_id": "w", "channel": "chat", "segments": segs}), rubric).item("sorry").status

    assert status(("a", "抱歉 这个没法退"), ("c", "热水器坏了"), ("a", "您有权利投诉的")) == "fail"
    assert status(("a", "抱歉 这个没法退"), ("c", "热水器坏了"), ("a", "我再帮您问问")) == "pass"
    assert status(("a", "您好"), ("c", "热水器坏了"), ("a", "您有权利投诉的 抱歉")) == "pass"
    with pytest.raises(RubricError) as err:
        parse_rubric(_WINDOW_RUBRIC.format(within=1, lookback=1) + "    lookback_unless: {regex: ['(']}\n", "w.yaml")
    assert "w.yaml:" in str(err.value) and "lookback_unless" in str(err.value)


def test_lookback_if_silent_counts_the_turn_before_only_when_nothing_follows():
    """With ``lookback_if_silent``, an apology just before the trigger answers it only when the
    responder says nothing after it; a turn of mere punctuation is nothing."""
    from qa_scorer.rubric.loader import RubricError, parse_rubric

    rubric = parse_rubric(_WINDOW_RUBRIC.format(within=1, lookback=1) + "    lookback_if_silent: true\n", "w.yaml")

    def status(*lines):
        segs = [{"speaker": "agent" if who == "a" else "customer", "text": t} for who, t in lines]
        return score_transcript(Transcript.model_validate(
            {"version": 1, "call_id": "w", "channel": "chat", "segments": segs}), rubric).item("sorry").status

    assert status(("a", "抱歉 这个没法退"), ("c", "热水器坏了")) == "pass"
    assert status(("a", "抱歉 这个没法退"), ("c", "热水器坏了"), ("a", "……")) == "pass"
    assert status(("a", "抱歉 这个没法退"), ("c", "热水器坏了"), ("a", "好的 感谢反馈")) == "fail"
    assert status(("a", "您好"), ("c", "热水器坏了"), ("a", "好的 抱歉")) == "pass"
    without = parse_rubric(_WINDOW_RUBRIC.format(within=1, lookback=1), "w.yaml")
    segs = [{"speaker": "agent", "text": "抱歉 这个没法退"}, {"speaker": "customer", "text": "热水器坏了"},
            {"speaker": "agent", "text": "好的 感谢反馈"}]
    assert score_transcript(Transcript.model_validate(
        {"version": 1, "call_id": "w", "channel": "chat", "segments": segs}), without).item("sorry").status == "pass"
    with pytest.raises(RubricError) as err:
        parse_rubric(_WINDOW_RUBRIC.format(within=1, lookback=1) + "    lookback_if_silent: maybe\n", "w.yaml")
    assert "w.yaml:" in str(err.value) and "lookback_if_silent" in str(err.value)


def test_listening_turns_do_not_count_towards_the_window():
    """With ``listening``, a responder's turn made only of 嗯 / 对 while the other side goes on
    is not one of the ``within_turns``: the answer after it is still in time; a turn with other
    words in it counts as before, and so does a second listening turn."""
    from qa_scorer.rubric.loader import parse_rubric

    plain = parse_rubric(_WINDOW_RUBRIC.format(within=1, lookback=0), "w.yaml")
    listening = parse_rubric(_WINDOW_RUBRIC.format(within=1, lookback=0) + "    listening: [嗯, 对]\n", "w.yaml")

    def status(rubric, *lines):
        segs = [{"speaker": "agent" if who == "a" else "customer", "text": t} for who, t in lines]
        return score_transcript(Transcript.model_validate(
            {"version": 1, "call_id": "w", "channel": "chat", "segments": segs}), rubric).item("sorry").status

    heard = (("c", "热水器坏了"), ("a", "嗯嗯"), ("c", "昨天装的今天就不出热水"), ("a", "真抱歉"))
    assert status(plain, *heard) == "fail"
    assert status(listening, *heard) == "pass"
    answered = (("c", "热水器坏了"), ("a", "嗯 型号是多少"), ("c", "昨天装的"), ("a", "真抱歉"))
    assert status(listening, *answered) == "fail"
    # only the first listening turn is passed over: 嗯 … 嗯 to a customer asking again is no answer
    stonewalled = (("c", "热水器坏了"), ("a", "嗯"), ("c", "你听见没有"), ("a", "对"), ("c", "说话啊"), ("a", "真抱歉"))
    assert status(listening, *stonewalled) == "fail"


def test_an_overlap_or_a_silence_of_exactly_the_bound_counts(default_rubric):
    """Timings are decimals: 86.6 - 85.9 is 0.6999… in floating point, and 20.4 - 10.4 is
    9.9999…; an overlap of exactly min_overlap (0.7 s) and a silence of exactly min_silence
    (10 s) count all the same."""
    def call(segments):
        return Transcript.model_validate({"version": 1, "call_id": "edge", "channel": "phone", "segments": [
            {"speaker": s, "text": t, "start": a, "end": b} for s, t, a, b in segments]})
    talked_over = call([
        ("agent", "您好 请问有什么可以帮您", 80.0, 82.5),
        ("customer", "什么叫待配座 我付钱都一个月了别人早就", 83.0, 86.6),
        ("agent", "先生您先听我说", 85.9, 87.5)])
    assert score_transcript(talked_over, default_rubric).item("interruption").status == "fail"
    held = call([
        ("agent", "您好 请问有什么可以帮您", 0.0, 2.0),
        ("customer", "我的快递到哪了", 2.5, 8.0),
        ("agent", "好的", 8.5, 10.4),
        ("agent", "查到了 您的快递在派送中", 20.4, 23.0)])
    item = score_transcript(held, default_rubric).item("hold_etiquette")
    assert item.status == "fail", item.reason


_HOLD_RUBRIC = """\
id: hold
items:
  - id: wait
    name: 等待礼仪
    kind: required
    points: 5
    type: hold
    before: {phrases: [稍等]}
    after: {phrases: [久等]}
    customer_away: {phrases: [你等一下]}
"""


def test_the_agents_reply_before_a_customers_own_pause_is_bounded_by_the_rubric():
    """A silence the customer asked for is theirs even with the agent's short reply between
    (``short_reply`` characters at most), unless that reply takes up work of the agent's own
    (``agent_own_work``): both are the rubric's to set."""
    from qa_scorer.rubric.loader import RubricError, parse_rubric

    def status(rubric, reply):
        segs = [("agent", "您好 请问有什么可以帮您", 0.0, 2.0), ("customer", "我看看订单号 你等一下", 2.5, 5.0),
                ("agent", reply, 5.2, 6.5), ("customer", "喂 找到了", 20.0, 22.0)]
        call = Transcript.model_validate({"version": 1, "call_id": "h", "channel": "phone", "segments": [
            {"speaker": s, "text": t, "start": a, "end": b} for s, t, a, b in segs]})
        return score_transcript(call, rubric).item("wait").status

    plain = parse_rubric(_HOLD_RUBRIC, "h.yaml")
    assert status(plain, "好的 您慢慢来") == "na"
    assert status(plain, "好的 那我这边也帮您查一下") == "na"  # no agent_own_work: still theirs
    assert status(plain, "好的 不着急 阿姨您慢慢找 我不挂电话") == "fail"  # longer than 12
    busy = parse_rubric(_HOLD_RUBRIC + "    agent_own_work: {phrases: [查], word_boundary: never}\n", "h.yaml")
    assert status(busy, "好的 您慢慢来") == "na"
    assert status(busy, "好的 那我这边也帮您查一下") == "fail"
    terse = parse_rubric(_HOLD_RUBRIC + "    short_reply: 2\n", "h.yaml")
    assert status(terse, "好的") == "na"
    assert status(terse, "好的 您慢慢来") == "fail"
    with pytest.raises(RubricError) as err:
        parse_rubric(_HOLD_RUBRIC + "    short_reply: -1\n", "h.yaml")
    assert "h.yaml:" in str(err.value) and "short_reply" in str(err.value)


def test_a_step_the_agent_gave_makes_the_silence_the_customers_when_the_rubric_says_so():
    """A silence after the agent gave the customer a step to take (``customer_task``), broken by
    the customer, is the customer's own, also past their short 好; not when the agent also asked
    them to wait, nor when the agent breaks it, nor in a rubric without the key."""
    from qa_scorer.rubric.loader import parse_rubric

    def status(rubric, step, *, ack=None, breaker="customer"):
        segs = [("agent", "您好 请问有什么可以帮您", 0.0, 2.0), ("customer", "网又断了", 2.5, 5.0),
                ("agent", step, 5.2, 8.0)]
        if ack:
            segs.append(("customer", ack, 8.5, 9.0))
        segs.append((breaker, "亮了亮了" if breaker == "customer" else "查到了", 30.0, 32.0))
        call = Transcript.model_validate({"version": 1, "call_id": "h", "channel": "phone", "segments": [
            {"speaker": s, "text": t, "start": a, "end": b} for s, t, a, b in segs]})
        return score_transcript(call, rubric).item("wait").status

    plain = parse_rubric(_HOLD_RUBRIC, "h.yaml")
    task = parse_rubric(_HOLD_RUBRIC + "    customer_task: {regex: ['你把']}\n", "h.yaml")
    assert status(plain, "您把插头拔下来再插上") == "fail"
    assert status(task, "您把插头拔下来再插上") == "na"
    assert status(task, "您把插头拔下来再插上", ack="好") == "na"
    assert status(task, "您把插头拔下来再插上", ack="好的 我这就去找找看看那个插头在哪") == "fail"  # no short 好
    assert status(task, "您把插头拔下来 我这边稍等一下") == "fail"  # the agent waits too
    assert status(task, "您把插头拔下来再插上", breaker="agent") == "fail"
    assert status(task, "好的 我帮您看看") == "fail"


def test_a_customer_back_with_their_own_step_done_makes_the_silence_theirs_when_the_rubric_says_so():
    """A silence the customer breaks reporting a step of their own done (``customer_done``: 好了 付了)
    is theirs, where the agent's last turn before it asked no one to wait; not when it did, nor when
    the customer's words ask, nor when the agent breaks it, nor in a rubric without the key."""
    from qa_scorer.rubric.loader import parse_rubric

    def status(rubric, before, back, breaker="customer"):
        segs = [("agent", "您好 请问有什么可以帮您", 0.0, 2.0), ("customer", "续费在哪付", 2.5, 5.0),
                ("agent", before, 5.2, 8.0), (breaker, back, 30.0, 32.0)]
        call = Transcript.model_validate({"version": 1, "call_id": "h", "channel": "phone", "segments": [
            {"speaker": s, "text": t, "start": a, "end": b} for s, t, a, b in segs]})
        return score_transcript(call, rubric).item("wait").status

    plain = parse_rubric(_HOLD_RUBRIC, "h.yaml")
    done = parse_rubric(_HOLD_RUBRIC + "    customer_done: {regex: ['^[^\\n]{0,4}(好了|付了)(?![^\\n]{0,3}(吗|没))']}\n", "h.yaml")
    assert status(plain, "在app里点续费就行", "好了 付了") == "fail"
    assert status(done, "在app里点续费就行", "好了 付了") == "na"
    assert status(done, "我帮您查一下 稍等", "好了 付了") == "fail"  # the agent asked to wait
    assert status(done, "在app里点续费就行", "好了没") == "fail"  # a question, not a report
    assert status(done, "在app里点续费就行", "好了 付了", breaker="agent") == "fail"


def test_the_agents_own_work_words_are_no_hotwords():
    """``agent_own_work`` guards the agent's reply; it is not something the item listens for,
    so its words are not given to the recogniser as hotwords."""
    from qa_scorer.rubric.loader import parse_rubric

    rubric = parse_rubric(_HOLD_RUBRIC + "    agent_own_work: {phrases: [转人工, 回电话]}\n", "h.yaml")
    assert "你等一下" in rubric.hotwords()
    assert not {"转人工", "回电话"} & set(rubric.hotwords())


def test_evidence_of_a_thing_found_shows_three_lines_not_three_hits():
    """The first three lines that hold anything are shown, each with all its hits: a line with
    two hits no longer pushes the third line out (a QA reviewer reads evidence line by line)."""
    from qa_scorer.rubric.loader import parse_rubric

    rubric = parse_rubric("""\
id: lines
items:
  - id: praise
    name: 表扬
    kind: reward
    points: 5
    type: phrase
    speaker: customer
    match: {phrases: [谢谢你, 太专业了, 好评]}
""", "lines.yaml")
    segs = [{"speaker": "customer", "text": t} for t in
            ("谢谢你 你太专业了", "我给你好评", "嗯", "谢谢你啊 真的")]
    card = score_transcript(Transcript.model_validate(
        {"version": 1, "call_id": "lines", "channel": "chat", "segments": segs}), rubric)
    got = card.item("praise")
    assert got.status == "pass"
    assert [(e.segment, e.text) for e in got.evidence] == [(0, "谢谢你"), (0, "太专业了"), (1, "好评"),
                                                                 (3, "谢谢你")]


def test_lines_an_export_marks_as_a_bots_are_nobodys_words() -> None:
    """A helpdesk's bot apologised and promised; the person who took over did neither. The bot's
    lines neither pass the agent's apology nor fail the agent on a promise they never made."""
    from qa_scorer.ingest import parse_transcript
    from qa_scorer.rubric.loader import load_rubric

    def chat(bot: str) -> dict:
        return {"version": 1, "call_id": "b1", "channel": "chat", "segments": [
            {"speaker": "用户_7731", "text": "我的退款怎么还没到，等了一个礼拜了，太过分了"},
            {"speaker": bot, "text": "亲，很抱歉给您带来不好的体验，您的退款24小时内肯定到账"},
            {"speaker": "用户_7731", "text": "转人工"},
            {"speaker": "客服小桃", "text": "您好，我是小桃，请提供一下订单号"},
            {"speaker": "用户_7731", "text": "123456"},
            {"speaker": "客服小桃", "text": "已经帮您催促财务了，请留意到账信息"}]}

    rubric = load_rubric(None)
    marked = score_transcript(parse_transcript(chat("智能客服小星")), rubric)
    as_agent = score_transcript(parse_transcript(chat("客服")), rubric)
    assert as_agent.item("apology").status == "pass" and as_agent.item("false_promise").status == "fail"
    assert marked.item("apology").status == "fail", marked.item("apology").reason
    assert marked.item("false_promise").status == "pass", marked.item("false_promise").reason


def test_a_segment_with_thousands_of_hits_has_its_vetoes_judged_once(monkeypatch) -> None:
    """A customer pasting 你服务真好， 20,000 times took 76 s to score: each hit judged the whole
    segment's vetoes again (the square of its length)."""
    from qa_scorer.ingest import parse_transcript
    from qa_scorer.rubric import detect
    from qa_scorer.rubric.loader import load_rubric

    judged = []
    real = detect.Detect._all_vetoed
    monkeypatch.setattr(detect.Detect, "_all_vetoed", lambda self, call, i: judged.append(i) or real(self, call, i))
    t = parse_transcript({"version": 1, "call_id": "q", "channel": "chat", "segments": [
        {"speaker": "agent", "text": "您好"}, {"speaker": "customer", "text": "你服务真好，" * 500}]})
    card = score_transcript(t, load_rubric(None))
    assert card.item("customer_praise").status == "pass"
    assert 0 < len(judged) <= 10 and set(judged) == {1}, len(judged)


_GREETING_RUBRIC = """\
id: clip
items:
  - id: hello
    name: 开场问候
    kind: required
    points: 5
    type: phrase
    speaker: agent
    scope: {first_turns: 1}
    match: {phrases: [欢迎致电, 有什么可以帮, 很高兴为您服务], clipped_start: CLIP}
"""


def test_a_phrase_cut_off_by_the_recordings_start_counts_only_where_the_rubric_says_so():
    """``clipped_start``: a listed phrase whose first characters the recording lost, inside a word,
    counts as the segment's first words; a cut on a word boundary, more than a word lost, the
    fragment later in the segment, or a rubric without the key do not."""
    from qa_scorer.rubric.loader import parse_rubric
    from qa_scorer.rubric.schema import clipped_tails

    def status(rubric, first):
        call = Transcript.model_validate({"version": 1, "call_id": "c", "channel": "phone", "segments": [
            {"speaker": "agent", "text": first, "start": 0.0, "end": 2.0},
            {"speaker": "customer", "text": "嗯 我想问一下", "start": 2.5, "end": 4.0}]})
        return score_transcript(call, rubric).item("hello").status

    clip = parse_rubric(_GREETING_RUBRIC.replace("CLIP", "true"), "c.yaml")
    plain = parse_rubric(_GREETING_RUBRIC.replace("CLIP", "false"), "c.yaml")
    for cut in ("迎致电联通客服 工号三二一", "兴为您服务 我是小李", "么可以帮您"):
        assert status(clip, cut) == "pass", cut
        assert status(plain, cut) == "fail", cut
    # 可以帮 loses 有什么 whole and cuts nothing; 以为您… is not 为您服务; the fragment not first
    for not_cut in ("可以帮您看一下", "以为您已经办好了", "那个迎致电的人呢", "您说的什么可以帮"):
        assert status(clip, not_cut) == "fail", not_cut
    assert status(clip, "欢迎致电联通客服") == "pass"
    assert clipped_tails(["欢迎致电", "有什么可以帮", "什么可以为你", "早上好"]) == ["么可以为你", "么可以帮", "迎致电"]
