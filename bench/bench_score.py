"""Scoring speed: transcripts per second on one core, with every utterance distinct.

    .venv/bin/python bench/bench_score.py [--calls 3000] [--rounds 3] [--against RUBRIC.yaml]

Two kinds of text, measured in one run, in one process pinned to one core (CPU time of that
process), with the default rubric (phrases and its shipped models) and, for comparison, the
same rubric with its models removed, and the same rubric with its phrase matchers searching
call by call, item by item (the chunk search off: the baseline its gain is measured against):

* **generated**: calls made from many templates with names, products, places, dates, amounts
  and order numbers filled in at random (seeded); every utterance in the whole set is distinct,
  so nothing is served from the normaliser's cache.
* **real**: the real customer-service chats of ../shared/realchats/ (every utterance as
  written), when that folder is present; skipped otherwise (it is not part of this repository).

Calls are scored as ``score`` and ``eval`` score them (``score_transcripts``: the models read
the utterances of a chunk of calls together, and each phrase matcher searches them in one pass). The normaliser's cache is cleared before every
pass; the best of ``--rounds`` passes is kept.
Parsing JSON (pydantic validation) is timed separately. Writes bench/RESULTS-score.md.

``--against RUBRIC.yaml`` also times another rubric (say an earlier commit's,
``git show REV:rubrics/default.yaml > /tmp/old.yaml``) on the same calls, in passes that alternate
with the default rubric's, and reports the ratio: a machine's speed drifts from minute to minute,
so two rubrics are compared in one run, never across runs.

``--against-code TREE`` times another source tree (say ``git worktree add /tmp/old REV``) with
its own default rubric and models, against this one's, on the same calls: a fresh process on the
same core imports one tree's ``src/`` and keeps the best of three passes; the two trees' processes
alternate, ``--rounds`` times each, and the best of each tree is reported with their ratio (the
code's speed-up measured in one run).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import real_data as rd  # noqa: E402

from qa_scorer.ingest import parse_transcript  # noqa: E402
from qa_scorer.models import Transcript  # noqa: E402
from qa_scorer.normalize import normalize  # noqa: E402
from qa_scorer.rubric.loader import load_rubric  # noqa: E402
from qa_scorer.score import score_transcript, score_transcripts  # noqa: E402

AGENT = [
    "您好，很高兴为您服务，我是{name}，请问有什么可以帮您？", "您好，{name}为您服务，请问{product}遇到什么问题了呢？",
    "亲，在的哦，请问是咨询{product}的订单吗？", "请问是{surname}先生吗？", "{surname}女士您好，跟您核实一下，手机尾号是{tail}吗？",
    "麻烦提供一下订单号，{product}的那一单。", "[订单{num}]是这个订单吗？", "请问是{month}月{day}号下单的{product}吗？",
    "非常抱歉{product}给您带来不便。", "实在不好意思让您等了{days}天，{product}这边马上给您加急。", "给您添麻烦了，{product}的问题我们会负责到底。",
    "请您稍等，我帮您查询一下{product}的物流。", "查到了，{product}目前在{city}分拣中心，{carrier}正在派送。",
    "谢谢您的耐心等待，{product}已经到{city}了。", "预计{days}天内送达，具体以物流为准。", "{carrier}显示明天{hour}点前可以送到。",
    "我保证{days}天内一定给您送到。", "这不归我管，你找{city}网点。", "退款{amount}元会在{days}个工作日内原路退回。",
    "好的，我马上帮您登记，编号{num}。", "已经帮您申请了{amount}元的补偿券，{days}天内有效。", "{product}支持七天无理由退货，运费我们承担。",
    "请问您还有其他需要帮助的吗？", "感谢您的来电，祝您生活愉快，再见。", "亲，还有其他可以帮到您的吗？{name}随时在的哦。",
    "您可以把{product}寄回{city}仓库，我们收到后{days}个工作日退款。", "{product}的保修期是{months}个月，您的还在保修内。",
    "这边帮您换一台新的{product}，{carrier}会上门取件。", "{surname}先生，跟您确认一下地址是{city}{district}对吗？",
    "价格保护需要在{days}天内申请，差价{amount}元已经退到您账户了。", "稍等哈亲，这边看一下{product}的库存，{city}仓还有{count}件。",
    "师傅{month}月{day}号上门安装{product}，到之前会先打电话。", "发票已经开好了，抬头是{company}，在订单详情里可以下载。",
]
CUSTOMER = [
    "你好，我买的{product}坏了，用了{days}天就不行了。", "对，是我，我姓{surname}。", "订单号是{num}。",
    "快递一直没到，等了{days}天了，{carrier}电话也打不通。", "我要投诉你们！{product}到现在都没给我处理。", "好的谢谢，{name}辛苦了。",
    "你服务态度真好，{name}很专业。", "那什么时候能退款？{product}我已经寄回{city}了。", "我的{product}不转了，开机就响。",
    "{month}月{day}号买的{product}，今天降价了{amount}块，能保价吗？", "我付的是{amount}元，怎么只退回来{refund}元？",
    "换个真人跟我说吧，别再是机器人了，我着急，{product}明天就要用。", "地址写错了，应该是{city}{district}，能改吗？",
    "尾号{tail}，是这个手机号。", "{carrier}说{product}丢了，你们怎么弄？", "质量问题七天内也不给换，只给修？",
    "我在{city}，{product}能送货上门吗？", "发票抬头写{company}，可以吗？", "{product}少发了{count}个配件。",
    "行，那就换一台新的{product}吧。", "上次{name}说{days}天就到，到现在还没到。", "五星好评，{name}解决得很快。",
]
FILL = {
    "name": ["小王", "小李", "阿凯", "小林", "小蔡", "十七号", "小美", "晓峰", "小雨", "阿杰", "可乐", "小周"],
    "surname": ["张", "王", "李", "赵", "陈", "刘", "周", "吴", "郑", "孙", "马", "朱", "胡", "郭", "何", "高"],
    "product": ["滚筒洗衣机", "空调", "冰箱", "蓝牙耳机", "电饭煲", "笔记本电脑", "行李箱", "跑鞋", "床垫", "扫地机器人",
                "空气炸锅", "显示器", "路由器", "电动牙刷", "吹风机", "净水器", "儿童座椅", "机械键盘", "羽绒服", "奶粉"],
    "city": ["北京", "上海", "广州", "杭州", "成都", "武汉", "西安", "南京", "重庆", "长沙", "沈阳", "厦门", "郑州", "昆明"],
    "district": ["朝阳区", "浦东新区", "天河区", "西湖区", "武侯区", "江汉区", "雁塔区", "鼓楼区", "渝中区", "岳麓区"],
    "carrier": ["京东快递", "顺丰", "中通", "圆通", "韵达", "申通", "德邦", "EMS"],
    "company": ["某某科技有限公司", "星河贸易有限公司", "蓝海餐饮管理有限公司", "个人"],
    "days": ["一", "两", "三", "五", "七", "十", "十五", "2", "3", "4"],
}


def fill(rng: random.Random, template: str) -> str:
    out = template
    for key, values in FILL.items():
        out = out.replace("{" + key + "}", rng.choice(values))
    return (out.replace("{num}", str(rng.randint(10 ** 9, 10 ** 11)))
            .replace("{tail}", f"{rng.randint(0, 9999):04d}")
            .replace("{month}", str(rng.randint(1, 12))).replace("{day}", str(rng.randint(1, 28)))
            .replace("{hour}", str(rng.randint(9, 21))).replace("{months}", str(rng.choice([6, 12, 24, 36])))
            .replace("{amount}", f"{rng.randint(5, 3000)}").replace("{refund}", f"{rng.randint(1, 2000)}")
            .replace("{count}", str(rng.randint(1, 50))))


def make_calls(n_calls: int, seed: int = 7) -> list[dict]:
    """Calls whose utterances are all distinct (a repeat is drawn again)."""
    rng = random.Random(seed)
    seen: set[str] = set()
    calls = []
    for n in range(n_calls):
        segs, t = [], 0.0
        timed = rng.random() < 0.7
        for k in range(rng.randint(8, 24)):
            who = "agent" if k % 2 == 0 else "customer"
            for _ in range(50):
                text = fill(rng, rng.choice(AGENT if who == "agent" else CUSTOMER))
                if text not in seen:
                    break
            else:
                text = f"{text}（{len(seen)}）"
            seen.add(text)
            seg = {"speaker": who, "text": text}
            if timed:
                dur = len(text) / 4.5
                start = t - (0.8 if rng.random() < 0.05 else -0.3)
                seg["start"], seg["end"] = round(max(start, 0), 2), round(max(start, 0) + dur, 2)
                t = seg["end"] + (12 if rng.random() < 0.02 else 0.2)
            segs.append(seg)
        calls.append({"version": 1, "call_id": f"bench-{n:05d}", "agent_id": f"a{n % 50:02d}",
                      "channel": "phone" if timed else "chat", "segments": segs})
    return calls


def without_models():
    """The default rubric with every model removed: what the phrases alone cost."""
    stripped = load_rubric(None)
    for item in stripped.items:
        for side in (item, getattr(item, "trigger", None), getattr(item, "response", None)):
            if side is not None and hasattr(side, "_models"):
                side._models = []
                if getattr(side, "phrase_floor", None) is not None:
                    side.phrase_floor = None  # no model to agree with: every phrase hit counts
    stripped.bank_models()
    return stripped


def call_by_call():
    """The default rubric with its phrase matchers searching call by call, item by item (as
    before the chunk search): the baseline for what searching a chunk at once gains."""
    rubric = load_rubric(None)
    for item in rubric.items:
        for side in (item, getattr(item, "trigger", None), getattr(item, "response", None)):
            for m in getattr(side, "matchers", None) or []:
                m.matcher.local = False
    return rubric


def reference_rate(rounds: int = 3) -> float:
    """A fixed pure-Python workload (string slicing, dict and list work, as scoring does), in
    thousands of loops per CPU-second: machines differ, and this says how fast this one runs
    Python, so figures from runs on different machines can be compared."""
    best = 0.0
    for _ in range(rounds):
        t0 = time.process_time()
        counts: dict[str, int] = {}
        text = "您好请问有什么可以帮您的吗我们会尽快为您处理"
        for i in range(100_000):
            key = text[i % 20:i % 20 + 3]
            counts[key] = counts.get(key, 0) + 1
            parts = [key, str(i)]
            parts.sort()
        best = max(best, 100 / (time.process_time() - t0))
    return best


def rate(rubric, calls: list[Transcript], rounds: int) -> float:
    """Best transcripts / CPU-second over ``rounds`` passes, each with a cold normaliser cache."""
    best = 0.0
    for _ in range(rounds):
        normalize.cache_clear()
        t0 = time.process_time()
        for _ in score_transcripts(calls, rubric):  # as `score` and `eval` do: models read chunks of calls
            pass
        best = max(best, len(calls) / (time.process_time() - t0))
    return best


def alternating(rubrics: list, calls: list[Transcript], rounds: int) -> list[float]:
    """Best rate of each rubric over ``rounds`` rounds, each round one pass of every rubric in
    turn: drifts of the machine's speed fall on all of them alike."""
    best = [0.0] * len(rubrics)
    for _ in range(rounds):
        for k, rubric in enumerate(rubrics):
            best[k] = max(best[k], rate(rubric, calls, 1))
    return best


def _pin_one_core() -> None:
    """Keep this process on one core (the lowest it may use), so a figure is one core's."""
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})


def worker(path: Path) -> None:
    """Timed passes for ``--against-code``: the calls in ``path`` (one transcript JSON per line)
    scored by whichever qa_scorer this process imports, with its own default rubric; prints the
    best rate and where qa_scorer was imported from as one JSON line."""
    import qa_scorer

    _pin_one_core()
    calls = [Transcript.model_validate(json.loads(line))
             for line in path.read_text(encoding="utf-8").splitlines()]
    rubric = load_rubric(None)
    for t in calls[:50]:  # lazy resources (OpenCC, jieba, the models) outside the timing
        score_transcript(t, rubric)
    # the best of three passes, as in-process figures are: a process's first pass runs slower
    print(json.dumps({"rate": rate(rubric, calls, 3), "from": str(Path(qa_scorer.__file__).resolve())}))


def code_passes(trees: list[Path], calls_file: Path, rounds: int) -> list[float]:
    """Best rate of each source tree over ``rounds`` rounds of alternating fresh processes."""
    best = [0.0] * len(trees)
    for _ in range(rounds):
        for k, tree in enumerate(trees):
            best[k] = max(best[k], _worker_rate(tree, calls_file))
    return best


def _worker_rate(tree: Path, calls_file: Path) -> float:
    """One worker process's best rate for ``tree``; its own error (a tree whose qa_scorer lacks
    what the worker calls, say) stops the bench with the tree named and the error's last lines."""
    env = dict(os.environ, PYTHONPATH=str(tree / "src"))
    done = subprocess.run([sys.executable, __file__, "--worker", str(calls_file)], env=env,
                          capture_output=True, text=True)
    if done.returncode != 0 or not done.stdout.strip():
        tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-8:])
        raise SystemExit(f"--against-code: the timing process for {tree} failed (exit {done.returncode}):\n{tail}")
    got = json.loads(done.stdout.strip().splitlines()[-1])
    if not Path(got["from"]).is_relative_to((tree / "src").resolve()):
        raise SystemExit(f"--against-code: the process for {tree} imported qa_scorer from {got['from']}")
    return got["rate"]


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--worker":
        worker(Path(sys.argv[2]))
        return
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=3000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--out", type=Path, default=Path(__file__).with_name("RESULTS-score.md"))
    ap.add_argument("--against", type=Path, default=None,
                    help="another rubric to time in alternating passes with the default one")
    ap.add_argument("--against-code", type=Path, default=None, metavar="TREE",
                    help="another source tree (its src/ and default rubric) to time in alternating processes")
    args = ap.parse_args()
    if args.against_code is not None and not (args.against_code / "src" / "qa_scorer").is_dir():
        ap.error(f"--against-code: {args.against_code} has no src/qa_scorer")
    if args.against_code is not None:
        # a tree the worker cannot run fails here, in seconds, not after the in-process timings
        with tempfile.TemporaryDirectory() as tmp:
            probe = Path(tmp) / "calls.jsonl"
            probe.write_text(json.dumps(make_calls(5)[0], ensure_ascii=False) + "\n", encoding="utf-8")
            _worker_rate(args.against_code, probe)
    other = load_rubric(args.against) if args.against else None
    _pin_one_core()
    raw = [json.dumps(c, ensure_ascii=False) for c in make_calls(args.calls)]
    full, phrases_only, per_call = load_rubric(None), without_models(), call_by_call()

    t0 = time.process_time()
    generated = [parse_transcript(json.loads(r)) for r in raw]
    parse_rate = len(raw) / (time.process_time() - t0)
    reference = reference_rate()
    sets = [("generated", generated)]
    if rd.available():
        sets.append(("real chats", [Transcript.model_validate(s) for s in rd.sessions().values()]))
    # warm up lazy resources (OpenCC, jieba, pypinyin, the models) outside the timing
    for t in generated[:50]:
        score_transcript(t, full)

    rows: list[str] = []
    against: list[str] = []
    code: list[str] = []
    for name, calls in sets:
        segs = sum(len(t.segments) for t in calls)
        distinct = len({s.text for t in calls for s in t.segments})
        with_models = rate(full, calls, args.rounds)
        phrases = rate(phrases_only, calls, args.rounds)
        before = rate(per_call, calls, args.rounds)
        rows.append(f"| {name} | {len(calls):,} | {segs / len(calls):.1f} | {distinct:,} of {segs:,} "
                    f"| **{with_models:,.0f}** | {phrases:,.0f} | {with_models / phrases:.2f} "
                    f"| {before:,.0f} | **{with_models / before:.2f}** |")
        print(rows[-1], flush=True)
        if other is not None:
            for t in calls[:50]:
                score_transcript(t, other)
            mine, theirs = alternating([full, other], calls, args.rounds)
            against.append(f"| {name} | {mine:,.0f} | {theirs:,.0f} | **{mine / theirs:.2f}** |")
            print(against[-1], flush=True)
        if args.against_code is not None:
            with tempfile.TemporaryDirectory() as tmp:
                calls_file = Path(tmp) / "calls.jsonl"
                calls_file.write_text("".join(t.model_dump_json() + "\n" for t in calls), encoding="utf-8")
                here, there = code_passes([Path(__file__).resolve().parent.parent, args.against_code],
                                          calls_file, args.rounds)
            code.append(f"| {name} | {here:,.0f} | {there:,.0f} | **{here / there:.2f}** |")
            print(code[-1], flush=True)
    # the machine's speed drifts (other guests on the host): its best of before and after
    reference = max(reference, reference_rate())
    real_note = ("" if rd.available() else
                 "\nThe real chats were not measured: ../shared/realchats/ is not present on this machine.\n")
    against_note = "" if other is None else f"""
Against `{args.against}` ({len(other.items)} items, {len(other.model_bank)} models), in alternating
passes in this run (best of {args.rounds} each):

| text | default rubric, transcripts / s / core | `{args.against.name}` | ratio |
|---|---|---|---|
{chr(10).join(against)}
"""
    code_note = "" if args.against_code is None else f"""
This code against the source tree `{args.against_code}` (each with its own default rubric and
models), in alternating fresh processes on the same core in this run: {args.rounds} processes a
tree, each keeping its best of three passes; the best of each tree's processes:

| text | this tree, transcripts / s / core | `{args.against_code.name}` | ratio |
|---|---|---|---|
{chr(10).join(code)}
"""
    text = f"""# Scoring speed

Generated by `bench/bench_score.py` on {time.strftime('%Y-%m-%d')}, Python {platform.python_version()},
{platform.machine()}; one process pinned to one core, CPU time of that process, best of {args.rounds}
passes with the normaliser's cache cleared before each; default rubric ({len(full.items)} items,
{len(full.model_bank)} shipped models). Every utterance of the generated calls is distinct
(70% phone calls with timings, 30% chats); the real chats are ../shared/realchats/ as written.

| text | calls | utterances / call | distinct utterances | transcripts / s / core | phrases only (models removed) | ratio | phrases searched call by call | chunk search gain |
|---|---|---|---|---|---|---|---|---|
{chr(10).join(rows)}
{real_note}{against_note}{code_note}
Parsing and validating the generated JSON (pydantic): {parse_rate:,.0f} transcripts / s / core.
This machine's speed at plain Python (`reference_rate`, a fixed loop of string, dict and list
work, best of its runs before and after the scoring): {reference:,.0f} thousand loops / s / core;
compare it before comparing figures of two runs.

Target: at least 2,000 transcripts / s / core for scoring real text with the rubric's models.
"""
    args.out.write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
