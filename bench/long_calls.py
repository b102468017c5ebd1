#!/usr/bin/env python3
"""Longer synthetic calls for the transcription bench: scripted, rendered with ../shared/tts/.

    .venv/bin/python bench/long_calls.py [--out DIR]

Writes, into DIR (default: the user's cache folder, ``qa-scorer/bench-long-calls``; never the
repository), for each call ``<id>.json`` (its transcript v1, the ground truth) and ``<id>.wav``
(stereo 8 kHz, agent left). The scripts are made here from a fixed seed, so every machine renders
the same calls; a call already rendered from the same script is not rendered again. Rendering
needs the offline voice's own environment (see ../shared/tts/README.md), named by
``$QA_BENCH_TTS_PYTHON`` (default /tmp/tts-venv/bin/python).

Each call is two to four minutes: greeting, identity check, several rounds of problem and answer,
a hold of 12 to 20 s announced and thanked, one or two interruptions (the agent cuts in a second
or two before the customer stops), backchannels, closing. Numbers are written in characters (the
voice reads digit strings badly).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TTS = ROOT.parent / "shared" / "tts" / "render_call.py"

GREETINGS = ["您好，很高兴为您服务，请问有什么可以帮您？", "您好，这里是客户服务中心，我是八号客服，请问有什么可以帮您？",
             "您好，欢迎致电售后服务热线，请问您遇到了什么问题？"]
PRODUCTS = ["冰箱", "空调", "电视机", "热水器", "扫地机器人", "微波炉", "净水器", "油烟机"]
PROBLEMS = [
    "我上个月买的{p}，这两天突然不制冷了，声音还特别大。",
    "我家的{p}安装完以后一直漏水，地板都泡坏了。",
    "你们送来的{p}外壳有一道很长的划痕，我想换一台新的。",
    "我买的{p}开机以后屏幕一直闪，根本没法用。",
    "我的{p}用了不到一个星期就坏了，按钮按下去没有任何反应。",
]
AGENT_IDENTITY = ["非常抱歉给您添麻烦了，请问您的订单号是多少？", "请问下单时留的手机号码尾号是多少？",
                  "好的，请问您的姓名是？"]
CUSTOMER_IDENTITY = ["订单号是二零二四零五一二三三八，你查一下。", "尾号是五五六七。", "我姓李，木子李。",
                     "手机尾号是八九零一，名字是张伟。"]
AGENT_REPLIES = [
    "我理解您的心情，这个问题我们一定会帮您处理好。",
    "根据您的描述，可能是压缩机的问题，需要安排师傅上门检测一下。",
    "您的商品还在保修期内，上门维修和更换配件都是免费的。",
    "我这边已经为您登记了维修工单，师傅会在二十四小时内联系您预约时间。",
    "如果检测后确认是质量问题，我们可以直接为您换一台新的。",
    "运费由我们来承担，您不用担心。",
    "我们会在三到五个工作日内把退款退回到您的原支付账户。",
    "为了不耽误您使用，我会帮您申请加急处理。",
]
CUSTOMER_TURNS = [
    "那师傅什么时候能来？我白天都要上班，只有晚上在家。",
    "我已经打了三次电话了，每次都说会处理，到现在也没有人联系我。",
    "换货的话需要我自己把旧的寄回去吗？这么大的东西我怎么寄啊。",
    "维修期间我家里没有冰箱用，菜都要坏了，这个损失谁来负责？",
    "好的，那我就等师傅的电话，希望这次能快一点。",
    "你们的售后流程实在是太复杂了，能不能简单一点。",
    "如果修不好的话，我可以直接退货吗？",
    "上次来的师傅说要等配件，等了半个月也没消息。",
]
INTERRUPTED = [
    "我跟你说，你们这个产品质量真的太差了，我用了这么多年家电从来没遇到过这种情况，我朋友也买了你们的东西也是一样的问题。",
    "你先别跟我说这些没用的，我就想知道今天到底能不能给我一个明确的答复，我不想再一次一次地打电话了，太浪费时间了。",
]
CUT_INS = ["先生您先别着急，我马上帮您查一下。", "女士我打断一下，这个情况我可以马上帮您加急处理。"]
BACKCHANNELS = ["嗯。", "好的。", "对。", "嗯嗯。"]
HOLD_BEFORE = "请您稍等一下，我帮您查询一下系统记录。"
HOLD_AFTER = "感谢您的耐心等待，我已经查到了您的订单信息。"
CLOSINGS = ["请问还有其他需要帮助的吗？", "感谢您的来电，祝您生活愉快，再见！"]
CUSTOMER_CLOSE = ["没有了，谢谢你。", "好的，再见。"]


def _dur(text: str, rng: random.Random) -> float:
    chars = sum(1 for c in text if "\u4e00" <= c <= "\u9fff")
    return round(max(0.8, chars / rng.uniform(4.2, 5.2)), 2)


def script(index: int) -> dict:
    """The transcript of long call ``index`` (deterministic)."""
    rng = random.Random(1000 + index)
    product = PRODUCTS[index % len(PRODUCTS)]
    segs: list[dict] = []
    t = 0.5

    def say(speaker: str, text: str, gap: tuple[float, float] = (0.4, 0.9), at: float | None = None):
        nonlocal t
        start = round(at if at is not None else t + rng.uniform(*gap), 2)
        end = round(start + _dur(text, rng), 2)
        segs.append({"speaker": speaker, "text": text, "start": start, "end": end})
        t = max(t, end)
        return segs[-1]

    say("agent", GREETINGS[index % len(GREETINGS)], gap=(0, 0))
    say("customer", rng.choice(PROBLEMS).format(p=product))
    for a, c in zip(AGENT_IDENTITY, rng.sample(CUSTOMER_IDENTITY, 3)):
        say("agent", a)
        say("customer", c)
    rounds = rng.sample(range(len(CUSTOMER_TURNS)), 5 + index % 3)
    replies = rng.sample(AGENT_REPLIES, len(rounds))
    for k, (ci, reply) in enumerate(zip(rounds, replies)):
        if k == 1:
            say("agent", HOLD_BEFORE)
            say("customer", rng.choice(BACKCHANNELS))
            t += rng.uniform(12, 20)  # the hold: silence on both channels
            say("agent", HOLD_AFTER)
        if k in (2, 4) and k // 2 <= 1 + index % 2:
            long = say("customer", INTERRUPTED[k // 2 - 1])
            cut = say("agent", CUT_INS[k // 2 - 1], at=long["end"] - rng.uniform(1.2, 2.0))
            continue
        say("customer", CUSTOMER_TURNS[ci])
        say("agent", reply)
        if rng.random() < 0.5:
            say("customer", rng.choice(BACKCHANNELS), gap=(0.2, 0.4))
    say("agent", CLOSINGS[0])
    say("customer", CUSTOMER_CLOSE[0])
    say("agent", CLOSINGS[1])
    segs.sort(key=lambda s: s["start"])
    return {"version": 1, "call_id": f"long{index + 1:02d}", "agent_id": f"B{index + 1:03d}",
            "channel": "phone", "started_at": "2026-11-20T09:00:00+08:00",
            "audio": f"long{index + 1:02d}.wav", "segments": segs}


def default_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "qa-scorer" / "bench-long-calls"


def render_all(n: int = 4, out: Path | None = None) -> list[tuple[Path, Path]]:
    """(transcript, recording) of the ``n`` long calls, rendered where missing or out of date."""
    out = out or default_dir()
    out.mkdir(parents=True, exist_ok=True)
    tts_python = os.environ.get("QA_BENCH_TTS_PYTHON", "/tmp/tts-venv/bin/python")
    pairs = []
    for i in range(n):
        doc = script(i)
        blob = json.dumps(doc, ensure_ascii=False, indent=1)
        tag = hashlib.sha256(blob.encode()).hexdigest()[:12]
        js, wav, stamp = out / f"{doc['call_id']}.json", out / f"{doc['call_id']}.wav", out / f"{doc['call_id']}.sha"
        if not (wav.is_file() and stamp.is_file() and stamp.read_text().strip() == tag):
            js.write_text(blob, encoding="utf-8")
            if not Path(tts_python).is_file() or not TTS.is_file():
                raise SystemExit(f"cannot render {wav}: set QA_BENCH_TTS_PYTHON to the offline voice's "
                                 f"Python (see {TTS.parent / 'README.md'})")
            subprocess.run([tts_python, str(TTS), str(js), str(wav)], check=True, capture_output=True)
            stamp.write_text(tag + "\n")
        pairs.append((js, wav))
    return pairs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("-n", type=int, default=4)
    a = ap.parse_args()
    for js, wav in render_all(a.n, a.out):
        doc = json.loads(js.read_text(encoding="utf-8"))
        print(f"{wav}: {doc['segments'][-1]['end']:.0f} s, {len(doc['segments'])} utterances")


if __name__ == "__main__":
    sys.exit(main())
