"""Hand-built scored calls for the store and render tests (no rubric engine needed).

Four agents, five calls, realistic Mandarin content:
- C20240506-001 (A001): a good call, the customer praises the agent (reward).
- C20240507-002 (A001): a fatal call: the agent argues with a complaining customer, says a
  banned phrase and interrupts.
- C20240513-003 (A002): a phone call with a recording (a small WAV written by the fixture) and a
  false promise, evidence with exact character spans and times.
- ../../etc/passwd<script> (agent ``../A003<img>``): hostile ids and text.
- C20240514-005 (张伟): a chat with an agent id in Chinese, no timings.
"""

from __future__ import annotations

import math
import struct
import wave
from dataclasses import dataclass
from pathlib import Path

from qa_scorer.models import Evidence, ItemDoc, ItemResult, Scorecard, Segment, Transcript

RUBRIC_V1 = "sha256:3f9a1c0d5e7b2a4c6d8e0f1a3b5c7d9e1f3a5b7c9d1e3f5a7b9c1d3e5f7a9b1c"
RUBRIC_V2 = "sha256:8b7e6d5c4b3a29180f7e6d5c4b3a29180f7e6d5c4b3a29180f7e6d5c4b3a2918"

HOSTILE_SCRIPT = "<script>window.__pwned = 1; document.title = 'PWNED'</script>"
HOSTILE_IMG = '"><img src=x onerror="window.__pwned = 2">'
HOSTILE_CALL = "../../etc/passwd<script>"
HOSTILE_AGENT = "../A003<img src=x onerror=alert(1)>"

DOCS = {
    "greeting": ("开场问候", "required", 5, ItemDoc(
        what="通话开始 15 秒内坐席使用标准问候语并报工号。",
        why="规范的开场让客户知道在和谁通话，建立信任。",
        example="“喂，你说。”",
        instead="“您好，这里是星河银行客服中心，工号 1024，很高兴为您服务。”")),
    "identity_check": ("身份核验", "required", 10, ItemDoc(
        what="办理账户相关业务前核验客户身份。",
        why="防止他人冒用账户，属于合规要求。",
        example="直接告诉客户账户余额。",
        instead="“为了保障您的账户安全，请您提供一下身份证后四位。”")),
    "apology": ("致歉安抚", "required", 10, ItemDoc(
        what="客户表达不满时，坐席及时致歉。",
        why="先处理情绪再处理问题，投诉升级率更低。",
        example="“这个不归我管。”",
        instead="“非常抱歉给您带来不便，我马上帮您查一下。”")),
    "banned_phrases": ("禁语", "prohibited", 15, ItemDoc(
        what="不得使用“不知道”“不归我管”“你自己看”等服务禁语。",
        why="禁语会激化矛盾，是客户投诉的首要原因。",
        example="“这不是我们的问题，你自己去查。”",
        instead="“我理解您的着急，我这边帮您查询处理进度。”")),
    "interruption": ("抢话", "prohibited", 5, ItemDoc(
        what="客户说话未结束时坐席插话超过 1 秒。",
        why="抢话让客户觉得不被尊重。",
        example="客户还在描述问题时坐席开始解释。",
        instead="等客户说完，再用“您刚才说的是……对吗？”确认。")),
    "false_promise": ("虚假承诺", "prohibited", 20, ItemDoc(
        what="不得承诺无法保证的结果或时间。",
        why="无法兑现的承诺会导致二次投诉和赔偿风险。",
        example="“保证今天下午就到账。”",
        instead="“一般 1 到 3 个工作日到账，到账后会有短信通知您。”")),
    "closing": ("结束语", "required", 5, ItemDoc(
        what="结束前询问是否还有其他问题并礼貌道别。",
        why="完整的结束语提升满意度评分。",
        example="直接挂断。",
        instead="“请问还有其他可以帮您的吗？感谢您的来电，祝您生活愉快。”")),
    "customer_praise": ("客户表扬", "reward", 5, ItemDoc(
        what="客户主动表扬坐席的服务。",
        why="表扬是服务质量的直接体现，计入奖励。",
        example="“你服务太好了，谢谢你。”",
        instead="")),
    "complaint_soothing": ("投诉安抚", "fatal", 0, ItemDoc(
        what="客户明确投诉时，坐席不得与客户争执或推卸责任。",
        why="与投诉客户争执是红线行为，可能引发监管投诉。",
        example="“你投诉也没用。”",
        instead="“非常理解您的心情，我会把您的问题升级给专人处理，24 小时内给您回电。”")),
    "hold_etiquette": ("等待礼仪", "required", 5, ItemDoc(
        what="让客户等待前征得同意，回来后致谢。",
        why="无提示的静音让客户以为电话断了。",
        example="长时间静音。",
        instead="“麻烦您稍等一分钟，我帮您查询。”……“感谢您的耐心等待。”")),
    "speech_rate": ("语速", "required", 5, ItemDoc(
        what="坐席语速不超过每分钟 280 字。",
        why="语速过快客户听不清，需要反复确认。",
        example="",
        instead="放慢语速，关键信息（金额、日期）逐字说清。")),
}


def item(item_id: str, status: str, evidence: list[Evidence] | None = None, reason: str = "",
         points: float | None = None) -> ItemResult:
    name, kind, weight, doc = DOCS[item_id]
    if points is None:
        if kind == "reward":
            points = weight if status == "pass" else 0
        elif status == "fail":
            points = -weight
        else:
            points = 0
    return ItemResult(id=item_id, name=name, kind=kind, status=status, points=points, weight=weight,
                      evidence=evidence or [], reason=reason, doc=doc)


def ev(tr: Transcript, seg: int, text: str, note: str = "", span: bool = True) -> Evidence:
    s = tr.segments[seg]
    i = s.text.index(text)
    return Evidence(segment=seg, speaker=s.speaker, start=s.start, end=s.end, text=text,
                    span=(i, i + len(text)) if span else None, note=note)


def all_pass(**overrides: ItemResult) -> list[ItemResult]:
    out = []
    for iid in DOCS:
        if iid in overrides:
            out.append(overrides[iid])
        elif DOCS[iid][1] == "reward":
            out.append(item(iid, "fail", reason="客户未表扬"))
        else:
            out.append(item(iid, "pass"))
    return out


def scorecard(tr: Transcript, items: list[ItemResult], *, version: str = RUBRIC_V1, fatal: bool = False,
              source: str | None = None) -> Scorecard:
    deductions = sum(i.points for i in items if i.points < 0)
    bonus = sum(i.points for i in items if i.points > 0)
    score = 0.0 if fatal else max(0.0, 100 + deductions + bonus)
    return Scorecard(call_id=tr.call_id, agent_id=tr.agent_id, channel=tr.channel, started_at=tr.started_at,
                     audio=tr.audio, source=source, duration=tr.duration, rubric_id="default",
                     rubric_version=version, base=100, score=score, bonus=bonus, fatal=fatal, items=items)


def segs(*turns: tuple) -> list[Segment]:
    out = []
    for t in turns:
        if len(t) == 2:
            out.append(Segment(speaker=t[0], text=t[1]))
        else:
            out.append(Segment(speaker=t[0], text=t[1], start=t[2], end=t[3]))
    return out


def write_wav(path: Path, seconds: float = 30.0, rate: int = 8000) -> Path:
    """A quiet 440 Hz tone, mono 16-bit PCM: small, and every browser plays it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        frames = b"".join(
            struct.pack("<h", int(800 * math.sin(2 * math.pi * 440 * i / rate))) for i in range(int(seconds * rate))
        )
        w.writeframes(frames)
    return path


@dataclass
class Call:
    transcript: Transcript
    scorecard: Scorecard
    source: str | None = None


def build_calls(data_dir: Path) -> dict[str, Call]:
    """The fixture calls, keyed by a short name. Writes the WAV and fake sources under data_dir."""
    calls: dict[str, Call] = {}

    # 1. A good call with customer praise.
    t = Transcript(call_id="C20240506-001", agent_id="A001", started_at="2024-05-06T09:12:00+08:00", segments=segs(
        ("agent", "您好，这里是星河银行客服中心，工号 1024，很高兴为您服务。", 0.0, 4.2),
        ("customer", "你好，我想查一下我上个月的信用卡账单。", 4.6, 7.9),
        ("agent", "好的，为了保障您的账户安全，请您提供一下身份证后四位。", 8.2, 12.0),
        ("customer", "3 2 1 X。", 12.5, 14.0),
        ("agent", "核验通过。您上个月账单金额是 3,280 元，还款日是 5 月 25 日。", 14.3, 19.8),
        ("customer", "好的，你服务太好了，讲得很清楚，谢谢你。", 20.1, 23.4),
        ("agent", "不客气，请问还有其他可以帮您的吗？感谢您的来电，祝您生活愉快。", 23.8, 28.5),
    ))
    items = all_pass(
        greeting=item("greeting", "pass", [ev(t, 0, "您好，这里是星河银行客服中心")], "开场问候完整"),
        identity_check=item("identity_check", "pass", [ev(t, 2, "请您提供一下身份证后四位")], "已核验身份"),
        apology=item("apology", "na", reason="客户未表达不满"),
        closing=item("closing", "pass", [ev(t, 6, "请问还有其他可以帮您的吗")], "结束语完整"),
        customer_praise=item("customer_praise", "pass", [ev(t, 5, "你服务太好了")], "客户表扬坐席"),
    )
    calls["good"] = Call(t, scorecard(t, items, source="batch1/C20240506-001.json"), "batch1/C20240506-001.json")

    # 2. A fatal call: arguing with a complaining customer.
    t = Transcript(call_id="C20240507-002", agent_id="A001", started_at="2024-05-07T14:03:00+08:00", segments=segs(
        ("agent", "喂，你说。", 0.0, 1.1),
        ("customer", "我要投诉！你们上周说退款三天到账，到现在都没到，我打了五次电话了——", 1.4, 8.0),
        ("agent", "这不是我们的问题，你自己去查银行那边。", 6.9, 10.2),
        ("customer", "你这是什么态度？我要投诉你！", 10.5, 12.8),
        ("agent", "你投诉也没用，系统就是这么规定的。", 13.0, 16.1),
        ("customer", "算了，我找你们领导。", 16.4, 18.0),
    ))
    items = all_pass(
        greeting=item("greeting", "fail", [ev(t, 0, "喂，你说。")], "未使用标准问候语，未报工号"),
        apology=item("apology", "fail", [Evidence(start=1.4, end=18.0, note="客户投诉后的整个窗口内未致歉")],
                     "客户投诉后未致歉"),
        banned_phrases=item("banned_phrases", "fail", [ev(t, 2, "这不是我们的问题"), ev(t, 2, "你自己去查")],
                            "使用禁语 2 次"),
        interruption=item("interruption", "fail", [ev(t, 2, "这不是我们的问题，你自己去查银行那边。", span=False,
                                                      note="客户未说完，重叠 1.1 秒")], "抢话 1 次"),
        complaint_soothing=item("complaint_soothing", "fail", [ev(t, 4, "你投诉也没用")],
                                "客户投诉时与客户争执"),
        closing=item("closing", "fail", reason="未询问其他问题，未道别"),
    )
    calls["fatal"] = Call(t, scorecard(t, items, fatal=True))

    # 3. A call with audio and a false promise.
    t = Transcript(call_id="C20240513-003", agent_id="A002", started_at="2024-05-13T10:30:00+08:00",
                   audio="audio/C20240513-003.wav", segments=segs(
        ("agent", "您好，星河银行客服，工号 2048，请问有什么可以帮您？", 0.0, 4.0),
        ("customer", "我昨天转账给我妈，钱到现在还没到。", 4.5, 8.0),
        ("agent", "非常抱歉给您带来不便，请您提供一下身份证后四位。", 8.3, 12.2),
        ("customer", "0 5 1 7。", 12.6, 14.0),
        ("agent", "好的，我保证今天下午就到账，您放心。", 14.5, 18.4),
        ("customer", "那行，谢谢。", 18.8, 20.0),
        ("agent", "请问还有其他可以帮您的吗？祝您生活愉快，再见。", 20.4, 24.6),
    ))
    write_wav(data_dir / "audio" / "C20240513-003.wav")
    items = all_pass(
        greeting=item("greeting", "pass", [ev(t, 0, "您好，星河银行客服，工号 2048")], "开场问候完整"),
        identity_check=item("identity_check", "pass", [ev(t, 2, "请您提供一下身份证后四位")], "已核验身份"),
        apology=item("apology", "pass", [ev(t, 2, "非常抱歉给您带来不便")], "及时致歉"),
        false_promise=item("false_promise", "fail", [ev(t, 4, "保证今天下午就到账")], "承诺了无法保证的到账时间"),
        closing=item("closing", "pass", [ev(t, 6, "请问还有其他可以帮您的吗")], "结束语完整"),
    )
    source = str(data_dir / "C20240513-003.json")
    calls["audio"] = Call(t, scorecard(t, items, source=source), source)

    # 4. Hostile ids and text.
    t = Transcript(call_id=HOSTILE_CALL, agent_id=HOSTILE_AGENT, started_at="2024-05-14", segments=segs(
        ("agent", f"您好 {HOSTILE_SCRIPT} 请问有什么可以帮您", 0.0, 3.0),
        ("customer", f"我的名字是 {HOSTILE_IMG} 谢谢", 3.5, 6.0),
        ("agent", "这个不归我管。", 6.5, 8.0),
    ))
    items = all_pass(
        banned_phrases=item("banned_phrases", "fail", [ev(t, 2, "不归我管", note=HOSTILE_IMG)],
                            reason=f"禁语 {HOSTILE_SCRIPT}"),
        greeting=item("greeting", "pass", [ev(t, 0, HOSTILE_SCRIPT)], reason=HOSTILE_IMG),
    )
    items = [i.model_copy(update={"name": f"{i.name}{HOSTILE_IMG}"}) if i.id == "greeting" else i for i in items]
    calls["hostile"] = Call(t, scorecard(t, items))

    # 5. A chat, agent id in Chinese, no timings.
    t = Transcript(call_id="C20240514-005", agent_id="张伟", channel="chat", started_at="2024-05-14T16:00:00+08:00",
                   segments=segs(
        ("customer", "在吗？我的快递三天没动了。"),
        ("agent", "您好，我是客服张伟，很高兴为您服务。麻烦提供一下订单号。"),
        ("customer", "20240510-8832"),
        ("agent", "非常抱歉，您的包裹在中转站滞留，我已为您催促，一般 1 到 3 天内更新物流。"),
        ("customer", "好的，谢谢你，服务态度很好！"),
        ("agent", "感谢您的耐心，还有其他问题随时联系我们，祝您生活愉快。"),
    ))
    items = all_pass(
        greeting=item("greeting", "pass", [ev(t, 1, "您好，我是客服张伟")], "问候完整"),
        identity_check=item("identity_check", "na", reason="物流查询无需核验"),
        hold_etiquette=item("hold_etiquette", "na", reason="在线渠道不适用"),
        speech_rate=item("speech_rate", "na", reason="在线渠道不适用"),
        customer_praise=item("customer_praise", "pass", [ev(t, 4, "服务态度很好")], "客户表扬"),
        closing=item("closing", "fail", [ev(t, 5, "感谢您的耐心")], "未询问是否还有其他问题", points=-5),
    )
    calls["chat"] = Call(t, scorecard(t, items))
    return calls


# --------------------------------------------------------------------------------------------
# Fixtures shared by test_store, test_render and test_browser (imported by name there).

import pytest  # noqa: E402

from qa_scorer.report import RenderSummary, render_reports  # noqa: E402
from qa_scorer.store import History  # noqa: E402


@pytest.fixture
def calls(tmp_path: Path) -> dict[str, Call]:
    return build_calls(tmp_path / "data")


@pytest.fixture
def history(tmp_path: Path, calls: dict[str, Call]):
    with History(tmp_path / "qa.sqlite") as h:
        for c in calls.values():
            h.record(c.transcript, c.scorecard, source=c.source)
        yield h


@dataclass
class Report:
    out: Path
    summary: RenderSummary
    calls: dict[str, Call]
    history: History


@pytest.fixture
def report(tmp_path: Path, history: History, calls: dict[str, Call]) -> Report:
    # A second rubric version of one call, so the dashboard has a comparison to show.
    good = calls["good"]
    history.record(good.transcript, good.scorecard.model_copy(update={"rubric_version": RUBRIC_V2, "score": 95.0}),
                   source=good.source)
    out = tmp_path / "reports"
    summary = render_reports(history, out, agent_bundles=True)
    return Report(out, summary, calls, history)
